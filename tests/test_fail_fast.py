"""
Permanent errors fail a task at once; transient ones still use Airflow's task retries.

One real ``airflow dags test`` per scenario runs a DAG with one task of EVERY operator and
sensor class, each with ``retries=2``. Before each class's task, a small task arms one fault on
the emulator (``count=1``: it answers that class's first request only; the hook does not retry,
``max_retries=0``). Afterwards the database says how many tries each task instance took:

* permanent (400, 401, 402, 403, 404, 409, 422): one try, ``failed``;
* transient (503): operators fail try 1 and succeed on try 2; sensors poke through the 503 and
  succeed in try 1 (for a wait, a 503 means "not yet", never a failure).
"""

from __future__ import annotations

import sqlite3
import textwrap

import pytest

LOGICAL_DATE = "2025-03-01T00:00:00+00:00"
DAG_ID = "smartlyq_fail_fast"

#: task id -> (status, code) answered to its first request in the permanent scenario.
PERMANENT = {
    "list_accounts": (401, "UNAUTHORIZED"),
    "pause": (403, "FORBIDDEN"),
    "resume": (404, "RESOURCE_NOT_FOUND"),
    "reconnect_url": (400, "VALIDATION_ERROR"),
    "disconnect": (404, "NOT_ENABLED"),
    "connect": (422, "PROVIDER_NOT_CONFIGURED"),
    "publish": (409, "DUPLICATE_CONTENT"),
    "validate": (402, "INSUFFICIENT_BALANCE"),
    "health_gate": (422, "VALIDATION_ERROR"),
    "post_status": (404, "RESOURCE_NOT_FOUND"),
    "connect_completed": (409, "IDEMPOTENCY_CONFLICT"),
}
OPERATORS = [
    *("list_accounts", "pause", "resume", "reconnect_url", "disconnect", "connect", "publish", "validate"),
]
SENSORS = ["health_gate", "post_status", "connect_completed"]

DAG_FILE = textwrap.dedent(
    '''
    import json
    import os
    from datetime import timedelta

    import pendulum
    from airflow.sdk import DAG, task

    from airflow_provider_smartlyq.operators.smartlyq import (
        SmartlyQConnectAccountOperator,
        SmartlyQDisconnectAccountOperator,
        SmartlyQListAccountsOperator,
        SmartlyQPauseAccountsOperator,
        SmartlyQPublishPostOperator,
        SmartlyQReconnectUrlOperator,
        SmartlyQResumeAccountsOperator,
        SmartlyQValidatePostOperator,
    )
    from airflow_provider_smartlyq.sensors.smartlyq import (
        SmartlyQConnectCompletedSensor,
        SmartlyQHealthSensor,
        SmartlyQPostStatusSensor,
    )

    FAULTS = json.loads(os.environ["FAIL_FAST_FAULTS"])  # {task_id: [status, code]}
    RETRY = {"retries": 2, "retry_delay": timedelta(seconds=1)}
    SENSE = {"poke_interval": 0.5, "timeout": 60, "mode": "poke"}


    @task(trigger_rule="all_done")
    def arm(task_id, approve_latest=False):
        """Arm the fault that answers the next task's first request (and play the user if asked)."""
        from airflow_provider_smartlyq.testing.emulator import EmulatorClient

        client = EmulatorClient(os.environ["EMULATOR_URL"])
        client.clear_faults()
        if approve_latest:
            try:
                client.approve_latest_connect()
            except Exception as exc:  # no link when the connect task failed on purpose
                print(f"nothing to approve: {exc}")
        status, code = FAULTS[task_id]
        client.inject_fault("/v1/*", "*", status=status, code=code, count=1)


    with DAG(dag_id="smartlyq_fail_fast", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC")):
        tasks = [
            SmartlyQListAccountsOperator(task_id="list_accounts", account_ids=[101], **RETRY),
            SmartlyQPauseAccountsOperator(task_id="pause", account_ids=[103], **RETRY),
            SmartlyQResumeAccountsOperator(task_id="resume", account_ids=[103], **RETRY),
            SmartlyQReconnectUrlOperator(task_id="reconnect_url", account_ids=[104], **RETRY),
            SmartlyQDisconnectAccountOperator(
                task_id="disconnect", account_id=107, confirm_account_name="Globex Threads", **RETRY
            ),
            SmartlyQConnectAccountOperator(
                task_id="connect", platform="facebook", wait_for_completion=False, **RETRY
            ),
            SmartlyQPublishPostOperator(
                task_id="publish",
                content="Fail-fast check {{ run_id }}",
                account_ids=[101, 103],
                poll_interval=0.5,
                deferrable=False,
                **RETRY,
            ),
            SmartlyQValidatePostOperator(task_id="validate", content="Hello", account_ids=[101], **RETRY),
            SmartlyQHealthSensor(
                task_id="health_gate", account_ids=[101], deferrable=False, **SENSE, **RETRY
            ),
            SmartlyQPostStatusSensor(
                task_id="post_status",
                post_id="{{ ti.xcom_pull(task_ids='publish', key='post_id') or 1 }}",
                deferrable=False,
                **SENSE,
                **RETRY,
            ),
            SmartlyQConnectCompletedSensor(
                task_id="connect_completed",
                state_token="{{ ti.xcom_pull(task_ids='connect', key='state_token') or 'no-link-made' }}",
                deferrable=False,
                **SENSE,
                **RETRY,
            ),
        ]
        previous = None
        for t in tasks:
            armed = arm.override(task_id=f"arm_{t.task_id}")(t.task_id, t.task_id == "connect_completed")
            if previous is not None:
                previous >> armed
            armed >> t
            previous = t
    '''
)


@pytest.fixture
def dags_folder(tmp_path):
    (tmp_path / "fail_fast.py").write_text(DAG_FILE)
    return tmp_path


def tries(airflow_db) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(airflow_db / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ?", (DAG_ID,)
        ).fetchall()
    return {task_id: (state, try_number) for task_id, state, try_number in rows}


def run(run_airflow, dags_folder, emu, faults: dict) -> str:
    import json

    env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "FAIL_FAST_FAULTS": json.dumps(faults),
        "EMULATOR_URL": emu.url,
    }
    # A hang guard, not a speed goal: Airflow 3.2.2's `dags test` spends about 6x the CPU of 3.3's
    # on this DAG's retries (140 s alone, more beside the other tests of its version lane).
    result = run_airflow(
        "dags", "test", DAG_ID, LOGICAL_DATE, env=env, conn_extra={"max_retries": 0}, timeout=900
    )
    return result.stdout + result.stderr


def test_a_permanent_error_fails_every_class_in_one_try(
    run_airflow, airflow_db, smartlyq_emulator, dags_folder
):
    output = run(run_airflow, dags_folder, smartlyq_emulator, PERMANENT)

    states = tries(airflow_db)
    for task_id in [*OPERATORS, *SENSORS]:
        assert states[task_id] == ("failed", 1), (task_id, states[task_id], output[-8000:])
    # Each task met its own fault: the statuses came back in order, one each.
    answered = [r["status"] for r in smartlyq_emulator.client.requests() if r["status"] >= 400]
    assert answered == [status for status, _ in PERMANENT.values()], answered
    assert output.count("Not retried: a retry would fail the same way") >= len(PERMANENT)
    assert smartlyq_emulator.api_key not in output


def test_a_503_still_retries_operators_and_sensors_poke_through_it(
    run_airflow, airflow_db, smartlyq_emulator, dags_folder
):
    faults = {task_id: (503, "SERVICE_UNAVAILABLE") for task_id in PERMANENT}
    output = run(run_airflow, dags_folder, smartlyq_emulator, faults)

    states = tries(airflow_db)
    for task_id in OPERATORS:
        assert states[task_id] == ("success", 2), (task_id, states[task_id], output[-8000:])
    for task_id in SENSORS:
        assert states[task_id] == ("success", 1), (task_id, states[task_id], output[-8000:])
    answered = [r["status"] for r in smartlyq_emulator.client.requests() if r["status"] >= 400]
    assert answered == [503] * len(faults)
    assert len(smartlyq_emulator.client.posts()["posts"]) == 1
    assert "Not retried" not in output
