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
