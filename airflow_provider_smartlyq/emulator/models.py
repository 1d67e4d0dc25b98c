"""Records kept by the emulator: accounts, connect sessions and the API error type."""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
from typing import Any

UTC = dt.timezone.utc
DAY_SECONDS = 86400


#: Who caused the writes of the running task (set per request by the API layers).
WRITE_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "smartlyq_write_context", default=None
)

PLATFORM_LABELS = {"twitter": "X", "gmb": "Google Business", "linkedin": "LinkedIn", "youtube": "YouTube"}


def platform_label(platform: str) -> str:
    """Return a human name for ``platform``."""
    return PLATFORM_LABELS.get(platform, platform.capitalize())


def utcnow() -> dt.datetime:
    """Return the current time as an aware UTC datetime."""
    return dt.datetime.now(UTC)


def iso(ts: dt.datetime) -> str:
    """Format ``ts`` the way SmartlyQ does: ISO 8601 UTC with ``Z``, whole seconds."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expiry_for_days(now: dt.datetime, days: float) -> dt.datetime:
    """
    Return a token expiry that reads back as ``days`` whole days of validity.

    Half a day of slack keeps ``validity_days`` stable while a test runs; a negative value
    yields an already expired token.
    """
    if days < 0:
        return now + dt.timedelta(days=days)
    return now + dt.timedelta(days=days, hours=12)


class ApiError(Exception):
    """An error the API answers with SmartlyQ's error envelope."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


@dataclasses.dataclass
class Account:
    """A connected social account."""

    id: int
    platform: str
    name: str
    username: str
    profile_id: int | None
    token_expires_at: dt.datetime
    created_at: dt.datetime
    status: str = "connected"  # stored status: "connected" or "error"; "expired" derives from time
    paused: bool = False

    def token_expired(self, now: dt.datetime) -> bool:
        """Return whether the platform token has expired at ``now``."""
        return now >= self.token_expires_at

    def validity_days(self, now: dt.datetime) -> int:
        """Return whole days until the token expires (floor; 0 once expired)."""
        seconds = (self.token_expires_at - now).total_seconds()
        return max(0, int(seconds // DAY_SECONDS))

    def health_status(self, now: dt.datetime) -> str:
        """Return ``connected``, ``expired`` or ``error`` as the health endpoints report it."""
        if self.status == "error":
            return "error"
        return "expired" if self.token_expired(now) else "connected"

    def to_api(self, now: dt.datetime) -> dict[str, Any]:
        """Render the account as ``GET /social/accounts`` lists it."""
        return {
            "id": self.id,
            "platform": self.platform,
            "name": self.name,
            "username": self.username,
            "profile_id": self.profile_id,
            "status": self.health_status(now),
            "paused": self.paused,
            "created_at": iso(self.created_at),
        }

    def to_health(self, now: dt.datetime) -> dict[str, Any]:
        """Render the account as ``GET /social/accounts/{id}/health`` reports it."""
        return {
            "id": self.id,
            "platform": self.platform,
            "account_name": self.name,
            "status": self.health_status(now),
            "token_expired": self.token_expired(now),
            "validity_days": self.validity_days(now),
        }

    def to_bulk_health(self, now: dt.datetime) -> dict[str, Any]:
        """Render the account as one row of ``GET /social/accounts/health``."""
        row = self.to_health(now)
        row["is_active"] = not self.paused
        row["paused"] = self.paused
        return row

    def to_connected(self) -> dict[str, Any]:
        """Render the account as the ``account`` of a connect answer."""
        return {
            "account_id": self.id,
            "name": self.name,
            "username": self.username,
            "platform": self.platform,
        }

    def to_control(self, now: dt.datetime) -> dict[str, Any]:
        """Render every field, for the control API."""
        data = self.to_api(now)
        data.update(
            stored_status=self.status,
            token_expires_at=iso(self.token_expires_at),
            token_expired=self.token_expired(now),
            validity_days=self.validity_days(now),
        )
        return data


@dataclasses.dataclass
class ConnectSession:
    """A headless connect (or reconnect) link waiting for the user's consent."""

    state_token: str
    platform: str
    profile_id: int | None
    return_url: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    status: str = "pending"  # pending | connected | expired
    account_ids: list[int] = dataclasses.field(default_factory=list)
    reconnect_account_id: int | None = None
    approved_at: dt.datetime | None = None

    def to_control(self) -> dict[str, Any]:
        """Render every field (times as ISO 8601 text), for the control API."""
        return {field.name: _plain(getattr(self, field.name)) for field in dataclasses.fields(self)}


def _plain(value: Any) -> Any:
    """Return a field value as JSON carries it: times as ISO 8601 text, lists copied."""
    if isinstance(value, dt.datetime):
        return iso(value)
    return list(value) if isinstance(value, list) else value
