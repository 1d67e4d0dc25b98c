"""Input checks: typed errors before anything is sent to SmartlyQ."""

from __future__ import annotations

import pytest

from airflow_provider_smartlyq.core.validation import (
    CREDENTIAL_PLATFORMS,
    PLATFORMS,
    normalize_platform,
    normalize_platforms,
    validate_account_id,
    validate_account_ids,
    validate_idempotency_key,
    validate_return_url,
    validate_state_token,
)
from airflow_provider_smartlyq.emulator.config import PLATFORMS as EMULATOR_PLATFORMS
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError


def assert_local(error: SmartlyQValidationError) -> None:
    assert error.status_code == 0
    assert error.code == "LOCAL_VALIDATION"
    assert str(error).startswith("Invalid input, nothing was sent to SmartlyQ")


# -- platforms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("facebook", "facebook"),
        ("Facebook", "facebook"),
        ("  INSTAGRAM ", "instagram"),
        ("X", "twitter"),
        ("x", "twitter"),
        ("Twitter", "twitter"),
        ("x.com", "twitter"),
        ("google_business", "gmb"),
        ("Google Business", "gmb"),
        ("google-business", "gmb"),
        ("GMB", "gmb"),
        ("fb", "facebook"),
        ("ig", "instagram"),
    ],
)
def test_platform_names_and_aliases(given, expected):
    assert normalize_platform(given) == expected


def test_every_platform_is_in_the_openapi_document(openapi_spec):
    parameters = openapi_spec["paths"]["/social/connect/{platform}"]["post"]["parameters"]
    [parameter] = [p for p in parameters if p.get("name") == "platform"]
    assert set(PLATFORMS) == set(parameter["schema"]["enum"])
    assert set(CREDENTIAL_PLATFORMS) <= set(PLATFORMS)
    # The emulator keeps the server's own copy (see emulator/config.py): it must match too.
    assert set(EMULATOR_PLATFORMS) == set(parameter["schema"]["enum"])


@pytest.mark.parametrize("bad", ["myspace", "", "   ", None, 3, ["facebook"], "face book", "twitter/x"])
def test_unknown_platforms_list_the_choices(bad):
    with pytest.raises(SmartlyQValidationError) as info:
        normalize_platform(bad)

    assert_local(info.value)
    assert "facebook" in str(info.value)
    assert "gmb" in str(info.value)


def test_a_huge_platform_name_is_clipped_in_the_message():
    with pytest.raises(SmartlyQValidationError) as info:
        normalize_platform("z" * 10_000)

    assert len(str(info.value)) < 600
    assert "10000 characters" in str(info.value)


def test_normalize_platforms_dedupes_and_keeps_order():
    assert normalize_platforms(["X", "facebook", "twitter", "Google_Business"]) == [
        "twitter",
        "facebook",
        "gmb",
    ]
    assert normalize_platforms("x") == ["twitter"]
    assert normalize_platforms(None) is None


# -- account ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [(101, 101), ("101", 101), (" 7 ", 7), (2**40, 2**40)])
def test_account_ids_accepted(given, expected):
    assert validate_account_id(given) == expected


@pytest.mark.parametrize(
    "bad", [0, -1, "0", "-1", "abc", "", "1.0", 1.0, 101.5, True, False, None, "²", "١٢", [101]]
)
def test_account_ids_refused(bad):
    with pytest.raises(SmartlyQValidationError) as info:
        validate_account_id(bad)

    assert_local(info.value)
    assert "account_id must be a positive integer" in str(info.value)


def test_account_id_lists():
    assert validate_account_ids([101, "102", 101]) == [101, 102]
    assert validate_account_ids(5) == [5]
    with pytest.raises(SmartlyQValidationError, match="account_ids"):
        validate_account_ids([101, 0])
    with pytest.raises(SmartlyQValidationError):
        validate_account_ids(object())


# -- urls, tokens, keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "good", ["https://app.example.com/connected", "http://localhost:8080/cb?x=1", " https://a.example "]
)
def test_return_urls_accepted(good):
    assert validate_return_url(good) == good.strip()
    assert validate_return_url(None) is None


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "ftp://files.example.com",
        "/relative/path",
        "app.example.com",
        "https://",
        "",
        5,
    ],
)
def test_non_http_return_urls_refused(bad):
    with pytest.raises(SmartlyQValidationError, match="return_url must be an absolute http"):
        validate_return_url(bad)


@pytest.mark.parametrize("bad", ["", "   ", None, "a/b", "/", ".", "..", 123])
def test_state_tokens_refused(bad):
    with pytest.raises(SmartlyQValidationError, match="state_token"):
        validate_state_token(bad)


def test_state_token_stripped():
    assert validate_state_token(" abc-DEF_123 ") == "abc-DEF_123"


@pytest.mark.parametrize("good", ["a", "dag:run.1-x_y", "k" * 64])
def test_idempotency_keys_accepted(good):
    assert validate_idempotency_key(good) == good


@pytest.mark.parametrize("bad", ["", "k" * 65, "has space", "slash/no", "ünï", None, 5])
def test_idempotency_keys_refused(bad):
    with pytest.raises(SmartlyQValidationError, match="idempotency key"):
        validate_idempotency_key(bad)


# -- through the hook: nothing reaches the emulator ----------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.get_account_health(0),
        lambda h: h.get_account_health(-1),
        lambda h: h.get_account_health("abc"),
        lambda h: h.get_account_health(True),
        lambda h: h.get_reconnect_url("²"),
        lambda h: h.pause_account(0),
        lambda h: h.resume_account(None),
        lambda h: h.disconnect_account(-5),
        lambda h: h.create_connect_link("myspace"),
        lambda h: h.create_connect_link("facebook", "javascript:alert(1)"),
        lambda h: h.create_connect_link("facebook", "ftp://x.example"),
        lambda h: h.create_connect_link("facebook", idempotency_key="not a valid key"),
        lambda h: h.pause_account(101, idempotency_key="k" * 65),
        lambda h: h.get_connect_status(""),
        lambda h: h.get_connect_status(".."),
    ],
)
def test_bad_input_to_the_hook_sends_nothing(hook, smartlyq_conn, call):
    with pytest.raises(SmartlyQValidationError) as info:
        call(hook)

    assert_local(info.value)
    assert smartlyq_conn.client.requests() == []
    assert smartlyq_conn.client.writes() == []


# -- security review, finding 7: return_url is checked exactly as sent ----------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "https://app.example.com/cb\r\nSet-Cookie: x=1",  # urlsplit dropped the CR/LF; the original was sent
        "https://app.example.com/c\nb",
        "https://app.example.com/c\tb",
        "https://app.example.com/a b",
        "https://app.example.com/\x00",
        "https://app.example.com/\x7f",
        "https://app.exämple.com/",
        "http://app.example.com/connected",  # plain http to a public host
        "http://10.0.0.5/connected",
        "https://app.example.com:notaport/",
        "https://app.example.com/" + "a" * 2100,
    ],
)
def test_return_url_with_crlf_or_plain_http_to_a_public_host_is_refused(bad):
    with pytest.raises(SmartlyQValidationError, match="return_url must be an absolute https"):
        validate_return_url(bad)


@pytest.mark.parametrize(
    "good", ["http://127.0.0.1:5000/cb", "http://[::1]/cb", "http://LOCALHOST/cb", "HTTPS://App.Example/x"]
)
def test_return_url_plain_http_is_kept_for_loopback(good):
    assert validate_return_url(good) == good


def test_return_url_with_crlf_sends_nothing(hook, smartlyq_conn):
    with pytest.raises(SmartlyQValidationError):
        hook.create_connect_link("facebook", "https://app.example.com/cb\r\nX-Injected: 1")
    with pytest.raises(SmartlyQValidationError):
        hook.create_connect_link("facebook", "http://app.example.com/cb")
    assert smartlyq_conn.client.requests() == []
