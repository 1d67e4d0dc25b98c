"""
Property tests (Hypothesis) for every input validator, the account selector and the key's path.

Properties, for any input:

- a validator returns a valid value or raises :class:`SmartlyQValidationError`, nothing else;
- nothing invalid reaches the network: a hook call either raises the validation error with no
  request sent (the transport fails the test if called), or sends exactly the validated value;
- the API key never appears, in any form (raw, stripped, escaped), in any message.

Example counts are bounded (see ``FAST``) so the whole file runs in seconds.
"""

from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from airflow_provider_smartlyq.core.selector import AccountSelector
from airflow_provider_smartlyq.core.validation import (
    PLATFORM_ALIASES,
    PLATFORMS,
    normalize_platform,
    normalize_platforms,
    server_url,
    validate_account_id,
    validate_account_ids,
    validate_idempotency_key,
    validate_return_url,
    validate_state_token,
)
from airflow_provider_smartlyq.exceptions import (
    SmartlyQConfigurationError,
    SmartlyQValidationError,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies --------------------------------------------------------------------------------------

#: Text that tends to break parsers: controls, line breaks, non-ASCII digits and letters, blanks.
TRICKY = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\r\n\t\x00\x7f \u2028\u00a0²٣éﬁ/.:@?#%[]\\'\"<>`$")),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
ANYTHING = st.one_of(TRICKY, st.text(max_size=30), st.binary(max_size=10), JSONISH, st.just(object()))


def platform_like() -> st.SearchStrategy[object]:
    """Real names and aliases, in any case and padding, plus anything else."""
    names = st.sampled_from([*PLATFORMS, *PLATFORM_ALIASES])
    cased = st.tuples(
        names, st.sampled_from([str.lower, str.upper, str.title]), st.sampled_from(["", " ", "\t"])
    )
    return st.one_of(cased.map(lambda t: t[2] + t[1](t[0]) + t[2]), ANYTHING)


def id_like() -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.integers(min_value=-5, max_value=10**6).map(str),
        st.integers(min_value=0, max_value=10**6).map(lambda i: f" {i}\n"),
        st.floats(allow_nan=True),
        st.booleans(),
        ANYTHING,
    )


def url_like() -> st.SearchStrategy[object]:
    scheme = st.sampled_from(["https", "http", "HTTPS", "javascript", "data", "ftp", "", "//"])
    host = st.sampled_from(
        ["app.example.com", "127.0.0.1", "[::1]", "localhost", "10.0.0.1", "", "exämple.com"]
    )
    tail = st.one_of(st.text(alphabet=string.printable, max_size=20), TRICKY)
    built = st.tuples(scheme, host, tail).map(
        lambda t: f"{t[0]}://{t[1]}/{t[2]}" if t[0] else f"{t[1]}/{t[2]}"
    )
    return st.one_of(built, ANYTHING)


def expect(function, value):
    """Return ``function(value)``, or ``None`` when it raised the validation error (the only one allowed)."""
    try:
        return function(value)
    except SmartlyQValidationError as exc:
        error = exc
    assert error.status_code == 0  # local: nothing was sent
    assert len(str(error)) < 2000  # clipped, whatever the input
    return None


# -- validators: only the documented error, and what passes is valid ---------------------------------


@FAST
@given(platform_like())
def test_property_platform_names(value):
    name = expect(normalize_platform, value)
    assert name is None or name in PLATFORMS


@FAST
@given(st.one_of(st.lists(platform_like(), max_size=5), platform_like(), st.none()))
def test_property_platform_lists(value):
    names = expect(normalize_platforms, value)
    if names is not None:
        assert all(name in PLATFORMS for name in names)
        assert len(names) == len(set(names))


@FAST
@given(id_like())
def test_property_account_ids(value):
    account_id = expect(validate_account_id, value)
    if account_id is not None:
        assert type(account_id) is int or isinstance(value, int)
        assert account_id > 0
        assert str(account_id) == (
            str(int(value)) if not isinstance(value, str) else value.strip().lstrip("0") or "0"
        )


@FAST
@given(st.one_of(st.lists(id_like(), max_size=6), id_like()))
def test_property_account_id_lists(value):
    ids = expect(validate_account_ids, value)
    if ids is not None:
        assert all(isinstance(i, int) and i > 0 for i in ids)
        assert len(ids) == len(set(ids))


@FAST
@given(
    st.one_of(st.text(alphabet=string.ascii_letters + string.digits + "-_.", max_size=30), TRICKY, ANYTHING)
)
def test_property_state_tokens(value):
    token = expect(validate_state_token, value)
    if token is not None:
        assert token == token.strip()
        assert token
        assert "/" not in token
        assert token.strip(".")


@FAST
@given(
    st.one_of(st.text(alphabet=string.ascii_letters + string.digits + "._:-", max_size=70), TRICKY, ANYTHING)
)
def test_property_idempotency_keys(value):
    key = expect(validate_idempotency_key, value)
    if key is not None:
        assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", key)


@FAST
@given(url_like())
def test_property_return_urls(value):
    url = expect(validate_return_url, value)
    if url is not None:
        # Exactly what was checked is what is sent: visible ASCII, https or loopback http.
        assert re.fullmatch(r"[\x21-\x7e]+", url)
        assert url == value.strip()
        lowered = url.lower()
        assert lowered.startswith("https://") or any(
            lowered.startswith(f"http://{h}") for h in ("127.", "[::1]", "localhost")
        )


@FAST
@given(url_like())
def test_property_server_urls_never_raise_and_are_http(value):
    url = server_url(value)  # no exception at all: a bad link is simply refused
    if url is not None:
        assert url.lower().startswith(("http://", "https://"))
        assert re.fullmatch(r"[\x21-\x7e]+", url)


# -- selectors ---------------------------------------------------------------------------------------

ACCOUNT_ROWS = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "account_id", "platform", "name", "account_name", "status"]),
        st.one_of(id_like(), platform_like(), TRICKY),
        max_size=5,
    ),
    max_size=8,
)


@FAST
@given(
    account_ids=st.one_of(
        st.none(), id_like(), st.lists(id_like(), max_size=5), TRICKY.map(lambda t: f"[{t}")
    ),
    platforms=st.one_of(st.none(), platform_like(), st.lists(platform_like(), max_size=4)),
    pattern=st.one_of(st.none(), TRICKY, st.text(min_size=250, max_size=300), ANYTHING),
    all_accounts=st.one_of(st.booleans(), ANYTHING),
    rows=ACCOUNT_ROWS,
)
def test_property_selectors(account_ids, platforms, pattern, all_accounts, rows):
    try:
        selector = AccountSelector.build(account_ids, platforms, pattern, all_accounts)
    except SmartlyQValidationError:
        return
    # A built selector survives the trip through trigger kwargs (JSON) unchanged.
    assert AccountSelector.from_dict(json.loads(json.dumps(selector.to_dict()))) == selector
    for row in rows:
        assert selector.matches(row) in (True, False)  # any row shape: no exception
    try:
        chosen = selector.select(rows)
    except SmartlyQValidationError:
        return
    assert chosen
    assert all(selector.matches(row) for row in chosen)


# -- nothing invalid reaches the network -------------------------------------------------------------


class _RefusingTransport:
    """Stands in for the hook's transport: records what would be sent, sends nothing."""

    def __init__(self) -> None:
        self.sent: list = []

    def call(self, request):
        self.sent.append(request)
        raise _Sent


class _Sent(Exception):
    pass


def _hook_with(transport):
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    hook = SmartlyQHook("smartlyq_properties_never_read")
    hook._sync = transport  # the connection is never read: no request can leave
    return hook


def _outcome(call):
    """Return ``"invalid"`` (validation error raised) or ``"sent"`` (the call reached the transport)."""
    try:
        call()
    except SmartlyQValidationError as exc:
        error = exc
    except _Sent:
        return "sent"
    else:
        pytest.fail("the call neither failed validation nor reached the transport")
    assert error.status_code == 0
    return "invalid"


@FAST
@given(
    platform=platform_like(), return_url=st.one_of(st.none(), url_like()), key=st.one_of(st.none(), ANYTHING)
)
def test_property_connect_link_sends_only_valid_input(platform, return_url, key):
    transport = _RefusingTransport()
    outcome = _outcome(
        lambda: _hook_with(transport).create_connect_link(platform, return_url, idempotency_key=key)
    )
    valid = (
        expect(normalize_platform, platform) is not None
        and (return_url is None or expect(validate_return_url, return_url) is not None)
        and (key is None or expect(validate_idempotency_key, key) is not None)
    )
    assert (outcome == "sent") == valid
    assert len(transport.sent) == (1 if valid else 0)
    if valid:
        [request] = transport.sent
        assert request.path == f"/social/connect/{normalize_platform(platform)}"
        body = json.loads(request.body())
        assert body.get("return_url") == (validate_return_url(return_url) if return_url is not None else None)


@FAST
@given(token=st.one_of(st.text(alphabet=string.ascii_letters + "-_.%/", max_size=20), TRICKY, ANYTHING))
def test_property_connect_status_sends_only_valid_tokens(token):
    transport = _RefusingTransport()
    outcome = _outcome(lambda: _hook_with(transport).get_connect_status(token))
    valid = expect(validate_state_token, token) is not None
    assert (outcome == "sent") == valid
    if valid:
        [request] = transport.sent
        # One path segment, whatever the token holds: it cannot address another route.
        assert request.path.count("/") == 3
        assert re.fullmatch(r"[\x21-\x7e]+", request.path)


@FAST
@given(account_id=id_like(), key=st.one_of(st.none(), ANYTHING, st.text(alphabet="abc:-", max_size=70)))
def test_property_account_writes_send_only_valid_ids_and_keys(account_id, key):
    transport = _RefusingTransport()
    outcome = _outcome(lambda: _hook_with(transport).pause_account(account_id, idempotency_key=key))
    valid = expect(validate_account_id, account_id) is not None and (
        key is None or expect(validate_idempotency_key, key) is not None
    )
    assert (outcome == "sent") == valid
    if valid:
        [request] = transport.sent
        assert request.path == f"/social/accounts/{validate_account_id(account_id)}/pause"
        assert request.idempotency_key


# -- the key never appears in any message ------------------------------------------------------------

KEY_BODY = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(string.ascii_letters + string.digits + "\\'\"_-")),
        st.sampled_from(list("\r\n\t\x00\x7f é\u2028")),
    ),
    min_size=8,
    max_size=24,
)


def key_forms(raw: str) -> set[str]:
    """Every form in which a key could leak: raw, stripped, repr- and JSON-escaped."""
    forms = set()
    for key in (raw, raw.strip()):
        forms.update({key, repr(key)[1:-1], json.dumps(key)[1:-1]})
    return {form for form in forms if len(form) >= 12}


def _connection(password, host, extra):
    from airflow.sdk import Connection

    return Connection(
        conn_id="sq_prop", conn_type="smartlyq", host=host, password=password, extra=json.dumps(extra)
    )


@settings(max_examples=150, deadline=None)
@given(
    body=KEY_BODY,
    prefix=st.sampled_from(["sqk_live_", "sqk_test_", ""]),
    host_kind=st.sampled_from(["none", "key", "url_with_key", "loopback", "public_http", "tricky"]),
    tricky=TRICKY,
    extra_field=st.sampled_from(["profile_id", "timeout", "max_retries", "verify_ssl", None]),
)
def test_property_the_key_never_appears_in_a_settings_error(body, prefix, host_kind, tricky, extra_field):
    from airflow_provider_smartlyq.hooks._settings import settings_from_connection

    password = prefix + body
    assume(len(password.strip()) >= 8)  # real keys are long; shorter ones match ordinary host names
    host = {
        "none": None,
        "key": password,
        "url_with_key": f"https://{password}",
        "loopback": "127.0.0.1:8765",
        "public_http": "http://api.example.com",
        "tricky": tricky,
    }[host_kind]
    extra = {extra_field: password} if extra_field else {}
    error: SmartlyQConfigurationError | None = None
    try:
        settings = settings_from_connection(_connection(password, host, extra))
    except SmartlyQConfigurationError as exc:
        error = exc
    if error is not None:
        for form in key_forms(password):
            assert form not in str(error), f"key leaked as {form!r}"
        assert error.__context__ is None
        return
    # Accepted: the key is the stripped, visible-ASCII form, and repr hides it.
    assert settings.api_key == password.strip()
    assert re.fullmatch(r"[\x21-\x7e]+", settings.api_key)
    assert settings.api_key not in repr(settings)
