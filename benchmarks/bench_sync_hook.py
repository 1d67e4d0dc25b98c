"""
Sync hook: 1,000 GETs through one ``SmartlyQHook`` (keep-alive) against a fresh ``requests.get`` each.

Over HTTPS, as in production: the emulator runs with ``--tls`` (a self-signed certificate it
generates at start-up), the hook trusts it through the connection's ``ca_bundle`` extra and
the peer passes ``verify=<cert>`` on every call (``REQUESTS_CA_BUNDLE`` may be set here, and
requests lets it override a Session's ``verify``; both sides pass it per request). Both GET
``/v1/me`` and parse the JSON. The two run in alternating blocks of 100 so that a change in
machine load hits both alike.

Usage: ``python benchmarks/bench_sync_hook.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    API_KEY,
    emulator,
    markdown_report,
    ratio,
    show_report,
    use_bench_env,
    write_results,
)

NAME = "sync_hook"
BLOCK = 100
TARGET_RATIO = 2.0


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; print the table; write ``results/sync_hook.json``; return the results."""
    total = 200 if quick else 1000
    with emulator("--tls", "--log-level", "error") as emu:
        assert emu.cert, "the emulator did not print its certificate path"
        use_bench_env(AIRFLOW_CONN_SMARTLYQ_DEFAULT=emu.smartlyq_conn())
        import requests

        from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

        hook = SmartlyQHook()
        url, headers, cert = f"{emu.url}/v1/me", {"Authorization": f"Bearer {API_KEY}"}, emu.cert

        def ours() -> Any:
            return hook.get_me()

        def peer() -> Any:
            response = requests.get(url, headers=headers, verify=cert, timeout=30)
            response.raise_for_status()
            return response.json()["data"]

        assert ours() == peer()  # same answer, and warm-up (imports, connection lookup)
        timings: dict[str, float] = {"smartlyq": 0.0, "requests": 0.0}
        cpu: dict[str, float] = {"smartlyq": 0.0, "requests": 0.0}
        for _ in range(total // BLOCK):
            for key, call in (("smartlyq", ours), ("requests", peer)):
                start, cpu_start = time.perf_counter(), time.process_time()
                for _ in range(BLOCK):
                    call()
                timings[key] += time.perf_counter() - start
                cpu[key] += time.process_time() - cpu_start
        hook.close()
    payload = {
        "requests": total,
        "tls": True,
        "smartlyq": {"seconds": timings["smartlyq"], "cpu_seconds": cpu["smartlyq"]},
        "requests_get": {"seconds": timings["requests"], "cpu_seconds": cpu["requests"]},
        "speedup": ratio(timings["requests"], timings["smartlyq"]),
    }
    payload["table"] = table(payload)
    write_results(NAME, payload)
    show(payload)
    return payload


COLUMNS = ["client (HTTPS, GET /v1/me)", "GETs", "total s", "ms per GET", "client CPU ms per GET", "speed-up"]


def table(payload: dict[str, Any]) -> list[list[Any]]:
    """Return the table rows."""
    n = payload["requests"]
    rows = []
    for key, label in (("smartlyq", "one SmartlyQHook (keep-alive)"), ("requests_get", "fresh requests.get")):
        entry = payload[key]
        rows.append(
            [
                label,
                n,
                entry["seconds"],
                entry["seconds"] / n * 1000,
                entry["cpu_seconds"] / n * 1000,
                f"{payload['speedup']:.1f}x" if key == "smartlyq" else "1x",
            ]
        )
    return rows


def verdict(payload: dict[str, Any]) -> list[str]:
    """Return the target check."""
    ok = payload["speedup"] >= TARGET_RATIO
    return [f"≥ {TARGET_RATIO:g}x faster: {'PASS' if ok else 'MISS'} ({payload['speedup']:.2f}x)"]


def show(payload: dict[str, Any]) -> None:
    """Print the table and the target check."""
    note = "Emulator with --tls in its own process; blocks of 100 alternate between the two clients."
    show_report("Sync hook over HTTPS", COLUMNS, payload["table"], note, verdict(payload))


def markdown(payload: dict[str, Any]) -> str:
    """Return the Markdown section for ``RESULTS.md``."""
    text = (
        "HTTPS to the emulator (`--tls`, its own process); both verify its certificate; blocks of 100 "
        "alternate between the two clients."
    )
    return markdown_report(COLUMNS, payload["table"], text, verdict(payload))


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 GETs instead of 1,000")
    run(quick=parser.parse_args(argv).quick)


if __name__ == "__main__":
    main()
