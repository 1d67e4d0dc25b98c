"""The onboarding and health-gate example DAGs run for real under ``airflow dags test``."""

from __future__ import annotations

import json
import sqlite3

import pytest
from airflow_cli_support import EXAMPLE_DAGS


def latest_run(airflow_db, dag_id: str) -> dict:
    """Return ``{task_id: state}`` and ``{(task_id, key): value}`` of the DAG's latest run."""
    with sqlite3.connect(airflow_db / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        states = dict(
            db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
            ).fetchall()
        )
        xcoms = {
            # sqlite hands JSON numbers back as numbers, strings and objects as JSON text
            (task_id, key): json.loads(value) if isinstance(value, (str, bytes)) else value
            for task_id, key, value in db.execute(
                "SELECT task_id, key, value FROM xcom WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
            ).fetchall()
        }
    return {"states": states, "xcoms": xcoms}


@pytest.mark.parametrize("name", ["smartlyq_onboard_account", "smartlyq_gate_publishing"])
def test_example_dag_loads(name):
    from airflow_provider_smartlyq._compat import dag_bag

    bag = dag_bag(str(EXAMPLE_DAGS / f"{name}.py"))
    assert bag.import_errors == {}
    assert name in bag.dags


@pytest.fixture
def auto_approve(smartlyq_emulator):
    """Make the session's emulator approve every connect link 2 s after it is created."""
    config = smartlyq_emulator.config
    before = config.auto_approve_after
    config.auto_approve_after = 2
    yield smartlyq_emulator
    config.auto_approve_after = before


def test_onboarding_dag_defers_until_the_emulator_approves(run_airflow, airflow_db, auto_approve):
    emu = auto_approve
    result = run_airflow(
        "dags", "test", "smartlyq_onboard_account", "-c", json.dumps({"platform": "instagram"})
    )
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-5000:]
    run = latest_run(airflow_db, "smartlyq_onboard_account")
    assert run["states"] == {"connect_account": "success", "check_new_account": "success"}
    account = run["xcoms"][("connect_account", "return_value")]
    assert account["platform"] == "instagram"
    assert account["id"] == account["account_id"]
    session = emu.client.state()["connect_sessions"][0]
    assert run["xcoms"][("connect_account", "state_token")] == session["state_token"]
    assert session["state_token"] in run["xcoms"][("connect_account", "connect_url")]
    assert run["xcoms"][("connect_account", "expires_at")] == session["expires_at"]
    assert "running trigger in line" in output  # the connect task deferred
    # The health check judged exactly the new account, with one bulk request.
    assert [a["id"] for a in run["xcoms"][("check_new_account", "return_value")]] == [account["id"]]
    assert run["xcoms"][("check_new_account", "unhealthy_accounts")] == []
    writes = [w["action"] for w in emu.client.writes()]
    assert writes == ["connect_link_created", "account_connected"]
    # Neither the API key nor the whole state token reach the logs.
    assert emu.api_key not in output
    assert session["state_token"] not in output


def test_gate_dag_lets_publish_run_when_the_accounts_are_healthy(run_airflow, airflow_db, smartlyq_emulator):
    result = run_airflow("dags", "test", "smartlyq_gate_publishing")
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-5000:]
    run = latest_run(airflow_db, "smartlyq_gate_publishing")
    assert run["states"] == {
        "accounts_healthy": "success",
        "validate": "success",
        "publish": "success",
        "report": "success",
    }
    assert run["xcoms"][("publish", "return_value")]["status"] == "published"
    health_calls = [r for r in smartlyq_emulator.client.requests() if r["path"].endswith("/health")]
    assert len(health_calls) == 1  # healthy at the first check: no deferral needed


def test_gate_dag_waits_deferred_until_an_expired_account_is_reconnected(
    run_airflow, airflow_db, smartlyq_emulator
):
    import threading

    emu = smartlyq_emulator
    emu.client.expire_account_token(103)

    def reconnect_later() -> None:
        # Play the human: the gate fetched 103's reconnect link; use it a few polls later.
        import time

        def health_checks() -> int:
            return sum(1 for r in emu.client.requests() if r["path"].endswith("/accounts/health"))

        for _ in range(240):
            sessions = [s for s in emu.client.state()["connect_sessions"] if s["reconnect_account_id"] == 103]
            if sessions:
                # Let the deferred gate poll twice while 103 is still expired.
                seen = health_checks()
                for _ in range(120):
                    if health_checks() >= seen + 2:
                        break
                    time.sleep(0.5)
                emu.client.approve_connect(sessions[0]["state_token"])
                return
            time.sleep(0.5)

    helper = threading.Thread(target=reconnect_later, daemon=True)
    helper.start()
    result = run_airflow("dags", "test", "smartlyq_gate_publishing")
    helper.join(timeout=5)
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-5000:]
    run = latest_run(airflow_db, "smartlyq_gate_publishing")
    assert run["states"]["publish"] == "success"
    assert "running trigger in line" in output
    assert "Acme X" in output
    assert "token expired" in output
    writes = [w["action"] for w in emu.client.writes()]
    assert "account_reconnected" in writes
    assert run["xcoms"][("accounts_healthy", "unhealthy_accounts")] == []
