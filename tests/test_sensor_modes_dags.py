"""
The sensors' poke and reschedule modes under a real ``airflow dags test`` (not TI stand-ins).

Each DAG in ``tests/dags/smartlyq_sensor_modes.py`` runs with the real CLI against the emulator.
The health sensors start on an unhealthy account that the emulator heals once the first health
check has been made, so every run waits at least once; the post sensor waits for a post that
takes seconds to publish. What each mode leaves behind is read from the run's database:
reschedule mode records a ``task_reschedule`` row per wait and frees the worker in between;
poke mode waits inside one attempt and records none.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import TYPE_CHECKING

import pytest
from airflow_cli_support import REPO

if TYPE_CHECKING:
    from pathlib import Path

DAGS = REPO / "tests" / "dags"


def run_dag(run_airflow, dag_id: str) -> str:
    result = run_airflow("dags", "test", dag_id, env={"AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    return output


def task_rows(home: Path, dag_id: str) -> dict[str, dict]:
    """Return ``{task_id: {state, try_number, reschedules}}`` of the DAG's latest run."""
    with sqlite3.connect(home / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        rows = {}
        for ti_id, task_id, state, try_number in db.execute(
            "SELECT id, task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall():
            (reschedules,) = db.execute(
                "SELECT COUNT(*) FROM task_reschedule WHERE ti_id = ?", (ti_id,)
            ).fetchone()
            rows[task_id] = {"state": state, "try_number": try_number, "reschedules": reschedules}
    return rows


def health_checks(emu) -> list[dict]:
    return [r for r in emu.client.requests() if r["path"] == "/v1/social/accounts/health"]


@pytest.fixture
def heal_after_first_check(smartlyq_emulator):
    """Expire account 103's token; give it 40 days again once the first health check was made."""
    emu = smartlyq_emulator
    emu.client.expire_account_token(103)
    stop = threading.Event()

    def heal() -> None:
        while not stop.is_set():
            if health_checks(emu):
                time.sleep(1.5)  # let a second check see it unhealthy too
                emu.client.update_account(103, validity_days=40)
                return
            time.sleep(0.1)

    healer = threading.Thread(target=heal, daemon=True)
    healer.start()
    yield emu
    stop.set()
    healer.join(timeout=10)


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_health_sensor_waits_for_the_reconnect(run_airflow, airflow_db, heal_after_first_check, mode):
    emu = heal_after_first_check
    dag_id = f"smartlyq_test_health_{mode}"
    output = run_dag(run_airflow, dag_id)

    sensor = task_rows(airflow_db, dag_id)["accounts_healthy"]
    assert sensor["state"] == "success"
    checks = health_checks(emu)
    assert len(checks) >= 2  # unhealthy first, healthy later: it waited
    assert {r["method"] for r in emu.client.requests()} == {"GET"}
    assert "1 selected account(s) are unhealthy" in output  # the first check saw 103 expired
    if mode == "reschedule":
        assert sensor["reschedules"] >= 1  # the worker slot was given back between checks
    else:
        assert sensor["reschedules"] == 0  # one attempt held the slot throughout
    assert sensor["try_number"] == 1


def test_post_sensor_reschedules_until_published(run_airflow, airflow_db, smartlyq_emulator):
    emu = smartlyq_emulator
    emu.client.update_posts_settings(stage_seconds=2)  # about 6 s from created to published
    output = run_dag(run_airflow, "smartlyq_test_post_reschedule")

    rows = task_rows(airflow_db, "smartlyq_test_post_reschedule")
    assert rows["publish"]["state"] == "success"
    assert rows["published"]["state"] == "success"
    assert rows["published"]["reschedules"] >= 1
    assert rows["published"]["try_number"] == 1
    [post] = emu.client.posts()["posts"]
    assert post["status"] == "published"
    reads = [r for r in emu.client.requests() if r["path"] == f"/v1/social/posts/{post['id']}"]
    assert len(reads) >= 2  # read while publishing, then once published
    writes = [w["action"] for w in emu.client.writes() if w["action"] == "post_created"]
    assert writes == ["post_created"]  # published once
    assert f"Post {post['id']} published" in output
