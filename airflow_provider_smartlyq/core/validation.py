"""
Check arguments before anything is sent to SmartlyQ.

A typo in a DAG should fail the task with a message that says what to write instead, not
with a 422 from the API after a request (or, worse, a write) has already happened.
Nothing here does I/O or imports more than the standard library and the provider's errors.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from airflow_provider_smartlyq.exceptions import SmartlyQValidationError

#: Platforms SmartlyQ can connect, by their API names (the seed page's list, then the spec's extras).
PLATFORMS: tuple[str, ...] = (
    "facebook",
    "instagram",
    "twitter",
    "linkedin",
    "youtube",
    "tiktok",
    "threads",
    "bluesky",
    "pinterest",
    "reddit",
    "snapchat",
    "tumblr",
    "gmb",
    "discord",
    "telegram",
    "whatsapp",
)

#: Names people write for a platform, mapped to SmartlyQ's name for it.
PLATFORM_ALIASES: dict[str, str] = {
    "x": "twitter",
    "x.com": "twitter",
    "google_business": "gmb",
    "google-business": "gmb",
    "google business": "gmb",
    "googlebusiness": "gmb",
    "google_my_business": "gmb",
    "fb": "facebook",
    "ig": "instagram",
}

#: Platforms that connect at once from credentials and answer ``{platform, account}``.
CREDENTIAL_PLATFORMS: frozenset[str] = frozenset({"bluesky", "telegram", "whatsapp"})

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ASCII_DIGITS = re.compile(r"[0-9]+")
#: A URL as it travels: visible ASCII only. CR/LF, blanks and control characters are refused,
#: not cleaned: ``urlsplit`` silently drops some of them, so a cleaned copy would pass the check
#: while the original (header or redirect injection material) was sent.
_URL_CHARACTERS = re.compile(r"[\x21-\x7e]+")
#: Longest URL accepted; browsers and servers commonly stop at about 2,000 characters.
MAX_URL_LENGTH = 2048
#: Characters of a state token shown in logs and reprs: enough to tell two links apart, far too
#: few to use the link (whoever holds the whole token can connect an account to the workspace).
TOKEN_PREFIX_LENGTH = 6


def normalize_platform(platform: object) -> str:
    """
    Return SmartlyQ's name for ``platform``, accepting any case and the common aliases.

    :raises SmartlyQValidationError: the name is not a platform SmartlyQ knows; the message
        lists the choices.
    """
    if not isinstance(platform, str) or not platform.strip():
        raise SmartlyQValidationError.local(
            f"platform must be a non-empty string, got {platform!r}; choose one of {', '.join(PLATFORMS)}"
        )
    name = platform.strip().lower()
    name = PLATFORM_ALIASES.get(name, name)
    if name not in PLATFORMS:
        raise SmartlyQValidationError.local(
            f"unknown platform {_clip(platform)!r}; choose one of {', '.join(PLATFORMS)} "
            "(aliases: x -> twitter, google_business -> gmb)"
        )
    return name


def normalize_platforms(platforms: str | Iterable[str] | None) -> list[str] | None:
    """Return the normalised, de-duplicated platform list, or ``None`` when none was given."""
    if platforms is None:
        return None
    if isinstance(platforms, str):
        platforms = [platforms]
    if not isinstance(platforms, Iterable):  # e.g. an int from a template: a typed error, not TypeError
        raise SmartlyQValidationError.local(
            f"platforms must be a platform name or a list of names, got {_clip(platforms)!r}"
        )
    # dict keys: de-duplicated in first-seen order in linear time (a list's `in` is quadratic).
    result: dict[str, None] = {}
    for platform in platforms:
        result.setdefault(normalize_platform(platform))
    return list(result)


def validate_account_id(account_id: object, *, name: str = "account_id") -> int:
    """
    Return ``account_id`` as a positive ``int``.

    Digit strings are accepted (templated values render as strings); booleans, floats with a
    fraction, zero and negative numbers are not.

    :raises SmartlyQValidationError: the value is not a positive integer.
    """
    value: int | None = None
    if isinstance(account_id, bool):
        value = None
    elif isinstance(account_id, int):
        value = account_id
    elif isinstance(account_id, str) and _ASCII_DIGITS.fullmatch(account_id.strip()):
        # ASCII only: str.isdigit() accepts "²", which int() then rejects with a bare ValueError.
        value = int(account_id.strip())
    if value is None or value <= 0:
        raise SmartlyQValidationError.local(f"{name} must be a positive integer, got {_clip(account_id)!r}")
    return value


def validate_account_ids(account_ids: object, *, name: str = "account_ids") -> list[int]:
    """Return ``account_ids`` (one id or an iterable of ids) as a de-duplicated list of ints."""
    if isinstance(account_ids, (int, str)):
        account_ids = [account_ids]
    if not isinstance(account_ids, Iterable):
        raise SmartlyQValidationError.local(f"{name} must be an integer or a list of integers")
    # dict keys: de-duplicated in first-seen order in linear time; 20,000 ids through a list's
    # `in` took seconds, on the triggerer's event loop when a trigger rebuilt its selector.
    result: dict[int, None] = {}
    for item in account_ids:
        result.setdefault(validate_account_id(item, name=name))
    return list(result)


def validate_return_url(return_url: object) -> str | None:
    """
    Return ``return_url`` when it is an absolute ``https`` URL, ``None`` when not given.

    Plain ``http`` is accepted only for loopback hosts (local development). Surrounding blanks
    are stripped; blanks, line breaks or control characters inside are refused, and the
    checked string is exactly the one returned (and sent).

    :raises SmartlyQValidationError: any other value.
    """
    if return_url is None:
        return None
    url = return_url.strip() if isinstance(return_url, str) else None
    parts = _http_url_parts(url)
    if parts is not None and (parts.scheme == "https" or is_loopback_host(parts.hostname or "")):
        return url
    raise SmartlyQValidationError.local(
        "return_url must be an absolute https URL such as https://yourapp.com/connected (plain http "
        f"only for localhost), without blanks or control characters; got {_clip(return_url)!r}"
    )


def server_url(value: object) -> str | None:
    """
    Return ``value`` when it is an absolute http(s) URL fit for a browser, else ``None``.

    For links SmartlyQ answers (``connect_url``, ``reconnect_url``): they go to XCom and into
    the task's extra-link ``href``, so a ``javascript:`` or ``data:`` URL, or one carrying line
    breaks, must never pass.
    """
    url = value if isinstance(value, str) else None
    return url if _http_url_parts(url) is not None else None


def is_loopback_host(hostname: str) -> bool:
    """Return whether ``hostname`` is ``localhost`` or a loopback IP address (brackets allowed)."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def _http_url_parts(url: str | None) -> SplitResult | None:
    if url is None or len(url) > MAX_URL_LENGTH or not _URL_CHARACTERS.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts


def validate_state_token(state_token: object) -> str:
    """Return ``state_token`` stripped, refusing empty values and values with a path separator."""
    # Dot-only tokens would be collapsed as path segments ("..") and poll another URL.
    if (
        not isinstance(state_token, str)
        or not state_token.strip()
        or "/" in state_token
        or not state_token.strip().strip(".")
    ):
        raise SmartlyQValidationError.local(
            "state_token must be the non-empty token from the connect link's 'state' parameter"
        )
    return state_token.strip()


def short_token(state_token: object) -> str:
    """Return the first characters of a state token followed by an ellipsis, safe to log."""
    text = str(state_token or "")
    return text[:TOKEN_PREFIX_LENGTH] + "…" if text else "-"


def redact_token(text: str, state_token: str | None) -> str:
    """Return ``text`` with every occurrence of ``state_token`` replaced by its short prefix."""
    if not state_token:
        return text
    return text.replace(state_token, short_token(state_token))


def validate_idempotency_key(key: object) -> str:
    """
    Return ``key`` when SmartlyQ accepts it as ``X-Idempotency-Key``.

    :raises SmartlyQValidationError: more than 64 characters, or characters outside
        ``[A-Za-z0-9._:-]``.
    """
    if isinstance(key, str) and _IDEMPOTENCY_KEY.fullmatch(key):
        return key
    raise SmartlyQValidationError.local(
        f"idempotency key must be 1-64 characters of [A-Za-z0-9._:-], got {_clip(key)!r}"
    )


def _clip(value: object, limit: int = 80) -> str:
    """Shorten a user value for an error message (a 10 KB pattern must not flood the log)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
