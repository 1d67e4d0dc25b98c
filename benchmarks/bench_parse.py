"""
Parse overhead: what a DAG file pays to import the provider's operators and sensors.

Each case runs ``python -X importtime -c "import airflow.sdk; <imports>"`` in a fresh
process and sums the self time of every module loaded AFTER ``airflow.sdk`` (everything
``-X importtime`` reports after the line of ``airflow.sdk`` itself). The median over the
repeats is reported. Peers, measured the same way: the dbt Cloud operator module and the
http operator module. Also checked: the modules loaded for ours include none of aiohttp,
requests, tenacity, fastapi, uvicorn or our hook.

Usage: ``python benchmarks/bench_parse.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    bench_env,
    markdown_report,
    median,
    ratio,
    show_report,
    write_results,
)

from airflow_provider_smartlyq.core.surface import PUBLIC_SURFACE

NAME = "parse"
_PUBLIC = {
    "operators": "airflow_provider_smartlyq.operators.smartlyq",
    "sensors": "airflow_provider_smartlyq.sensors.smartlyq",
}
#: The classes a DAG imports: every operator and sensor in the provider's public surface.
CLASSES = {
    kind: sorted(n for n in PUBLIC_SURFACE[module] if n[0].isupper()) for kind, module in _PUBLIC.items()
}
#: What every DAG file pays anyway: ``import airflow.sdk`` is lazy, and the first
#: ``from airflow.sdk import BaseOperator`` loads Airflow's task machinery (tenacity included).
PRELUDE = "import airflow.sdk; from airflow.sdk import DAG, BaseOperator, BaseSensorOperator"
#: Our public modules resolve classes lazily through ``importlib.import_module``, which
#: ``-X importtime`` does not instrument; importing the defining modules first makes it count them.
_IMPL = sorted({module for public in _PUBLIC.values() for module in PUBLIC_SURFACE[public].values()})
CASES = {
    "smartlyq": (
        "SmartlyQ operators + sensors",
        "; ".join(f"from {_PUBLIC[kind]} import {', '.join(names)}" for kind, names in CLASSES.items()),
    ),
    "dbt_cloud": ("dbt Cloud operators", "import airflow.providers.dbt.cloud.operators.dbt"),
    "http": ("http operators", "import airflow.providers.http.operators.http"),
}
#: Packages a DAG file that only imports our operators and sensors must not load.
FORBIDDEN = ("aiohttp", "requests", "tenacity", "fastapi", "uvicorn", "airflow_provider_smartlyq.hooks")
_MARK = "@@after-prelude@@"
_PROBE = """
import json, os, sys, time
{prelude}
before = set(sys.modules)
os.write(2, b"{mark}\\n")
start = time.perf_counter()
{imports}
wall = (time.perf_counter() - start) * 1000
print(json.dumps({{"wall_ms": wall, "new": sorted(set(sys.modules) - before)}}))
"""
TARGET_MS, STRETCH_MS = 40.0, 15.0


def _env() -> dict[str, str]:
    """Return the probes' environment: :func:`bench_env`, with byte-code caches written and read."""
    env = bench_env()
    # The warm-up run writes each module's byte-code cache, as any installed provider (pip
    # compiles on install) or a DAG processor's first parse has. With PYTHONDONTWRITEBYTECODE
    # set (some shells and CI images set it) an editable checkout has no cache, and every probe
    # would time compiling our sources while the peers, installed with caches, load theirs.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _probe(imports: str, importtime: bool) -> subprocess.CompletedProcess[str]:
    code = _PROBE.format(prelude=PRELUDE, mark=_MARK, imports=imports)
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True, env=_env()
    )


def measure(key: str) -> dict[str, Any]:
    """
    Measure one case in two fresh processes.

    :return: ``importtime_ms`` (summed ``-X importtime`` self time of the modules imported
        after the prelude), ``wall_ms`` (the import statements timed with ``perf_counter``
        in a process without ``-X importtime``) and ``new`` (modules they added to ``sys.modules``).
    """
    imports = CASES[key][1]
    traced = imports if key != "smartlyq" else "; ".join([*(f"import {m}" for m in _IMPL), imports])
    stderr = _probe(traced, importtime=True).stderr
    total_us = 0
    for line in stderr.split(_MARK, 1)[1].splitlines():
        if line.startswith("import time:"):
            self_us = line[len("import time:") :].split("|")[0].strip()
            total_us += int(self_us) if self_us.isdigit() else 0
    plain = json.loads(_probe(imports, importtime=False).stdout.strip().splitlines()[-1])
    return {"importtime_ms": total_us / 1000, "wall_ms": plain["wall_ms"], "new": plain["new"]}


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; print the table; write ``results/parse.json``; return the results."""
    repeats = 3 if quick else 7
    cases: dict[str, Any] = {}
    for key, (label, code) in CASES.items():
        measure(key)  # warm-up: byte-code caches written, files in the page cache
        runs = [measure(key) for _ in range(repeats)]
        modules = runs[-1]["new"]
        loaded_forbidden = sorted(
            f for f in FORBIDDEN if any(m == f or m.startswith(f + ".") for m in modules)
        )
        cases[key] = {
            "label": label,
            "code": code,
            "importtime_samples_ms": [r["importtime_ms"] for r in runs],
            "wall_samples_ms": [r["wall_ms"] for r in runs],
            "median_ms": median([r["importtime_ms"] for r in runs]),
            "wall_median_ms": median([r["wall_ms"] for r in runs]),
            "modules": len(modules),
            "top_level_packages": sorted({m.split(".")[0] for m in modules}),
            "forbidden_loaded": loaded_forbidden,
        }
    ours = cases["smartlyq"]
    payload = {
        "repeats": repeats,
        "cases": cases,
        "target_ms": TARGET_MS,
        "stretch_ms": STRETCH_MS,
        "target_met": ours["median_ms"] <= TARGET_MS,
        "stretch_met": ours["median_ms"] <= STRETCH_MS,
        "ours_clean": not ours["forbidden_loaded"],
    }
    payload["table"] = table(payload)
    write_results(NAME, payload)
    show(payload)
    if ours["forbidden_loaded"]:
        raise SystemExit(f"our operator modules loaded {ours['forbidden_loaded']}")
    return payload


COLUMNS = [
    "imports",
    "modules added",
    "importtime self ms",
    "vs ours",
    "wall ms",
    "vs ours (wall)",
    "loads aiohttp/requests",
]


def table(payload: dict[str, Any]) -> list[list[Any]]:
    """Return the table rows (``vs ours`` = peer time / our time)."""
    ours = payload["cases"]["smartlyq"]["median_ms"]
    ours_wall = payload["cases"]["smartlyq"]["wall_median_ms"]
    rows = []
    for key, case in payload["cases"].items():
        heavy = [p for p in ("aiohttp", "requests") if p in case["top_level_packages"]]
        rows.append(
            [
                case["label"],
                case["modules"],
                case["median_ms"],
                "1.00x" if key == "smartlyq" else f"{ratio(case['median_ms'], ours):.1f}x",
                case["wall_median_ms"],
                "1.00x" if key == "smartlyq" else f"{ratio(case['wall_median_ms'], ours_wall):.1f}x",
                ", ".join(heavy) or "no",
            ]
        )
    return rows


def verdict(payload: dict[str, Any]) -> list[str]:
    """Return the target checks."""
    ours = payload["cases"]["smartlyq"]
    return [
        f"≤ {TARGET_MS:g} ms: {'PASS' if payload['target_met'] else 'MISS'} ({ours['median_ms']:.1f} ms); "
        f"stretch ≤ {STRETCH_MS:g} ms: {'PASS' if payload['stretch_met'] else 'MISS'}",
        f"no {', '.join(FORBIDDEN)} loaded: {'PASS' if payload['ours_clean'] else 'MISS'}"
        + (f" ({', '.join(ours['forbidden_loaded'])})" if ours["forbidden_loaded"] else ""),
    ]


def show(payload: dict[str, Any]) -> None:
    """Print the table and the target checks."""
    note = (
        f"After `{PRELUDE}`: -X importtime self times summed, and the import statements' wall "
        f"time (separate process, no -X importtime); fresh processes with byte-code caches, median of "
        f"{payload['repeats']}."
    )
    show_report("Parse overhead (DAG file imports)", COLUMNS, payload["table"], note, verdict(payload))


def markdown(payload: dict[str, Any]) -> str:
    """Return the Markdown section for ``RESULTS.md``."""
    text = (
        f"Modules loaded after `{PRELUDE}` (what any DAG file pays anyway): their `python -X "
        f"importtime` self times summed, and the import statements' wall time measured in a separate "
        f"process without `-X importtime`. Fresh processes reading the byte-code caches an untimed "
        f"warm-up wrote (as an installed provider has them), median of {payload['repeats']}."
    )
    return markdown_report(COLUMNS, payload["table"], text, verdict(payload))


def summary(payload: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Return the README row (benchmark, ours, peers, ratio) and notes."""
    cases = payload["cases"]
    ours = cases["smartlyq"]
    peers = [case for key, case in cases.items() if key != "smartlyq"]
    heavy = [p for p in ("aiohttp", "requests") if p in ours["top_level_packages"]]
    row = [
        "DAG-file import cost (after `airflow.sdk`)",
        f"{ours['median_ms']:.1f} ms, " + (f"loads {', '.join(heavy)}" if heavy else "no aiohttp/requests"),
        ", ".join(f"{case['label'].replace(' operators', '')} {case['median_ms']:.0f} ms" for case in peers),
        " / ".join(f"{ratio(case['median_ms'], ours['median_ms']):.1f}x" for case in peers),
    ]
    return [row], []


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    run(quick=parser.parse_args(argv).quick)


if __name__ == "__main__":
    main()
