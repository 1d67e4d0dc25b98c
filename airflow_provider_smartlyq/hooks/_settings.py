"""
Turn an Airflow connection into the settings a SmartlyQ request needs.

Pure functions over the connection's fields: no I/O, so the sync and async paths read the
connection their own way (``get_connection`` / ``aget_connection``) and share everything after.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_smartlyq import __version__
from airflow_provider_smartlyq.core.validation import is_loopback_host
from airflow_provider_smartlyq.core.values import parse_bool, parse_number
from airflow_provider_smartlyq.exceptions import SmartlyQConfigurationError, SmartlyQValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import Connection

DEFAULT_BASE_URL = "https://api.smartlyq.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
#: More retries than this only delays a failure that is not going away (backoff caps at 30 s).
MAX_RETRIES_LIMIT = 20
USER_AGENT = f"airflow-provider-smartlyq/{__version__}"
#: Share of each window that background polls (triggers) leave to writes and task reads.
DEFAULT_BUDGET_RESERVE = 0.2
#: Seconds a request waits for the shared request budget before it gives up.
DEFAULT_BUDGET_MAX_WAIT = 300.0
#: Environment variable that switches the request budget off in a whole process ("off"/"false").
BUDGET_ENV = "SMARTLYQ_REQUEST_BUDGET"

# Extras as the UI's conn-fields store them, and as older form widgets prefixed them.
_EXTRA_PREFIX = "extra__smartlyq__"

#: What an API key may hold once stripped: visible ASCII only. Anything else (a newline inside,
#: a tab, a control or non-ASCII character) makes the HTTP libraries raise an error that quotes
#: the header value in escaped form, which Airflow's masker then does not recognise.
_KEY_CHARACTERS = re.compile(r"[\x21-\x7e]+")
#: SmartlyQ's key prefixes; a host field holding one is a key pasted into the wrong field.
_KEY_LIKE = re.compile(r"sqk_(live|test)_", re.IGNORECASE)


@dataclass(frozen=True)
class ConnectionSettings:
    """
    Everything needed to talk to SmartlyQ through one connection.

    The API key is excluded from ``repr`` and equality hashing, so that settings can be
    logged, compared and used as a pool key without the key leaking anywhere.
    """

    conn_id: str
    base_url: str
    api_key: str = field(repr=False, compare=False)
    profile_id: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    #: ``True`` (system CAs), or the path of a CA bundle to trust (e.g. the emulator's TLS cert).
    verify: bool | str = True
    #: Whether requests share the key's request budget (see :mod:`~.hooks._budget`).
    budget_enabled: bool = True
    #: Share of a window that background polls leave to writes and task reads.
    budget_reserve: float = DEFAULT_BUDGET_RESERVE
    #: Seconds a request may wait for budget before raising ``SmartlyQRateLimitError``.
    budget_max_wait: float = DEFAULT_BUDGET_MAX_WAIT

    @property
    def authorization(self) -> str:
        """Return the ``Authorization`` header value (``Bearer <key>``); never log it."""
        return f"Bearer {self.api_key}"

    def headers(self) -> dict[str, str]:
        """Return the headers every request carries besides ``Authorization`` (see :attr:`authorization`)."""
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if self.profile_id is not None:
            headers["X-Profile-Id"] = str(self.profile_id)
        return headers

    def url(self, path: str) -> str:
        """Return the absolute URL of an API ``path`` such as ``/social/accounts``."""
        return f"{self.base_url}{path}"


def settings_from_connection(
    conn: Connection,
    *,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> ConnectionSettings:
    """
    Build :class:`ConnectionSettings` from an Airflow connection.

    The password is the API key, the host the base URL (``https://api.smartlyq.com`` when
    empty; ``/v1`` appended exactly once). Extras ``profile_id``, ``timeout``, ``max_retries``,
    ``ca_bundle``, ``verify_ssl``, ``request_budget``, ``budget_reserve`` and ``budget_max_wait``
    may arrive as strings (URI form) and are cast here.
    Explicit ``timeout``/``max_retries`` arguments win over the extras.

    :raises SmartlyQConfigurationError: no API key, or a value that cannot be used.
    """
    conn_id = conn.conn_id or "<unnamed>"
    raw_key = conn.password or ""
    # A key pasted with a trailing newline or surrounding blanks is still the key: strip it.
    api_key = raw_key.strip()
    if not api_key:
        raise SmartlyQConfigurationError(
            f"Connection {conn_id!r} has no API key: put the SmartlyQ key (sqk_live_... or "
            "sqk_test_...) in the connection's password field ('API key' in the UI)."
        )
    if not _KEY_CHARACTERS.fullmatch(api_key):
        # Never echo the key, not even escaped: the escaped form is not what the masker knows.
        raise SmartlyQConfigurationError(
            f"Connection {conn_id!r}: the API key contains a line break, blank, control or non-ASCII "
            "character (value not shown); paste the key again as one line of visible characters."
        )
    try:
        return _build(conn, conn_id, api_key, timeout, max_retries)
    except SmartlyQConfigurationError as exc:
        message = str(exc)
    # Messages quote the bad value; a key pasted into the wrong field must not be shown. Raised
    # outside the except block so that the unredacted error is not kept as ``__context__``.
    raise SmartlyQConfigurationError(_redact(message, raw_key, api_key))


def _redact(message: str, *secrets: str) -> str:
    """Replace every form of ``secrets`` in ``message``: as is, and escaped as ``repr``/JSON quote them."""
    forms = {form for secret in secrets for form in (secret, repr(secret)[1:-1], json.dumps(secret)[1:-1])}
    for form in sorted(forms, key=len, reverse=True):  # longest first: an escaped form contains others
        if form:
            message = message.replace(form, "***")
    return message


def _build(
    conn: Connection, conn_id: str, api_key: str, timeout: float | None, max_retries: int | None
) -> ConnectionSettings:
    extras = _extras(conn)
    verify: bool | str = True
    if extras.get("ca_bundle"):
        verify = str(extras["ca_bundle"])
    elif "verify_ssl" in extras:
        verify = _extra_bool(extras["verify_ssl"], "extra 'verify_ssl'", conn_id)
    # Containment, not equality: "https://<key>" is the same mistake. Short keys (tests, custom
    # secret backends) would match ordinary host names, so only a key of 8+ characters counts.
    if conn.host and (conn.host.strip() == api_key or (len(api_key) >= 8 and api_key in conn.host)):
        # Checked before any use of the host: it would otherwise be resolved by DNS (sending the
        # key to the resolver) and quoted by the resolver's error.
        raise SmartlyQConfigurationError(
            f"Connection {conn_id!r}: the host field holds the API key; put the key in the password "
            "field and leave the host empty (or set the SmartlyQ base URL)."
        )
    return ConnectionSettings(
        conn_id=conn_id,
        base_url=base_url_from(conn.host, conn.port, conn_id=conn_id),
        api_key=api_key,
        profile_id=_extra_number(
            extras.get("profile_id"), "profile_id", conn_id, None, minimum=1, integer=True
        ),
        timeout=(
            timeout
            if timeout is not None
            else float(_extra_number(extras.get("timeout"), "timeout", conn_id, DEFAULT_TIMEOUT, above=0))
        ),
        max_retries=(
            max_retries
            if max_retries is not None
            else _extra_number(
                extras.get("max_retries"),
                "max_retries",
                conn_id,
                DEFAULT_MAX_RETRIES,
                minimum=0,
                maximum=MAX_RETRIES_LIMIT,
                integer=True,
            )
        ),
        verify=verify,
        budget_enabled=_budget_enabled(extras, conn_id),
        budget_reserve=float(
            _extra_number(
                extras.get("budget_reserve"),
                "budget_reserve",
                conn_id,
                DEFAULT_BUDGET_RESERVE,
                minimum=0,
                maximum=0.9,
            )
        ),
        budget_max_wait=float(
            _extra_number(
                extras.get("budget_max_wait"), "budget_max_wait", conn_id, DEFAULT_BUDGET_MAX_WAIT, minimum=0
            )
        ),
    )


def _budget_enabled(extras: dict[str, Any], conn_id: str) -> bool:
    # The environment switch exists for benchmarks and emergencies: it wins over the extra.
    env = os.environ.get(BUDGET_ENV, "").strip()
    if env:
        return _extra_bool(env, BUDGET_ENV, conn_id)
    if "request_budget" in extras:
        return _extra_bool(extras["request_budget"], "extra 'request_budget'", conn_id)
    return True


def _extra_number(
    value: Any,
    name: str,
    conn_id: str,
    default: float | None,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
) -> Any:
    # One reader of numbers (values.parse_number); here its refusal names the connection.
    if value is None:
        return default
    return _named(
        conn_id,
        lambda: parse_number(
            value,
            f"extra {name!r}",
            minimum=minimum,
            above=above,
            maximum=maximum,
            integer=integer,
            text=True,
        ),
    )


def _extra_bool(value: Any, name: str, conn_id: str) -> bool:
    # One reader of flags (values.parse_bool): "true"/"false", "yes"/"no", "on"/"off", "1"/"0".
    return bool(_named(conn_id, lambda: parse_bool(value, name)))


def _named(conn_id: str, read: Callable[[], Any]) -> Any:
    """Run a value reader; turn its refusal into a configuration error naming the connection."""
    try:
        return read()
    except SmartlyQValidationError as exc:
        message = exc.message
    # Raised outside the except block: no __context__ that could carry the value along.
    raise SmartlyQConfigurationError(f"Connection {conn_id!r}: {message}")


def base_url_from(host: str | None, port: int | None = None, *, conn_id: str = "") -> str:
    """
    Return the API base URL for a connection host, ending in ``/v1`` exactly once.

    A host without a scheme gets ``https``, or ``http`` when it is a loopback address (the
    emulator). Plain ``http`` to any other host is refused: it would send the key in clear.
    A host that looks like a SmartlyQ key (``sqk_live_...``) is refused without being quoted.
    """
    if host and _KEY_LIKE.search(host):
        raise SmartlyQConfigurationError(
            f"Connection {conn_id!r}: the host field looks like an API key (value not shown); put the "
            "key in the password field and leave the host empty (or set the SmartlyQ base URL)."
        )
    raw = (host or "").strip() or DEFAULT_BASE_URL
    if _is_ipv6(raw):  # the URI form's [::1] arrives unbracketed; a URL needs the brackets
        raw = f"[{raw}]"
    try:
        if "://" not in raw:
            hostname = urlsplit(f"//{raw}").hostname or ""
            raw = f"{'http' if is_loopback_host(hostname) else 'https'}://{raw}"
        parts = urlsplit(raw)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:  # also "Invalid IPv6 URL" for a stray "["
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SmartlyQConfigurationError(f"Connection {conn_id!r}: host {host!r} is not a usable base URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise SmartlyQConfigurationError(
            f"Connection {conn_id!r}: refusing plain http to {parts.hostname}; the API key would travel "
            "unencrypted. Use https (plain http is allowed only for loopback hosts such as the emulator)."
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path = f"{path}/v1"
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def _extras(conn: Connection) -> dict[str, Any]:
    extras = dict(conn.extra_dejson or {})
    for key in list(extras):
        if key.startswith(_EXTRA_PREFIX):
            extras.setdefault(key[len(_EXTRA_PREFIX) :], extras.pop(key))
    # The UI stores empty form fields as "" or None: treat them as not set.
    return {key: value for key, value in extras.items() if value not in ("", None)}
