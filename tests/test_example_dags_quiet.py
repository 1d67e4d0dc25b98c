"""
Happy paths are quiet: no example DAG logs an error-level line on a successful run.

A newcomer reads ``[error]`` as "something failed". Each example DAG runs here under
``airflow dags test`` against the emulator in the state where it succeeds; the test fails on
any error-level log line (Airflow's own included, e.g. "XCom not found" from an extra link
reading a key that was never pushed). The two first-day DAGs (``smartlyq_daily_post`` healthy,
``smartlyq_pause_tiktok_fridays``) make the same check in ``test_example_dags_first_day.py``.
"""

from __future__ import annotations

import json
import re

import pytest
from airflow_cli_support import EXAMPLE_DAGS

ERROR_LINE = re.compile(r"\[error\s*\]")


def _auto_approve(emu) -> None:
    emu.config.auto_approve_after = 1


#: dag id -> (emulator setup, extra ``airflow dags test`` arguments)
HAPPY = {
    "smartlyq_accounts_overview": (None, []),
    "smartlyq_gate_publishing": (None, ["-c", json.dumps({"message": "Quiet run check"})]),
    "smartlyq_onboard_account": (_auto_approve, ["-c", json.dumps({"platform": "facebook"})]),
    "smartlyq_pause_brand_nightly": (None, []),
    "smartlyq_resume_brand_morning": (None, []),
    "smartlyq_publish_per_brand": (None, []),
    "smartlyq_reconnect_unhealthy": (None, []),
    "smartlyq_reconnect_on_expiry": (None, []),
}
COVERED_ELSEWHERE = {"smartlyq_daily_post", "smartlyq_pause_tiktok_fridays"}


def test_every_example_dag_has_a_quiet_happy_path_check():
    from test_example_dags import _dagbag  # DagBag moved between Airflow 3 releases

    bag = _dagbag(EXAMPLE_DAGS)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == set(HAPPY) | COVERED_ELSEWHERE


@pytest.mark.parametrize("dag_id", sorted(HAPPY))
def test_a_successful_run_logs_no_error_line(run_airflow, smartlyq_emulator, dag_id):
    setup, args = HAPPY[dag_id]
    before = smartlyq_emulator.config.auto_approve_after
    if setup is not None:
        setup(smartlyq_emulator)
    try:
        result = run_airflow("dags", "test", dag_id, *args)
    finally:
        smartlyq_emulator.config.auto_approve_after = before
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    errors = [line for line in output.splitlines() if ERROR_LINE.search(line)]
    assert errors == [], "\n".join(errors)
