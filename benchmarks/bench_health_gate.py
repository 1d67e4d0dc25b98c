"""
Health-gate cost: requests and wall time of one check of 500 accounts.

Ours: one ``SmartlyQHealthSensor.poke`` (one bulk ``GET /v1/social/accounts/health``).
Peer: the same gate built from the http provider, one ``HttpSensor`` per account, each
GETting ``/v1/social/accounts/{id}/health`` with a response check (connected, token not
expired, enough validity days). Requests are counted in the emulator's request log.

Usage: ``python benchmarks/bench_health_gate.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    emulator,
    markdown_report,
    median,
    ratio,
    show_report,
    use_bench_env,
    write_results,
)

NAME = "health_gate"
ACCOUNTS = 500
MIN_VALIDITY_DAYS = 7


class _TaskInstance:
    """The one thing ``poke`` uses from the context: somewhere to push XCom."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def _account_ok(response: Any) -> bool:
    data = response.json()["data"]
    return bool(
        data["status"] == "connected"
        and not data["token_expired"]
        and data["validity_days"] >= MIN_VALIDITY_DAYS
    )


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; print the table; write ``results/health_gate.json``; return the results."""
    repeats = 3 if quick else 7
    peer_repeats = 1 if quick else 3
    with emulator("--seed", "empty", "--log-level", "error") as emu:
        use_bench_env(
            AIRFLOW_CONN_SMARTLYQ_DEFAULT=emu.smartlyq_conn(), AIRFLOW_CONN_HTTP_DEFAULT=emu.http_conn()
        )
        client = emu.client()
        ids = [
            client.add_account("facebook" if i % 2 else "instagram", f"Bench {i:03d}", validity_days=60)["id"]
            for i in range(ACCOUNTS)
        ]
        from airflow.providers.http.sensors.http import HttpSensor

        from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor

        def measure(check: Any, times: int) -> tuple[list[float], list[int], Any]:
            walls, counts, outcome = [], [], None
            for _ in range(times):
                before = len(client.requests())
                start = time.perf_counter()
                outcome = check()
                walls.append(time.perf_counter() - start)
                counts.append(len(client.requests()) - before)
            return walls, counts, outcome

        def ours() -> Any:
            # A fresh sensor per check, as each poke of a rescheduled sensor gets one.
            sensor = SmartlyQHealthSensor(
                task_id="gate", account_name_pattern="Bench *", min_validity_days=MIN_VALIDITY_DAYS
            )
            result = sensor.poke({"ti": _TaskInstance()})  # type: ignore[arg-type]
            return getattr(result, "is_done", result), len(getattr(result, "xcom_value", None) or [])

        def peer() -> Any:
            sensors = [
                HttpSensor(
                    task_id=f"health_{account_id}",
                    http_conn_id="http_default",
                    endpoint=f"v1/social/accounts/{account_id}/health",
                    response_check=_account_ok,
                )
                for account_id in ids
            ]
            results = [sensor.poke({}) for sensor in sensors]  # type: ignore[arg-type]
            return all(results), sum(results)

        ours()  # warm-up: imports, connection lookup
        our_walls, our_counts, our_outcome = measure(ours, repeats)
        peer_walls, peer_counts, peer_outcome = measure(peer, peer_repeats)
    payload = {
        "accounts": ACCOUNTS,
        "smartlyq": {
            "requests_per_check": median(our_counts),
            "wall_seconds": our_walls,
            "wall_median_s": median(our_walls),
            "outcome": {"done": our_outcome[0], "healthy_accounts": our_outcome[1]},
        },
        "http_sensor": {
            "requests_per_check": median(peer_counts),
            "wall_seconds": peer_walls,
            "wall_median_s": median(peer_walls),
            "outcome": {"done": peer_outcome[0], "healthy_accounts": peer_outcome[1]},
        },
    }
    payload["table"] = table(payload)
    write_results(NAME, payload)
    show(payload)
    return payload


COLUMNS = ["gate (500 accounts)", "requests per check", "wall ms per check", "healthy seen", "vs ours"]


def table(payload: dict[str, Any]) -> list[list[Any]]:
    """Return the table rows (``vs ours`` = peer / ours, requests and wall time)."""
    ours, peer = payload["smartlyq"], payload["http_sensor"]
    return [
        [
            "SmartlyQHealthSensor.poke",
            int(ours["requests_per_check"]),
            ours["wall_median_s"] * 1000,
            ours["outcome"]["healthy_accounts"],
            "1x",
        ],
        [
            "500 x HttpSensor.poke",
            int(peer["requests_per_check"]),
            peer["wall_median_s"] * 1000,
            peer["outcome"]["healthy_accounts"],
            f"{ratio(peer['requests_per_check'], ours['requests_per_check']):.0f}x requests, "
            f"{ratio(peer['wall_median_s'], ours['wall_median_s']):.1f}x time",
        ],
    ]


def verdict(payload: dict[str, Any]) -> list[str]:
    """Return the target check."""
    ours, peer = payload["smartlyq"]["requests_per_check"], payload["http_sensor"]["requests_per_check"]
    ok = ours == 1 and peer == ACCOUNTS
    return [f"1 request vs {ACCOUNTS}: {'PASS' if ok else 'MISS'} ({ours:g} vs {peer:g})"]


def show(payload: dict[str, Any]) -> None:
    """Print the table and the target check."""
    note = "Requests counted in the emulator's request log; wall time = median per check."
    show_report("Health-gate cost", COLUMNS, payload["table"], note, verdict(payload))


def markdown(payload: dict[str, Any]) -> str:
    """Return the Markdown section for ``RESULTS.md``."""
    text = "One check of 500 accounts; requests counted in the emulator's request log."
    return markdown_report(COLUMNS, payload["table"], text, verdict(payload))


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    run(quick=parser.parse_args(argv).quick)
    os.environ.pop("AIRFLOW_CONN_SMARTLYQ_DEFAULT", None)


if __name__ == "__main__":
    main()
