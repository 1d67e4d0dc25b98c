"""
Triggerer scale: N triggers waiting at once in one asyncio loop, polling the emulator.

Each (variant, N) runs in a fresh worker process (so RSS, sockets and CPU belong to that
variant alone) that runs the triggers as the triggerer does: it rebuilds every trigger from
its serialized kwargs (classpath + JSON-plain kwargs), iterates ``run()`` as one task per
trigger and calls ``cleanup()`` when the task ends. The emulator is another process.

Variants, all at the same request rate (``N / poll_interval``):

* ``smartlyq``: ``ConnectCompletedTrigger`` on pending connect links (one per trigger);
* ``http_sensor``: the http provider's ``HttpSensorTrigger`` on a state token that answers
  404 (it fires on the first non-404 answer, so this keeps it waiting);
* ``http_event``: its ``HttpEventTrigger`` on the same pending links, with a response check
  that waits for ``connected`` (:mod:`response_checks`).

Measured in the worker, after every trigger has made its first poll: event-loop lag of a
10 ms ticker (p50/p99/max), RSS per waiting trigger (RSS delta over N), socket file
descriptors held (max over the window, sampled every 0.5 s), CPU seconds per 1,000 polls
(process CPU time over the window / polls in the window; polls are counted by a wrapper
around ``aiohttp.ClientSession._request``, which every variant goes through, and
cross-checked against the emulator's request log).

Each (variant, N) runs ``--repeats`` times (3 by default), the variants in a different order in
each round (rotated, so each goes first once in three rounds) so that a drift in machine load
does not always favour the same one. Tables show the median of the rounds; ``polls/s reached``
is the rate each variant actually made (the rate asked is the same for all: :data:`RATE`).

Usage: ``python benchmarks/bench_triggerer.py [--quick] [--sizes 1000,5000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    API_KEY,
    BENCH_DIR,
    RESULTS_DIR,
    bench_env,
    emulator,
    markdown_report,
    percentile,
    ratio,
    show_report,
    write_results,
)

NAME = "triggerer"
VARIANTS = ("smartlyq", "http_sensor", "http_event")
LABELS = {
    "smartlyq": "SmartlyQ ConnectCompletedTrigger",
    "http_sensor": "http HttpSensorTrigger (404 path)",
    "http_event": "http HttpEventTrigger (response check)",
}
#: Requests per second every variant makes in steady state; poll interval = N / RATE
#: (30 s at 10,000 triggers). The emulator sustains several times this (measured each run).
RATE = 1000 / 3
SIZES = (1_000, 5_000, 10_000)
#: Targets at 10,000 triggers.
TARGET_LAG_P99_MS = 50
TARGET_RSS_KB = 10
TARGET_CPU_RATIO = 2
#: Rounds per (variant, N); the tables show medians.
REPEATS = 3
#: Metrics whose median across rounds the tables show.
MEDIAN_FIELDS = (
    "polls_per_second",
    "lag_p50_ms",
    "lag_p99_ms",
    "rss_per_trigger_kb",
    "sockets_max",
    "cpu_per_1000_polls",
)


# -- worker: runs in its own process -------------------------------------------------------------


def _socket_fds() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
    return count


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _serialized(variant: str, index: int, token: str, interval: float) -> tuple[str, dict[str, Any]]:
    """Return what the triggerer table would hold for trigger ``index`` of ``variant``."""
    if variant == "smartlyq":
        from airflow_provider_smartlyq.triggers.smartlyq import ConnectCompletedTrigger

        trigger: Any = ConnectCompletedTrigger(token, poll_interval=interval, end_time=time.time() + 3600)
    elif variant == "http_sensor":
        from airflow.providers.http.triggers.http import HttpSensorTrigger

        trigger = HttpSensorTrigger(
            endpoint=f"v1/social/connect/bench-missing-{index:06d}", method="GET", poke_interval=interval
        )
    else:
        from airflow.providers.http.triggers.http import HttpEventTrigger

        trigger = HttpEventTrigger(
            response_check_path="response_checks.connect_status_is_connected",
            method="GET",
            endpoint=f"v1/social/connect/{token}",
            poll_interval=interval,
        )
    classpath, kwargs = trigger.serialize()
    return classpath, json.loads(json.dumps(kwargs))


async def _worker(variant: str, tokens: list[str], interval: float, window: float) -> dict[str, Any]:
    import aiohttp

    from airflow_provider_smartlyq._compat import import_string

    # Count every HTTP request the process makes, whichever client code makes it.
    polls = 0
    original = aiohttp.ClientSession._request

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal polls
        polls += 1
        return original(self, *args, **kwargs)

    aiohttp.ClientSession._request = counting  # type: ignore[method-assign]

    n = len(tokens)
    rows = [_serialized(variant, i, token, interval) for i, token in enumerate(tokens)]
    events: list[Any] = []
    errors: list[str] = []

    async def drive(trigger: Any, delay: float) -> None:
        await asyncio.sleep(delay)  # triggers arrive spread over one interval
        try:
            async for event in trigger.run():
                events.append(event.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            await trigger.cleanup()

    # Warm-up: one trigger through one poll, so that one-off costs (imports done on first use,
    # SSL context, logging set-up) are not counted per trigger.
    warm = asyncio.create_task(drive(import_string(rows[0][0])(**rows[0][1]), 0))
    while polls < 1:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    warm.cancel()
    await asyncio.gather(warm, return_exceptions=True)
    polls = 0
    gc.collect()
    rss_before, sockets_before = _rss(), _socket_fds()

    lags: list[float] = []

    async def ticker() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - start - 0.01)

    ticker_task = asyncio.create_task(ticker())
    started = time.perf_counter()
    cpu_start = time.process_time()
    triggers = [import_string(classpath)(**kwargs) for classpath, kwargs in rows]
    build_seconds = time.perf_counter() - started
    rng = random.Random(42)
    tasks = [asyncio.create_task(drive(t, rng.uniform(0, interval))) for t in triggers]

    # Start-up: every trigger makes its first poll within one interval.
    deadline = time.monotonic() + 3 * interval + 30
    await asyncio.sleep(interval)
    while polls < n and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    await asyncio.sleep(min(2.0, interval / 5))
    startup = {
        "seconds": time.perf_counter() - started,
        "build_seconds": build_seconds,
        "cpu_seconds": time.process_time() - cpu_start,
        "polls": polls,
        "lag_p99_ms": percentile(lags, 99) * 1000,
        "lag_max_ms": max(lags, default=0.0) * 1000,
    }
    gc.collect()
    rss_waiting = _rss()

    # Steady state.
    lags.clear()
    socket_samples: list[int] = []
    polls_start, cpu_start, wall_start = polls, time.process_time(), time.perf_counter()
    while time.perf_counter() - wall_start < window:
        socket_samples.append(_socket_fds() - sockets_before)
        await asyncio.sleep(0.5)
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    window_polls = polls - polls_start
    window_lags = list(lags)

    # Removal: the triggerer cancels the task; its finally runs cleanup().
    for task in tasks:
        task.cancel()
    ticker_task.cancel()
    await asyncio.gather(*tasks, ticker_task, return_exceptions=True)
    leases = None
    if variant == "smartlyq":
        from airflow_provider_smartlyq.hooks._transport import POOL

        leases = POOL.leases()
    await asyncio.sleep(0.1)
    return {
        "variant": variant,
        "n": n,
        "poll_interval": interval,
        "startup": startup,
        "window_seconds": wall,
        "polls": window_polls,
        "polls_per_second": window_polls / wall,
        "lag_p50_ms": percentile(window_lags, 50) * 1000,
        "lag_p99_ms": percentile(window_lags, 99) * 1000,
        "lag_max_ms": max(window_lags, default=0.0) * 1000,
        "rss_baseline_mb": rss_before / 2**20,
        "rss_per_trigger_kb": (rss_waiting - rss_before) / n / 1024,
        "sockets_max": max(socket_samples, default=0),
        "sockets_median": sorted(socket_samples)[len(socket_samples) // 2] if socket_samples else 0,
        "cpu_seconds": cpu,
        "cpu_per_1000_polls": cpu / window_polls * 1000 if window_polls else float("nan"),
        "total_polls": polls,
        "events": len(events),
        "errors": errors[:5],
        "leases_after_cleanup": leases,
        "socket_fds_after_cleanup": _socket_fds() - sockets_before,
    }


def worker_main(args: argparse.Namespace) -> None:
    """Run one (variant, N) measurement and write its JSON to ``args.out``."""
    tokens = json.loads(Path(args.tokens).read_text())[: args.n]
    result = asyncio.run(_worker(args.variant, tokens, args.interval, args.window))
    Path(args.out).write_text(json.dumps(result))


# -- orchestrator --------------------------------------------------------------------------------


async def _pending_tokens(url: str, count: int) -> list[str]:
    """Open ``count`` pending connect links on the emulator (real state tokens)."""
    import aiohttp
    from yarl import URL

    headers = {"Authorization": f"Bearer {API_KEY}"}
    tokens: list[str] = []
    semaphore = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(i: int) -> None:
            async with semaphore:
                body = {"return_url": f"https://example.com/done/{i}"}
                async with session.post(f"{url}/v1/social/connect/facebook", json=body) as response:
                    data = (await response.json())["data"]
                tokens.append(URL(data["connect_url"]).query["state"])

        await asyncio.gather(*(one(i) for i in range(count)))
    return tokens


async def _capacity(url: str, token: str, requests: int, concurrency: int = 64) -> float:
    """Return the GET requests per second the emulator serves on the connect-status route."""
    import aiohttp

    headers = {"Authorization": f"Bearer {API_KEY}"}
    semaphore = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one() -> None:
            async with semaphore, session.get(f"{url}/v1/social/connect/{token}") as response:
                await response.read()

        await asyncio.gather(*(one() for _ in range(50)))  # warm up
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return requests / (time.perf_counter() - start)


def _run_worker(
    emu: Any, variant: str, n: int, interval: float, window: float, tokens_path: str, log_dir: Path
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = out.name
    env = bench_env(
        AIRFLOW_CONN_SMARTLYQ_DEFAULT=emu.smartlyq_conn(),
        AIRFLOW_CONN_HTTP_DEFAULT=emu.http_conn(),
    )
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        variant,
        "--n",
        str(n),
        "--interval",
        str(interval),
        "--window",
        str(window),
        "--tokens",
        tokens_path,
        "--out",
        out_path,
    ]
    log_path = log_dir / f"{NAME}-{variant}-{n}.log"
    cpu_before = emu.cpu_seconds()
    # Start-up (at most 3 intervals + 30 s), the window, and generous room for imports and cleanup.
    limit = 4 * interval + window + 180
    with open(log_path, "w") as log:
        subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=True, cwd=BENCH_DIR, timeout=limit
        )
    result = json.loads(Path(out_path).read_text())
    os.unlink(out_path)
    result["emulator_cpu_seconds"] = emu.cpu_seconds() - cpu_before
    result["log"] = str(log_path)
    return result


def rounds(variants: tuple[str, ...], repeats: int) -> list[tuple[str, ...]]:
    """Return the variant order of each round: rotated by one per round."""
    return [variants[r % len(variants) :] + variants[: r % len(variants)] for r in range(repeats)]


def medians(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one row per (N, variant): the median of each metric over its rounds."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["n"], r["variant"]), []).append(r)
    rows = []
    for (n, variant), runs in groups.items():
        row = {"n": n, "variant": variant, "poll_interval": runs[0]["poll_interval"], "rounds": len(runs)}
        row.update({field: statistics.median(r[field] for r in runs) for field in MEDIAN_FIELDS})
        rows.append(row)
    order = {v: i for i, v in enumerate(VARIANTS)}
    return sorted(rows, key=lambda row: (row["n"], order[row["variant"]]))


def run(
    quick: bool = False,
    sizes: tuple[int, ...] | None = None,
    variants: tuple[str, ...] = VARIANTS,
    repeats: int = REPEATS,
) -> dict[str, Any]:
    """Run the benchmark; print the table; write ``results/triggerer.json``; return the results."""
    sizes = sizes or ((1_000,) if quick else SIZES)
    log_dir = RESULTS_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    with emulator("--connect-ttl", "7200", "--log-level", "error") as emu:
        client = emu.client()
        tokens = asyncio.run(_pending_tokens(emu.url, max(sizes)))
        capacity = asyncio.run(_capacity(emu.url, tokens[0], 1000 if quick else 3000))
        print(f"emulator capacity (GET connect status, 64 concurrent): {capacity:,.0f} req/s")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(tokens, handle)
            tokens_path = handle.name
        base_requests = len(client.requests())
        try:
            for n in sizes:
                interval = round(n / RATE, 3)
                window = max(interval, 10.0)
                for number, order in enumerate(rounds(variants, repeats), start=1):
                    for variant in order:
                        print(
                            f"  round {number}/{repeats} {variant:12} N={n:>6,} every {interval:g} s",
                            flush=True,
                        )
                        try:
                            result = _run_worker(emu, variant, n, interval, window, tokens_path, log_dir)
                        except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as exc:
                            # One failed round must not lose the others: it is left out, and
                            # the table's "rounds" column shows how many made the median.
                            print(f"    round {number} failed, left out: {type(exc).__name__}", flush=True)
                            failures.append({"variant": variant, "n": n, "round": number, "error": str(exc)})
                            continue
                        result["round"] = number
                        results.append(result)
            logged = len(client.requests()) - base_requests
        finally:
            os.unlink(tokens_path)
    counted = sum(r["total_polls"] for r in results)
    payload = {
        "rate_per_second": RATE,
        "emulator_capacity_rps": capacity,
        "polls_counted": counted,
        "polls_in_emulator_log": logged,
        "repeats": repeats,
        "failed_rounds": failures,
        "runs": results,
        "medians": medians(results),
    }
    payload["table"] = table(payload["medians"])
    write_results(NAME, payload)
    show(payload)
    return payload


COLUMNS = [
    "N",
    "trigger",
    "rounds",
    "poll s",
    "polls/s reached",
    "lag p50 ms",
    "lag p99 ms",
    "KB RSS/trigger",
    "sockets (max)",
    "CPU s/1k polls",
    "CPU ratio",
]


def table(results: list[dict[str, Any]]) -> list[list[Any]]:
    """Return the rows of the results table from the medians (ratio = peer CPU per poll / ours)."""
    ours = {r["n"]: r for r in results if r["variant"] == "smartlyq"}
    rows = []
    for r in results:
        mine = ours.get(r["n"])
        cpu_ratio = ratio(r["cpu_per_1000_polls"], mine["cpu_per_1000_polls"]) if mine else float("nan")
        rows.append(
            [
                r["n"],
                LABELS[r["variant"]],
                r["rounds"],
                r["poll_interval"],
                r["polls_per_second"],
                r["lag_p50_ms"],
                r["lag_p99_ms"],
                r["rss_per_trigger_kb"],
                r["sockets_max"],
                r["cpu_per_1000_polls"],
                f"{cpu_ratio:.2f}x" if r["variant"] != "smartlyq" else "1.00x",
            ]
        )
    return rows


def verdict(payload: dict[str, Any]) -> list[str]:
    """Return the target checks at the largest N measured (medians of the rounds)."""
    runs = payload["medians"]
    failed = [
        f"{LABELS[f['variant']]} N={f['n']:,} round {f['round']}" for f in payload.get("failed_rounds", [])
    ]
    notice = [f"rounds that did not finish (left out): {', '.join(failed)}"] if failed else []
    n = max(r["n"] for r in runs)
    ours = next((r for r in runs if r["n"] == n and r["variant"] == "smartlyq"), None)
    if ours is None:
        return [f"N={n:,}: no round of {LABELS['smartlyq']} finished: no target can be checked", *notice]
    peers = [r for r in runs if r["n"] == n and r["variant"] != "smartlyq"]
    best_peer_cpu = min((p["cpu_per_1000_polls"] for p in peers), default=float("nan"))
    checks = [
        (
            f"lag p99 < {TARGET_LAG_P99_MS} ms",
            ours["lag_p99_ms"] < TARGET_LAG_P99_MS,
            f"{ours['lag_p99_ms']:.1f} ms",
        ),
        (
            f"RSS < {TARGET_RSS_KB} KB per trigger",
            ours["rss_per_trigger_kb"] < TARGET_RSS_KB,
            f"{ours['rss_per_trigger_kb']:.2f} KB",
        ),
        ("sockets bounded by the pool (≤ 100)", ours["sockets_max"] <= 100, f"{ours['sockets_max']:g}"),
        (
            f"≥ {TARGET_CPU_RATIO}x less CPU per poll than the best peer",
            best_peer_cpu / ours["cpu_per_1000_polls"] >= TARGET_CPU_RATIO,
            f"{best_peer_cpu / ours['cpu_per_1000_polls']:.2f}x",
        ),
    ]
    lines = [f"N={n:,}: {name}: {'PASS' if ok else 'MISS'} ({value})" for name, ok, value in checks]
    asked = payload["rate_per_second"]
    short = [
        f"{LABELS[r['variant']]} {r['polls_per_second']:.0f}"
        for r in payload["medians"]
        if r["polls_per_second"] < 0.95 * asked
    ]
    if short:
        lines.append(
            f"below the {asked:.0f} polls/s asked of every trigger: {', '.join(short)} polls/s "
            "(CPU is compared per poll made, so the ratio stays comparable)"
        )
    return lines + notice


def show(payload: dict[str, Any]) -> None:
    """Print the table and the target checks."""
    note = (
        f"Median of {payload['repeats']} rounds, variants in rotated order. "
        f"Same request rate asked of every trigger: {payload['rate_per_second']:.0f} polls/s "
        f"(poll interval = N / rate); emulator capacity {payload['emulator_capacity_rps']:,.0f} req/s. "
        f"Polls counted {payload['polls_counted']:,}, emulator log {payload['polls_in_emulator_log']:,}."
    )
    show_report("Triggerer scale (one asyncio loop)", COLUMNS, payload["table"], note, verdict(payload))


def markdown(payload: dict[str, Any]) -> str:
    """Return the Markdown section for ``RESULTS.md``."""
    text = (
        f"Median of {payload['repeats']} rounds per row, the variants in a rotated order each round. Every "
        f"trigger was asked for the same request rate ({payload['rate_per_second']:.0f} polls/s; poll "
        f"interval = N / rate, 30 s at 10,000); `polls/s reached` is what each one actually made. "
        f"Emulator capacity measured in the same run: {payload['emulator_capacity_rps']:,.0f} req/s. "
        f"CPU ratio = peer CPU per poll / ours."
    )
    return markdown_report(COLUMNS, payload["table"], text, verdict(payload))


def summary(payload: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Return the README rows (benchmark, ours, peers, ratio) and notes, at the largest N."""
    runs = payload["medians"]
    n = max(r["n"] for r in runs)
    at_n = {r["variant"]: r for r in runs if r["n"] == n}
    if "smartlyq" not in at_n:
        return [[f"{n:,} waiting triggers", "no round finished", "", ""]], [
            f"Triggerer: no round of `ConnectCompletedTrigger` at {n:,} finished in time; see RESULTS.md."
        ]
    ours, peers = at_n["smartlyq"], [at_n[v] for v in VARIANTS if v != "smartlyq" and v in at_n]
    names = " / ".join(f"`{LABELS[p['variant']].split()[1]}`" for p in peers)

    def cells(field: str, unit: str, digits: int = 1) -> list[str]:
        peer_values = " / ".join(f"{p[field]:,.{digits}f}{unit}" for p in peers)
        ratios = " / ".join(f"{ratio(p[field], ours[field]):.1f}x" for p in peers)
        return [f"{ours[field]:,.{digits}f}{unit}", f"{names}: {peer_values}", ratios]

    asked = payload["rate_per_second"]
    rows = [
        [
            f"{n:,} waiting triggers, {asked:.0f} polls/s asked: polls/s reached",
            *cells("polls_per_second", "", 0)[:2],
            "",
        ],
        ["… event-loop lag p99", *cells("lag_p99_ms", " ms")[:2], ""],
        ["… RSS per waiting trigger", *cells("rss_per_trigger_kb", " KB")],
        [
            "… sockets held (max)",
            f"{ours['sockets_max']:,.0f} (the pool)",
            *cells("sockets_max", "", 0)[1:2],
            "",
        ],
        ["… CPU per 1,000 polls", *cells("cpu_per_1000_polls", " s", 2)],
    ]
    notes = [f"Triggerer rows: median of {payload['repeats']} rounds, the variants in a rotated order."]
    failed = [f for f in payload.get("failed_rounds", []) if f["n"] == n]
    if failed:
        notes.append(
            "Rounds that did not finish within the worker's time limit were left out: "
            + ", ".join(f"`{LABELS[f['variant']].split()[1]}` round {f['round']}" for f in failed)
            + " (the `rounds` column of RESULTS.md shows how many made each median)."
        )
    short = [p for p in peers if p["polls_per_second"] < 0.95 * asked]
    if short:
        notes.append(
            "Not every peer kept up with the rate asked: "
            + ", ".join(
                f"`{LABELS[p['variant']].split()[1]}` reached {p['polls_per_second']:.0f} polls/s"
                for p in short
            )
            + f" at {n:,} triggers; its CPU is compared per poll it made."
        )
    return rows, notes


def main(argv: list[str] | None = None) -> None:
    """Parse the command line; run as orchestrator or as one worker."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000 only")
    parser.add_argument("--sizes", help="comma-separated N values (default 1000,5000,10000)")
    parser.add_argument("--variants", help=f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"rounds per case (default {REPEATS})")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--window", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.variant = args.worker
        worker_main(args)
        return
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None
    variants = tuple(args.variants.split(",")) if args.variants else VARIANTS
    run(quick=args.quick, sizes=sizes, variants=variants, repeats=args.repeats)


if __name__ == "__main__":
    main()
