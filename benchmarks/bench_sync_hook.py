"""
Sync hook: 1,000 GETs through one ``SmartlyQHook`` against a ``requests.Session`` and ``requests.get``.

Peers: one ``requests.Session`` (keep-alive, the fair peer: what a careful hand-written client
does) and a fresh ``requests.get`` per call (what a quick script does).

Over HTTPS, as in production: the emulator runs with ``--tls`` (a self-signed certificate it
generates at start-up), the hook trusts it through the connection's ``ca_bundle`` extra and
the peer passes ``verify=<cert>`` on every call (``REQUESTS_CA_BUNDLE`` may be set here, and
requests lets it override a Session's ``verify``; both sides pass it per request). Both GET
``/v1/me`` and parse the JSON. The three run in alternating blocks of 100 so that a change in
machine load hits all alike.

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

        session = requests.Session()
        session.headers.update(headers)

        def with_session() -> Any:
            response = session.get(url, verify=cert, timeout=30)
            response.raise_for_status()
            return response.json()["data"]

        def fresh_get() -> Any:
            response = requests.get(url, headers=headers, verify=cert, timeout=30)
            response.raise_for_status()
            return response.json()["data"]

        clients = {"smartlyq": ours, "requests_session": with_session, "requests_get": fresh_get}
        # Same answer from all, and a warm-up each (imports, connection lookup, first handshake).
        assert ours() == with_session() == fresh_get()
        timings = dict.fromkeys(clients, 0.0)
        cpu = dict.fromkeys(clients, 0.0)
        for _ in range(total // BLOCK):
            for key, call in clients.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                for _ in range(BLOCK):
                    call()
                timings[key] += time.perf_counter() - start
                cpu[key] += time.process_time() - cpu_start
        hook.close()
        session.close()
    payload: dict[str, Any] = {"requests": total, "tls": True}
    for key in clients:
        payload[key] = {"seconds": timings[key], "cpu_seconds": cpu[key]}
    payload["speedup"] = ratio(timings["requests_get"], timings["smartlyq"])
    payload["speedup_vs_session"] = ratio(timings["requests_session"], timings["smartlyq"])
    payload["table"] = table(payload)
    write_results(NAME, payload)
    show(payload)
    return payload


COLUMNS = [
    "client (HTTPS, GET /v1/me)",
    "GETs",
    "total s",
    "ms per GET",
    "client CPU ms per GET",
    "time vs hook",
]
LABELS = {
    "smartlyq": "one SmartlyQHook (keep-alive)",
    "requests_session": "one requests.Session (keep-alive)",
    "requests_get": "fresh requests.get",
}


def table(payload: dict[str, Any]) -> list[list[Any]]:
    """Return the table rows (``time vs hook`` = the client's total time / the hook's)."""
    n = payload["requests"]
    rows = []
    for key, label in LABELS.items():
        entry = payload[key]
        rows.append(
            [
                label,
                n,
                entry["seconds"],
                entry["seconds"] / n * 1000,
                entry["cpu_seconds"] / n * 1000,
                f"{ratio(entry['seconds'], payload['smartlyq']['seconds']):.2f}x",
            ]
        )
    return rows


def verdict(payload: dict[str, Any]) -> list[str]:
    """Return the target check against ``requests.get``, and where the fair peer stands."""
    speedup, session = payload["speedup"], payload["speedup_vs_session"]
    if session >= 1.10:
        gain = "the hook is faster"
    elif session > 0.90:
        gain = "about equal: the gain over requests.get is keep-alive, which a Session has too"
    else:
        gain = "the Session is faster"
    return [
        f"≥ {TARGET_RATIO:g}x faster than requests.get: {'PASS' if speedup >= TARGET_RATIO else 'MISS'} "
        f"({speedup:.2f}x)",
        f"against one requests.Session (keep-alive, the fair peer): {session:.2f}x ({gain})",
    ]


def show(payload: dict[str, Any]) -> None:
    """Print the table and the target check."""
    note = "Emulator with --tls in its own process; blocks of 100 alternate between the three clients."
    show_report("Sync hook over HTTPS", COLUMNS, payload["table"], note, verdict(payload))


def markdown(payload: dict[str, Any]) -> str:
    """Return the Markdown section for ``RESULTS.md``."""
    text = (
        "HTTPS to the emulator (`--tls`, its own process); every client verifies its certificate; "
        "blocks of 100 alternate between the three clients; one untimed warm-up call each."
    )
    return markdown_report(COLUMNS, payload["table"], text, verdict(payload))


def summary(payload: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Return the README row (benchmark, ours, peers, ratio) and notes."""
    ours, session, fresh = payload["smartlyq"], payload["requests_session"], payload["requests_get"]
    row = [
        f"{payload['requests']:,} GETs over HTTPS",
        f"{ours['seconds']:.2f} s (one hook)",
        f"one `requests.Session`: {session['seconds']:.2f} s; `requests.get` each: {fresh['seconds']:.2f} s",
        f"{payload['speedup_vs_session']:.2f}x / {payload['speedup']:.1f}x",
    ]
    notes = []
    if payload["speedup_vs_session"] < 1.10:
        notes.append(
            "Sync hook: against one `requests.Session` the hook is about as fast "
            f"({payload['speedup_vs_session']:.2f}x); its gain over `requests.get` is keep-alive, "
            "which a Session has too. The hook's value there is retries, typed errors and idempotency keys."
        )
    return [row], notes


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 GETs instead of 1,000")
    run(quick=parser.parse_args(argv).quick)


if __name__ == "__main__":
    main()
