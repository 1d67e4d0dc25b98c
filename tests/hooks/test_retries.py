"""Retries, Retry-After, idempotent writes and the error mapping, against the emulator."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from log_support import BOTH_LOG_LEVELS

from airflow_provider_smartlyq.exceptions import (
    SmartlyQAPIError,
    SmartlyQAuthError,
    SmartlyQConflictError,
    SmartlyQConnectionError,
    SmartlyQIdempotencyConflictError,
    SmartlyQInsufficientBalanceError,
    SmartlyQNotEnabledError,
    SmartlyQNotFoundError,
    SmartlyQProviderNotConfiguredError,
    SmartlyQRateLimitError,
    SmartlyQServerError,
    SmartlyQUnsupportedPlatformError,
    SmartlyQValidationError,
)
from airflow_provider_smartlyq.hooks._protocol import MAX_RETRY_AFTER, RetryPolicy, parse_retry_after
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


def envelope(code: str, message: str, details: object = None) -> str:
    """Return a SmartlyQ error envelope body, as the edge or the API would send it."""
    error = {"code": code, "message": message, "details": details or {}}
    return json.dumps({"success": False, "error": error, "meta": {"request_id": "req_injected"}})


def api_requests(emulator, path: str | None = None) -> list[dict]:
    return [r for r in emulator.client.requests() if path is None or r["path"] == path]


@pytest.fixture
def quick_hook(smartlyq_conn):
    """Return a hook with two retries and millisecond backoff."""
    hook = SmartlyQHook(max_retries=2, retry_min_wait=0.01, retry_max_wait=0.05)
    yield hook
    hook.close()


# -- waiting and retrying ----------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault(
        "/v1/social/accounts/health", "GET", status=429, retry_after=1, code="RATE_LIMIT_EXCEEDED"
    )

    started = time.monotonic()
    health = hook.get_accounts_health()
    waited = time.monotonic() - started

    assert health["healthy"] == 5
    assert waited >= 0.95  # the hook's own backoff is 0.05-0.2 s: only Retry-After explains this
    assert [r["status"] for r in api_requests(smartlyq_conn)] == [429, 200]


def test_429_past_the_retries_raises_a_rate_limit_error(quick_hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault(
        "/v1/me", "GET", status=429, retry_after=0, code="RATE_LIMITED", count=9
    )

    with pytest.raises(SmartlyQRateLimitError) as info:
        quick_hook.get_me()

    assert info.value.retry_after == 0.0
    assert info.value.code == "RATE_LIMITED"
    assert len(api_requests(smartlyq_conn)) == 3


def test_emulator_rate_limit_is_honoured_without_the_budget(smartlyq_conn, monkeypatch):
    # The emulator's own limiter (not an injected fault): 2 requests per minute, then 429 with
    # Retry-After up to 60 s; with the cap lowered the hook waits it out and gives up typed.
    # With the request budget on, the hook would wait for the next window instead of sending
    # (tests/hooks/test_budget_emulator.py): switched off here to test the retry path alone.
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", smartlyq_conn.connection_json(request_budget=False))
    monkeypatch.setattr(smartlyq_conn.config, "rate_limit", 2)
    monkeypatch.setattr("airflow_provider_smartlyq.hooks._protocol.MAX_RETRY_AFTER", 0.1)
    hook = SmartlyQHook(max_retries=1, retry_min_wait=0.01, retry_max_wait=0.01)

    with pytest.raises(SmartlyQRateLimitError) as info:  # noqa: PT012 - a minute may roll over
        for _ in range(5):
            hook.get_me()

    assert info.value.code == "RATE_LIMIT_EXCEEDED"
    assert info.value.retry_after == 0.1
    assert [r["status"] for r in api_requests(smartlyq_conn)][-3:] == [200, 429, 429]


def test_503_with_retry_after_is_waited_out_too(smartlyq_conn):
    # The first backoff is 0.05 s: only Retry-After (below the 5 s cap) can explain a 1 s wait.
    hook = SmartlyQHook(retry_min_wait=0.05, retry_max_wait=5)
    smartlyq_conn.client.inject_fault("/v1/me", "GET", status=503, retry_after=1)

    started = time.monotonic()
    assert hook.get_me()["id"] == 4242
    assert time.monotonic() - started >= 0.95
    assert [r["status"] for r in api_requests(smartlyq_conn)] == [503, 200]


def test_retry_after_as_http_date_in_the_past_means_now(hook, smartlyq_conn, user_logs):
    past = format_datetime(datetime.now(timezone.utc) - timedelta(seconds=30), usegmt=True)
    smartlyq_conn.client.inject_fault("/v1/me", "GET", status=503, retry_after=past)

    assert hook.get_me()["id"] == 4242
    assert len(api_requests(smartlyq_conn)) == 2
    # The wait the hook chose, from its retry line (not a wall clock): a date in the past means
    # "now", where a parse failure would fall back to the 0.05-0.2 s backoff.
    assert user_logs.lines("SmartlyQ GET /me failed (HTTP 503 SERVICE_UNAVAILABLE); retry 1 of 5 in 0.0 s")


def test_5xx_envelopes_are_retried_until_success(quick_hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/me", "GET", status=500, code="INTERNAL_ERROR", count=2)

    assert quick_hook.get_me()["id"] == 4242
    assert [r["status"] for r in api_requests(smartlyq_conn)] == [500, 500, 200]


def test_non_json_502_gives_server_error_after_bounded_retries(quick_hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/social/accounts", "GET", status=502, body=HTML_502, count=50)

    with pytest.raises(SmartlyQServerError) as info:
        quick_hook.list_accounts()

    assert info.value.status_code == 502
    assert info.value.code is None
    assert "non-JSON" in info.value.message
    assert "<html>" not in str(info.value)
    assert len(api_requests(smartlyq_conn)) == 2 + 1  # max_retries + 1, then stop


def test_max_retries_zero_sends_exactly_once(smartlyq_conn):
    hook = SmartlyQHook(max_retries=0)
    smartlyq_conn.client.inject_fault("/v1/me", "GET", status=503, count=5)

    with pytest.raises(SmartlyQServerError):
        hook.get_me()
    assert len(api_requests(smartlyq_conn)) == 1


def test_a_dropped_connection_is_retried(quick_hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/social/accounts/101/health", "GET", drop_connection=True)

    assert quick_hook.get_account_health(101)["id"] == 101
    log = smartlyq_conn.client.requests(at_least=2)
    assert sorted(r["dropped"] for r in log) == [False, True]


def test_a_persistently_dropped_connection_raises_connection_error(quick_hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/me", "GET", drop_connection=True, count=50)

    with pytest.raises(SmartlyQConnectionError) as info:
        quick_hook.get_me()

    assert (info.value.method, info.value.path) == ("GET", "/me")
    assert "no answer from SmartlyQ" in str(info.value)
    assert len(smartlyq_conn.client.requests(at_least=3)) == 3


def test_an_unreachable_host_raises_connection_error(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMARTLYQ_DOWN", json.dumps({"host": "http://127.0.0.1:9", "password": "k"})
    )
    hook = SmartlyQHook("smartlyq_down", max_retries=1, retry_min_wait=0.01, retry_max_wait=0.01)

    with pytest.raises(SmartlyQConnectionError):
        hook.get_me()


def test_a_timeout_is_a_connection_error(smartlyq_conn):
    hook = SmartlyQHook(timeout=0.3, max_retries=0)
    # Without the timeout the answer would arrive after 5 s and the call would succeed.
    smartlyq_conn.client.inject_fault("/v1/me", "GET", delay=5)

    with pytest.raises(SmartlyQConnectionError, match="Timeout"):
        hook.get_me()


def test_malformed_json_200_is_retried_then_a_server_error(quick_hook, smartlyq_conn):
    truncated = '{"success": true, "data": [{"id": 101, "platform": "faceb'
    smartlyq_conn.client.inject_fault(
        "/v1/social/accounts", "GET", status=200, body=truncated, content_type="application/json", count=99
    )

    with pytest.raises(SmartlyQServerError) as info:
        quick_hook.list_accounts()

    assert info.value.code == "INVALID_RESPONSE"
    assert info.value.status_code == 200
    assert len(api_requests(smartlyq_conn, "/v1/social/accounts")) == 3  # max_retries + 1, no spin


def test_one_garbled_200_is_asked_again(quick_hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault(
        "/v1/social/accounts", "GET", status=200, body='{"success": tr', content_type="application/json"
    )

    accounts = quick_hook.list_accounts()

    assert [a["id"] for a in accounts][:1] == [101]
    assert len(api_requests(smartlyq_conn, "/v1/social/accounts")) == 2


def test_a_200_without_the_envelope_is_a_server_error(quick_hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault(
        "/v1/social/accounts/101/reconnect-url",
        "GET",
        status=200,
        body=json.dumps({"success": True, "data": {}}),
        content_type="application/json",
    )

    with pytest.raises(SmartlyQServerError, match="no reconnect_url"):
        quick_hook.get_reconnect_url(101)


# -- writes: retried with the same key, acted on once ---------------------------------------------


def test_connect_answered_503_after_acting_is_acted_on_once(quick_hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/social/connect/facebook", "POST", status=503, after=True)

    link = quick_hook.create_connect_link("facebook", "https://app.example.com/back")

    attempts = api_requests(smartlyq_conn, "/v1/social/connect/facebook")
    assert [r["status"] for r in attempts] == [503, 201]
    assert attempts[0]["idempotency_key"] == attempts[1]["idempotency_key"]
    assert attempts[1]["replay"] is True
    writes = smartlyq_conn.client.writes()
    assert [w["action"] for w in writes] == ["connect_link_created"]
    # The link the caller got is the one created by the first (unheard) attempt.
    assert writes[0]["state_token"] == link["state_token"]
    assert len(smartlyq_conn.client.state()["connect_sessions"]) == 1


def test_pause_answered_503_after_acting_is_acted_on_once(quick_hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/social/accounts/102/pause", "POST", status=503, after=True)

    assert quick_hook.pause_account(102) == {"id": 102, "paused": True}

    attempts = api_requests(smartlyq_conn)
    assert len(attempts) == 2
    assert attempts[0]["idempotency_key"] == attempts[1]["idempotency_key"] is not None
    assert [w["action"] for w in smartlyq_conn.client.writes()] == ["account_paused"]


def test_disconnect_dropped_after_acting_succeeds_instead_of_404(quick_hook, smartlyq_conn):
    # Without the idempotency key the retry would find the account gone and answer 404.
    smartlyq_conn.client.inject_fault("/v1/social/accounts/107", "DELETE", drop_connection=True, after=True)

    assert quick_hook.disconnect_account(107) is None

    attempts = smartlyq_conn.client.requests(at_least=2)
    assert sorted(r["dropped"] for r in attempts) == [False, True]
    assert attempts[0]["idempotency_key"] == attempts[1]["idempotency_key"]
    assert [w["action"] for w in smartlyq_conn.client.writes()] == ["account_disconnected"]


def test_each_call_gets_its_own_idempotency_key(quick_hook, smartlyq_conn):
    quick_hook.create_connect_link("facebook")
    quick_hook.create_connect_link("facebook")

    keys = [r["idempotency_key"] for r in api_requests(smartlyq_conn)]
    assert len(set(keys)) == 2
    assert len(smartlyq_conn.client.state()["connect_sessions"]) == 2


def test_reads_carry_no_idempotency_key(quick_hook, smartlyq_conn):
    quick_hook.get_accounts_health()

    assert api_requests(smartlyq_conn)[0]["idempotency_key"] is None


# -- error mapping -------------------------------------------------------------------------------


def test_wrong_key_is_an_auth_error(smartlyq_conn, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMARTLYQ_DEFAULT",
        json.dumps({"conn_type": "smartlyq", "host": smartlyq_conn.url, "password": "sqk_test_wrong"}),
    )
    with pytest.raises(SmartlyQAuthError) as info:
        SmartlyQHook().get_me()

    assert info.value.status_code == 401
    assert info.value.code == "INVALID_API_KEY"
    assert len(api_requests(smartlyq_conn)) == 1


def test_read_only_key_writing_is_an_auth_error(smartlyq_conn, monkeypatch):
    monkeypatch.setattr(smartlyq_conn.config, "read_only_key", "sqk_test_read_only")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMARTLYQ_DEFAULT",
        json.dumps({"conn_type": "smartlyq", "host": smartlyq_conn.url, "password": "sqk_test_read_only"}),
    )
    hook = SmartlyQHook()
    assert hook.get_account_health(101)["id"] == 101

    with pytest.raises(SmartlyQAuthError) as info:
        hook.pause_account(101)

    assert (info.value.status_code, info.value.code) == (403, "FORBIDDEN")
    assert smartlyq_conn.client.writes() == []
    assert len(api_requests(smartlyq_conn)) == 2


def test_unknown_account_is_not_found(hook, smartlyq_conn):
    with pytest.raises(SmartlyQNotFoundError) as info:
        hook.get_reconnect_url(4040)

    assert not isinstance(info.value, SmartlyQNotEnabledError)
    assert info.value.code == "RESOURCE_NOT_FOUND"


def test_unsupported_platform_lists_the_supported_ones(hook, smartlyq_conn):
    # The hook refuses unknown names locally, so a platform the API dropped is the only way
    # to meet this 422: inject SmartlyQ's exact envelope.
    supported = ["facebook", "instagram", "linkedin"]
    smartlyq_conn.client.inject_fault(
        "/v1/social/connect/twitter",
        "POST",
        status=422,
        body=envelope(
            "UNSUPPORTED_PLATFORM", "Platform 'twitter' is not supported.", {"supported_platforms": supported}
        ),
        content_type="application/json",
    )

    with pytest.raises(SmartlyQUnsupportedPlatformError) as info:
        hook.create_connect_link("twitter")

    assert info.value.supported_platforms == supported
    assert "supported platforms: facebook, instagram, linkedin" in str(info.value)
    assert info.value.request_id == "req_injected"
    assert len(api_requests(smartlyq_conn)) == 1


def test_provider_not_configured(hook, smartlyq_conn, monkeypatch):
    monkeypatch.setattr(smartlyq_conn.config, "unconfigured_platforms", frozenset({"snapchat"}))

    with pytest.raises(SmartlyQProviderNotConfiguredError) as info:
        hook.create_connect_link("snapchat")

    assert (info.value.status_code, info.value.code) == (422, "PROVIDER_NOT_CONFIGURED")
    assert isinstance(info.value, SmartlyQValidationError)
    assert smartlyq_conn.client.writes() == []
    assert len(api_requests(smartlyq_conn)) == 1


def test_headless_connect_not_enabled(hook, smartlyq_conn, monkeypatch):
    monkeypatch.setattr(smartlyq_conn.config, "headless_connect_enabled", False)

    with pytest.raises(SmartlyQNotEnabledError) as info:
        hook.create_connect_link("facebook")

    assert (info.value.status_code, info.value.code) == (404, "NOT_ENABLED")
    assert isinstance(info.value, SmartlyQNotFoundError)
    assert len(api_requests(smartlyq_conn)) == 1


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (400, "BAD_REQUEST", SmartlyQValidationError),
        (401, "UNAUTHORIZED", SmartlyQAuthError),
        (402, "INSUFFICIENT_BALANCE", SmartlyQInsufficientBalanceError),
        (403, "FORBIDDEN", SmartlyQAuthError),
        (404, "RESOURCE_NOT_FOUND", SmartlyQNotFoundError),
        (409, "CONFLICT", SmartlyQConflictError),
        (409, "IDEMPOTENCY_CONFLICT", SmartlyQIdempotencyConflictError),
        (422, "VALIDATION_ERROR", SmartlyQValidationError),
        # The code a garbled 2xx gets: retried there, but a 4xx stays final whatever its code.
        (400, "INVALID_RESPONSE", SmartlyQValidationError),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_client_errors_are_never_retried(hook, smartlyq_conn, status, code, error_type, method):
    path = "/v1/social/accounts/101/health" if method == "GET" else "/v1/social/accounts/101/pause"
    smartlyq_conn.client.inject_fault(path, method, status=status, code=code, count=10)

    call = hook.get_account_health if method == "GET" else hook.pause_account

    with pytest.raises(error_type) as info:
        call(101)

    assert (info.value.status_code, info.value.code) == (status, code)
    assert type(info.value) is error_type
    assert len(api_requests(smartlyq_conn)) == 1


def test_unknown_4xx_is_a_plain_api_error(hook, smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/me", "GET", status=418, code="TEAPOT")

    with pytest.raises(SmartlyQAPIError) as info:
        hook.get_me()

    assert type(info.value) is SmartlyQAPIError
    assert len(api_requests(smartlyq_conn)) == 1


# -- the policy itself (pure functions) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1", 1.0),
        (" 3 ", 3.0),
        ("0.5", 0.5),
        ("-5", 0.0),
        ("0", 0.0),
        ("99999", MAX_RETRY_AFTER),
        ("inf", MAX_RETRY_AFTER),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: go now
    ],
)
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date_in_the_future():
    future = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)

    seconds = parse_retry_after(future)
    assert seconds is not None
    assert 28 <= seconds <= 30


def test_parse_retry_after_http_date_far_ahead_is_capped():
    far = format_datetime(datetime.now(timezone.utc) + timedelta(days=2), usegmt=True)

    assert parse_retry_after(far) == MAX_RETRY_AFTER


class _State:
    """The two attributes of tenacity's RetryCallState that the policy reads."""

    def __init__(self, attempt: int, exc: BaseException) -> None:
        self.attempt_number = attempt

        class Outcome:
            def exception(self) -> BaseException:
                return exc

        self.outcome = Outcome()


def test_backoff_grows_and_stays_within_bounds():
    policy = RetryPolicy(max_retries=10, min_wait=0.5, max_wait=4.0)
    error = SmartlyQServerError(503, None, "down")

    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        waits = [policy.wait(_State(attempt, error)) for _ in range(50)]  # type: ignore[arg-type]
        assert all(0.5 <= w <= ceiling for w in waits)


def test_retry_after_overrides_backoff_with_jitter_never_earlier():
    policy = RetryPolicy(max_retries=3, min_wait=0.5, max_wait=60.0)
    error = SmartlyQRateLimitError(429, "RATE_LIMITED", "slow down", retry_after=7.0)

    waits = [policy.wait(_State(1, error)) for _ in range(200)]  # type: ignore[arg-type]
    assert all(7.0 <= w <= 7.0 + 1.4 for w in waits)  # at most 20 % later
    assert len(set(waits)) > 100  # clients told the same time do not return together


def test_retry_after_is_capped_by_retry_max_wait():
    # A trigger's hook sets retry_max_wait to its poll interval: one poll must not sleep minutes.
    policy = RetryPolicy(max_retries=3, min_wait=0.5, max_wait=2.0)
    error = SmartlyQServerError(503, None, "down", retry_after=90.0)

    assert policy.wait(_State(1, error)) == 2.0  # type: ignore[arg-type]


def test_with_the_budget_a_429_is_waited_out_by_the_shared_hold_not_a_sleep():
    policy = RetryPolicy(max_retries=3, budget_holds=True)
    limited = SmartlyQRateLimitError(429, "RATE_LIMITED", "slow down", retry_after=7.0)
    unavailable = SmartlyQServerError(503, None, "down", retry_after=7.0)

    assert policy.wait(_State(1, limited)) == 0.0  # type: ignore[arg-type]
    assert policy.wait(_State(1, unavailable)) >= 7.0  # type: ignore[arg-type]


def test_no_retry_sleeps_past_the_request_deadline(smartlyq_conn):
    # Retry-After 5 s, but the deadline is 1 s away: the 503 is raised instead of sleeping past it.
    from airflow_provider_smartlyq.hooks._budget import request_deadline

    hook = SmartlyQHook(max_retries=3, retry_max_wait=30)
    fault = smartlyq_conn.client.inject_fault("/v1/me", "GET", status=503, retry_after=5, count=5)

    with request_deadline(time.time() + 1), pytest.raises(SmartlyQServerError):
        hook.get_me()
    # Counted by fault id: a slow answer of an earlier test may land in the log after the reset.
    assert len([r for r in api_requests(smartlyq_conn) if r["fault_id"] == fault]) == 1


def test_connect_url_state_parsing_tolerates_missing_state(quick_hook, smartlyq_conn):
    body = json.dumps(
        {
            "success": True,
            "data": {"platform": "facebook", "connect_url": "https://x.example/oauth", "expires_at": None},
        }
    )
    smartlyq_conn.client.inject_fault(
        "/v1/social/connect/facebook", "POST", status=201, body=body, content_type="application/json"
    )

    link = quick_hook.create_connect_link("facebook")

    assert link["state_token"] is None
    assert parse_qs(urlsplit(link["connect_url"]).query) == {}


@BOTH_LOG_LEVELS
def test_state_token_is_not_logged_or_raised_in_full(quick_hook, smartlyq_conn, user_logs):
    token = quick_hook.create_connect_link("facebook")["state_token"]
    short = f"/social/connect/{token[:6]}…"
    quick_hook.get_connect_status(token)  # answered: the per-request DEBUG line names the path
    smartlyq_conn.client.inject_fault(f"/v1/social/connect/{token}", "GET", drop_connection=True, count=99)

    with pytest.raises(SmartlyQConnectionError) as info:
        quick_hook.get_connect_status(token)

    # Nothing a user reads holds the whole token ...
    shown = {
        "error": str(info.value),
        "repr": repr(info.value),
        "path": info.value.path,
        "logs": user_logs.text,
    }
    assert [where for where, text in shown.items() if token in text] == []
    assert info.value.path == short
    # ... and the lines that name the path were produced (and captured), with the short form.
    assert len(user_logs.lines(f"SmartlyQ GET {short} failed")) == 2  # one retry warning per retry
    if user_logs.level == "DEBUG":
        assert user_logs.lines(f"SmartlyQ GET {short} -> HTTP 200")  # the per-request line
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
