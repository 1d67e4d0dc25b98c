"""
Verify and parse SmartlyQ webhook deliveries.

SmartlyQ signs each delivery with ``X-SmartlyQ-Signature: t=<unix>,v1=<hex>`` where
``v1 = HMAC-SHA256(secret, "<t>.<raw body>")``. Verify over the raw bytes exactly as received
(re-serialised JSON would not match), in constant time, and refuse old timestamps so that a
captured delivery cannot be replayed later. Standard library only: this runs in web handlers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.exceptions import SmartlyQSignatureError

if TYPE_CHECKING:
    from collections.abc import Mapping

SIGNATURE_HEADER = "X-SmartlyQ-Signature"
EVENT_HEADER = "X-SmartlyQ-Event"
EVENT_ID_HEADER = "X-SmartlyQ-Event-Id"


def sign(secret: str | bytes, raw_body: bytes, timestamp: int) -> str:
    """Return the ``v1`` signature of ``raw_body`` at ``timestamp`` (hex HMAC-SHA256)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, str(timestamp).encode() + b"." + raw_body, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, raw_body: bytes, timestamp: int | None = None) -> str:
    """Return a complete ``X-SmartlyQ-Signature`` value (for tests and the emulator)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={sign(secret, raw_body, stamp)}"


def verify_signature(
    secret: str | bytes,
    signature_header: str | None,
    raw_body: bytes,
    tolerance_seconds: float = 300,
    now: float | None = None,
) -> int:
    """
    Check that a delivery was signed by SmartlyQ with ``secret``, recently.

    Any one matching ``v1`` value is accepted (SmartlyQ may send several while a secret is
    rotated). Every candidate is compared in constant time.

    :param secret: The endpoint's signing secret.
    :param signature_header: The ``X-SmartlyQ-Signature`` header as received.
    :param raw_body: The request body, byte for byte as received.
    :param tolerance_seconds: Largest accepted distance between ``t`` and ``now``.
    :param now: Current unix time (for tests); defaults to ``time.time()``.
    :return: The signed timestamp.
    :raises SmartlyQSignatureError: header missing or malformed, timestamp outside the
        tolerance, or no signature matching.
    """
    if not secret:
        raise SmartlyQSignatureError("no webhook secret configured: refusing to accept unsigned deliveries")
    if not isinstance(raw_body, (bytes, bytearray)):
        raise SmartlyQSignatureError("raw_body must be the request's bytes exactly as received")
    timestamp, candidates = _parse_header(signature_header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SmartlyQSignatureError(
            f"webhook timestamp is {int(current - timestamp)} s away from now "
            f"(tolerance {int(tolerance_seconds)} s): stale or replayed delivery"
        )
    expected = sign(secret, bytes(raw_body), timestamp)
    # Compare against every candidate (no early exit) so timing says nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SmartlyQSignatureError("webhook signature does not match: wrong secret or altered body")
    return timestamp


def parse_event(
    raw_body: bytes,
    headers: Mapping[str, str],
    secret: str | bytes,
    tolerance_seconds: float = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """
    Verify a delivery and return its event ``{id, event, created_at, data}``.

    :param raw_body: The request body as received.
    :param headers: The request headers (any case).
    :param secret: The endpoint's signing secret.
    :raises SmartlyQSignatureError: the signature does not verify, or the body is not a
        SmartlyQ event, or its id/type disagree with the ``X-SmartlyQ-Event*`` headers.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    verify_signature(secret, lowered.get(SIGNATURE_HEADER.lower()), raw_body, tolerance_seconds, now)
    try:
        payload = json.loads(raw_body)
    except ValueError:
        raise SmartlyQSignatureError("webhook body is not JSON") from None
    if not isinstance(payload, dict) or not {"id", "event"} <= payload.keys():
        raise SmartlyQSignatureError("webhook body is not a SmartlyQ event envelope")
    for header, field in ((EVENT_HEADER, "event"), (EVENT_ID_HEADER, "id")):
        sent = lowered.get(header.lower())
        if sent is not None and sent != payload[field]:
            raise SmartlyQSignatureError(f"{header} {sent!r} does not match the body's {field!r}")
    return {
        "id": payload["id"],
        "event": payload["event"],
        "created_at": payload.get("created_at"),
        "data": payload.get("data"),
    }


def _parse_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise SmartlyQSignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise SmartlyQSignatureError(f"malformed {SIGNATURE_HEADER} header: expected t=<unix>,v1=<hex>")
    return timestamp, candidates
