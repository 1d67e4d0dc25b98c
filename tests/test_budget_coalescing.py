"""
The request budget and coalesced waits together, against an emulator with a short window.

One process plays a triggerer and a worker at once: 30 connect waits and 8 health gates on one
connection wait on an event loop while 3 threads make 6 writes (pause and resume), all on one
key limited to 12 requests per 6 s. Every write must succeed, at most 1 % of the requests may
be answered 429, and the 8 gates must share their health requests.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_smartlyq.hooks._budget import reset_budgets
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook
from airflow_provider_smartlyq.testing.emulator import run_emulator
from airflow_provider_smartlyq.triggers._shared_polls import active_polls
from airflow_provider_smartlyq.triggers.smartlyq import AccountHealthTrigger, ConnectCompletedTrigger

LIMIT, WINDOW = 12, 6
LINKS, GATES = 30, 8
POLL_INTERVAL = 5.0
HEALTH = "/v1/social/accounts/health"


@pytest.fixture
def limited_emulator(monkeypatch):
    with run_emulator(seed="demo") as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", emulator.connection_json())
        reset_budgets()
        yield emulator
    reset_budgets()


def test_writes_succeed_429s_stay_rare_and_gates_coalesce_under_a_short_window(limited_emulator):
    emu = limited_emulator
    emu.client.expire_account_token(104)  # the gates wait until it is reconnected
    with SmartlyQHook() as hook:
        # Made before the limit: the scenario is about waiting, not about creating links.
        tokens = [hook.create_connect_link("facebook")["state_token"] for _ in range(LINKS)]
    emu.client.set_rate_limit(LIMIT, window_seconds=WINDOW)
    reset_budgets()  # the process learns the new limit from the first answers, as in production
    before = len(emu.client.requests())

    write_errors: list[BaseException] = []
    write_waits: list[float] = []

    def write(account_id: int) -> None:
        with SmartlyQHook() as worker_hook:
            for action in (worker_hook.pause_account, worker_hook.resume_account):
                started = time.monotonic()
                try:
                    action(account_id)
                except BaseException as exc:  # every failure is reported below
                    write_errors.append(exc)
                write_waits.append(time.monotonic() - started)

    def approve_all() -> None:
        time.sleep(2.0)
        for token in tokens:
            emu.client.approve_connect(token)
        time.sleep(3.0)
        emu.client.update_account(104, validity_days=30)

    async def scenario() -> tuple[list, list]:
        deadline = time.time() + 120
        connects = [
            ConnectCompletedTrigger(token, poll_interval=POLL_INTERVAL, end_time=deadline) for token in tokens
        ]
        gates = [
            AccountHealthTrigger(
                {"account_ids": [101, 104], "platforms": None, "account_name_pattern": None},
                poll_interval=POLL_INTERVAL,
                end_time=deadline,
            )
            for _ in range(GATES)
        ]

        async def one(trigger):
            try:
                return [event.payload async for event in trigger.run()]
            finally:
                await trigger.cleanup()

        waits = asyncio.gather(*(one(t) for t in [*connects, *gates]))
        await asyncio.sleep(1.0)  # the waits are polling when the writes start
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = [pool.submit(write, account_id) for account_id in (101, 102, 103)]
            threading.Thread(target=approve_all, daemon=True).start()
            results = await waits
            for future in done:
                future.result()
        assert active_polls() == []
        return results[:LINKS], results[LINKS:]

    started = time.monotonic()
    connect_events, gate_events = asyncio.run(scenario())
    elapsed = time.monotonic() - started

    assert write_errors == []
    assert len(write_waits) == 6
    actions = [w["action"] for w in emu.client.writes()]
    assert actions.count("account_paused") == 3
    assert actions.count("account_resumed") == 3
    assert [e[0]["status"] for e in connect_events] == ["connected"] * LINKS
    assert [e[0]["status"] for e in gate_events] == ["healthy"] * GATES
    assert all(len(e) == 1 for e in [*connect_events, *gate_events])

    log = emu.client.requests()[before:]
    limited = [r for r in log if r["status"] == 429]
    assert len(limited) <= 0.01 * len(log), f"{len(limited)} of {len(log)} requests answered 429"
    usage = emu.client.rate_limit_usage()
    assert usage["max_accepted_per_window"] <= LIMIT
    # Eight gates, one request per round: a gate polling alone would have made one per interval each.
    health = [r for r in log if r["path"] == HEALTH]
    assert len(health) <= elapsed / POLL_INTERVAL + 2
