"""
Three OS processes share one key's budget through SmartlyQ's headers alone (no shared memory).

The emulator limits the key to 12 requests per 6 s windows. Each process runs four async
polls (background), one sync reader (task reads) and a writer, asking for far more than the
key allows; every process only sees the ``X-RateLimit-*`` headers of its own answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from airflow_provider_smartlyq.testing.emulator import run_emulator

LIMIT = 12
WINDOW = 6
WINDOWS = 3
PROCESSES = 3

WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, threading, time

    start, seconds, index = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    end = start + seconds
    done = {"polls": 0, "reads": 0, "writes": 0, "errors": []}

    def guarded(kind, call):
        try:
            call()
            done[kind] += 1
        except Exception as exc:
            done["errors"].append(f"{kind}: {type(exc).__name__}: {exc}")

    def writer():
        hook = SmartlyQHook()
        while time.time() < end:
            guarded("writes", lambda: hook.pause_account(101 + index))
            time.sleep(WINDOW_SECONDS)

    def reader():
        hook = SmartlyQHook()
        while time.time() < end:
            guarded("reads", hook.get_accounts_health)
            time.sleep(1)

    async def polls():
        hook = SmartlyQHook()

        async def one():
            while time.time() < end:
                try:
                    await hook.aget_accounts_health()
                    done["polls"] += 1
                except Exception as exc:
                    done["errors"].append(f"poll: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(one() for _ in range(4)))
        await hook.aclose()

    time.sleep(max(0.0, start - time.time()))
    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    asyncio.run(polls())
    for thread in threads:
        thread.join()
    print("RESULT " + json.dumps(done))
    """
).replace("WINDOW_SECONDS", str(WINDOW))


@pytest.mark.integration
def test_three_processes_share_one_key_through_headers_alone():
    with run_emulator(rate_limit=LIMIT, rate_window=WINDOW) as emu:
        env = {"AIRFLOW_CONN_SMARTLYQ_DEFAULT": emu.connection_json()}
        # Start together on a window boundary, once every process has imported Airflow.
        start = (int(time.time() // WINDOW) + 2) * WINDOW
        seconds = WINDOWS * WINDOW - 0.5
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(start), str(seconds), str(index)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**_env(), **env},
            )
            for index in range(PROCESSES)
        ]
        outcomes, logs = [], []
        for worker in workers:
            out, err = worker.communicate(timeout=300)
            assert worker.returncode == 0, err[-3000:]
            [line] = [line for line in out.splitlines() if line.startswith("RESULT ")]
            outcomes.append(json.loads(line.removeprefix("RESULT ")))
            logs.append(out)
        report = emu.client.rate_limit_usage()

    assert all(o["errors"] == [] for o in outcomes), outcomes
    assert all(o["writes"] >= WINDOWS - 1 and o["reads"] >= 1 and o["polls"] >= 1 for o in outcomes), outcomes
    windows = [w for w in report["windows"] if w["requests"]]
    assert len(windows) >= WINDOWS
    # The key's budget was spent, and never overspent in any window, by three processes that
    # only ever saw the headers of their own answers.
    assert report["max_requests_per_window"] <= LIMIT, report["windows"]
    assert report["limited"] == 0, report["windows"]
    assert sum(w["requests"] for w in windows) >= (WINDOWS - 1) * LIMIT * 0.75


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
