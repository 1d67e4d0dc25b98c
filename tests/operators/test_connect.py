"""SmartlyQConnectAccountOperator against the emulator: link, XCom, waiting in both modes, outcomes."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_smartlyq._compat import TaskDeferred
from airflow_provider_smartlyq.exceptions import SmartlyQError, SmartlyQValidationError
from airflow_provider_smartlyq.links import SmartlyQConnectLink
from airflow_provider_smartlyq.operators.smartlyq import SmartlyQConnectAccountOperator


class RecordingTI:
    """The slice of Airflow's runtime task instance the operator uses: identity and its XCom."""

    def __init__(self, try_number: int = 1) -> None:
        self.dag_id, self.run_id, self.task_id = "onboard", "manual__2025-01-01", "connect_account"
        self.map_index, self.try_number = -1, try_number
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        json.dumps(value)  # XCom values must serialize
        self.xcom[key] = value

    def xcom_pull(self, key: str) -> object:
        return self.xcom.get(key)


def context(try_number: int = 1) -> dict:
    return {"ti": RecordingTI(try_number)}


def operator(**kwargs) -> SmartlyQConnectAccountOperator:
    kwargs.setdefault("task_id", "connect_account")
    kwargs.setdefault("platform", "facebook")
    kwargs.setdefault("poll_interval", 0.2)
    return SmartlyQConnectAccountOperator(**kwargs)


@pytest.fixture
def auto_approve(smartlyq_conn):
    """Let the emulator approve links ``delay`` seconds after they are created."""
    config = smartlyq_conn.config
    before = config.auto_approve_after

    def set_delay(delay: float) -> None:
        config.auto_approve_after = delay

    yield set_delay
    config.auto_approve_after = before


def run_trigger(trigger) -> dict:
    async def first_event():
        try:
            return [event async for event in trigger.run()]
        finally:
            await trigger.cleanup()

    (event,) = asyncio.run(first_event())
    return event.payload


def test_literal_bad_input_fails_when_the_dag_is_parsed(smartlyq_conn):
    with pytest.raises(SmartlyQValidationError, match="unknown platform 'facebok'"):
        operator(platform="facebok")
    with pytest.raises(SmartlyQValidationError, match="return_url"):
        operator(return_url="yourapp.com/connected")
    with pytest.raises(SmartlyQValidationError, match="poll_interval"):
        operator(poll_interval=0)
    assert operator(platform="{{ params.platform }}").platform == "{{ params.platform }}"  # renders later
    assert smartlyq_conn.client.requests() == []


def test_a_bad_rendered_platform_fails_before_any_request(smartlyq_conn):
    task = operator(platform="{{ params.platform }}")
    task.platform = "myspace"  # what rendering produced

    with pytest.raises(SmartlyQValidationError, match="unknown platform 'myspace'"):
        task.execute(context())
    assert smartlyq_conn.client.requests() == []


def test_the_link_is_pushed_to_xcom_and_shown_as_an_extra_link(smartlyq_conn):
    ctx = context()
    result = operator(wait_for_completion=False, return_url="https://app.example/done").execute(ctx)

    (session,) = smartlyq_conn.client.state()["connect_sessions"]
    xcom = ctx["ti"].xcom
    assert xcom == {
        "connect_url": result["connect_url"],
        "state_token": session["state_token"],
        "expires_at": session["expires_at"],
    }
    assert f"state={session['state_token']}" in xcom["connect_url"]
    assert session["return_url"] == "https://app.example/done"
    assert result["platform"] == "facebook"
    assert [(r["method"], r["path"]) for r in smartlyq_conn.client.requests()] == [
        ("POST", "/v1/social/connect/facebook")
    ]
    assert [type(link) for link in SmartlyQConnectAccountOperator.operator_extra_links] == [
        SmartlyQConnectLink
    ]


def test_a_retry_creates_a_new_link_but_a_replay_of_the_same_try_does_not(smartlyq_conn):
    task = operator(wait_for_completion=False)
    first = task.execute(context(try_number=1))
    replay = task.execute(context(try_number=1))  # e.g. the answer was lost and the call re-sent
    retry = task.execute(context(try_number=2))

    assert replay["state_token"] == first["state_token"]
    assert retry["state_token"] != first["state_token"]
    created = [w for w in smartlyq_conn.client.writes() if w["action"] == "connect_link_created"]
    assert len(created) == 2


def test_waiting_in_the_worker_returns_the_connected_account(smartlyq_conn, auto_approve):
    auto_approve(1)
    ctx = context()

    account = operator(platform="instagram", deferrable=False).execute(ctx)

    (connected,) = [
        a for a in smartlyq_conn.client.state()["accounts"] if a["platform"] == "instagram" and a["id"] > 110
    ]
    assert account == {
        "account_id": connected["id"],
        "id": connected["id"],
        "name": connected["name"],
        "username": connected["username"],
        "platform": "instagram",
    }
    assert "connect_url" in ctx["ti"].xcom


def test_an_already_approved_link_returns_without_deferring(smartlyq_conn, auto_approve):
    auto_approve(0)

    account = operator(deferrable=True).execute(context())

    assert account["platform"] == "facebook"


def test_deferrable_checks_once_then_defers_to_the_trigger_which_completes_it(smartlyq_conn):
    task = operator(deferrable=True, timeout=300)
    ctx = context()
    before = time.time()

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)

    trigger = deferred.value.trigger
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_smartlyq.triggers.smartlyq.ConnectCompletedTrigger"
    assert kwargs["state_token"] == ctx["ti"].xcom["state_token"]
    assert before + 300 <= kwargs["end_time"] <= time.time() + 300
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout.total_seconds() > 300  # the trigger's own timeout event wins
    gets = [r for r in smartlyq_conn.client.requests() if r["method"] == "GET"]
    assert len(gets) == 1  # checked once before deferring

    smartlyq_conn.client.approve_connect(kwargs["state_token"])
    account = task.execute_complete(ctx, run_trigger(trigger))
    assert account["platform"] == "facebook"
    assert account["id"] == account["account_id"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"status": "expired"}, "expired before the user approved it: re-run the task"),
        ({"status": "timeout"}, "did not approve the connect link before the timeout"),
        ({"status": "error", "message": "GET /social/connect/abc… failed: HTTP 401"}, "HTTP 401"),
    ],
    ids=["expired", "timeout", "error"],
)
def test_every_failed_ending_says_what_to_do_next(event, message):
    with pytest.raises(SmartlyQError, match=message) as failure:
        operator().execute_complete(context(), event)
    assert "re-run the task" in str(failure.value)


def test_an_expired_link_fails_the_worker_wait_too(smartlyq_conn):
    task = operator(deferrable=False, wait_for_completion=False)
    link = task.execute(context())
    smartlyq_conn.client.expire_connect(link["state_token"])
    task.wait_for_completion = True

    with pytest.raises(SmartlyQError, match="expired"):
        task.execute(context())  # replays the same link (same try), finds it expired


def test_the_worker_wait_gives_up_at_the_timeout(smartlyq_conn):
    with pytest.raises(SmartlyQError, match="before the timeout"):
        operator(deferrable=False, timeout=1, poll_interval=0.2).execute(context())
    # Counted, not timed: a 1 s wait polling every 0.2 s polls at most 1 / 0.2 + 1 times (fewer
    # on a loaded machine, never more), where a wait past its timeout would go on polling.
    polls = [r for r in smartlyq_conn.client.requests() if r["method"] == "GET"]
    assert 1 <= len(polls) <= 6


def test_server_errors_while_waiting_in_the_worker_do_not_end_it(smartlyq_conn, auto_approve, monkeypatch):
    emu = smartlyq_conn
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", emu.connection_json(max_retries=0))
    emu.client.inject_fault("/v1/social/connect/*", "GET", status=503, count=4)
    auto_approve(1.5)

    account = operator(deferrable=False).execute(context())

    assert account["platform"] == "facebook"
    assert emu.client.faults()[0]["remaining"] == 0


def test_a_platform_that_connects_at_once_returns_the_account_immediately(smartlyq_conn):
    emu = smartlyq_conn
    answer = {
        "success": True,
        "data": {
            "platform": "telegram",
            "account": {"account_id": 321, "name": "Ops bot", "platform": "telegram"},
        },
        "meta": {"request_id": "req_1", "timestamp": "2025-01-01T00:00:00Z"},
    }
    emu.client.inject_fault(
        "/v1/social/connect/telegram",
        "POST",
        status=201,
        body=json.dumps(answer),
        content_type="application/json",
    )
    ctx = context()

    account = operator(platform="telegram", deferrable=True).execute(ctx)

    assert account == {"account_id": 321, "id": 321, "name": "Ops bot", "platform": "telegram"}
    assert ctx["ti"].xcom == {}
    assert [r["method"] for r in emu.client.requests()] == ["POST"]
