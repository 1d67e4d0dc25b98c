"""
The README's Performance table is the benchmark summary, word for word.

``benchmarks/run.py`` writes one summary block, from the results, into ``benchmarks/RESULTS.md``
and into the README. A hand edit of either (or a run that updated only one) fails here.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
from airflow_cli_support import REPO

BENCHMARKS = REPO / "benchmarks"


@pytest.fixture(scope="module")
def run_module():
    """Import ``benchmarks/run.py`` (it puts ``benchmarks/`` on the path for its own modules)."""
    spec = importlib.util.spec_from_file_location("benchmarks_run", BENCHMARKS / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchmarks_run"] = module
    spec.loader.exec_module(module)
    return module


def test_readme_table_is_the_results_summary(run_module):
    readme = run_module.extract_block((REPO / "README.md").read_text())
    results = run_module.extract_block((BENCHMARKS / "RESULTS.md").read_text())
    assert readme is not None, "README.md lost its generated benchmark block"
    assert results is not None, "benchmarks/RESULTS.md has no summary block"
    assert readme == results, "README and benchmarks/RESULTS.md disagree: run benchmarks/run.py"
    assert "| Benchmark | SmartlyQ provider |" in readme  # a table, not an empty block


def test_every_benchmark_in_the_summary_writes_a_section(run_module):
    for name in run_module.ORDER:
        module = importlib.import_module(f"bench_{name}")
        assert callable(module.run)
        assert callable(module.markdown)
        assert f"## {run_module.TITLES[name]}" in (BENCHMARKS / "RESULTS.md").read_text()


def test_the_block_is_built_from_each_benchmarks_summary(run_module, monkeypatch):
    class Fake:
        @staticmethod
        def summary(payload):
            return [[payload["what"], "1 ms", "peer 2 ms", "2x"]], ["A fair peer closes the gap."]

    monkeypatch.setattr(run_module, "ORDER", ("fake",))
    monkeypatch.setitem(sys.modules, "bench_fake", Fake)
    block = run_module.summary_block({"fake": {"what": "Fake check"}}, "Measured today.")

    assert block.startswith(run_module.SUMMARY_START)
    assert block.endswith(run_module.SUMMARY_END)
    assert "| Fake check | 1 ms | peer 2 ms | 2x |" in block
    assert "- A fair peer closes the gap." in block
    assert run_module.extract_block(f"before\n{block}\nafter") == block
