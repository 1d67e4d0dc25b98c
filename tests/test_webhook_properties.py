"""
Property tests (Hypothesis) for webhook verification and parsing.

For any header, body, secret, tolerance and clock, :func:`verify_signature` and
:func:`parse_event` either accept a correctly signed delivery or raise
:class:`SmartlyQSignatureError`, never another exception; and every delivery signed with the
secret, recently, is accepted with its timestamp.
"""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings, strategies as st

from airflow_provider_smartlyq.exceptions import SmartlyQSignatureError
from airflow_provider_smartlyq.webhooks import MAX_BODY_BYTES, parse_event, sign, verify_signature

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1_780_000_000

SECRETS = st.one_of(
    st.text(min_size=1, max_size=40),
    st.binary(min_size=1, max_size=40),
    st.sampled_from(["", b"", None, 0, ["s"], "\udc80"]),
)
BODIES = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda d: json.dumps(d).encode(), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)
    ),
    st.just(b"[" * 5000 + b"]" * 5000),
    st.sampled_from(["text", None, 5]),
)
TIMESTAMPS = st.one_of(
    st.integers(min_value=0, max_value=10**13).map(str),
    st.text(alphabet=string.digits + "²³٣-+e. ", max_size=15),
    st.just("9" * 400),
)
SIG_VALUES = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF", max_size=70),
    st.text(max_size=70),
)
HEADERS = st.one_of(
    st.builds(lambda t, v: f"t={t},v1={v}", TIMESTAMPS, SIG_VALUES),
    st.builds(lambda parts: ",".join(parts), st.lists(st.text(max_size=20), max_size=5)),
    st.text(max_size=60),
    st.none(),
    st.binary(max_size=20),
    st.just("t=1," + "v1=ab," * 2000),
)
TOLERANCES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([None, "300", True, [300]]),
)
CLOCKS = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.just("now"))


def only_signature_errors(call) -> object:
    """Run ``call``: it may return or raise SmartlyQSignatureError, nothing else."""
    try:
        return call()
    except SmartlyQSignatureError:
        return None


@FAST
@given(secret=SECRETS, header=HEADERS, body=BODIES, tolerance=TOLERANCES, now=CLOCKS)
def test_property_verify_raises_only_signature_errors(secret, header, body, tolerance, now):
    result = only_signature_errors(lambda: verify_signature(secret, header, body, tolerance, now))
    assert result is None or isinstance(result, int)


@FAST
@given(
    secret=SECRETS,
    header=HEADERS,
    body=BODIES,
    extra=st.one_of(
        st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=3),
        st.just({1: "x"}),
        st.none(),
        st.lists(st.text(max_size=5), max_size=2),
    ),
    tolerance=TOLERANCES,
)
def test_property_parse_raises_only_signature_errors(secret, header, body, extra, tolerance):
    headers = {**extra, "X-SmartlyQ-Signature": header} if isinstance(extra, dict) else extra
    event = only_signature_errors(lambda: parse_event(body, headers, secret, tolerance, NOW))
    assert event is None or set(event) == {"id", "event", "created_at", "data"}


@FAST
@given(
    secret=st.one_of(st.text(min_size=1, max_size=40), st.binary(min_size=1, max_size=40)),
    event=st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=20), "event": st.text(min_size=1, max_size=30)},
        optional={"data": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)},
    ),
    skew=st.integers(min_value=-300, max_value=300),
    stamp=st.integers(min_value=300, max_value=4_000_000_000),
)
def test_property_every_recent_signed_delivery_is_accepted(secret, event, skew, stamp):
    body = json.dumps(event).encode()
    header = f"t={stamp},v1={sign(secret, body, stamp)}"
    assert verify_signature(secret, header, body, now=stamp + skew) == stamp
    parsed = parse_event(body, {"x-smartlyq-signature": header}, secret, now=stamp + skew)
    assert (parsed["id"], parsed["event"]) == (event["id"], event["event"])
    # One flipped byte anywhere, or a timestamp outside the tolerance, is refused.
    tampered = body[:-1] + bytes([body[-1] ^ 1])
    assert only_signature_errors(lambda: verify_signature(secret, header, tampered, now=stamp)) is None
    assert only_signature_errors(lambda: verify_signature(secret, header, body, now=stamp + 301)) is None


def test_the_body_cap_is_one_mebibyte():
    assert MAX_BODY_BYTES == 1024 * 1024
