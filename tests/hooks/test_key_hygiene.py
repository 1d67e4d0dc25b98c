"""
Security review findings 1-3: a key with stray characters, cookies across connections, a key in the host.

Each test here failed before its fix (see the CHANGELOG's security entries).
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_smartlyq.exceptions import SmartlyQConfigurationError
from airflow_provider_smartlyq.hooks._protocol import ApiRequest, RetryPolicy
from airflow_provider_smartlyq.hooks._settings import ConnectionSettings
from airflow_provider_smartlyq.hooks._transport import AsyncTransport, SyncTransport
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

KEY = "sqk_live_hygiene_0123456789abcdef"


def set_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "smartlyq", **fields}))


def assert_no_key(text: str, key: str = KEY) -> None:
    """Neither the key nor any escaped form of it (repr, JSON) may appear."""
    for form in (key, key.strip(), repr(key)[1:-1], json.dumps(key)[1:-1], key[:16]):
        assert form not in text, f"key leaked as {form!r} in: {text}"


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, event, *args, **kw) -> None:
        self.lines.append(str(event) % args if args else str(event))

    warning = debug


# -- finding 1: a key with whitespace or a control character ----------------------------------------


def test_key_with_trailing_newline_never_echoed(smartlyq_emulator, monkeypatch):
    # Pasted with a trailing newline: the key is stripped when the settings are read and works.
    set_conn(monkeypatch, "sq_newline", host=smartlyq_emulator.url, password=smartlyq_emulator.api_key + "\n")
    ok, message = SmartlyQHook("sq_newline", max_retries=0).test_connection()
    assert ok, message
    assert SmartlyQHook("sq_newline").settings.api_key == smartlyq_emulator.api_key

    # A line break inside cannot be fixed by stripping: refused, and the message never shows it.
    broken = KEY[:10] + "\n" + KEY[10:] + "\n"
    set_conn(monkeypatch, "sq_broken", host=smartlyq_emulator.url, password=broken)
    before = len(smartlyq_emulator.client.requests())
    ok, message = SmartlyQHook("sq_broken", max_retries=0).test_connection()
    assert not ok
    assert "SmartlyQConfigurationError" in message
    assert "line break" in message
    assert_no_key(message, broken)
    assert_no_key(message)
    with pytest.raises(SmartlyQConfigurationError) as raised:
        SmartlyQHook("sq_broken").get_me()
    assert_no_key(str(raised.value), broken)
    assert raised.value.__context__ is None
    assert raised.value.__cause__ is None
    assert len(smartlyq_emulator.client.requests()) == before  # nothing was sent


@pytest.mark.parametrize("bad", ["\x00", "\t", "\x7f", " ", "é", "\u2028"])
def test_key_with_control_or_blank_character_inside_is_refused_unquoted(monkeypatch, bad):
    key = KEY[:12] + bad + KEY[12:]
    set_conn(monkeypatch, "sq_ctrl", host="127.0.0.1:9", password=key)
    with pytest.raises(SmartlyQConfigurationError) as raised:
        _ = SmartlyQHook("sq_ctrl").settings
    assert_no_key(str(raised.value), key)


def test_header_error_message_never_quotes_the_value(smartlyq_emulator):
    # Settings built around the reader (as a custom subclass might): the transport still must
    # not put str() of the HTTP library's header error (which quotes the value) into a message.
    settings = ConnectionSettings(conn_id="c", base_url=smartlyq_emulator.api_url, api_key=KEY + "\n")
    log = _Log()
    transport = SyncTransport(settings, RetryPolicy(max_retries=0), log)
    with pytest.raises(SmartlyQConfigurationError) as raised:
        transport.call(ApiRequest.build("GET", "/me"))
    transport.close()
    assert "value not shown" in str(raised.value)
    assert_no_key(str(raised.value))
    assert raised.value.__context__ is None
    assert_no_key("\n".join(log.lines))


async def test_async_header_error_is_typed_and_never_quotes_the_value(smartlyq_emulator):
    settings = ConnectionSettings(conn_id="c", base_url=smartlyq_emulator.api_url, api_key=KEY + "\r\n")
    transport = AsyncTransport(settings, RetryPolicy(max_retries=0), _Log())
    try:
        with pytest.raises(SmartlyQConfigurationError) as raised:
            await transport.call(ApiRequest.build("GET", "/me"))
    finally:
        await transport.close()
    assert_no_key(str(raised.value))
    assert raised.value.__context__ is None


# -- finding 2: cookies across connections ----------------------------------------------------------


class _CookieServer(BaseHTTPRequestHandler):
    """Answers a success envelope; the first answer sets a cookie, every request is recorded."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        first = not type(self).seen
        type(self).seen.append(dict(self.headers.items()))
        body = json.dumps({"success": True, "data": {"id": 1}, "meta": {"request_id": "req_c"}}).encode()
        self.send_response(200)
        if first:
            self.send_header("Set-Cookie", "session=belongs-to-connection-a; Path=/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def cookie_server():
    _CookieServer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CookieServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # A name, not an IP: aiohttp's default jar ignores cookies from IP addresses, which would
    # hide the leak this test is about.
    yield f"localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_cookies_never_cross_connections(cookie_server, monkeypatch):
    set_conn(monkeypatch, "sq_cookie_a", host=cookie_server, password="sqk_test_connection_a")
    set_conn(monkeypatch, "sq_cookie_b", host=cookie_server, password="sqk_test_connection_b")
    a, b = SmartlyQHook("sq_cookie_a"), SmartlyQHook("sq_cookie_b")
    try:
        await a.aget_account_health(1)  # answered with Set-Cookie
        await b.aget_account_health(1)  # same loop: the same shared aiohttp session
        await a.aget_account_health(1)
    finally:
        await a.aclose()
        await b.aclose()
    assert len(_CookieServer.seen) == 3
    assert [h.get("Cookie") for h in _CookieServer.seen] == [None, None, None]


def test_sync_session_keeps_no_cookies(cookie_server, monkeypatch):
    set_conn(monkeypatch, "sq_cookie_sync", host=cookie_server, password="sqk_test_connection_a")
    with SmartlyQHook("sq_cookie_sync") as hook:
        hook.get_me()
        hook.get_me()
        assert len(hook.get_conn().cookies) == 0
    assert [h.get("Cookie") for h in _CookieServer.seen] == [None, None]


# -- finding 3: a key pasted into the host field ----------------------------------------------------


@pytest.fixture
def no_dns(monkeypatch):
    """Fail the test if anything resolves a name."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"DNS lookup attempted for {args[0]!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize(
    "host",
    [KEY, f"https://{KEY}", f"{KEY}\n", "SQK_TEST_upper_0123456789", "https://api.smartlyq.com/sqk_live_x"],
)
def test_key_pasted_into_host_is_refused_unresolved_and_redacted(no_dns, monkeypatch, host):
    set_conn(monkeypatch, "sq_keyhost", host=host, password="sqk_live_the_real_key_0123456")
    ok, message = SmartlyQHook("sq_keyhost", max_retries=0).test_connection()
    assert not ok
    assert "looks like an API key" in message
    assert host.strip() not in message
    assert "sqk_" not in message.lower()


def test_host_equal_to_the_key_is_refused_unresolved(no_dns, monkeypatch):
    # A key without SmartlyQ's prefix (a custom secret backend's) pasted into both fields.
    set_conn(monkeypatch, "sq_samehost", host="0123456789abcdef0123", password="0123456789abcdef0123")
    ok, message = SmartlyQHook("sq_samehost", max_retries=0).test_connection()
    assert not ok
    assert "host field holds the API key" in message
    assert "0123456789abcdef" not in message


# -- found by the property tests (tests/test_properties.py) -----------------------------------------


def test_key_with_backslash_or_quote_never_echoed_escaped(monkeypatch):
    # The extra's error quoted the key with repr(), which doubles a backslash: the plain
    # replacement missed that form.
    key = "sqk_live_back\\slash'quote_0123"
    set_conn(monkeypatch, "sq_backslash", password=key, extra={"profile_id": key})
    with pytest.raises(SmartlyQConfigurationError, match="profile_id") as raised:
        _ = SmartlyQHook("sq_backslash").settings
    assert_no_key(str(raised.value), key)


def test_host_url_containing_the_key_is_refused(no_dns, monkeypatch):
    # A key without SmartlyQ's prefix, pasted as https://<key>: an exact-match check missed it.
    set_conn(monkeypatch, "sq_urlkey", host="https://0123456789abcdef", password="0123456789abcdef")
    ok, message = SmartlyQHook("sq_urlkey", max_retries=0).test_connection()
    assert not ok
    assert "host field holds the API key" in message
    assert "0123456789abcdef" not in message


@pytest.mark.parametrize(
    "host", ["[", "https://[api.smartlyq.com", "api.smartlyq.com:port", "https://h:99999"]
)
def test_unparsable_host_is_a_configuration_error(no_dns, monkeypatch, host):
    # urlsplit raised a bare ValueError ("Invalid IPv6 URL", "Port out of range") that the Test
    # button showed as an untyped error (found by tests/test_properties.py).
    set_conn(monkeypatch, "sq_badhost", host=host, password="sqk_live_the_real_key_0123456")
    with pytest.raises(SmartlyQConfigurationError, match="not a usable base URL"):
        _ = SmartlyQHook("sq_badhost").settings
