"""The account-lifecycle example DAGs: they load, and they run under ``airflow dags test``."""

from __future__ import annotations

import json
import sqlite3

import pytest
from airflow_cli_support import EXAMPLE_DAGS

FILES = ["smartlyq_pause_brand_nightly.py", "smartlyq_reconnect_unhealthy.py"]
ACME = {101, 102, 103, 104}


def accounts(emu) -> dict[int, dict]:
    return {a["id"]: a for a in emu.client.state()["accounts"]}


def dags_test(run_airflow, dag_id: str, conf: dict | None = None):
    args = ["dags", "test", dag_id]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    result = run_airflow(*args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def task_states(airflow_db, dag_id: str) -> dict[str, str]:
    """Return the states of the task instances of the DAG's latest run."""
    with sqlite3.connect(airflow_db / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        rows = db.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
        ).fetchall()
    return dict(rows)


def xcom(airflow_db, dag_id: str, task_id: str, key: str):
    with sqlite3.connect(airflow_db / "airflow.db") as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = ? "
            "ORDER BY timestamp DESC LIMIT 1",
            (dag_id, task_id, key),
        ).fetchone()
    return json.loads(row[0]) if row else None


@pytest.mark.parametrize("filename", FILES)
def test_example_dag_loads_without_errors(filename):
    from airflow_provider_smartlyq._compat import dag_bag

    bag = dag_bag(str(EXAMPLE_DAGS / filename))
    assert bag.import_errors == {}
    assert bag.dags


def test_nightly_brand_pause_then_resume_touches_only_the_brand(run_airflow, smartlyq_emulator):
    emu = smartlyq_emulator
    before = accounts(emu)
    assert before[105]["paused"]  # the demo seed's pre-paused Globex account, outside the brand

    dags_test(run_airflow, "smartlyq_pause_brand_nightly")  # default param: "Acme *"
    after_pause = accounts(emu)
    assert {i for i, a in after_pause.items() if a["paused"]} == ACME | {105}
    for i in set(before) - ACME:
        assert after_pause[i] == before[i] | {"validity_days": after_pause[i]["validity_days"]}
    writes = emu.client.writes()
    assert sorted(w["account_id"] for w in writes) == sorted(ACME)
    assert {w["action"] for w in writes} == {"account_paused"}

    dags_test(run_airflow, "smartlyq_pause_brand_nightly")  # a second night changes nothing
    assert emu.client.writes() == writes

    dags_test(run_airflow, "smartlyq_resume_brand_morning")
    after_resume = accounts(emu)
    assert {i for i, a in after_resume.items() if a["paused"]} == {105}
    resumed = [w for w in emu.client.writes() if w["action"] == "account_resumed"]
    assert sorted(w["account_id"] for w in resumed) == sorted(ACME)
    assert all(w["idempotency_key"].startswith("af:resume:") for w in resumed)


def test_brand_comes_from_dag_run_conf(run_airflow, smartlyq_emulator):
    dags_test(run_airflow, "smartlyq_pause_brand_nightly", {"brand_pattern": "Globex *"})
    assert {i for i, a in accounts(smartlyq_emulator).items() if a["paused"]} == {105, 106, 107, 108}
    # 105 was paused already: skipped, no write
    assert sorted(w["account_id"] for w in smartlyq_emulator.client.writes()) == [106, 107, 108]


def test_reconnect_example_sends_links_for_unhealthy_accounts(run_airflow, airflow_db, smartlyq_emulator):
    smartlyq_emulator.client.expire_account_token(106)
    result = dags_test(run_airflow, "smartlyq_reconnect_unhealthy")
    urls = xcom(airflow_db, "smartlyq_reconnect_unhealthy", "reconnect_urls", "return_value")
    assert sorted(urls) == ["104", "106"]
    first = xcom(airflow_db, "smartlyq_reconnect_unhealthy", "reconnect_urls", "first_reconnect_url")
    assert first == urls["104"]
    assert task_states(airflow_db, "smartlyq_reconnect_unhealthy")["notify"] == "success"
    output = result.stdout + result.stderr
    assert "Account 104 needs re-authorising: reconnect link ready" in output
    assert "Account 106 needs re-authorising: reconnect link ready" in output
    # Whoever holds a reconnect link can re-authorise the account: no task log shows one.
    assert not [url for url in urls.values() if url in output]


def test_reconnect_example_stops_when_everything_is_healthy(run_airflow, airflow_db, smartlyq_emulator):
    smartlyq_emulator.client.update_account(104, validity_days=30)
    dags_test(run_airflow, "smartlyq_reconnect_unhealthy")
    states = task_states(airflow_db, "smartlyq_reconnect_unhealthy")
    assert states["reconnect_urls"] == "skipped"
    assert states["notify"] == "skipped"
    assert not [r for r in smartlyq_emulator.client.requests() if r["path"].endswith("/reconnect-url")]
