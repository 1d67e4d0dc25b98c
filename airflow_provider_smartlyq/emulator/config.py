"""Configuration of the SmartlyQ emulator."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from typing import Any

DEFAULT_API_KEY = "sqk_test_emulator_0000000000"
API_KEY_ENV = "SMARTLYQ_EMULATOR_API_KEY"

#: Every platform SmartlyQ's ``POST /social/connect/{platform}`` accepts (spec enum order).
#: Deliberately not imported from ``airflow_provider_smartlyq.core.validation``: the emulator plays
#: the server, so its list is the server's and must not change when the client's list does; a
#: client that drifted from the API would then be caught by the emulator (422
#: UNSUPPORTED_PLATFORM) instead of agreeing with itself. tests/test_validation.py checks the
#: client's list against the OpenAPI document.
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

#: Platforms whose consent connects every target at once (the emulator creates two).
MULTI_TARGET_PLATFORMS = frozenset({"youtube", "gmb", "tumblr", "linkedin"})

#: Credential platforms: the body fields that connect them without a browser round trip.
#: Telegram accepts ``chat`` (spec) or ``chat_id`` (older docs); WhatsApp's ``waba_id`` is optional.
CREDENTIAL_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "bluesky": (("identifier",), ("app_password",)),
    "telegram": (("bot_token",), ("chat", "chat_id")),
    "whatsapp": (("phone_number_id",), ("access_token",)),
}

#: Credential platforms that have no browser flow at all (Bluesky also supports OAuth).
CREDENTIAL_ONLY_PLATFORMS = frozenset({"telegram", "whatsapp"})


@dataclasses.dataclass
class EmulatorConfig:
    """
    Knobs of one emulator instance.

    :param api_key: Key with scopes ``social:read`` and ``social:write``.
    :param read_only_key: Optional second key with ``social:read`` only.
    :param control_token: When set, ``/_emulator/`` control routes need ``X-Emulator-Token``.
    :param rate_limit: Requests per window per key (or per workspace, see ``rate_limit_scope``)
        before ``429``; ``0`` means no limit (the headers then advertise
        :data:`UNLIMITED_ADVERTISED` and never run out).
    :param rate_window: Length of the fixed rate-limit window in seconds (SmartlyQ: 60); short
        windows make rate-limit tests fast.
    :param rate_limit_scope: ``key`` (one budget per API key) or ``workspace`` (one budget shared
        by every key, as newer SmartlyQ docs describe).
    :param connect_ttl: Lifetime of a connect link in seconds (SmartlyQ: 15 minutes).
    :param auto_approve_after: Seconds after which a pending connect session approves itself.
    :param seed: Initial data set, ``demo`` or ``empty``.
    :param unconfigured_platforms: Platforms answering ``422 PROVIDER_NOT_CONFIGURED``.
    :param headless_connect_enabled: ``False`` makes connect answer ``404 NOT_ENABLED``.
    :param public_url: Root URL used in connect links; derived from each request when unset.
    :param token_validity_days: Token lifetime of newly connected or reconnected accounts.
    :param idempotency_ttl: Seconds an idempotency key is remembered (SmartlyQ: 24 hours).
    """

    api_key: str = DEFAULT_API_KEY
    read_only_key: str | None = None
    control_token: str | None = None
    rate_limit: int = 0
    rate_window: float = 60.0
    rate_limit_scope: str = "key"
    connect_ttl: float = 900.0
    auto_approve_after: float | None = None
    seed: str = "demo"
    unconfigured_platforms: frozenset[str] = frozenset()
    headless_connect_enabled: bool = True
    public_url: str | None = None
    token_validity_days: int = 60
    idempotency_ttl: float = 86400.0

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key must not be empty")
        if self.seed not in ("demo", "empty"):
            raise ValueError(f"unknown seed {self.seed!r}; expected 'demo' or 'empty'")
        if self.rate_limit < 0:
            raise ValueError("rate_limit must be >= 0")
        check_rate_window(self.rate_window)
        check_rate_scope(self.rate_limit_scope)
        self.unconfigured_platforms = frozenset(self.unconfigured_platforms)

    @classmethod
    def from_env(cls, **overrides: Any) -> EmulatorConfig:
        """Build a config, taking the API key from ``SMARTLYQ_EMULATOR_API_KEY`` when not overridden."""
        if overrides.get("api_key") is None:
            overrides["api_key"] = os.environ.get(API_KEY_ENV) or DEFAULT_API_KEY
        return cls(**overrides)

    def __repr__(self) -> str:
        # Keys are secrets: keep them out of reprs that may end up in logs or tracebacks.
        return (
            f"EmulatorConfig(api_key={mask_key(self.api_key)!r}, rate_limit={self.rate_limit}, "
            f"rate_window={self.rate_window}, rate_limit_scope={self.rate_limit_scope!r}, "
            f"seed={self.seed!r}, auto_approve_after={self.auto_approve_after})"
        )


def is_loopback(host: str | None) -> bool:
    """Return whether ``host`` (a bind address, a client address or a Host name) is local only."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, control_token: str | None) -> None:
    """
    Refuse to serve on a non-loopback address without a control token.

    The ``/_emulator/`` control API resets data, injects faults and reads the request log: on a
    network address it needs ``X-Emulator-Token``. The CLI and ``run_emulator`` call this before
    binding; the app itself also refuses control requests from non-loopback clients when no
    token is configured, however it is served (``uvicorn --factory`` included).

    :raises ValueError: ``host`` is not loopback and no ``control_token`` is set.
    """
    if not is_loopback(host) and not control_token:
        raise ValueError(
            f"refusing to bind non-loopback host {host!r} without a control token "
            "(the /_emulator/ control API would be open to the network)"
        )


#: The limit the headers advertise when the emulator does not limit (``rate_limit=0``): clients
#: that pace themselves by the headers (the provider's request budget) then never slow down.
UNLIMITED_ADVERTISED = 100_000
RATE_LIMIT_SCOPES = ("key", "workspace")


def check_rate_window(seconds: object) -> float:
    """Return a rate-limit window length, refusing anything but a number of seconds >= 1."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 1 <= seconds < 1e9:
        raise ValueError(f"rate_window must be a number of seconds >= 1, got {seconds!r}")
    return float(seconds)


def check_rate_scope(scope: object) -> str:
    """Return a rate-limit scope, ``key`` or ``workspace``."""
    if scope not in RATE_LIMIT_SCOPES:
        raise ValueError(f"rate_limit_scope must be 'key' or 'workspace', got {scope!r}")
    return str(scope)


def mask_key(key: str) -> str:
    """Return a key shortened to at most its first 12 characters and a third of it, safe to print."""
    return key[: min(12, len(key) // 3)] + "…"
