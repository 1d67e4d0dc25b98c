"""
Run the benchmarks: ``python benchmarks/run.py [triggerer|health_gate|parse|sync_hook ...] [--quick]``.

Each prints its table (ratio against a peer measured in the same run) and writes
``benchmarks/results/<name>.json``. A full run of all four (no ``--quick``) also rewrites
``benchmarks/RESULTS.md``, the dated summary that is committed. About 10 minutes on 2 cores;
``--quick`` (1,000 triggers, fewer repeats) about 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, machine, read_results

ORDER = ("triggerer", "health_gate", "parse", "sync_hook")
TITLES = {
    "triggerer": "Triggerer scale",
    "health_gate": "Health-gate cost",
    "parse": "Parse overhead",
    "sync_hook": "Sync hook over HTTPS",
}
COMMAND = "python benchmarks/run.py"


def write_summary(seconds: float) -> Path:
    """Write ``benchmarks/RESULTS.md`` from the JSON results of the run that just finished."""
    info = machine()
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    lines = [
        "# Benchmark results",
        "",
        f"Measured {date} with `{COMMAND}` ({seconds / 60:.1f} min): Python {info['python']}, "
        f"{info['cpus']} CPUs, Airflow {info['versions'].get('apache-airflow', '?')}, http provider "
        f"{info['versions'].get('apache-airflow-providers-http', '?')}, 1-minute load average at the end "
        f"{info['load_average_1m']:.1f}. Every peer ran in the same run, against the same emulator "
        "(its own process, loopback). Raw numbers: `benchmarks/results/*.json` (not committed). "
        "What each benchmark does and how to read it: `docs/performance.md`.",
        "",
    ]
    for name in ORDER:
        module = importlib.import_module(f"bench_{name}")
        payload = read_results(name)
        if payload is None:
            continue
        lines += [f"## {TITLES[name]}", "", module.markdown(payload), ""]
    path = BENCH_DIR / "RESULTS.md"
    path.write_text("\n".join(lines))
    print(f"summary: {path}")
    return path


def main(argv: list[str] | None = None) -> None:
    """Run the chosen benchmarks (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(ORDER)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    args = parser.parse_args(argv)
    names = args.names or list(ORDER)
    unknown = sorted(set(names) - set(ORDER))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    os.chdir(BENCH_DIR.parent)
    start = time.perf_counter()
    for name in names:
        print(f"\n=== {TITLES[name]} ===", flush=True)
        importlib.import_module(f"bench_{name}").run(quick=args.quick)
    elapsed = time.perf_counter() - start
    print(f"\nall done in {elapsed / 60:.1f} min")
    if not args.quick and set(names) == set(ORDER):
        write_summary(elapsed)


if __name__ == "__main__":
    main()
