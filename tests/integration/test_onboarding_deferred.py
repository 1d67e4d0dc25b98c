"""
The onboarding example DAG on real Airflow components: the connect task waits in the triggerer.

api-server, scheduler (LocalExecutor), dag-processor and triggerer run as subprocesses (see
``conftest.py``); the emulator never approves by itself, so the test plays the user once the
task is deferred and checks that the triggerer, not a worker, saw the approval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

if TYPE_CHECKING:
    from conftest import AirflowStack

pytestmark = pytest.mark.integration

DAG_ID = "smartlyq_onboard_account"
CONNECT = "connect_account"
CHECK = "check_new_account"


def emulator_session(stack: AirflowStack, state_token: str) -> dict[str, Any]:
    """Return the emulator's connect session for ``state_token`` (other tests' DAGs may add others)."""
    sessions = [
        s for s in stack.emulator.client.state()["connect_sessions"] if s["state_token"] == state_token
    ]
    assert len(sessions) == 1, stack.emulator.client.state()["connect_sessions"]
    return sessions[0]


def status_checks(stack: AirflowStack, state_token: str) -> int:
    """Return how many status checks (GETs) of the link the emulator has answered."""
    return sum(
        1 for r in stack.emulator.client.requests() if r["method"] == "GET" and state_token in r["path"]
    )


def test_connect_task_defers_and_the_triggerer_completes_the_onboarding(stack: AirflowStack) -> None:
    stack.unpause(DAG_ID)
    run_id = stack.trigger(DAG_ID, conf={"platform": "instagram"})

    ti = stack.wait_for_deferred(DAG_ID, run_id, CONNECT)
    assert ti["trigger_id"] is not None
    xcom = stack.xcoms(DAG_ID, run_id)
    session = emulator_session(stack, xcom[(CONNECT, "state_token")])
    assert session["status"] == "pending"
    assert session["platform"] == "instagram"
    # The link the user gets carries the same token as its ``state`` parameter.
    assert parse_qs(urlsplit(xcom[(CONNECT, "connect_url")]).query)["state"] == [session["state_token"]]
    # Deferred, the wait is the triggerer's: status checks go on after the worker's last one.
    checks_at_defer = status_checks(stack, session["state_token"])
    stack.wait_for(
        lambda: status_checks(stack, session["state_token"]) > checks_at_defer,
        timeout=60,
        what="the triggerer to poll the connect link",
    )

    accounts = stack.emulator.client.approve_connect(session["state_token"], name="E2E Onboarded")

    assert stack.wait_for_run(DAG_ID, run_id, timeout=120) == "success"
    assert stack.task_states(DAG_ID, run_id) == {CONNECT: "success", CHECK: "success"}
    history = stack.state_history(DAG_ID, run_id, CONNECT)
    assert "deferred" in history, history
    account = stack.xcoms(DAG_ID, run_id)[(CONNECT, "return_value")]
    assert account["id"] == accounts[0]["id"]
    assert account["platform"] == "instagram"

    task_log = stack.read([p for p in stack.task_log_files(DAG_ID, run_id) if f"task_id={CONNECT}" in str(p)])
    assert "Pausing task as DEFERRED" in task_log
    trigger_logs = [p for p in stack.trigger_log_files(DAG_ID, run_id) if f"task_id={CONNECT}" in str(p)]
    assert trigger_logs, stack.task_log_files(DAG_ID, run_id)
    trigger_log = stack.read(trigger_logs)
    assert "is connected" in trigger_log, trigger_log
    # The log masks the state token: whoever reads logs cannot complete someone else's link.
    assert session["state_token"] not in trigger_log
