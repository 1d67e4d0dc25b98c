"""Signature vectors for ``airflow_provider_smartlyq.webhooks``."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from airflow_provider_smartlyq.exceptions import SmartlyQSignatureError
from airflow_provider_smartlyq.webhooks import parse_event, verify_signature

SECRET = "whsec_test_0123456789"
NOW = 1_780_000_000
BODY = json.dumps(
    {
        "id": "evt_1",
        "event": "account.token_expired",
        "created_at": "2026-06-06T12:00:00Z",
        "data": {"account_id": 101, "platform": "facebook", "account_name": "Acme Facebook"},
    }
).encode()


def _v1(secret: str, body: bytes, t: int) -> str:
    # Written out from the documented formula, independently of the module under test.
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_valid_signature_returns_timestamp():
    header = f"t={NOW},v1={_v1(SECRET, BODY, NOW)}"
    assert verify_signature(SECRET, header, BODY, now=NOW + 10) == NOW


def test_tampered_body_is_refused():
    header = f"t={NOW},v1={_v1(SECRET, BODY, NOW)}"
    with pytest.raises(SmartlyQSignatureError, match="does not match"):
        verify_signature(SECRET, header, BODY.replace(b"101", b"102"), now=NOW)


def test_reserialised_json_is_refused():
    # Verification is over the raw bytes: the same JSON with other spacing must not verify.
    header = f"t={NOW},v1={_v1(SECRET, BODY, NOW)}"
    other = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    assert other != BODY
    with pytest.raises(SmartlyQSignatureError):
        verify_signature(SECRET, header, other, now=NOW)


def test_stale_timestamp_is_refused_even_when_signed():
    header = f"t={NOW},v1={_v1(SECRET, BODY, NOW)}"
    with pytest.raises(SmartlyQSignatureError, match="stale"):
        verify_signature(SECRET, header, BODY, now=NOW + 301)
    assert verify_signature(SECRET, header, BODY, tolerance_seconds=600, now=NOW + 301) == NOW


def test_future_timestamp_outside_tolerance_is_refused():
    header = f"t={NOW},v1={_v1(SECRET, BODY, NOW)}"
    with pytest.raises(SmartlyQSignatureError):
        verify_signature(SECRET, header, BODY, now=NOW - 1000)


def test_wrong_secret_is_refused():
    header = f"t={NOW},v1={_v1('another-secret', BODY, NOW)}"
    with pytest.raises(SmartlyQSignatureError):
        verify_signature(SECRET, header, BODY, now=NOW)


def test_any_of_several_signatures_is_accepted():
    header = f"t={NOW},v1={_v1('old-secret', BODY, NOW)},v1={_v1(SECRET, BODY, NOW)}"
    assert verify_signature(SECRET, header, BODY, now=NOW) == NOW
    with pytest.raises(SmartlyQSignatureError):
        verify_signature("third-secret", header, BODY, now=NOW)


@pytest.mark.parametrize(
    "header",
    [None, "", "v1=abc", f"t={NOW}", "t=yesterday,v1=abc", "garbage"],
)
def test_malformed_headers_are_refused(header):
    with pytest.raises(SmartlyQSignatureError):
        verify_signature(SECRET, header, BODY, now=NOW)


def test_empty_secret_is_refused():
    header = f"t={NOW},v1={_v1('', BODY, NOW)}"
    with pytest.raises(SmartlyQSignatureError, match="no webhook secret"):
        verify_signature("", header, BODY, now=NOW)


def test_parse_event_returns_envelope_and_checks_headers():
    headers = {
        "x-smartlyq-signature": f"t={NOW},v1={_v1(SECRET, BODY, NOW)}",
        "X-SmartlyQ-Event": "account.token_expired",
        "X-SmartlyQ-Event-Id": "evt_1",
    }
    event = parse_event(BODY, headers, SECRET, now=NOW)
    assert event == {
        "id": "evt_1",
        "event": "account.token_expired",
        "created_at": "2026-06-06T12:00:00Z",
        "data": {"account_id": 101, "platform": "facebook", "account_name": "Acme Facebook"},
    }
    with pytest.raises(SmartlyQSignatureError, match="does not match"):
        parse_event(BODY, {**headers, "X-SmartlyQ-Event-Id": "evt_2"}, SECRET, now=NOW)


def test_parse_event_refuses_unsigned_body():
    with pytest.raises(SmartlyQSignatureError, match="missing"):
        parse_event(BODY, {}, SECRET, now=NOW)


# -- security review, finding 4 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"t={NOW},v1=é{'0' * 63}",  # non-ASCII v1: compare_digest raised TypeError
        f"t={NOW},v1=\u0661\u0662",  # Arabic-Indic digits
        "t=²,v1=abc",  # str.isdigit() accepts "²"; int() raised ValueError
        "t=" + "9" * 400 + ",v1=abc",  # a 400-digit t raised OverflowError against the float clock
        "t=1e9,v1=abc",
        f"t=-{NOW},v1=abc",
        "t=" + "1" * 5000,  # longer than any real header
    ],
)
def test_malformed_signature_headers_raise_only_signature_error(header):
    # A float clock, as in production (time.time()): the 400-digit t overflowed only against it.
    with pytest.raises(SmartlyQSignatureError):
        verify_signature(SECRET, header, BODY, now=NOW + 0.5)
    with pytest.raises(SmartlyQSignatureError):
        parse_event(BODY, {"X-SmartlyQ-Signature": header}, SECRET)


@pytest.mark.parametrize("tolerance", [float("inf"), float("nan"), -1, 10**400, True, "300", None, 86401])
def test_tolerance_seconds_is_validated(tolerance):
    # tolerance_seconds=inf used to accept a delivery signed in 1970.
    header = f"t=0,v1={_v1(SECRET, BODY, 0)}"
    with pytest.raises(SmartlyQSignatureError, match="tolerance_seconds"):
        verify_signature(SECRET, header, BODY, tolerance_seconds=tolerance, now=NOW)


def test_a_1970_timestamp_is_refused_at_the_largest_tolerance():
    header = f"t=0,v1={_v1(SECRET, BODY, 0)}"
    with pytest.raises(SmartlyQSignatureError, match="stale"):
        verify_signature(SECRET, header, BODY, tolerance_seconds=86400, now=NOW)


def test_webhook_body_size_is_capped():
    from airflow_provider_smartlyq.webhooks import MAX_BODY_BYTES

    big = b'{"id":"evt_1","event":"x","pad":"' + b"a" * MAX_BODY_BYTES + b'"}'
    header = f"t={NOW},v1={_v1(SECRET, big, NOW)}"  # correctly signed: refused for its size alone
    with pytest.raises(SmartlyQSignatureError, match="bytes"):
        verify_signature(SECRET, header, big, now=NOW)
    with pytest.raises(SmartlyQSignatureError, match="bytes"):
        parse_event(big, {"X-SmartlyQ-Signature": header}, SECRET, now=NOW)


def test_signed_deeply_nested_body_raises_only_signature_error():
    nested = b"[" * 100_000 + b"]" * 100_000
    header = f"t={NOW},v1={_v1(SECRET, nested, NOW)}"
    with pytest.raises(SmartlyQSignatureError, match="not JSON"):
        parse_event(nested, {"X-SmartlyQ-Signature": header}, SECRET, now=NOW)


@pytest.mark.parametrize("headers", [None, ["X-SmartlyQ-Signature"], {1: "t=1,v1=ab"}])
def test_parse_event_with_unusable_headers_raises_only_signature_error(headers):
    with pytest.raises(SmartlyQSignatureError):
        parse_event(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize("secret", ["\udc80", 12345, ["s"]])
def test_unusable_secret_raises_only_signature_error(secret):
    header = f"t={NOW},v1={_v1(SECRET, BODY, NOW)}"
    with pytest.raises(SmartlyQSignatureError):
        verify_signature(secret, header, BODY, now=NOW)


def test_documented_receiver_refuses_an_oversized_body_before_reading_it():
    import http.server
    import importlib.util
    import socket
    import threading
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "snippets" / "smartlyq_webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("smartlyq_webhook_receiver_cap", path)
    assert spec is not None
    assert spec.loader is not None
    snippet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(snippet)
    handler = snippet.make_handler(SECRET, "http://127.0.0.1:9", "token", 1)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for length in (str(30 * 1024 * 1024), str(1024 * 1024 + 1), "²", "-1"):
            # Headers only: a receiver that tried to read the announced body would wait for it
            # (the socket timeout then fails the test) instead of answering at once.
            with socket.create_connection(server.server_address, timeout=10) as sock:
                sock.sendall(
                    f"POST /smartlyq HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
                )
                status_line = sock.recv(64).split(b"\r\n")[0]
            assert status_line.startswith(b"HTTP/1.0 413"), (length, status_line)
    finally:
        server.shutdown()
        server.server_close()
