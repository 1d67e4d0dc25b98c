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
import math
import re
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.core.values import parse_number
from airflow_provider_smartlyq.exceptions import SmartlyQSignatureError, SmartlyQValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

SIGNATURE_HEADER = "X-SmartlyQ-Signature"
EVENT_HEADER = "X-SmartlyQ-Event"
EVENT_ID_HEADER = "X-SmartlyQ-Event-Id"

#: Largest body accepted (1 MiB); SmartlyQ events are a few hundred bytes. Checked before any
#: hashing or parsing, so an oversized request costs nothing but the check.
MAX_BODY_BYTES = 1024 * 1024
#: Largest accepted ``tolerance_seconds`` (one day); a larger window makes replays easy.
MAX_TOLERANCE_SECONDS = 86400.0
#: Longest signature header read (a few rotated ``v1`` values fit many times over).
_MAX_HEADER_LENGTH = 4096
#: ``t`` is a unix time in seconds: ASCII digits, short enough to compare with a float clock.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
#: ``v1`` is a hex digest; anything else (non-ASCII included) cannot match and is ignored.
_HEX = re.compile(r"[0-9a-f]{1,128}")


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
    :param tolerance_seconds: Largest accepted distance between ``t`` and ``now``: a finite
        number from 0 to :data:`MAX_TOLERANCE_SECONDS`.
    :param now: Current unix time (for tests); defaults to ``time.time()``.
    :return: The signed timestamp.
    :raises SmartlyQSignatureError: header missing or malformed, body larger than
        :data:`MAX_BODY_BYTES`, timestamp outside the tolerance, no signature matching, or an
        unusable ``secret``/``tolerance_seconds``. Nothing else, whatever the input.
    """
    if not secret or not isinstance(secret, (str, bytes)):
        raise SmartlyQSignatureError("no webhook secret configured: refusing to accept unsigned deliveries")
    if not isinstance(raw_body, (bytes, bytearray)):
        raise SmartlyQSignatureError("raw_body must be the request's bytes exactly as received")
    if len(raw_body) > MAX_BODY_BYTES:
        raise SmartlyQSignatureError(
            f"webhook body is {len(raw_body)} bytes; at most {MAX_BODY_BYTES} are accepted"
        )
    tolerance = _seconds(tolerance_seconds, "tolerance_seconds", maximum=MAX_TOLERANCE_SECONDS)
    current = time.time() if now is None else _seconds(now, "now")
    timestamp, candidates = _parse_header(signature_header)
    if abs(current - timestamp) > tolerance:
        raise SmartlyQSignatureError(
            f"webhook timestamp is {int(current - timestamp)} s away from now "
            f"(tolerance {int(tolerance)} s): stale or replayed delivery"
        )
    try:
        key = secret.encode() if isinstance(secret, str) else secret
    except UnicodeEncodeError:  # a lone surrogate: no real secret holds one
        key = b""
    if not key:
        raise SmartlyQSignatureError("the webhook secret is not encodable text: check its configuration")
    expected = sign(key, bytes(raw_body), timestamp)
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
        SmartlyQ event, or its id/type disagree with the ``X-SmartlyQ-Event*`` headers. Nothing
        else, whatever the input.
    """
    try:
        lowered = {key.lower(): value for key, value in headers.items() if isinstance(key, str)}
    except (AttributeError, TypeError):
        lowered = None
    if lowered is None:  # raised outside the except block, without the AttributeError as context
        raise SmartlyQSignatureError("headers must be a mapping of header names to values")
    verify_signature(secret, lowered.get(SIGNATURE_HEADER.lower()), raw_body, tolerance_seconds, now)
    try:
        payload = json.loads(raw_body)
    except (ValueError, RecursionError):  # RecursionError: a signed but absurdly nested body
        payload = _NOT_JSON
    if payload is _NOT_JSON:
        raise SmartlyQSignatureError("webhook body is not JSON")
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


_NOT_JSON = object()


def _seconds(value: object, name: str, maximum: float = math.inf) -> float:
    """Return ``value`` as a float when it is a finite real number from 0 to ``maximum``."""
    try:
        return float(parse_number(value, name, minimum=0, maximum=maximum))
    except SmartlyQValidationError:
        raise SmartlyQSignatureError(
            f"{name} must be a finite number of seconds from 0 to {maximum:g}"
        ) from None


def _parse_header(header: object) -> tuple[int, list[str]]:
    if not header:
        raise SmartlyQSignatureError(f"missing {SIGNATURE_HEADER} header")
    if not isinstance(header, str) or len(header) > _MAX_HEADER_LENGTH:
        raise SmartlyQSignatureError(f"malformed {SIGNATURE_HEADER} header: expected t=<unix>,v1=<hex>")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        value = value.strip()
        # ASCII only: str.isdigit() accepts "²" (int() then raises ValueError), a 400-digit t
        # overflows the float clock, and compare_digest() raises TypeError on non-ASCII text.
        if key == "t" and _TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif key == "v1" and value.isascii() and _HEX.fullmatch(value.lower()):
            candidates.append(value.lower())
    if timestamp is None or not candidates:
        raise SmartlyQSignatureError(f"malformed {SIGNATURE_HEADER} header: expected t=<unix>,v1=<hex>")
    return timestamp, candidates
