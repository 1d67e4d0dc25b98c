"""
Request budget under contention: one key at 60 requests per window, three processes.

* the **emulator** limits the key to 60 requests per window (60 s; proportionally shorter in a
  shortened run) and counts every window;
* a **triggerer-like process** runs, as the triggerer does (rebuilt from the serialized
  classpath and kwargs, one task per trigger, ``cleanup()`` at the end), 200
  ``ConnectCompletedTrigger``s whose links a user approves at random times over the run, 20
  ``AccountHealthTrigger``s gating on one account that recovers at 70 % of the run, and 10
  ``PostPublishedTrigger``s on posts that publish half-way;
* **worker 1** reads the health, pauses 40 accounts at 25 % of the run and resumes them at
  60 % (one write each, sync hook, as the operators do); **worker 2** publishes 10 posts at 45 %.

The same scenario runs twice against a fresh emulator: the **baseline** without the request
budget (``SMARTLYQ_REQUEST_BUDGET=off``: every request retries its own 429s) and then **with**
it. The waits' request coalescing (shared polls) is on in both runs: it is not switchable.

Reported: the most requests the emulator counted in any window against the limit, the share
answered 429, each write's wait (wall time of the call: waiting for budget or for retries) as
p50/p95/max, failed writes and waits, connect detection lag p50/p95 against the best possible
within the background share (a perfect rotation within what each window left for link checks
after writes, task reads and the reserve, as the emulator counted it: the verdict's yardstick;
beside it the first model, which averaged the polls over the run and gave the writes no share,
and a strict rotation replayed on the run's own link checks), and health-gate requests per
interval.

Usage: ``python benchmarks/bench_budget.py [--minutes 10]`` (or through ``run.py budget``). A
shortened run scales every duration, interval and the emulator's window by ``minutes / 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS_DIR,
    bench_env,
    emulator,
    fmt,
    markdown_report,
    markdown_table,
    percentile,
    show_report,
    use_bench_env,
    write_results,
)

NAME = "budget"
LIMIT = 60
FULL_MINUTES = 10.0
QUICK_MINUTES = 2.0
CONNECT_WAITS = 200
HEALTH_GATES = 20
POST_WAITS = 10
PAUSED_ACCOUNTS = 40
PUBLISHES = 10
#: Poll intervals at full scale (the triggers' defaults for links and posts; 30 s gates).
CONNECT_POLL, GATE_POLL, POST_POLL = 5.0, 30.0, 5.0
#: When things happen, as fractions of the run.
APPROVE_FROM, APPROVE_TO = 0.02, 0.85
PAUSE_AT, PUBLISH_AT, RESUME_AT, GATE_RECOVERS_AT, POSTS_PUBLISH_AT = 0.25, 0.45, 0.60, 0.70, 0.50
#: The waits' deadline, past the end of the run: late approvals still get detected.
WAIT_GRACE = 0.3
RESERVE = 0.2
SEED = 10


# -- roles (each runs in its own process) ------------------------------------------------------


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def role_triggerer(plan: dict[str, Any]) -> dict[str, Any]:
    """Run every wait as the triggerer does; return each one's event and when it came."""
    from airflow_provider_smartlyq._compat import import_string
    from airflow_provider_smartlyq.triggers.smartlyq import (
        AccountHealthTrigger,
        ConnectCompletedTrigger,
        PostPublishedTrigger,
    )

    t0, scale, end_time = plan["t0"], plan["scale"], plan["end_time"]
    built = [
        *(
            (
                "connect",
                token,
                ConnectCompletedTrigger(token, poll_interval=CONNECT_POLL * scale, end_time=end_time),
            )
            for token in plan["tokens"]
        ),
        *(
            (
                "gate",
                str(index),
                AccountHealthTrigger(
                    {"account_ids": [plan["gate_account"]]},
                    poll_interval=GATE_POLL * scale,
                    end_time=end_time,
                ),
            )
            for index in range(HEALTH_GATES)
        ),
        *(
            (
                "post",
                str(post_id),
                PostPublishedTrigger(post_id, poll_interval=POST_POLL * scale, end_time=end_time),
            )
            for post_id in plan["post_ids"]
        ),
    ]
    # Rebuilt from classpath and JSON kwargs, exactly what the triggerer gets from the database.
    rows = [(kind, key, *trigger.serialize()) for kind, key, trigger in built]
    rows = [(kind, key, path, json.loads(json.dumps(kwargs))) for kind, key, path, kwargs in rows]
    events: list[dict[str, Any]] = []

    async def drive(kind: str, key: str, trigger: Any) -> None:
        try:
            async for event in trigger.run():
                events.append({"kind": kind, "key": key, "at": time.time(), "payload": event.payload})
        except Exception as exc:  # counted as a failed wait
            events.append(
                {"kind": kind, "key": key, "at": time.time(), "payload": {"status": f"crash {exc!r}"}}
            )
        finally:
            await trigger.cleanup()

    async def main() -> None:
        triggers = [(kind, key, import_string(path)(**kwargs)) for kind, key, path, kwargs in rows]
        await asyncio.sleep(max(0.0, t0 - time.time()))
        await asyncio.gather(*(drive(kind, key, trigger) for kind, key, trigger in triggers))

    asyncio.run(main())
    return {"events": events}


def _timed_write(hook_call: Any, waits: list[float], failures: list[str]) -> None:
    started = time.monotonic()
    try:
        hook_call()
    except Exception as exc:  # counted as a failed task
        failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    else:
        waits.append(time.monotonic() - started)


def role_accounts(plan: dict[str, Any]) -> dict[str, Any]:
    """Pause then resume 40 accounts (a health read first, as the operators do)."""
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    waits: list[float] = []
    failures: list[str] = []
    hook = SmartlyQHook()
    for moment, pause in ((PAUSE_AT, True), (RESUME_AT, False)):
        _sleep_until(plan["t0"] + moment * plan["duration"])
        try:
            hook.get_accounts_health()
        except Exception as exc:  # a failed task read
            failures.append(f"health read: {type(exc).__name__}")
        for account_id in plan["accounts"]:
            call = hook.pause_account if pause else hook.resume_account
            _timed_write(lambda call=call, account_id=account_id: call(account_id), waits, failures)
    hook.close()
    return {"waits": waits, "failures": failures}


def role_posts(plan: dict[str, Any]) -> dict[str, Any]:
    """Publish 10 posts half-way through."""
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    waits: list[float] = []
    failures: list[str] = []
    hook = SmartlyQHook()
    _sleep_until(plan["t0"] + PUBLISH_AT * plan["duration"])
    for index in range(PUBLISHES):
        _timed_write(
            lambda index=index: hook.create_post(
                f"bench publish {plan['run']} {index}", plan["publish_to"][index], platforms=["facebook"]
            ),
            waits,
            failures,
        )
    hook.close()
    return {"waits": waits, "failures": failures}


ROLES = {"triggerer": role_triggerer, "accounts": role_accounts, "posts": role_posts}


# -- one run -----------------------------------------------------------------------------------


def _setup(emu: Any, run: str, scale: float) -> dict[str, Any]:
    """Create links, accounts and posts with the limit off (setup is not measured)."""
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    client = emu.client()
    accounts = [
        client.add_account("facebook", f"Brand {i:02d}", validity_days=60)["id"]
        for i in range(PAUSED_ACCOUNTS)
    ]
    publish_to = [
        client.add_account("facebook", f"Outlet {i:02d}", validity_days=60)["id"] for i in range(PUBLISHES)
    ]
    gate_account = client.add_account("instagram", "Gated", status="expired")["id"]
    with SmartlyQHook() as hook:
        tokens = [hook.create_connect_link("facebook")["state_token"] for _ in range(CONNECT_WAITS)]
        post_ids = [
            hook.create_post(f"bench wait {run} {i}", publish_to[i], platforms=["facebook"])["id"]
            for i in range(POST_WAITS)
        ]
    return {
        "accounts": accounts,
        "publish_to": publish_to,
        "gate_account": gate_account,
        "tokens": tokens,
        "post_ids": post_ids,
    }


def run_once(budget: bool, minutes: float) -> dict[str, Any]:
    """Run the scenario once (with or without the budget); return its raw measurements."""
    scale = minutes / FULL_MINUTES
    duration = minutes * 60
    window = 60 * scale
    label = "budget" if budget else "baseline"
    rng = random.Random(SEED)
    with emulator("--seed", "empty", "--log-level", "error", "--connect-ttl", "7200") as emu:
        conn = emu.smartlyq_conn()
        use_bench_env(AIRFLOW_CONN_SMARTLYQ_DEFAULT=conn)
        data = _setup(emu, label, scale)
        client = emu.client()
        startup = 30.0  # the processes import Airflow first
        t0 = time.time() + startup
        plan = {
            **data,
            "run": label,
            "t0": t0,
            "scale": scale,
            "duration": duration,
            "end_time": t0 + duration * (1 + WAIT_GRACE),
        }
        # Posts publish half-way; everything from here on is limited.
        client.update_posts_settings(stage_seconds=(t0 + POSTS_PUBLISH_AT * duration - time.time()) / 3)
        client.set_rate_limit(LIMIT, window_seconds=window)
        approvals = sorted(
            (t0 + rng.uniform(APPROVE_FROM, APPROVE_TO) * duration, token) for token in data["tokens"]
        )
        env = bench_env(AIRFLOW_CONN_SMARTLYQ_DEFAULT=conn, SMARTLYQ_REQUEST_BUDGET="on" if budget else "off")
        with tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp:
            plan_path = Path(tmp) / "plan.json"
            plan_path.write_text(json.dumps(plan))
            processes = {
                role: subprocess.Popen(
                    [sys.executable, __file__, "--role", role, "--plan", str(plan_path)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
                for role in ROLES
            }
            approved: dict[str, float] = {}

            def user() -> None:  # plays the users approving their links, and the gate's reconnect
                recovered = False
                for moment, token in approvals:
                    if not recovered and moment > t0 + GATE_RECOVERS_AT * duration:
                        _sleep_until(t0 + GATE_RECOVERS_AT * duration)
                        client.update_account(data["gate_account"], status="connected", validity_days=60)
                        recovered = True
                    _sleep_until(moment)
                    client.approve_connect(token)
                    approved[token] = time.time()
                if not recovered:
                    _sleep_until(t0 + GATE_RECOVERS_AT * duration)
                    client.update_account(data["gate_account"], status="connected", validity_days=60)

            threading.Thread(target=user, daemon=True).start()
            results: dict[str, Any] = {}
            for role, process in processes.items():
                out, err = process.communicate(timeout=duration * 3 + 600)
                lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
                if process.returncode != 0 or not lines:
                    raise RuntimeError(f"{role} failed ({process.returncode}): {err[-3000:]}")
                results[role] = json.loads(lines[-1].removeprefix("RESULT "))
        report = client.rate_limit_usage()
        log = client.requests()
    return {
        "label": label,
        "t0": t0,
        "duration": duration,
        "window": window,
        "scale": scale,
        "approved": approved,
        "tokens": data["tokens"],
        "results": results,
        "report": report,
        "requests": [
            {**{k: r[k] for k in ("method", "path", "status")}, "at": _epoch(r.get("timestamp"))} for r in log
        ],
    }


def _epoch(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


# -- numbers -----------------------------------------------------------------------------------


def ideal_lags(approved: dict[str, float], connect_rate: float, scale: float) -> list[float]:
    """
    Return lags a perfect rotation would give: each pending link checked every max(P, N / R).

    N is the number of links still pending when a link is approved, R the background requests
    per second left for links. The lag of a link is uniform over that interval; its quantiles
    are sampled here (100 points per link).
    """
    count = len(approved)
    lags = []
    for index in range(count):  # the index-th approval finds count - index links pending
        pending = count - index
        interval = max(CONNECT_POLL * scale, pending / connect_rate)
        lags += [interval * (k + 0.5) / 100 for k in range(100)]
    return lags


def _background(request: dict[str, Any]) -> str | None:
    """Return which background poll a logged request was ("connect", "other"), or None."""
    if request["method"] != "GET":
        return None
    if request["path"].startswith("/v1/social/connect/"):
        return "connect"
    if request["path"].startswith("/v1/social/posts") or request["path"].endswith("/health"):
        return "other"
    return None


def counted_capacity(raw: dict[str, Any], windows: list[dict[str, Any]]) -> list[tuple[float, float, float]]:
    """
    Return, per emulator window, ``(start, end, link checks the background share allowed)``.

    The background share of a window is what the writes and task reads left of the limit (at
    most the limit less the reserve: background polls never take it), as the emulator
    counted them in that window, less the gates' and posts' polls in it. Needs the request
    log's timestamps (runs before they were kept return an empty list).
    """
    log = raw["requests"]
    if not log or log[-1].get("at") is None:
        return []
    reserve = math.ceil(LIMIT * RESERVE)
    out = []
    for window in windows:
        inside = [r for r in log if r.get("at") is not None and window["start"] <= r["at"] < window["end"]]
        other = sum(1 for r in inside if _background(r) == "other")
        # Writes and task reads: the emulator's count for the window less the background polls
        # logged in it (the log also holds the set-up's requests, made before the limit was on).
        foreground = max(0, window["requests"] - sum(1 for r in inside if _background(r) is not None))
        out.append((window["start"], window["end"], max(0.0, LIMIT - max(reserve, foreground) - other)))
    return out


def counted_ideal_lags(
    approved: dict[str, float], capacity: list[tuple[float, float, float]], scale: float
) -> list[float]:
    """
    Return the lags a perfect rotation would give within the share the emulator counted.

    As :func:`ideal_lags`, but a link approved with N pending waits for a uniform share of N
    checks, turned into time by the windows' actual background capacity from its approval on.
    """
    if not capacity:
        return []
    times = sorted(approved.values())
    count = len(times)
    lags = []

    def time_for(start: float, checks: float) -> float:
        # Walk the windows from ``start`` until ``checks`` link checks fit.
        t, need = start, checks
        for begin, end, room in capacity:
            if end <= t:
                continue
            span = end - max(begin, t)
            rate = room / (end - begin)
            if rate * span >= need:
                return max(begin, t) + need / rate - start if rate > 0 else float("inf")
            need -= rate * span
            t = end
        last_rate = capacity[-1][2] / (capacity[-1][1] - capacity[-1][0]) or 0.05
        return t + need / last_rate - start

    for index, at in enumerate(times):
        pending = count - index
        for k in range(100):
            u = (k + 0.5) / 100
            lags.append(max(u * CONNECT_POLL * scale, time_for(at, u * pending)))
    return lags


def replayed_lags(raw: dict[str, Any]) -> list[float]:
    """
    Return the lags a strict rotation would have given on the link checks the run really made.

    The emulator's log says when each link check went out; a perfect rotation (every link not
    yet detected once per cycle, in the order the links joined) is replayed on those times. Equal
    to the measured lags when the rotation lost nothing to its order; above them shows what an
    unfair order cost. (Needs the log's timestamps, which have a resolution of one second.)
    """
    approved, tokens = raw["approved"], raw.get("tokens") or []
    checks = sorted(
        r["at"] for r in raw["requests"] if r.get("at") is not None and _background(r) == "connect"
    )
    if not tokens or not checks:
        return []
    rotation = deque(token for token in tokens if token in approved)
    lags = []
    for at in checks:
        if not rotation:
            break
        token = rotation.popleft()
        if approved[token] <= at:
            lags.append(at - approved[token])
        else:
            rotation.append(token)
    return lags


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn one run's raw measurements into the reported numbers."""
    t0, duration, window, scale = raw["t0"], raw["duration"], raw["window"], raw["scale"]
    report = raw["report"]
    windows = [
        w for w in report["windows"] if w["end"] > t0 and w["start"] < t0 + duration * (1 + WAIT_GRACE)
    ]
    requests = sum(w["requests"] for w in windows)
    limited = sum(w["limited"] for w in windows)
    results = raw["results"]
    waits = results["accounts"]["waits"] + results["posts"]["waits"]
    failures = results["accounts"]["failures"] + results["posts"]["failures"]
    events = results["triggerer"]["events"]
    good = {"connect": "connected", "gate": "healthy", "post": "published"}
    failed_waits = [e for e in events if e["payload"].get("status") != good[e["kind"]]]
    expected_waits = CONNECT_WAITS + HEALTH_GATES + POST_WAITS
    missing = expected_waits - len(events)
    lags = [
        e["at"] - raw["approved"][e["key"]]
        for e in events
        if e["kind"] == "connect"
        and e["payload"].get("status") == "connected"
        and e["key"] in raw["approved"]
    ]
    log = raw["requests"]
    health_reads = sum(1 for r in log if r["method"] == "GET" and r["path"] == "/v1/social/accounts/health")
    gate_reads = max(0, health_reads - 2)  # the accounts worker reads twice
    gate_intervals = GATE_RECOVERS_AT * duration / (GATE_POLL * scale)
    # Background requests per second that were not link checks (gates, posts): the rest of the
    # background share is what a perfect rotation could spend on links.
    other_background = sum(
        1
        for r in log
        if r["method"] == "GET"
        and (r["path"].startswith("/v1/social/posts") or r["path"].endswith("/health"))
    )
    share = LIMIT * (1 - RESERVE) / window
    connect_rate = max(0.05, share - other_background / (duration * (1 + WAIT_GRACE)))
    ideal = ideal_lags(raw["approved"], connect_rate, scale)
    counted = counted_ideal_lags(raw["approved"], counted_capacity(raw, windows), scale)
    return {
        "label": raw["label"],
        "minutes": duration / 60,
        "window_s": window,
        "limit": LIMIT,
        "requests": requests,
        "max_per_window": max((w["requests"] for w in windows), default=0),
        "windows_over_limit": sum(1 for w in windows if w["requests"] > LIMIT),
        "share_429": limited / requests if requests else 0.0,
        "write_wait_p50": percentile(waits, 50),
        "write_wait_p95": percentile(waits, 95),
        "write_wait_max": max(waits, default=float("nan")),
        "writes": len(waits) + len(failures),
        "failed_tasks": len(failures),
        "failed_waits": len(failed_waits) + missing,
        "failure_samples": (failures + [str(e["payload"])[:200] for e in failed_waits])[:5],
        "lag_p50": percentile(lags, 50),
        "lag_p95": percentile(lags, 95),
        "ideal_lag_p50": percentile(ideal, 50),
        "ideal_lag_p95": percentile(ideal, 95),
        # The same perfect rotation within the background share the emulator counted per
        # window (writes that took more than the reserve shrink it); NaN for old raw files.
        "counted_ideal_lag_p95": percentile(counted, 95),
        "replayed_lag_p95": percentile(replayed_lags(raw), 95),
        "background_per_window": [round(c[2], 1) for c in counted_capacity(raw, windows)],
        "connected": len(lags),
        "gate_reads_per_interval": gate_reads / gate_intervals if gate_intervals else float("nan"),
    }


COLUMNS = [
    "run",
    "max req/window (limit)",
    "windows over",
    "429 share",
    "write wait p50 s",
    "p95 s",
    "max s",
    "failed tasks",
    "failed waits",
    "connect lag p50 s",
    "p95 s",
    "best p95 s (first model)",
    "lag p95 / first-model best",
    "best p95 s (counted share)",
    "lag p95 / counted best",
    "gate req/interval",
]


def _rows(runs: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            "without budget (baseline)" if r["label"] == "baseline" else "with budget",
            f"{r['max_per_window']} ({r['limit']})",
            r["windows_over_limit"],
            f"{r['share_429'] * 100:.1f} %",
            r["write_wait_p50"],
            r["write_wait_p95"],
            r["write_wait_max"],
            r["failed_tasks"],
            r["failed_waits"],
            r["lag_p50"],
            r["lag_p95"],
            r["ideal_lag_p95"],
            r["lag_p95"] / r["ideal_lag_p95"] if r["ideal_lag_p95"] else float("nan"),
            r.get("counted_ideal_lag_p95", float("nan")),
            r["lag_p95"] / r["counted_ideal_lag_p95"]
            if r.get("counted_ideal_lag_p95") == r.get("counted_ideal_lag_p95")
            and r.get("counted_ideal_lag_p95")
            else float("nan"),
            r["gate_reads_per_interval"],
        ]
        for r in runs
    ]


def _verdict(runs: list[dict[str, Any]]) -> list[str]:
    ours = next(r for r in runs if r["label"] == "budget")
    base = next(r for r in runs if r["label"] == "baseline")
    ratio = ours["lag_p95"] / ours["ideal_lag_p95"] if ours["ideal_lag_p95"] else float("nan")
    counted = ours.get("counted_ideal_lag_p95") or float("nan")

    def check(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    return [
        f"0 failed tasks or waits: {check(ours['failed_tasks'] + ours['failed_waits'] == 0)} "
        f"({ours['failed_tasks']} tasks, {ours['failed_waits']} waits; "
        f"baseline {base['failed_tasks']} and {base['failed_waits']})",
        f"<= 1 % answered 429: {check(ours['share_429'] <= 0.01)} ({ours['share_429'] * 100:.2f} %; "
        f"baseline {base['share_429'] * 100:.1f} %)",
        f"no window over the limit: {check(ours['windows_over_limit'] == 0)} "
        f"(most {ours['max_per_window']} of {LIMIT}; "
        f"baseline {base['max_per_window']}, {base['windows_over_limit']} windows over)",
        f"write budget wait p95 <= 5 s: {check(ours['write_wait_p95'] <= 5)} "
        f"({fmt(ours['write_wait_p95'])} s; baseline {fmt(base['write_wait_p95'])} s)",
        f"20 health gates <= 1 request per interval: {check(ours['gate_reads_per_interval'] <= 1.0)} "
        f"({fmt(ours['gate_reads_per_interval'])})",
        # The background share is what each window leaves after writes and task reads (they come
        # first) and the reserve, as the emulator counted it. The first model (`ratio`) averaged
        # the polls over the run and gave the writes no share; it is kept beside the verdict.
        f"connect lag p95 <= 1.5x best within the background share: "
        f"{check(ours['lag_p95'] / counted <= 1.5)} ({fmt(ours['lag_p95'])} s vs {fmt(counted)} s "
        f"= {fmt(ours['lag_p95'] / counted)}x, the share each window left after writes and task "
        f"reads as the emulator counted it; baseline {fmt(base['lag_p95'])} s); the first model, "
        f"which gives writes no share: best {fmt(ours['ideal_lag_p95'])} s = {fmt(ratio)}x; "
        f"a strict rotation replayed on the link checks the run made: p95 "
        f"{fmt(ours.get('replayed_lag_p95', float('nan')))} s",
    ]


def _note(runs: list[dict[str, Any]]) -> str:
    r = runs[0]
    scaled = (
        ""
        if r["minutes"] >= FULL_MINUTES
        else (
            f" Shortened run: {r['minutes']:g} minutes, every duration, poll interval and the "
            f"emulator's window scaled by {r['minutes'] / FULL_MINUTES:g} (window {r['window_s']:g} s, "
            f"still {LIMIT} requests per window)."
        )
    )
    return (
        f"{CONNECT_WAITS} connect waits, {HEALTH_GATES} health gates and {POST_WAITS} post waits in one "
        f"triggerer-like process; {PAUSED_ACCOUNTS}-account pause and resume and {PUBLISHES} publishes "
        f"in two worker processes; {LIMIT} requests per window per key, counted by the emulator.{scaled} "
        "Write wait = wall time of each write call. Best connect lag (first model) = a perfect "
        "rotation within 80 % of the limit less the gates' and posts' requests, averaged over the "
        "run, with no share to the writes. Counted share = the same rotation within what each "
        "window, as the emulator counted it, left for link checks after writes and task reads (at "
        "most 80 %) and the gates' and posts' polls: the background share, the verdict's yardstick."
    )


#: The measurements before the fixes of 2026-11-30 (kept in every regenerated section, so that
#: "before" stays next to "after"; see ``docs/performance.md``).
BEFORE_TITLE = "### Before: the first design (2026-11-30, two 10-minute runs, load average 5.8 on 2 CPUs)"
BEFORE_COLUMNS = [c for c in COLUMNS if "counted" not in c]
BEFORE_ROWS = [
    [
        "without budget (baseline)",
        "161 (60)",
        9,
        "60.2 %",
        0.01,
        0.02,
        12.71,
        0,
        0,
        93.65,
        315.87,
        190.07,
        1.66,
        1.43,
    ],
    ["with budget", "61 (60)", 1, "0.2 %", 0.01, 0.01, 18.05, 0, 0, 114.30, 298.87, 179.78, 1.66, 0.57],
]
BEFORE = """A second run of the budget scenario alone: most 60 of 60, 0.0 % answered 429, write wait p95
0.02 s (max 11.2 s), connect lag p50 155 s / p95 321 s against a best p95 of 180 s (1.78x),
gates 0.43 requests per interval. Two targets missed: a window over the limit (61 of 60, in 2 of
3 runs) and connect lag p95 (1.66x and 1.78x the best possible, target 1.5x).

What the emulator's counts showed, and what changed:

- **61 of 60.** Each over-limit window held 60 accepted requests and one 429, and the 429 was
  always a connect check from the triggerer-like process, logged right after a worker's burst
  of pause (or resume) writes took the window's last request. The triggerer had sent that poll
  on its last answer, before it could see the burst (not a fresh process's first request: each
  worker's first request went through). Fix: while other processes are seen spending on the key
  (in the server's count at the first answer already), writes and task reads leave one request
  of a 60-request window (one per 40 of the limit) unspent, for such a poll; a process alone on
  its key spends the whole window.
- **Connect lag.** The rotation queued its links fairly but started up to 32 checks at once,
  all waiting for budget; the budget gave each slot to whichever waiter woke first, so some
  links lost their turn again and again (in a shortened run, between two checks of one link,
  8 % of the checks went to links checked twice meanwhile; one link saw 122 such). Fix: the
  rotation starts only about 3 s of checks ahead of the budget (at the rate answers come back,
  2 to 32 at once), so checks go out in rotation order (1 % or less out of order in shortened
  runs since), and a check answered 429 keeps its place. A strict rotation replayed on the
  link checks a run really made now gives the measured lags: what is left of the gap is the
  share the links got, not their order.
- **The yardstick.** Our first model of the best possible (kept, unchanged, as `best p95 s`) gave
  the links 80 % of the limit less the gates' and posts' polls averaged over the whole run
  (13 minutes with the grace period), and no share to the writes. The posts' list sweeps (one
  per 5 s) and the gates' reads all come in the first half, when most links wait, and the
  pause, publish and resume bursts take 90 requests out of the windows they land in (the
  reserve stays the last 20 % of every window: background polls never take it, as specified).
  `best p95 s (counted share)` is the same perfect rotation within what each window, as the
  emulator counted it, left for link checks: the limit less the larger of the reserve and the
  window's writes and task reads, less its gates' and posts' polls. Both are reported; the
  verdict line uses the counted share since this change: it is the background share the
  acceptance names (writes and task reads come first, the reserve is never polled into),
  which the first model overstated by giving the writes none.
- **The baseline moved too**: the rotation has no switch, and starting fewer checks at a time
  also slows the run without the budget (whose 429s are retried inside each check). Its busiest
  window fell from 161 to 126 requests and its lag p95 from 316 s to 231 s: it still spends
  about twice the limit, and 29 % of its requests are answered 429.
"""


def markdown(payload: dict[str, Any]) -> str:
    """Return the ``RESULTS.md`` section for these results (with the earlier measurement)."""
    runs = payload["runs"]
    load = payload.get("load") or (
        f"{payload['machine']['load_average_1m']:.1f} when the run ended" if payload.get("machine") else ""
    )
    text = _note(runs) + (f" Load average (1 minute, 2 CPUs): {load}." if load else "")
    before = "\n\n".join([BEFORE_TITLE, markdown_table(BEFORE_COLUMNS, BEFORE_ROWS), BEFORE.strip()])
    return markdown_report(COLUMNS, _rows(runs), text, _verdict(runs)) + "\n\n" + before


def run(quick: bool = False, minutes: float | None = None) -> dict[str, Any]:
    """Run baseline and budget; print the table; write ``results/budget.json``; return the results."""
    minutes = minutes or (QUICK_MINUTES if quick else FULL_MINUTES)
    runs = []
    for budget in (False, True):
        kept = RESULTS_DIR / f"{NAME}-raw-baseline.json"
        if not budget and os.environ.get("BENCH_BUDGET_REUSE_BASELINE") and kept.exists():
            print("--- baseline reused from", kept, flush=True)  # for tuning runs only
            runs.append(summarize(json.loads(kept.read_text())))
            continue
        print(f"--- {'with' if budget else 'without'} the request budget ({minutes:g} min) ---", flush=True)
        raw = run_once(budget, minutes)
        # Kept so that the numbers can be recomputed without running again (not committed).
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / f"{NAME}-raw-{raw['label']}.json").write_text(json.dumps(raw))
        runs.append(summarize(raw))
    show_report(
        "Request budget: one key at 60 per window, three processes",
        COLUMNS,
        _rows(runs),
        _note(runs),
        _verdict(runs),
    )
    payload = {"runs": runs}
    write_results(NAME, payload)
    return payload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, help=f"length of each run (default {FULL_MINUTES:g})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MINUTES:g}-minute runs")
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        plan = json.loads(Path(args.plan).read_text())
        print("RESULT " + json.dumps(ROLES[args.role](plan)), flush=True)
        return
    os.chdir(Path(__file__).resolve().parent.parent)
    run(quick=args.quick, minutes=args.minutes)


if __name__ == "__main__":
    main()
