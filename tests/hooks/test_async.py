"""The hook's async twins and the per-loop shared aiohttp session, against the emulator."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
import warnings
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_smartlyq.exceptions import (
    SmartlyQConnectionError,
    SmartlyQNotFoundError,
    SmartlyQServerError,
    SmartlyQValidationError,
)
from airflow_provider_smartlyq.hooks import _transport
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook


def quick_hook(**kwargs) -> SmartlyQHook:
    return SmartlyQHook(retry_min_wait=0.01, retry_max_wait=0.05, **kwargs)


async def test_aget_connect_status_pending_then_connected(smartlyq_conn):
    link = quick_hook().create_connect_link("linkedin")
    hook = quick_hook()
    try:
        pending = await hook.aget_connect_status(link["state_token"])
        smartlyq_conn.client.approve_connect(link["state_token"], name="Acme Pages")
        connected = await hook.aget_connect_status(link["state_token"])
    finally:
        await hook.aclose()

    assert pending == {
        "platform": "linkedin",
        "status": "pending",
        "expires_at": link["expires_at"],
        "account": None,
    }
    assert connected["status"] == "connected"
    assert connected["account"]["name"].startswith("Acme Pages")


async def test_aget_accounts_health_matches_the_sync_answer(smartlyq_conn):
    hook = quick_hook()
    try:
        health = await hook.aget_accounts_health()
    finally:
        await hook.aclose()

    assert health == quick_hook().get_accounts_health()
    assert health["expired"] == 1
    assert {a["id"]: a["paused"] for a in health["accounts"]}[105] is True


async def test_aget_account_health(smartlyq_conn):
    hook = quick_hook()
    try:
        health = await hook.aget_account_health(104)
        with pytest.raises(SmartlyQNotFoundError):
            await hook.aget_account_health(9999)
    finally:
        await hook.aclose()

    assert (health["id"], health["status"], health["token_expired"]) == (104, "expired", True)


async def test_aget_reconnect_url(smartlyq_conn):
    hook = quick_hook()
    try:
        url = await hook.aget_reconnect_url(104)
    finally:
        await hook.aclose()

    state = parse_qs(urlsplit(url).query)["state"][0]
    [write] = smartlyq_conn.client.writes()
    assert (write["action"], write["account_id"], write["state_token"]) == (
        "reconnect_link_created",
        104,
        state,
    )


async def test_async_requests_carry_the_same_headers(smartlyq_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", smartlyq_conn.connection_json(profile_id=42))
    hook = quick_hook()
    try:
        health = await hook.aget_accounts_health()
    finally:
        await hook.aclose()

    assert [a["id"] for a in health["accounts"]] == [109, 110]
    [entry] = smartlyq_conn.client.requests()
    assert (entry["key"], entry["profile_id"]) == ("primary", 42)


async def test_async_retries_5xx_and_dropped_connections(smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/social/accounts/health", "GET", status=503)
    smartlyq_conn.client.inject_fault("/v1/social/accounts/health", "GET", drop_connection=True)
    hook = quick_hook()
    try:
        health = await hook.aget_accounts_health()
    finally:
        await hook.aclose()

    assert health["healthy"] == 5
    log = smartlyq_conn.client.requests(at_least=3)
    assert sorted((r["status"] or 0, r["dropped"]) for r in log) == [(0, True), (200, False), (503, False)]


async def test_async_429_retry_after_is_waited_out(smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/social/accounts/101/health", "GET", status=429, retry_after=1)
    hook = quick_hook()
    started = time.monotonic()
    try:
        await hook.aget_account_health(101)
    finally:
        await hook.aclose()

    assert time.monotonic() - started >= 0.95
    assert len(smartlyq_conn.client.requests()) == 2


async def test_async_gives_up_typed_and_bounded(smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/me", "*", status=502, body="<html>bad gateway</html>", count=20)
    smartlyq_conn.client.inject_fault("/v1/social/accounts/health", "GET", drop_connection=True, count=20)
    hook = quick_hook(max_retries=2)
    try:
        with pytest.raises(SmartlyQConnectionError):
            await hook.aget_accounts_health()
    finally:
        await hook.aclose()

    # max_retries + 1 attempts; aiohttp itself resends an idempotent request once when the
    # connection drops (RFC 9112 section 9.3.1), so each attempt may be logged twice: still bounded.
    assert 3 <= len(smartlyq_conn.client.requests(at_least=6, timeout=1.0)) <= 2 * 3


async def test_async_non_json_5xx_is_a_server_error(smartlyq_conn):
    smartlyq_conn.client.inject_fault(
        "/v1/social/accounts/102/health", "GET", status=502, body="<html/>", count=20
    )
    hook = quick_hook(max_retries=1)
    try:
        with pytest.raises(SmartlyQServerError) as info:
            await hook.aget_account_health(102)
    finally:
        await hook.aclose()

    assert info.value.status_code == 502
    assert len(smartlyq_conn.client.requests()) == 2


async def test_async_bad_input_fails_before_any_request(smartlyq_conn):
    hook = quick_hook()
    try:
        for bad in (0, -1, "abc", True):
            with pytest.raises(SmartlyQValidationError):
                await hook.aget_account_health(bad)
        with pytest.raises(SmartlyQValidationError):
            await hook.aget_connect_status("")
    finally:
        await hook.aclose()

    assert smartlyq_conn.client.requests() == []


# -- the shared session pool -----------------------------------------------------------------


async def test_two_hooks_on_one_loop_share_one_session(smartlyq_conn):
    first, second = quick_hook(), quick_hook()
    await first.aget_accounts_health()
    await second.aget_account_health(101)
    assert first._async is not None
    assert second._async is not None
    shared = first._async._session

    assert shared is not None
    assert second._async._session is shared
    assert _transport.POOL.leases() == 2

    await first.aclose()
    assert _transport.POOL.leases() == 1
    assert not shared.closed
    assert (await second.aget_account_health(102))["id"] == 102  # still usable by the other hook

    await second.aclose()
    assert shared.closed
    assert _transport.POOL.leases() == 0


async def test_a_hook_used_again_after_aclose_gets_a_new_lease(smartlyq_conn):
    hook = quick_hook()
    await hook.aget_account_health(101)
    await hook.aclose()
    await hook.aclose()  # idempotent: a second release must not steal another hook's lease

    other = quick_hook()
    await other.aget_account_health(101)
    await hook.aget_account_health(101)
    assert _transport.POOL.leases() == 2

    await hook.aclose()
    await other.aclose()
    assert _transport.POOL.leases() == 0


async def test_hook_as_async_context_manager_releases(smartlyq_conn):
    async with quick_hook() as hook:
        await hook.aget_accounts_health()
        assert _transport.POOL.leases() == 1
    assert _transport.POOL.leases() == 0


async def test_many_concurrent_calls_use_one_session(smartlyq_conn):
    hooks = [quick_hook() for _ in range(20)]
    try:
        results = await asyncio.gather(*(h.aget_account_health(101 + i % 8) for i, h in enumerate(hooks)))
        sessions = {id(h._async._session) for h in hooks if h._async is not None}
        assert len(sessions) == 1
        assert _transport.POOL.leases() == 20
    finally:
        await asyncio.gather(*(h.aclose() for h in hooks))

    assert sorted({r["id"] for r in results}) == list(range(101, 109))
    assert _transport.POOL.leases() == 0


async def test_concurrent_first_calls_on_one_hook_take_one_lease(smartlyq_conn):
    # A shared poller checks many links at once with one hook, before any call has finished.
    hook = quick_hook()
    try:
        await asyncio.gather(*(hook.aget_account_health(101 + i % 8) for i in range(16)))
        assert _transport.POOL.leases() == 1
    finally:
        await hook.aclose()

    assert _transport.POOL.leases() == 0


UNCLOSED_AIOHTTP = re.compile(r"nclosed (client session|connector|connection|response)")


def test_released_sessions_close_without_unclosed_warnings(smartlyq_conn, caplog):
    sessions = []

    async def released() -> None:
        first, second = quick_hook(), quick_hook()
        await first.aget_accounts_health()
        await second.aget_account_health(101)
        assert first._async is not None
        sessions.append(first._async._session)
        await first.aclose()
        await second.aclose()

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.ERROR, logger="asyncio"):
        warnings.simplefilter("always")
        asyncio.run(released())
        gc.collect()

    [session] = sessions
    assert session is not None
    assert session.closed
    # the pool keeps nothing of a closed loop
    assert all(entry.session is not session for entry in _transport.POOL._shared.values())
    # aiohttp's own warnings. Not "unclosed event loop": on Python 3.10 asyncio.run() replaces
    # (and so frees) whatever loop an earlier test left set, which warns here.
    assert [str(w.message) for w in caught if UNCLOSED_AIOHTTP.search(str(w.message))] == []
    assert [r.getMessage() for r in caplog.records if UNCLOSED_AIOHTTP.search(r.getMessage())] == []


def test_pool_forgets_sessions_of_loops_closed_without_release(smartlyq_conn):
    # A hook that is never released must not pin its loop (and session buffers) forever.
    async def leaked() -> None:
        await quick_hook().aget_accounts_health()

    asyncio.run(leaked())

    async def later() -> None:
        hook = quick_hook()
        await hook.aget_accounts_health()
        assert all(not entry.loop.is_closed() for entry in _transport.POOL._shared.values())
        await hook.aclose()

    asyncio.run(later())
    assert _transport.POOL._shared == {}


def test_hook_reused_on_a_new_loop_leases_that_loops_session(smartlyq_conn):
    hook = quick_hook()
    asyncio.run(hook.aget_accounts_health())  # first loop ends without aclose()

    async def second() -> None:
        data = await hook.aget_account_health(101)
        assert data["id"] == 101
        assert _transport.POOL.leases() == 1
        await hook.aclose()

    asyncio.run(second())
