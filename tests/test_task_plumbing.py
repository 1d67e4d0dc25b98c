"""The task plumbing every operator and sensor shares: idempotency keys and check-then-defer-or-poll."""

from __future__ import annotations

import re
import threading
import time
from types import SimpleNamespace

import pytest

from airflow_provider_smartlyq._tasks.task import (
    check_then_defer_or_poll,
    idempotency_key,
    task_idempotency_key,
)
from airflow_provider_smartlyq.core.validation import validate_idempotency_key
from airflow_provider_smartlyq.operators.smartlyq import post_idempotency_key


def ti(**fields):
    values = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": -1, "try_number": 1, **fields}
    return {"ti": SimpleNamespace(**values)}


def test_keys_are_valid_deterministic_and_name_their_action():
    key = idempotency_key("pause", "d", "r", 101)
    assert re.fullmatch(r"af:pause:[0-9a-f]{48}", key)
    assert key == idempotency_key("pause", "d", "r", 101)
    assert key != idempotency_key("resume", "d", "r", 101)
    assert key != idempotency_key("pause", "d", "r", 102)
    long = idempotency_key("x" * 100, "d")
    assert validate_idempotency_key(long) == long
    assert len(long) <= 64


def test_task_keys_vary_per_try_unless_told_not_to():
    first = task_idempotency_key(ti(try_number=1), "connect")
    assert first == task_idempotency_key(ti(try_number=1), "connect")
    assert first != task_idempotency_key(ti(try_number=2), "connect")
    assert first != task_idempotency_key(ti(map_index=3), "connect")
    once = task_idempotency_key(ti(try_number=1), "post", per_try=False)
    assert once == task_idempotency_key(ti(try_number=7), "post", per_try=False)
    # The publish key users can compute themselves is this one derivation.
    assert once == post_idempotency_key("d", "r", "t", -1)
    assert task_idempotency_key({}, "connect") is None  # outside a task run: the hook picks one


class Deferred(Exception):
    pass


def defer():
    raise Deferred


def test_a_final_first_check_never_defers_or_polls():
    calls = []

    def check(pacer):
        calls.append(pacer)
        return {"status": "done"}

    event = check_then_defer_or_poll(
        check, deferrable=True, defer=defer, poll_interval=60, end_time=time.time() + 60, timeout_event=dict
    )
    assert event == {"status": "done"}
    assert len(calls) == 1


def test_deferrable_defers_after_one_check():
    calls = []
    with pytest.raises(Deferred):
        check_then_defer_or_poll(
            lambda pacer: calls.append(1),
            deferrable=True,
            defer=defer,
            poll_interval=60,
            end_time=time.time() + 60,
            timeout_event=dict,
        )
    assert calls == [1]


def test_the_worker_polls_until_final_with_one_pacer():
    answers = iter([None, None, {"status": "done"}])
    pacers = []

    def check(pacer):
        pacers.append(pacer)
        return next(answers)

    event = check_then_defer_or_poll(
        check,
        deferrable=False,
        defer=defer,
        poll_interval=0.01,
        end_time=time.time() + 60,
        timeout_event=dict,
    )
    assert event == {"status": "done"}
    assert len(pacers) == 3
    assert len(set(map(id, pacers))) == 1


def test_the_worker_stops_at_the_deadline_with_the_timeout_event():
    checks = []
    event = check_then_defer_or_poll(
        lambda pacer: checks.append(1),
        deferrable=False,
        defer=defer,
        poll_interval=0.05,
        end_time=time.time() + 0.3,
        timeout_event=lambda: {"status": "timeout"},
    )
    assert event == {"status": "timeout"}
    assert len(checks) >= 2  # the first check, then at least one in the worker


# -- the hook's lifetime: one per task run, closed when the task's method ends -----------------


class RecordingTI:
    dag_id, run_id, task_id, map_index, try_number = "d", "r", "t", -1, 1

    def __init__(self) -> None:
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value


def test_an_operator_closes_its_hook_when_execute_returns(smartlyq_conn):
    from airflow_provider_smartlyq.operators.smartlyq import SmartlyQListAccountsOperator

    task = SmartlyQListAccountsOperator(task_id="t", all_accounts=True)
    hook = task.hook
    task.execute({"ti": RecordingTI()})
    assert hook._sync is None  # its requests.Session was closed
    assert "hook" not in task.__dict__  # a later run builds a new one


def test_an_operator_closes_its_hook_when_execute_raises(smartlyq_conn):
    from airflow_provider_smartlyq.exceptions import SmartlyQError
    from airflow_provider_smartlyq.operators.smartlyq import SmartlyQListAccountsOperator

    task = SmartlyQListAccountsOperator(task_id="t", account_ids=[999])  # no such account
    hook = task.hook
    with pytest.raises(SmartlyQError):
        task.execute({"ti": RecordingTI()})
    assert hook._sync is None
    assert "hook" not in task.__dict__


def test_a_poke_mode_sensor_keeps_one_hook_across_pokes_and_closes_it_at_the_end(smartlyq_conn):
    from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor

    hooks = []

    class Recording(SmartlyQHealthSensor):
        def check(self):
            hooks.append(self.hook)
            return super().check()

    smartlyq_conn.client.expire_account_token(103)
    fix = threading.Timer(0.5, smartlyq_conn.client.update_account, args=(103,), kwargs={"validity_days": 40})
    fix.start()
    sensor = Recording(task_id="gate", account_ids=[103], mode="poke", poke_interval=0.1, timeout=30)
    try:
        sensor.execute({"ti": RecordingTI()})
    finally:
        fix.join()
    assert len(hooks) >= 2  # it poked more than once
    assert all(hook is hooks[0] for hook in hooks)  # ...through one hook (one keep-alive session)
    assert hooks[0]._sync is None
    assert "hook" not in sensor.__dict__


def test_a_deferring_sensor_closes_its_hook_before_the_worker_lets_go(smartlyq_conn):
    from airflow_provider_smartlyq._compat import TaskDeferred
    from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor

    sensor = SmartlyQHealthSensor(task_id="gate", account_ids=[104], deferrable=True, timeout=30)
    hook = sensor.hook
    with pytest.raises(TaskDeferred):
        sensor.execute({"ti": RecordingTI()})
    assert hook._sync is None
    assert "hook" not in sensor.__dict__


#: The least each public operator and sensor needs to be built.
MINIMAL_ARGUMENTS = {
    "SmartlyQConnectAccountOperator": {"platform": "facebook"},
    "SmartlyQPauseAccountsOperator": {"all_accounts": True},
    "SmartlyQResumeAccountsOperator": {"all_accounts": True},
    "SmartlyQListAccountsOperator": {"all_accounts": True},
    "SmartlyQReconnectUrlOperator": {"all_accounts": True},
    "SmartlyQDisconnectAccountOperator": {"account_id": 7, "confirm_account_name": "Acme"},
    "SmartlyQPublishPostOperator": {"content": "Hello", "all_accounts": True},
    "SmartlyQValidatePostOperator": {"content": "Hello", "all_accounts": True},
    "SmartlyQConnectCompletedSensor": {"state_token": "tok_123"},
    "SmartlyQHealthSensor": {"all_accounts": True},
    "SmartlyQPostStatusSensor": {"post_id": 5},
}


def _public_task_classes():
    import importlib

    for public in ("operators", "sensors"):
        module = importlib.import_module(f"airflow_provider_smartlyq.{public}.smartlyq")
        for name in module.__all__:
            if name[0].isupper():
                yield getattr(module, name)


def test_the_table_names_every_public_operator_and_sensor():
    assert sorted(cls.__name__ for cls in _public_task_classes()) == sorted(MINIMAL_ARGUMENTS)


@pytest.mark.parametrize("task_class", list(_public_task_classes()), ids=lambda cls: cls.__name__)
def test_every_task_takes_its_connection_from_default_args_or_its_own_argument(task_class):
    # The connection is the bases' argument; Airflow applies default_args only to parameters of
    # an __init__ its metaclass wrapped, so a base without its own __init__ would lose this.
    from airflow.sdk import DAG

    arguments = MINIMAL_ARGUMENTS[task_class.__name__]
    with DAG("plumbing", schedule=None, default_args={"smartlyq_conn_id": "brand_a"}):
        inherited = task_class(task_id="inherited", **arguments)
        own = task_class(task_id="own", smartlyq_conn_id="brand_b", **arguments)
    alone = task_class(task_id="alone", **arguments)

    assert (inherited.smartlyq_conn_id, own.smartlyq_conn_id) == ("brand_a", "brand_b")
    assert alone.smartlyq_conn_id == "smartlyq_default"


def test_the_waiting_operators_share_their_wait_arguments_with_their_own_default_timeouts():
    from airflow_provider_smartlyq.exceptions import SmartlyQValidationError
    from airflow_provider_smartlyq.operators.smartlyq import (
        SmartlyQConnectAccountOperator,
        SmartlyQPublishPostOperator,
    )

    connect = SmartlyQConnectAccountOperator(task_id="c", platform="facebook")
    publish = SmartlyQPublishPostOperator(task_id="p", content="Hello", all_accounts=True)
    assert (connect.timeout, connect.poll_interval, connect.wait_for_completion) == (900, 5, True)
    assert (publish.timeout, publish.poll_interval, publish.wait_for_completion) == (1800, 5, True)
    with pytest.raises(SmartlyQValidationError, match="poll_interval"):
        SmartlyQConnectAccountOperator(task_id="c2", platform="facebook", poll_interval=0)
    with pytest.raises(SmartlyQValidationError, match="timeout"):
        SmartlyQPublishPostOperator(task_id="p2", content="Hello", all_accounts=True, timeout=-1)
