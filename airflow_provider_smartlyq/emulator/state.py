"""
In-memory state and domain logic of the SmartlyQ emulator (no web framework in here).

Each API area is a section: accounts live here, connect sessions in
:mod:`~airflow_provider_smartlyq.emulator.connect_state` (a mixin). New areas (posts, webhooks)
add a mixin module the same way and log their effects through :meth:`EmulatorState.record_write`.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.emulator.config import UNLIMITED_ADVERTISED
from airflow_provider_smartlyq.emulator.connect_state import ConnectSessionsMixin
from airflow_provider_smartlyq.emulator.models import (
    WRITE_CONTEXT,
    Account,
    ApiError,
    expiry_for_days,
    iso,
    utcnow,
)
from airflow_provider_smartlyq.emulator.posts_state import PostsMixin
from airflow_provider_smartlyq.emulator.seeds import FIRST_ACCOUNT_ID, seed_accounts
from airflow_provider_smartlyq.emulator.webhooks_state import WebhooksMixin

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smartlyq.emulator.config import EmulatorConfig
    from airflow_provider_smartlyq.emulator.faults import FaultRule
    from airflow_provider_smartlyq.emulator.idempotency import IdempotencyCache
    from airflow_provider_smartlyq.emulator.models import ConnectSession


class EmulatorState(ConnectSessionsMixin, WebhooksMixin, PostsMixin):
    """
    Accounts, connect sessions, faults and the request/write logs of one emulator.

    Every public method takes the lock: the event loop thread serves requests while tests may
    inspect the same object from their own thread.
    """

    def __init__(self, config: EmulatorConfig, clock: Callable[[], dt.datetime] = utcnow) -> None:
        from airflow_provider_smartlyq.emulator.idempotency import IdempotencyCache

        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.accounts: dict[int, Account] = {}
        self.sessions: dict[str, ConnectSession] = {}
        self.faults: list[FaultRule] = []
        self.requests: list[dict[str, Any]] = []
        self.writes: list[dict[str, Any]] = []
        self.idempotency: IdempotencyCache = IdempotencyCache(config.idempotency_ttl)
        self.rate_windows: dict[str, tuple[int, int]] = {}
        #: Requests and 429s per (budget, window index), for the control API's usage report.
        self.rate_usage: dict[tuple[str, int], list[int]] = {}
        #: Rate-limit settings changed through the control API (until the next reset).
        self.rate_override: dict[str, Any] = {}
        #: Bumped by every reset: a request that began before it belongs to the old log, so a
        #: late-finishing one (a dropped connection is logged after its socket is aborted) cannot
        #: turn up in the next test's log.
        self.generation = 0
        self._next_id = FIRST_ACCOUNT_ID
        self._next_seq = 1
        self.init_webhooks()
        self.init_posts()
        self.reset(config.seed)

    # -- housekeeping -------------------------------------------------------------------
    def reset(self, seed: str | None = None) -> None:
        """Drop everything (accounts, sessions, logs, faults, idempotency keys) and re-seed."""
        specs = seed_accounts(seed or self.config.seed)
        with self.lock:
            self.generation += 1
            self.accounts.clear()
            self.sessions.clear()
            self.faults.clear()
            self.requests.clear()
            self.writes.clear()
            self.idempotency.clear()
            self.rate_windows.clear()
            self.rate_usage.clear()
            self.rate_override.clear()
            self.reset_webhooks()
            self.reset_posts()
            self._next_id = FIRST_ACCOUNT_ID
            self._next_seq = 1
            now = self.clock()
            for index, spec in enumerate(specs):
                account = self._new_account(now=now - dt.timedelta(days=90 - index), **spec)
                account.token_expires_at = expiry_for_days(now, spec.get("validity_days", 60))

    def record_write(self, action: str, **fields: Any) -> dict[str, Any]:
        """Append one effective state change to the write log and return the entry."""
        with self.lock:
            entry: dict[str, Any] = {"seq": self._next_seq, "action": action, "at": iso(self.clock())}
            entry.update({"source": "internal", "idempotency_key": None, "request_id": None})
            entry.update(WRITE_CONTEXT.get() or {})
            entry.update({k: v for k, v in fields.items() if v is not None})
            self._next_seq += 1
            self.writes.append(entry)
            self.publish_write(entry)  # webhook events for the writes SmartlyQ announces
            return entry

    def record_request(self, entry: dict[str, Any], generation: int | None = None) -> None:
        """Append one entry to the request log, unless a reset came since the request began."""
        with self.lock:
            if generation is None or generation == self.generation:
                self.requests.append(entry)

    def snapshot(self) -> dict[str, Any]:
        """Return accounts and connect sessions for ``GET /_emulator/state``."""
        with self.lock:
            self.tick()
            now = self.clock()
            return {
                "accounts": [a.to_control(now) for a in self.accounts.values()],
                "connect_sessions": [s.to_control() for s in self.sessions.values()],
                "next_account_id": self._next_id,
            }

    # -- accounts -----------------------------------------------------------------------
    def _new_account(
        self,
        *,
        platform: str,
        name: str,
        username: str | None = None,
        profile_id: int | None = None,
        validity_days: float | None = None,
        status: str = "connected",
        paused: bool = False,
        now: dt.datetime | None = None,
    ) -> Account:
        now = now or self.clock()
        days = self.config.token_validity_days if validity_days is None else validity_days
        account = Account(
            id=self._next_id,
            platform=platform,
            name=name,
            username=username or name.lower().replace(" ", "_"),
            profile_id=profile_id,
            token_expires_at=expiry_for_days(now, days),
            created_at=now,
            status="error" if status == "error" else "connected",
            paused=paused,
        )
        if status == "expired":
            account.token_expires_at = now - dt.timedelta(days=1)
        self._next_id += 1
        self.accounts[account.id] = account
        return account

    def visible_accounts(self, profile_id: int | None) -> list[Account]:
        """Return the accounts of ``profile_id`` (``None`` = the main account), by id."""
        with self.lock:
            return [a for a in self.accounts.values() if a.profile_id == profile_id]

    def get_account(self, account_id: int, profile_id: int | None) -> Account:
        """Return one account of ``profile_id`` or raise ``404 RESOURCE_NOT_FOUND``."""
        with self.lock:
            account = self.accounts.get(account_id)
            if account is None or account.profile_id != profile_id:
                raise ApiError(404, "RESOURCE_NOT_FOUND", "Social account not found.", {"id": account_id})
            return account

    def add_account(self, action: str = "account_added", **spec: Any) -> Account:
        """Create an account from ``spec`` (see :meth:`_new_account`) and log ``action``."""
        with self.lock:
            account = self._new_account(**spec)
            self.record_write(action, account_id=account.id, platform=account.platform)
            return account

    def set_paused(self, account_id: int, profile_id: int | None, paused: bool) -> Account:
        """Pause or resume an account; a no-op (already in that state) logs no write."""
        return self._change(
            account_id, profile_id, "paused", paused, "account_paused" if paused else "account_resumed"
        )

    def rename_account(self, account_id: int, profile_id: int | None, name: str) -> Account:
        """Rename an account (display name inside SmartlyQ only); a no-op logs no write."""
        return self._change(account_id, profile_id, "name", name, "account_renamed")

    def _change(
        self, account_id: int, profile_id: int | None, field: str, value: Any, action: str
    ) -> Account:
        """Set one field of an account of ``profile_id``; log ``action`` only when it changed."""
        with self.lock:
            account = self.get_account(account_id, profile_id)
            if getattr(account, field) != value:
                setattr(account, field, value)
                self.record_write(action, account_id=account.id)
            return account

    def delete_account(self, account_id: int, profile_id: int | None) -> None:
        """Disconnect (delete) an account."""
        with self.lock:
            account = self.get_account(account_id, profile_id)
            del self.accounts[account.id]
            self.record_write("account_disconnected", account_id=account.id)

    def update_account(self, account_id: int, fields: dict[str, Any]) -> Account:
        """
        Apply control-API ``fields`` to any account, logging one write when something changed.

        ``fields`` come validated (``routes.control.AccountPatch``); every new value is computed
        before the first one is set, so a refused change leaves the account as it was. ``None``
        means "unchanged" except for ``profile_id`` (``None`` = the main account).
        """
        with self.lock:
            account = self.accounts.get(account_id)
            if account is None:
                raise ApiError(404, "RESOURCE_NOT_FOUND", "Social account not found.", {"id": account_id})
            now = self.clock()
            before = account.to_control(now)
            changes: dict[str, Any] = {}
            expires = account.token_expires_at
            if fields.get("validity_days") is not None:
                expires = expiry_for_days(now, fields["validity_days"])
            if fields.get("token_expires_at") is not None:
                expires = fields["token_expires_at"]
                if expires.tzinfo is None:  # compared with aware times on every later read
                    raise ApiError(
                        422,
                        "VALIDATION_ERROR",
                        "token_expires_at needs a UTC offset.",
                        {"fields": ["token_expires_at"]},
                    )
            if fields.get("status") == "expired":
                expires = min(expires, now - dt.timedelta(seconds=1))
            elif fields.get("status") in ("connected", "error"):
                changes["status"] = fields["status"]
            changes["token_expires_at"] = expires
            for key in ("paused", "name", "username"):
                if fields.get(key) is not None:
                    changes[key] = fields[key]
            if "profile_id" in fields:
                changes["profile_id"] = fields["profile_id"]
            for key, value in changes.items():
                setattr(account, key, value)
            after = account.to_control(now)
            changed = sorted(k for k in after if after[k] != before[k] and k != "validity_days")
            if changed:
                self.record_write("account_updated", account_id=account.id, fields=changed)
            return account

    def expire_token(self, account_id: int) -> Account:
        """Make an account's token expire now (control API)."""
        with self.lock:
            account = self.accounts.get(account_id)
            if account is None:
                raise ApiError(404, "RESOURCE_NOT_FOUND", "Social account not found.", {"id": account_id})
            now = self.clock()
            if not account.token_expired(now):
                account.token_expires_at = now - dt.timedelta(seconds=1)
                self.record_write("token_expired", account_id=account.id)
            return account

    def health_summary(self, profile_id: int | None) -> dict[str, Any]:
        """Return the bulk health answer: tallies plus one row per account."""
        with self.lock:
            now = self.clock()
            tally = {"healthy": 0, "expiring": 0, "expired": 0, "paused": 0}
            rows = []
            for account in self.visible_accounts(profile_id):
                rows.append(account.to_bulk_health(now))
                if account.paused:
                    tally["paused"] += 1
                elif account.health_status(now) != "connected":
                    tally["expired"] += 1  # expired and errored accounts both need a reconnect
                elif (account.token_expires_at - now).total_seconds() <= 7 * 86400:
                    tally["expiring"] += 1
                else:
                    tally["healthy"] += 1
            return {**tally, "accounts": rows}

    # -- rate limit ---------------------------------------------------------------------
    def rate_settings(self) -> tuple[int, float, str]:
        """Return ``(limit, window seconds, scope)`` in force (control API changes win)."""
        with self.lock:
            override = dict(self.rate_override)
        return (
            int(override.get("limit", self.config.rate_limit)),
            float(override.get("window_seconds", self.config.rate_window)),
            str(override.get("scope", self.config.rate_limit_scope)),
        )

    def rate_hit(self, key_label: str, now_unix: float, consume: bool = True) -> tuple[int, int, int, bool]:
        """
        Count one request of ``key_label`` in its fixed window (one per key, or one per workspace).

        Windows are aligned on multiples of their length since the epoch, so every process
        (and the usage report) agrees on where one ends. A request answered 429 counts too.

        :return: ``(limit, remaining, reset_unix, exceeded)``; never exceeded when not enforced.
        """
        enforced, length, scope = self.rate_settings()
        limit = enforced or UNLIMITED_ADVERTISED
        bucket = "workspace" if scope == "workspace" else key_label
        window = int(now_unix // length)
        with self.lock:
            current, count = self.rate_windows.get(bucket, (window, 0))
            if current != window:
                count = 0
            exceeded = bool(enforced) and count + (1 if consume else 0) > enforced
            if consume:
                count += 1
                self.rate_windows[bucket] = (window, count)
                usage = self.rate_usage.setdefault((bucket, window), [0, 0])
                usage[0] += 1
                usage[1] += int(exceeded)
        return limit, max(0, limit - count), math.ceil((window + 1) * length), exceeded

    def rate_limit_report(self) -> dict[str, Any]:
        """Return the settings and, per budget and window, requests, 429s and the busiest window."""
        enforced, length, scope = self.rate_settings()
        with self.lock:
            usage = sorted(self.rate_usage.items(), key=lambda item: (item[0][1], item[0][0]))
        windows: list[dict[str, Any]] = [
            {
                "budget": bucket,
                "start": window * length,
                "end": (window + 1) * length,
                "requests": requests,
                "limited": limited,
                "accepted": requests - limited,
            }
            for (bucket, window), (requests, limited) in usage
        ]
        return {
            "limit": enforced,
            "window_seconds": length,
            "scope": scope,
            "requests": sum(requests for _, (requests, _) in usage),
            "limited": sum(limited for _, (_, limited) in usage),
            "max_requests_per_window": max((requests for _, (requests, _) in usage), default=0),
            "max_accepted_per_window": max((r - lim for _, (r, lim) in usage), default=0),
            "windows": windows,
        }
