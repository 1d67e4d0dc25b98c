"""
Event-driven scheduling end to end: api-server, scheduler, dag-processor and triggerer.

The example DAG ``smartlyq_reconnect_on_expiry`` is scheduled on an asset watched by
``AccountHealthEventTrigger``. Expiring an account in the emulator must create one run carrying
that account in its asset event; killing and restarting the triggerer must not fire the same
transition again (the watcher's last-seen states live in Airflow's asset state store).
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import AirflowStack

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
DAG_ID = "smartlyq_reconnect_on_expiry"
ASSET_NAME = "smartlyq_acme_account_health"
POLL_ENV = "SMARTLYQ_HEALTH_POLL_INTERVAL"
POLL_SECONDS = 2
USE_JOB_SCHEDULE = "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"
HEALTH_PATH = "/v1/social/accounts/health"

pytestmark = pytest.mark.integration


def restart(stack: AirflowStack, component: str) -> None:
    stack.kill(component, signal.SIGTERM)
    stack.start_component(component)


@pytest.fixture(scope="module")
def event_stack(airflow_stack: AirflowStack) -> Iterator[AirflowStack]:
    """
    Return the session's stack serving the example DAG, with asset-triggered runs enabled.

    The harness runs the scheduler with ``use_job_schedule=False`` (no timetable surprises in
    other tests), which also stops asset-triggered runs: this module turns it on for its test
    and restores it afterwards. The DAG's poll interval is read at parse time, so the
    dag-processor restarts with it set.
    """
    stack = airflow_stack
    previous = stack.env.get(USE_JOB_SCHEDULE)
    shutil.copy(EXAMPLE_DAGS / f"{DAG_ID}.py", stack.dags_folder / f"{DAG_ID}.py")
    stack.env[POLL_ENV] = str(POLL_SECONDS)
    stack.env[USE_JOB_SCHEDULE] = "True"
    restart(stack, "dag-processor")
    restart(stack, "scheduler")
    try:
        stack.wait_for_dag(DAG_ID, timeout=180)
        yield stack
    finally:
        stack.airflow("dags", "pause", DAG_ID, check=False)
        (stack.dags_folder / f"{DAG_ID}.py").unlink(missing_ok=True)
        if previous is None:
            stack.env.pop(USE_JOB_SCHEDULE, None)
        else:
            stack.env[USE_JOB_SCHEDULE] = previous
        restart(stack, "scheduler")


def asset_events(stack: AirflowStack) -> list[dict[str, Any]]:
    """Return the watched asset's events with their trigger payloads, oldest first."""
    return stack.asset_events(ASSET_NAME)


def transitions(events: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [
        (e["extra"]["payload"]["account"]["id"], e["extra"]["payload"]["transition"])
        for e in events
        if e["extra"].get("from_trigger")
    ]


def runs(stack: AirflowStack) -> list[dict[str, Any]]:
    return stack.dag_runs(DAG_ID)


def run_of_event(stack: AirflowStack, event_id: int) -> dict[str, Any] | None:
    rows = stack.query(
        "SELECT r.id, r.run_id, r.state FROM dag_run r JOIN dagrun_asset_event l ON l.dag_run_id = r.id "
        "WHERE l.event_id = ?",
        (event_id,),
    )
    return dict(rows[0]) if rows else None


def assert_each_event_started_one_run(stack: AirflowStack) -> None:
    consumed = stack.query("SELECT event_id, COUNT(*) AS n FROM dagrun_asset_event GROUP BY event_id")
    assert {r["event_id"]: r["n"] for r in consumed} == {e["id"]: 1 for e in asset_events(stack)}


def health_polls(stack: AirflowStack) -> int:
    return sum(1 for r in stack.emulator.client.requests() if r["path"] == HEALTH_PATH)


def test_expiry_starts_one_run_and_a_triggerer_restart_does_not_repeat_it(
    event_stack: AirflowStack, stack: AirflowStack
) -> None:
    stack.unpause(DAG_ID)
    started = time.monotonic()

    # fire_on_start: the Acme accounts already expiring (102) or expired (104) fire on the first poll.
    stack.wait_for(
        lambda: {(102, "expiring"), (104, "unhealthy")} <= set(transitions(asset_events(stack))),
        timeout=150,
        what="the watcher's first events (the trigger starts once the unpaused DAG is re-parsed)",
    )
    first_event_after = time.monotonic() - started
    stack.wait_for(
        lambda: runs(stack) and all(r["state"] in ("success", "failed") for r in runs(stack)),
        timeout=120,
        what="the runs of the initial events to finish",
    )
    assert all(r["state"] == "success" for r in runs(stack)), runs(stack)
    assert all(r["run_type"] == "asset_triggered" for r in runs(stack))

    # An account's token expires: exactly one new event, one new run carrying it.
    events_before, runs_before = asset_events(stack), runs(stack)
    stack.emulator.client.expire_account_token(101)  # Acme Facebook
    stack.wait_for(
        lambda: len(asset_events(stack)) > len(events_before), timeout=60, what="the asset event of 101"
    )
    new_events = asset_events(stack)[len(events_before) :]
    assert transitions(new_events) == [(101, "unhealthy")]
    payload = new_events[0]["extra"]["payload"]
    assert payload["event_key"] == "smartlyq:101:unhealthy:expired"
    assert payload["account"]["account_name"] == "Acme Facebook"
    assert payload["account"]["token_expired"] is True

    run = stack.wait_for(lambda: run_of_event(stack, new_events[0]["id"]), timeout=60, what="the run of 101")
    assert stack.wait_for_run(DAG_ID, run["run_id"]) == "success"
    links = {
        link["account_id"]: link
        for link in stack.xcoms(DAG_ID, run["run_id"])[("reconnect_links", "return_value")]
    }
    # A run consumes every event queued since the previous run: an initial event that landed
    # just after the first run was created rides along here (once, see below).
    assert links[101]["transition"] == "unhealthy"
    assert links[101]["event_key"] == "smartlyq:101:unhealthy:expired"
    assert links[101]["reconnect_url"].startswith("http")
    assert stack.xcoms(DAG_ID, run["run_id"])[("notify", "return_value")] == len(links)
    assert len(runs(stack)) == len(runs_before) + 1
    assert_each_event_started_one_run(stack)

    # The watcher's last-seen states are in Airflow's asset state store (written by the triggerer).
    stored = stack.query(
        "SELECT s.key, s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id WHERE a.name = ?",
        (ASSET_NAME,),
    )
    assert [row["key"].split(":")[0] for row in stored] == ["smartlyq_health_watch"]
    states = json.loads(stored[0]["value"])["states"]
    assert states["101"] == "unhealthy"

    # Kill the triggerer (no clean-up runs) and start a new one: it adopts the watcher, which
    # resumes from the stored states and must not fire 101, 102 or 104 again.
    events_before, runs_before = asset_events(stack), runs(stack)
    stack.kill_triggerer()
    polls_at_restart = health_polls(stack)
    stack.start_triggerer()
    stack.wait_for(
        lambda: health_polls(stack) >= polls_at_restart + 4,
        timeout=120,
        what="the restarted triggerer to poll a few times",
    )
    time.sleep(2 * POLL_SECONDS)  # leave time for an (unwanted) event to become a run
    assert asset_events(stack) == events_before
    assert runs(stack) == runs_before

    # The restarted watcher still fires on the next real transition.
    stack.emulator.client.update_account(101, validity_days=60)  # reconnected: not a watched event
    stack.emulator.client.expire_account_token(103)  # Acme X
    stack.wait_for(
        lambda: len(asset_events(stack)) > len(events_before), timeout=60, what="the asset event of 103"
    )
    latest = asset_events(stack)[len(events_before) :]
    assert transitions(latest) == [(103, "unhealthy")]
    run = stack.wait_for(lambda: run_of_event(stack, latest[0]["id"]), timeout=60, what="the run of 103")
    assert stack.wait_for_run(DAG_ID, run["run_id"]) == "success"
    assert_each_event_started_one_run(stack)
    print(f"first watcher event {first_event_after:.1f}s after unpause")
