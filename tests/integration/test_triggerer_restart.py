"""
A triggerer killed with SIGKILL mid-wait loses nothing: a new one finishes the onboarding.

Real components (see ``conftest.py``). The connect task is deferred, the triggerer and its
trigger runner are killed without any chance to clean up, the user approves while no triggerer
runs, and a new triggerer adopts the trigger from its stored kwargs: same deadline, and the
connected account reaches the task. The run also checks that the API key is nowhere on disk.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import AirflowStack

pytestmark = pytest.mark.integration

DAG_ID = "smartlyq_onboard_account"
CONNECT = "connect_account"
#: The example DAG's ``timeout=900``: the trigger's deadline is this long after the defer.
CONNECT_TIMEOUT = 900


def status_polls(stack: AirflowStack, state_token: str) -> int:
    """Return how many status checks of the link the emulator has answered."""
    return sum(
        1 for r in stack.emulator.client.requests() if r["method"] == "GET" and state_token in r["path"]
    )


def running_triggerer_job_id(stack: AirflowStack) -> int:
    """Return the id of the newest running triggerer job."""
    rows = stack.query(
        "SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' ORDER BY id DESC"
    )
    assert rows, "no running triggerer job"
    return int(rows[0]["id"])


def test_triggerer_killed_mid_wait_is_replaced_without_losing_the_connect(stack: AirflowStack) -> None:
    stack.unpause(DAG_ID)
    run_id = stack.trigger(DAG_ID)
    ti = stack.wait_for_deferred(DAG_ID, run_id, CONNECT)
    state_token = stack.xcoms(DAG_ID, run_id)[(CONNECT, "state_token")]
    # The first triggerer really runs the wait: it has claimed the row and polls (the worker
    # checked the link once before deferring; later checks are the triggerer's).
    old_job = running_triggerer_job_id(stack)
    polls_at_defer = status_polls(stack, state_token)
    stack.wait_for(
        lambda: (
            stack.trigger_row(ti["trigger_id"])["triggerer_id"] == old_job
            and status_polls(stack, state_token) > polls_at_defer
        ),
        timeout=60,
        what="the triggerer to claim the trigger and poll",
    )
    before = stack.trigger_row(ti["trigger_id"])
    deadline: float = before["kwargs"]["end_time"]
    deferred_at = stack.db_time(ti["start_date"])
    assert deferred_at + CONNECT_TIMEOUT - 5 < deadline < deferred_at + CONNECT_TIMEOUT + 120
    assert stack.emulator.api_key not in before["kwargs_json"]

    stack.kill_triggerer()
    polls_at_kill = status_polls(stack, state_token)
    accounts = stack.emulator.client.approve_connect(state_token, name="Approved While Down")
    # Nobody is polling now: the approval waits in SmartlyQ, the task stays deferred.
    time.sleep(3)
    assert status_polls(stack, state_token) == polls_at_kill
    assert stack.task_states(DAG_ID, run_id)[CONNECT] == "deferred"

    # Hold the new triggerer's first status check for 3 s, so the adopted row can be read
    # before the event fires and Airflow deletes it.
    stack.emulator.client.inject_fault(f"/v1/social/connect/{state_token}", "GET", delay=3, count=1)
    stack.start_triggerer()
    new_job = running_triggerer_job_id(stack)
    assert new_job != old_job
    adopted = stack.wait_for(
        lambda: _row_if_claimed_by(stack, ti["trigger_id"], new_job),
        timeout=60,
        what=f"triggerer job {new_job} to adopt trigger {ti['trigger_id']}",
    )
    assert adopted["kwargs"]["end_time"] == deadline
    assert adopted["kwargs"]["state_token"] == state_token

    assert stack.wait_for_run(DAG_ID, run_id, timeout=120) == "success"
    account = stack.xcoms(DAG_ID, run_id)[(CONNECT, "return_value")]
    assert account["id"] == accounts[0]["id"]
    assert account["name"] == "Approved While Down"
    assert "deferred" in stack.state_history(DAG_ID, run_id, CONNECT)
    new_trigger_log = stack.read(
        [p for p in stack.trigger_log_files(DAG_ID, run_id) if p.name.endswith(f".trigger.{new_job}.log")]
    )
    assert "is connected" in new_trigger_log

    # Secret hygiene: the key is in no log, XCom, trigger row or other file of the run. The
    # same search does find the state token (in XCom), so it is searching the right places.
    assert stack.files_containing(state_token)
    assert stack.files_containing(stack.emulator.api_key) == []


def _row_if_claimed_by(stack: AirflowStack, trigger_id: int, job_id: int) -> dict[str, Any] | None:
    row = stack.trigger_row(trigger_id)
    return row if row["triggerer_id"] == job_id else None
