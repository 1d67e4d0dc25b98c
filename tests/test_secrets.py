"""The API key never shows: not in logs, stdout/stderr, exception texts, reprs or test messages."""

from __future__ import annotations

import json
import logging
import pickle

import pytest
from log_support import BOTH_LOG_LEVELS

from airflow_provider_smartlyq.exceptions import SmartlyQError
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

# Distinctive values: any appearance anywhere is a leak, never a coincidence.
KEY = "sqk_test_CANARY-k3y-9f1b7d2e4c"
WRONG_KEY = "sqk_live_WRONG-canary-5a8c3e0b6d"
SECRETS = (KEY, WRONG_KEY, "CANARY-k3y", "WRONG-canary")


@pytest.fixture(scope="module")
def secret_emulator():
    from airflow_provider_smartlyq.testing.emulator import run_emulator

    with run_emulator(api_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def conns(secret_emulator, monkeypatch):
    secret_emulator.client.reset("demo")

    def conn(password: str | None, host: str = secret_emulator.url, **extra) -> str:
        return json.dumps({"conn_type": "smartlyq", "host": host, "password": password, "extra": extra})

    monkeypatch.setenv("AIRFLOW_CONN_SQ_GOOD", conn(KEY))
    monkeypatch.setenv("AIRFLOW_CONN_SQ_WRONG", conn(WRONG_KEY))
    monkeypatch.setenv("AIRFLOW_CONN_SQ_DOWN", conn(KEY, host="http://127.0.0.1:9"))
    monkeypatch.setenv("AIRFLOW_CONN_SQ_NOKEY", conn(None))
    monkeypatch.setenv("AIRFLOW_CONN_SQ_HTTP", conn(KEY, host="http://api.smartlyq.com"))
    monkeypatch.setenv("AIRFLOW_CONN_SQ_BADEXTRA", conn(KEY, profile_id=KEY))
    return secret_emulator


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"API key leaked into {where}"


def quick(conn_id: str, **kwargs) -> SmartlyQHook:
    return SmartlyQHook(conn_id, retry_min_wait=0.01, retry_max_wait=0.02, **kwargs)


@BOTH_LOG_LEVELS
async def test_key_never_leaks_anywhere(conns, user_logs):
    raised: list[BaseException] = []

    def expect_error(call) -> None:
        try:
            call()
        except SmartlyQError as error:
            raised.append(error)
        else:
            pytest.fail("expected a SmartlyQ error")

    good = quick("sq_good", max_retries=3)
    # Every sync method, successfully.
    good.get_me()
    link = good.create_connect_link("x", "https://app.example.com/back")
    good.get_connect_status(link["state_token"])
    good.list_accounts()
    good.get_accounts_health()
    good.get_account_health(101)
    good.get_reconnect_url(104)
    good.pause_account(101)
    good.resume_account(101)
    good.disconnect_account(108)

    # Retries (logged as warnings), then failures of every kind.
    conns.client.inject_fault("/v1/me", "GET", status=429, retry_after=0)
    conns.client.inject_fault("/v1/me", "GET", status=503)
    conns.client.inject_fault("/v1/me", "GET", drop_connection=True)
    good.get_me()
    conns.client.inject_fault("/v1/social/accounts", "GET", status=502, body="<html>down</html>", count=9)
    expect_error(good.list_accounts)
    conns.client.inject_fault("/v1/me", "GET", drop_connection=True, count=9)
    expect_error(good.get_me)
    expect_error(lambda: good.get_account_health(9999))
    expect_error(lambda: good.get_account_health(0))
    expect_error(lambda: good.create_connect_link("telegram"))
    expect_error(quick("sq_wrong").get_me)
    expect_error(lambda: quick("sq_wrong").pause_account(1))
    expect_error(quick("sq_down", max_retries=1).get_me)
    expect_error(quick("sq_nokey").get_me)
    expect_error(quick("sq_http").get_me)
    expect_error(quick("sq_badextra").get_me)

    # The async twins, success and failure.
    async_hook = quick("sq_good", max_retries=1)
    wrong_async = quick("sq_wrong")
    try:
        await async_hook.aget_connect_status(link["state_token"])
        await async_hook.aget_accounts_health()
        await async_hook.aget_account_health(102)
        await async_hook.aget_reconnect_url(104)
        try:
            await wrong_async.aget_accounts_health()
        except SmartlyQError as error:
            raised.append(error)
        conns.client.inject_fault("/v1/social/accounts/103/health", "GET", drop_connection=True, count=9)
        try:
            await async_hook.aget_account_health(103)
        except SmartlyQError as error:
            raised.append(error)
    finally:
        await async_hook.aclose()
        await wrong_async.aclose()

    # test_connection: success and every kind of failure, messages free of the key.
    results = [quick(conn_id).test_connection() for conn_id in ("sq_good", "sq_wrong", "sq_down", "sq_nokey")]
    assert [ok for ok, _ in results] == [True, False, False, False]

    assert len(raised) == 13
    for failure in raised:
        assert_clean(str(failure), f"str({type(failure).__name__})")
        assert_clean(repr(failure), f"repr({type(failure).__name__})")
        assert_clean(repr(failure.args), "exception args")
        assert_clean(str(pickle.loads(pickle.dumps(failure))), "pickled exception")
        cause = failure.__cause__ or failure.__context__
        if cause is not None:
            assert_clean(f"{cause!s} {cause!r}", "exception cause")
    for _, message in results:
        assert_clean(message, "test_connection message")
    assert_clean(repr(good), "repr(hook)")
    assert_clean(repr(good.settings), "repr(settings)")
    assert_clean(str(good.settings), "str(settings)")
    assert_clean(repr(conns.config), "repr(emulator config)")
    assert_clean(user_logs.text, "logs (stdout, stderr, stdlib records)")
    # The run did log: the checks above looked at real output, not at nothing.
    assert user_logs.lines("SmartlyQ GET /me failed (HTTP 429")  # a retry warning
    if user_logs.level == "DEBUG":
        assert user_logs.lines("SmartlyQ GET /social/accounts/health -> HTTP 200")  # sync and async
        assert user_logs.lines("SmartlyQ GET /social/accounts/102/health -> HTTP 200")  # async only


@BOTH_LOG_LEVELS
def test_the_canary_is_detectable(conns, user_logs):
    # Guard against a vacuous pass: the same capture sees the key when something logs or prints it.
    quick("sq_good").log.warning("hook leak %s", KEY[::-1][::-1])  # Airflow's structlog logger
    logging.getLogger("canary").warning("stdlib leak %s", KEY)
    print(WRONG_KEY)

    assert user_logs.lines(f"hook leak {KEY}")
    assert user_logs.lines(f"stdlib leak {KEY}")
    assert user_logs.lines(WRONG_KEY)


def test_test_connection_reports_reasons_without_the_key(conns):
    ok, message = quick("sq_good").test_connection()
    assert ok is True
    assert "SmartlyQ Emulator" in message

    ok, message = quick("sq_wrong").test_connection()
    assert ok is False
    assert "SmartlyQAuthError" in message
    assert "HTTP 401" in message

    ok, message = quick("sq_down", max_retries=0).test_connection()
    assert ok is False
    assert "SmartlyQConnectionError" in message

    ok, message = quick("sq_nokey").test_connection()
    assert ok is False
    assert "no API key" in message

    ok, message = quick("sq_badextra").test_connection()
    assert ok is False
    assert "profile_id" in message
    assert_clean(message, "test_connection message")  # the bad extra's value is the key itself
