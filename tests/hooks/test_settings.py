"""How the hook reads its Airflow connection: extras, base URL, headers, TLS, laziness."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

from airflow_provider_smartlyq import __version__
from airflow_provider_smartlyq.exceptions import SmartlyQConfigurationError, SmartlyQConnectionError
from airflow_provider_smartlyq.hooks._settings import base_url_from
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook


def set_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "smartlyq", **fields}))


# -- extras --------------------------------------------------------------------------------------


def test_uri_form_string_extras_are_cast_and_used(smartlyq_conn, monkeypatch):
    key = quote(smartlyq_conn.api_key, safe="")
    uri = f"smartlyq://:{key}@127.0.0.1:{smartlyq_conn.port}/?profile_id=42&timeout=5&max_retries=0"
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_URI", uri)
    hook = SmartlyQHook("smartlyq_uri")

    settings = hook.settings
    assert (settings.profile_id, settings.timeout, settings.max_retries) == (42, 5.0, 0)
    assert settings.base_url == f"http://127.0.0.1:{smartlyq_conn.port}/v1"

    # The profile reached SmartlyQ: only profile 42's accounts answer, and the header is logged.
    assert [a["name"] for a in hook.list_accounts()] == ["Initech Facebook", "Initech Instagram"]
    [entry] = smartlyq_conn.client.requests()
    assert entry["profile_id"] == 42

    # max_retries=0 from the URI: one request only, even for a retryable 503.
    smartlyq_conn.client.inject_fault("/v1/me", "GET", status=503, count=5)
    with pytest.raises(Exception, match="HTTP 503"):
        hook.get_me()
    assert len(smartlyq_conn.client.requests()) == 2


def test_ui_prefixed_extras_are_read(monkeypatch):
    set_conn(
        monkeypatch,
        "smartlyq_ui",
        password="k",
        extra={"extra__smartlyq__profile_id": "7", "extra__smartlyq__timeout": "2.5", "max_retries": ""},
    )
    settings = SmartlyQHook("smartlyq_ui").settings

    assert (settings.profile_id, settings.timeout, settings.max_retries) == (7, 2.5, 5)


def test_defaults_without_extras(monkeypatch):
    set_conn(monkeypatch, "smartlyq_plain", password="k")
    settings = SmartlyQHook("smartlyq_plain").settings

    assert settings.base_url == "https://api.smartlyq.com/v1"
    assert (settings.profile_id, settings.timeout, settings.max_retries, settings.verify) == (
        None,
        30.0,
        5,
        True,
    )


def test_budget_extras_default_cast_and_the_environment_switch(monkeypatch):
    set_conn(monkeypatch, "smartlyq_plain", password="k")
    settings = SmartlyQHook("smartlyq_plain").settings
    assert (settings.budget_enabled, settings.budget_reserve, settings.budget_max_wait) == (True, 0.2, 300.0)

    extra = {"budget_reserve": "0.35", "budget_max_wait": "45", "request_budget": "false"}
    set_conn(monkeypatch, "smartlyq_budget", password="k", extra=extra)
    settings = SmartlyQHook("smartlyq_budget").settings
    assert (settings.budget_enabled, settings.budget_reserve, settings.budget_max_wait) == (False, 0.35, 45.0)

    monkeypatch.setenv("SMARTLYQ_REQUEST_BUDGET", "off")  # wins over the connection (benchmark baseline)
    assert SmartlyQHook("smartlyq_plain").settings.budget_enabled is False


def test_hook_arguments_win_over_extras(monkeypatch):
    set_conn(monkeypatch, "smartlyq_args", password="k", extra={"timeout": 9, "max_retries": 9})
    settings = SmartlyQHook("smartlyq_args", timeout=1.5, max_retries=0).settings

    assert (settings.timeout, settings.max_retries) == (1.5, 0)


@pytest.mark.parametrize(
    ("word", "flag"), [("off", False), ("No", False), (" 0 ", False), ("on", True), (1, True)]
)
def test_flag_extras_read_the_words_every_operator_flag_reads(monkeypatch, word, flag):
    from airflow_provider_smartlyq.core.values import parse_bool

    set_conn(monkeypatch, "smartlyq_flag", password="k", extra={"request_budget": word})
    assert SmartlyQHook("smartlyq_flag").settings.budget_enabled is flag is parse_bool(word, "x")


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"profile_id": "abc"}, "profile_id"),
        ({"profile_id": "0"}, "profile_id"),
        ({"profile_id": 1.5}, "profile_id"),
        ({"profile_id": True}, "profile_id"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": "0"}, "timeout"),
        ({"timeout": "-3"}, "timeout"),
        ({"timeout": "nan"}, "timeout"),
        ({"timeout": "inf"}, "timeout"),
        ({"timeout": True}, "timeout"),  # a flag is not a number of seconds (values.parse_number)
        ({"max_retries": "-1"}, "max_retries"),
        ({"max_retries": "1.5"}, "max_retries"),
        ({"max_retries": "many"}, "max_retries"),
        ({"verify_ssl": "maybe"}, "verify_ssl"),
        ({"budget_reserve": "1"}, "budget_reserve"),
        ({"budget_reserve": "-0.1"}, "budget_reserve"),
        ({"budget_reserve": "nan"}, "budget_reserve"),
        ({"budget_max_wait": "-1"}, "budget_max_wait"),
        ({"budget_max_wait": "inf"}, "budget_max_wait"),
        ({"request_budget": "sometimes"}, "request_budget"),
    ],
)
def test_bad_extras_raise_configuration_error_naming_the_connection(monkeypatch, extra, named):
    set_conn(monkeypatch, "smartlyq_bad_extra", password="k", extra=extra)
    hook = SmartlyQHook("smartlyq_bad_extra")  # constructing is fine: nothing is read yet

    with pytest.raises(SmartlyQConfigurationError) as info:
        hook.get_me()

    assert "'smartlyq_bad_extra'" in str(info.value)
    assert named in str(info.value)


def test_missing_api_key_is_a_configuration_error(monkeypatch):
    set_conn(monkeypatch, "smartlyq_nokey", host="https://api.smartlyq.com")

    with pytest.raises(SmartlyQConfigurationError, match="'smartlyq_nokey' has no API key"):
        SmartlyQHook("smartlyq_nokey").get_me()


# -- base URL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://api.smartlyq.com/v1"),
        ("", None, "https://api.smartlyq.com/v1"),
        ("api.smartlyq.com", None, "https://api.smartlyq.com/v1"),
        ("https://api.smartlyq.com", None, "https://api.smartlyq.com/v1"),
        ("https://api.smartlyq.com/", None, "https://api.smartlyq.com/v1"),
        ("https://api.smartlyq.com/v1", None, "https://api.smartlyq.com/v1"),
        ("https://api.smartlyq.com/v1/", None, "https://api.smartlyq.com/v1"),
        ("api.smartlyq.com/v1", None, "https://api.smartlyq.com/v1"),
        ("https://gw.example.com/smartlyq", None, "https://gw.example.com/smartlyq/v1"),
        ("127.0.0.1", 8080, "http://127.0.0.1:8080/v1"),
        ("localhost:9000/v1", None, "http://localhost:9000/v1"),
        ("http://[::1]:8080", None, "http://[::1]:8080/v1"),
        ("::1", 8765, "http://[::1]:8765/v1"),  # what Connection.from_uri makes of [::1]:8765
        ("https://api.smartlyq.com:8443/v1", 9999, "https://api.smartlyq.com:8443/v1"),
    ],
)
def test_base_url_ends_in_v1_exactly_once(host, port, expected):
    assert base_url_from(host, port, conn_id="c") == expected


@pytest.mark.parametrize(
    "host",
    [
        "http://api.smartlyq.com",
        "http://10.0.0.5:8080",
        "http://localhost.evil.example",
        "ftp://api.smartlyq.com",
        "https://[::1",  # urlsplit raises ValueError("Invalid IPv6 URL"): a configuration error here
        "api.smartlyq.com:port",
    ],
)
def test_insecure_or_unusable_base_urls_are_refused(monkeypatch, host):
    set_conn(monkeypatch, "smartlyq_http", host=host, password="k")

    with pytest.raises(SmartlyQConfigurationError, match="'smartlyq_http'"):
        SmartlyQHook("smartlyq_http").get_me()


# -- what goes over the wire --------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """A loopback HTTP server that records request headers and answers a success envelope."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers.items()))
        body = json.dumps({"success": True, "data": {"id": 1}, "meta": {"request_id": "req_rec"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        return None


@pytest.fixture
def recorder():
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_headers_sent_on_the_wire(recorder, monkeypatch):
    set_conn(
        monkeypatch,
        "smartlyq_rec",
        host=f"127.0.0.1:{recorder.server_address[1]}",
        password="sqk_test_header_check",
        extra={"profile_id": "42"},
    )
    hook = SmartlyQHook("smartlyq_rec")
    hook.get_me()
    hook.pause_account(5)

    get, post = _Recorder.seen
    assert get["User-Agent"] == f"airflow-provider-smartlyq/{__version__}"
    assert get["Authorization"] == "Bearer sqk_test_header_check"
    assert get["X-Profile-Id"] == "42"
    assert get["Accept"] == "application/json"
    assert "X-Idempotency-Key" not in get
    assert post["User-Agent"] == f"airflow-provider-smartlyq/{__version__}"
    assert post["X-Idempotency-Key"].startswith("af-")


async def test_async_headers_sent_on_the_wire(recorder, monkeypatch):
    set_conn(
        monkeypatch,
        "smartlyq_arec",
        host=f"http://127.0.0.1:{recorder.server_address[1]}/v1",
        password="sqk_test_header_check",
        extra={"profile_id": 42},
    )
    hook = SmartlyQHook("smartlyq_arec")
    try:
        await hook.aget_account_health(1)
    finally:
        await hook.aclose()

    [headers] = _Recorder.seen
    assert headers["User-Agent"] == f"airflow-provider-smartlyq/{__version__}"
    assert headers["Authorization"] == "Bearer sqk_test_header_check"
    assert headers["X-Profile-Id"] == "42"


def test_no_profile_header_without_a_profile(smartlyq_conn):
    SmartlyQHook().list_accounts()

    [entry] = smartlyq_conn.client.requests()
    assert entry["profile_id"] is None


# -- laziness ------------------------------------------------------------------------------------


def test_constructing_a_hook_does_no_io():
    hook = SmartlyQHook("smartlyq_conn_that_does_not_exist", timeout=3, max_retries=1)

    assert hook.smartlyq_conn_id == "smartlyq_conn_that_does_not_exist"
    assert repr(hook) == "SmartlyQHook(smartlyq_conn_id='smartlyq_conn_that_does_not_exist')"
    assert hook._sync is None
    assert hook._async is None
    with pytest.raises(Exception, match="smartlyq_conn_that_does_not_exist"):
        hook.get_me()  # the missing connection surfaces on first use


async def test_async_path_reads_the_connection_lazily_too(monkeypatch):
    hook = SmartlyQHook("smartlyq_async_missing")
    assert hook._async is None
    with pytest.raises(Exception, match="smartlyq_async_missing"):
        await hook.aget_accounts_health()
    await hook.aclose()


# -- TLS -----------------------------------------------------------------------------------------


async def test_tls_with_ca_bundle_and_without(monkeypatch):
    from airflow_provider_smartlyq.testing.emulator import run_emulator

    with run_emulator(tls=True, host="localhost") as emulator:
        assert emulator.url.startswith("https://")
        set_conn(
            monkeypatch,
            "smartlyq_tls",
            host=emulator.url,
            password=emulator.api_key,
            extra={"ca_bundle": emulator.cert_path},
        )
        set_conn(monkeypatch, "smartlyq_tls_untrusted", host=emulator.url, password=emulator.api_key)

        trusted = SmartlyQHook("smartlyq_tls", max_retries=0)
        assert trusted.get_me()["id"] == 4242
        try:
            assert (await trusted.aget_account_health(101))["id"] == 101
        finally:
            await trusted.aclose()

        untrusted = SmartlyQHook("smartlyq_tls_untrusted", max_retries=0)
        with pytest.raises(SmartlyQConnectionError):
            untrusted.get_me()
        try:
            with pytest.raises(SmartlyQConnectionError):
                await untrusted.aget_account_health(101)
        finally:
            await untrusted.aclose()
