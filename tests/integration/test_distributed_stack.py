"""
The provider on Airflow's distributed engine: CeleryExecutor, PostgreSQL, Redis, two triggerers.

PostgreSQL (metadata database and Celery results) and Redis (broker) are real servers started
by the harness (``stack_services.py``); api-server, scheduler, dag-processor, two Celery workers
and two triggerers are real ``airflow`` processes (``conftest.py``, ``distributed_stack``).

The four example flows run at once: onboarding (the connect waits in a triggerer), the gate ->
validate -> publish DAG (the gate waits for a reconnect), the nightly brand pause (its scheduled
run) and the event-driven watcher. While the connect, the gate and the watcher wait in
``triggerer-1``, ``triggerer-2`` starts, and ``triggerer-1`` is killed with SIGKILL. Then:

- ``triggerer-2`` adopts every wait from the stored kwargs, unchanged (deadlines included);
- the user acts, and every run succeeds; the watcher does not fire its old transitions again
  and does fire a new one;
- the emulator's write log shows each write exactly once, and one post is created and charged;
- with the emulator at SmartlyQ's default rate in short windows (10 requests per 10 s), no
  window holds more requests than that, counting every process together (the server is the only
  place that sees them all), so none was refused (429): the provider's request budget, fed by
  the ``X-RateLimit-*`` headers alone, keeps every process on the key (the workers' task
  processes and the triggerers) within its limit.
"""

from __future__ import annotations

import collections
import re
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import AirflowStack

pytestmark = [pytest.mark.integration, pytest.mark.distributed]

ONBOARD, CONNECT, CHECK = "smartlyq_onboard_account", "connect_account", "check_new_account"
GATE, GATE_TASK = "smartlyq_gate_publishing", "accounts_healthy"
NIGHTLY = "smartlyq_pause_brand_nightly"
WATCHED, ASSET_NAME = "smartlyq_reconnect_on_expiry", "smartlyq_acme_account_health"
#: Globex Threads: text-only posts, and outside the brand ("Acme *") the nightly run pauses.
GATE_ACCOUNT = 107
ACME = (101, 102, 103, 104)
MESSAGE = "Hello from a Celery worker"
EVENT_TRIGGER = "AccountHealthEventTrigger"


def running_triggerer_jobs(stack: AirflowStack) -> list[int]:
    """Return the ids of the triggerer jobs still marked running, oldest first."""
    rows = stack.query("SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' ORDER BY id")
    return [int(r["id"]) for r in rows]


def watcher_trigger_id(stack: AirflowStack) -> int | None:
    """Return the id of the asset watcher's trigger row, once the scheduler has created it."""
    rows = stack.query("SELECT id FROM trigger WHERE classpath LIKE ?", (f"%{EVENT_TRIGGER}",))
    return int(rows[0]["id"]) if rows else None


def transitions(stack: AirflowStack) -> list[tuple[int, str]]:
    """Return ``(account id, transition)`` of every watcher event, oldest first."""
    return [
        (e["extra"]["payload"]["account"]["id"], e["extra"]["payload"]["transition"])
        for e in stack.asset_events(ASSET_NAME)
        if e["extra"].get("from_trigger")
    ]


def claimed_by(stack: AirflowStack, trigger_ids: dict[str, int], job_id: int) -> dict[str, Any] | None:
    """Return every trigger row once all of ``trigger_ids`` are held by triggerer ``job_id``."""
    rows = {name: stack.trigger_row(tid) for name, tid in trigger_ids.items()}
    return rows if all(row["triggerer_id"] == job_id for row in rows.values()) else None


def write_identity(write: dict[str, Any]) -> tuple[str, Any]:
    """Return what a write acted on: ``(action, account id | post id | state token)``."""
    target = next(
        write[key] for key in ("account_id", "post_id", "state_token") if write.get(key) is not None
    )
    return write["action"], target


#: A path segment that is an id or a token, folded in the printed request summary.
ID_SEGMENT = re.compile(r"/(\d+|[A-Za-z0-9_-]{20,})(?=/|$)")


def request_kinds(log: list[dict[str, Any]]) -> dict[str, int]:
    """Count requests by method and path, ids and tokens folded (for the printed summary)."""
    kinds = collections.Counter(f"{r['method']} {ID_SEGMENT.sub('/{id}', r['path'])}" for r in log)
    return dict(kinds.most_common())


def tasks_received(stack: AirflowStack, worker: str) -> int:
    """Return how many Airflow workloads a Celery worker's log says it received."""
    text = (stack.component_logs / f"{worker}.log").read_text(errors="replace")
    return sum(1 for line in text.splitlines() if "execute_workload[" in line and "received" in line)


def test_celery_postgres_two_triggerers_survive_a_triggerer_kill(distributed_stack: AirflowStack) -> None:
    stack = distributed_stack
    emulator = stack.emulator.client
    started = time.monotonic()
    # The gate needs something to wait for: its account must be reconnected first.
    emulator.expire_account_token(GATE_ACCOUNT)
    for dag_id in (ONBOARD, GATE, NIGHTLY, WATCHED):
        stack.unpause(dag_id, timeout=180)
    onboard_run = stack.trigger(ONBOARD)
    gate_run = stack.trigger(GATE, conf={"account_ids": [GATE_ACCOUNT], "message": MESSAGE})

    # -- every wait is in triggerer-1 ---------------------------------------------------------
    connect_ti = stack.wait_for_deferred(ONBOARD, onboard_run, CONNECT, timeout=180)
    gate_ti = stack.wait_for_deferred(GATE, gate_run, GATE_TASK, timeout=180)
    watcher = stack.wait_for(lambda: watcher_trigger_id(stack), timeout=120, what="the watcher's trigger")
    triggers = {"connect": connect_ti["trigger_id"], "gate": gate_ti["trigger_id"], "watcher": watcher}
    [first_job] = running_triggerer_jobs(stack)
    before = stack.wait_for(
        lambda: claimed_by(stack, triggers, first_job), timeout=60, what="triggerer-1 to hold every wait"
    )
    for name in ("connect", "gate"):
        assert before[name]["kwargs"]["end_time"] > time.time(), (name, before[name]["kwargs"])
    # The watcher's first poll fires what is already true (fire_on_start): 102 expiring, 104 expired.
    stack.wait_for(
        lambda: {(102, "expiring"), (104, "unhealthy")} <= set(transitions(stack)),
        timeout=120,
        what="the watcher's first events",
    )

    # -- a second triggerer joins; it takes nothing from a live one -----------------------------
    stack.start_triggerer("triggerer-2")
    [second_job] = [job for job in running_triggerer_jobs(stack) if job != first_job]
    time.sleep(4)  # two of its heartbeats: time enough to (wrongly) claim something
    assert claimed_by(stack, triggers, first_job), "triggerer-2 took a wait from a live triggerer"

    # -- kill -9 the triggerer holding the waits; the other one adopts them ----------------------
    stack.kill_triggerer("triggerer-1")
    killed = time.monotonic()
    adopted = stack.wait_for(
        lambda: claimed_by(stack, triggers, second_job),
        timeout=120,
        what=f"triggerer-2 (job {second_job}) to adopt {triggers}",
    )
    takeover_seconds = time.monotonic() - killed
    for name, row in adopted.items():
        # Rebuilt from the same stored kwargs: same deadline, same state token, same selector.
        assert row["kwargs"] == before[name]["kwargs"], name
        assert row["kwargs_json"] == before[name]["kwargs_json"], name
    assert stack.emulator.api_key not in "".join(row["kwargs_json"] for row in adopted.values())

    # -- the user acts; every run succeeds -----------------------------------------------------
    state_token = stack.xcoms(ONBOARD, onboard_run)[(CONNECT, "state_token")]
    [connected] = emulator.approve_connect(state_token, name="Distributed Onboarded")
    emulator.update_account(GATE_ACCOUNT, validity_days=60)  # reconnected: the gate opens
    events_before = len(transitions(stack))
    emulator.expire_account_token(101)  # a new transition for the adopted watcher

    assert stack.wait_for_run(ONBOARD, onboard_run, timeout=240) == "success"
    assert stack.xcoms(ONBOARD, onboard_run)[(CONNECT, "return_value")]["id"] == connected["id"]
    assert stack.wait_for_run(GATE, gate_run, timeout=240) == "success"
    assert stack.task_states(GATE, gate_run) == dict.fromkeys(
        ("accounts_healthy", "validate", "publish", "report"), "success"
    )
    for dag_id, run_id, task_id in ((ONBOARD, onboard_run, CONNECT), (GATE, gate_run, GATE_TASK)):
        assert "deferred" in stack.state_history(dag_id, run_id, task_id)
    # The survivor saw the approval: its trigger log says so. Lines that reach the triggerer's
    # supervisor after the trigger has finished (a loaded machine) land in the component log.
    survivor_logs = [
        p for p in stack.trigger_log_files(ONBOARD, onboard_run) if p.name.endswith(f".{second_job}.log")
    ]
    survivor_text = stack.read([*survivor_logs, stack.component_logs / "triggerer-2.log"])
    assert any("is connected" in line and onboard_run in line for line in survivor_text.splitlines())

    stack.wait_for(lambda: (101, "unhealthy") in transitions(stack), timeout=120, what="the event of 101")
    # The nightly pause's scheduled run (the latest 22:00; two if the test straddles 22:00 UTC).
    nightly_runs = stack.dag_runs(NIGHTLY)
    assert {r["run_type"] for r in nightly_runs} == {"scheduled"}, nightly_runs
    for nightly in nightly_runs:
        assert stack.wait_for_run(NIGHTLY, nightly["run_id"], timeout=240) == "success"
    stack.wait_for(
        lambda: (runs := stack.dag_runs(WATCHED)) and all(r["state"] in ("success", "failed") for r in runs),
        timeout=240,
        what="the watcher's runs to finish",
    )
    watched_runs = stack.dag_runs(WATCHED)
    assert {r["state"] for r in watched_runs} == {"success"}, watched_runs
    assert {r["run_type"] for r in watched_runs} == {"asset_triggered"}
    # Each transition fired once, across the kill: the adopted watcher resumed from the stored states.
    fired = transitions(stack)
    assert sorted(fired) == [(101, "unhealthy"), (102, "expiring"), (104, "unhealthy")], fired
    assert len(fired) == events_before + 1
    consumed = stack.query("SELECT event_id, COUNT(*) AS n FROM dagrun_asset_event GROUP BY event_id")
    assert {r["event_id"]: r["n"] for r in consumed} == {e["id"]: 1 for e in stack.asset_events(ASSET_NAME)}

    # -- the nightly pause touched the brand and nothing else ------------------------------------
    accounts = {a["id"]: a for a in emulator.state()["accounts"]}
    assert {i for i, a in accounts.items() if a["paused"]} == {*ACME, 105}  # 105 was paused already

    # -- each write exactly once ------------------------------------------------------------------
    posts = emulator.posts()
    [post] = [p for p in posts["posts"] if p["content"] == MESSAGE]
    assert len([c for c in posts["charges"] if c["post_id"] == post["id"]]) == 1
    writes = [w for w in emulator.writes() if w["source"] == "api"]  # the provider's, not the test's
    expected = {
        ("connect_link_created", state_token),
        ("post_created", post["id"]),
        *(("account_paused", account) for account in ACME),
        # The watcher's runs (101, 102, 104) and the gate's unhealthy report (107).
        *(("reconnect_link_created", account) for account in (101, 102, 104, GATE_ACCOUNT)),
    }
    assert collections.Counter(map(write_identity, writes)) == dict.fromkeys(expected, 1), writes

    # -- the request budget held, for all processes together ------------------------------------
    # The emulator counts every /v1 request of every process per fixed window: the busiest
    # window, 429s included, must not exceed the limit (so none was refused either).
    usage, log = emulator.rate_limit_usage(), emulator.requests()
    config = stack.emulator.config
    assert (usage["limit"], usage["window_seconds"]) == (config.rate_limit, config.rate_window)
    refused = [(r["timestamp"], r["method"], r["path"]) for r in log if r["status"] == 429]
    assert usage["limited"] == 0, f"answered 429: {refused}\nwindows: {usage['windows']}"
    assert usage["max_requests_per_window"] <= usage["limit"], usage["windows"]
    assert len(log) == usage["requests"]
    # Both workers did work (Celery spreads tasks over idle workers).
    received = {w: tasks_received(stack, w) for w in ("worker-1", "worker-2")}
    assert all(received.values()), received

    # Secret hygiene across the distributed set-up: not in logs, XCom, trigger rows, nor in the
    # PostgreSQL data files (the same search finds the state token, so it is searching).
    postgres_data = stack.services["postgres"].data_dir
    assert stack.files_containing(state_token, postgres_data)
    assert stack.files_containing(stack.emulator.api_key, postgres_data) == []
    print(
        f"distributed scenario {time.monotonic() - started:.0f}s; takeover {takeover_seconds:.1f}s "
        f"after SIGKILL; {len(log)} requests, busiest {usage['window_seconds']:.0f} s window "
        f"{usage['max_requests_per_window']}/{usage['limit']}; "
        f"tasks per worker {received}; stack start-up {stack.timings}\nrequests: {request_kinds(log)}"
    )
