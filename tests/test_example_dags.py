"""
The example DAGs: every file parses cleanly and cheaply, and the accounts overview runs for real.

DAG authors copy these files; a broken or slow-to-parse example is a broken first impression.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE_DAGS = Path(__file__).resolve().parents[1] / "example_dags"
EXAMPLE_FILES = sorted(EXAMPLE_DAGS.glob("*.py"))


def _dagbag(path):
    from airflow_provider_smartlyq._compat import dag_bag

    return dag_bag(str(path))


def test_accounts_overview_example_exists():
    assert EXAMPLE_DAGS / "smartlyq_accounts_overview.py" in EXAMPLE_FILES


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_dag_file_loads_without_import_errors(path):
    bag = _dagbag(path)

    assert bag.import_errors == {}
    assert bag.dags, f"{path.name} defines no DAG"


def test_example_dags_parse_without_loading_the_hook():
    # A fresh interpreter, so that only what parsing the DAG files imports is in sys.modules.
    script = f"""
import json, sys
from airflow_provider_smartlyq._compat import dag_bag
bag = dag_bag({str(EXAMPLE_DAGS)!r})
heavy = [m for m in ("airflow_provider_smartlyq.hooks.smartlyq", "airflow_provider_smartlyq.hooks._transport")
         if m in sys.modules]
print(json.dumps({{"dags": sorted(bag.dags), "errors": list(bag.import_errors), "heavy": heavy}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["errors"] == []
    assert "smartlyq_accounts_overview" in report["dags"]
    assert report["heavy"] == [], "example DAG files must import the hook inside their tasks"


def test_accounts_overview_runs_under_airflow_dags_test(run_airflow, smartlyq_emulator):
    result = run_airflow("dags", "test", "smartlyq_accounts_overview")
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-5000:]
    assert "state=success" in output
    # Demo seed: 102's token expires in 3 days, 104's has expired.
    assert "'needs_attention': [102, 104]" in output
    calls = [(r["method"], r["path"]) for r in smartlyq_emulator.client.requests()]
    assert sorted(calls) == [("GET", "/v1/social/accounts"), ("GET", "/v1/social/accounts/health")]
    assert smartlyq_emulator.client.writes() == []
    assert smartlyq_emulator.api_key not in output
