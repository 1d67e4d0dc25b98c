"""
Event trigger for asset watchers: fire when accounts turn unhealthy, start expiring or recover.

One code path, two drivers. :meth:`AccountHealthEventTrigger.open_shared_stream` polls the bulk
health endpoint and yields JSON-plain snapshots; :meth:`~AccountHealthEventTrigger.filter_shared_stream`
turns snapshots into this watcher's events. In a triggerer with shared streams (Airflow 3.3+)
every watcher on the same connection and interval subscribes to one poll; elsewhere
:meth:`~AccountHealthEventTrigger.run` chains the same two methods for this watcher alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_smartlyq.core.classify import is_permanent, is_unexpected
from airflow_provider_smartlyq.core.selector import AccountSelector
from airflow_provider_smartlyq.exceptions import (
    SmartlyQValidationError,
    SmartlyQWatcherStoppedError,
)
from airflow_provider_smartlyq.waits.policy import next_delay, validate_poll_interval
from airflow_provider_smartlyq.waits.transitions import (
    TRANSITIONS,
    diff_snapshot,
    validate_days,
    validate_events,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Hashable

log = logging.getLogger(__name__)

CLASSPATH = "airflow_provider_smartlyq.triggers.smartlyq.AccountHealthEventTrigger"

#: Longest pause between polls while SmartlyQ keeps failing (unless poll_interval is longer).
MAX_BACKOFF_SECONDS = 900.0

#: Prefix of the asset-state-store key holding a watcher's last-seen states.
STATE_KEY_PREFIX = "smartlyq_health_watch"

__all__ = ["AccountHealthEventTrigger"]


def _utcnow_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _backoff(poll_interval: float, failures: int, exc: BaseException) -> float:
    """Return the pause after ``failures`` failed polls in a row (doubling, capped; Retry-After wins)."""
    doubled = min(poll_interval * 2 ** min(failures, 10), max(poll_interval, MAX_BACKOFF_SECONDS))
    return max(doubled, next_delay(poll_interval, exc))


class AccountHealthEventTrigger(BaseEventTrigger):
    """
    Fire one event per account transition into a watched health state (for ``AssetWatcher``).

    Every watcher on the same connection (and so the same profile) with the same
    ``poll_interval`` shares one ``GET /social/accounts/health`` per interval in the triggerer;
    each applies its own selector. Events carry ``{event_key, transition, account: {id,
    platform, account_name, status, token_expired, validity_days}, observed_at}``; Airflow
    stores the payload in the asset event's ``extra["payload"]``. Steady states never fire again.

    Last-seen states are kept in the asset state store when the triggerer provides one
    (Airflow 3.3+), so a restarted triggerer does not fire a transition twice; otherwise in
    memory only (a restart then starts from a new baseline, see ``fire_on_start``).

    :param smartlyq_conn_id: The Airflow connection (its profile applies).
    :param account_ids: Watch these accounts; the four selector arguments are those of
        :class:`~airflow_provider_smartlyq.core.selector.AccountSelector`.
    :param platforms: Watch accounts on these platforms.
    :param account_name_pattern: Watch accounts whose name matches this glob, e.g. ``"Acme *"``.
    :param all_accounts: Watch every account of the connection.
    :param events: Transitions to fire on: ``unhealthy``, ``expiring``, ``recovered``.
    :param expiring_within_days: A connected account whose ``validity_days`` is below this is
        ``expiring`` (see :func:`~airflow_provider_smartlyq.core.account_state.account_state`).
    :param poll_interval: Seconds between polls. Watchers on the same connection with the same
        interval share one poll.
    :param fire_on_start: On the watcher's first poll, fire for accounts already unhealthy or
        expiring; ``False`` only records them as the baseline.
    :param max_consecutive_failures: Permanent errors (401/403, 404, 422, an unusable connection:
        see :func:`airflow_provider_smartlyq.core.classify.classify_error`) in a row after which the
        watcher stops with an error. Transient errors (no answer, 429, 5xx) never stop it.
    """

    def __init__(
        self,
        *,
        smartlyq_conn_id: str = "smartlyq_default",
        account_ids: Any = None,
        platforms: Any = None,
        account_name_pattern: str | None = None,
        all_accounts: bool = False,
        events: Any = TRANSITIONS,
        expiring_within_days: float = 7,
        poll_interval: float = 300,
        fire_on_start: bool = True,
        max_consecutive_failures: int = 5,
    ) -> None:
        super().__init__()
        if not isinstance(smartlyq_conn_id, str) or not smartlyq_conn_id:
            raise SmartlyQValidationError.local("smartlyq_conn_id must be a connection id")
        if isinstance(max_consecutive_failures, bool) or not isinstance(max_consecutive_failures, int):
            raise SmartlyQValidationError.local("max_consecutive_failures must be an integer >= 1")
        if max_consecutive_failures < 1:
            raise SmartlyQValidationError.local("max_consecutive_failures must be an integer >= 1")
        self.smartlyq_conn_id = smartlyq_conn_id
        self.selector = AccountSelector.build(account_ids, platforms, account_name_pattern, all_accounts)
        self.events = validate_events(events)
        self.expiring_within_days = validate_days(expiring_within_days)
        self.poll_interval = validate_poll_interval(poll_interval)
        self.fire_on_start = bool(fire_on_start)
        self.max_consecutive_failures = max_consecutive_failures
        # Last-seen state per account id; None until loaded from the store or the first poll.
        self._states: dict[str, str] | None = None
        self._loaded = False
        self._dirty = False
        self._permanent_failures = 0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the public classpath and JSON-plain kwargs (a connection id, never a key)."""
        return CLASSPATH, {
            "smartlyq_conn_id": self.smartlyq_conn_id,
            **self.selector.to_dict(),
            "events": list(self.events),
            "expiring_within_days": self.expiring_within_days,
            "poll_interval": self.poll_interval,
            "fire_on_start": self.fire_on_start,
            "max_consecutive_failures": self.max_consecutive_failures,
        }

    # -- the shared poll -------------------------------------------------------------------

    def shared_stream_key(self) -> Hashable | None:
        """
        Return the key under which watchers share one poll: the connection and the interval.

        The profile is not a separate part: it is the connection's ``profile_id`` extra, so the
        connection id fixes it, and two connections with different profiles never share a poll
        (reading the connection here would be I/O on the triggerer's event loop). The interval is
        part of the key because :meth:`open_shared_stream` polls at it: Airflow hands the shared
        poll one member's kwargs, so only fields in the key may shape the poll. Watchers on one
        connection with the same interval (the default 300 s) share one request per interval.
        """
        return ("smartlyq-health", self.smartlyq_conn_id, self.poll_interval)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncGenerator[Any, None]:
        """
        Poll the bulk health endpoint forever; yield one JSON-plain snapshot per poll.

        A snapshot is ``{"ok": True, "observed_at", "accounts": [...]}`` or, when the poll
        failed after the hook's retries, ``{"ok": False, "observed_at", "permanent", "error"}``;
        each watcher decides what a failure means to it. Failures back off (doubling the pause,
        capped); the stream itself never ends on an API error.

        :param kwargs: The kwargs of one watcher of the group; only the connection and the
            interval are read, the two parts of :meth:`shared_stream_key`.
        """
        from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

        conn_id = str(kwargs.get("smartlyq_conn_id") or "smartlyq_default")
        interval = float(kwargs.get("poll_interval") or 300)
        # The connection's retry count applies; waits inside one poll stay shorter than the interval
        # so that a long outage is ridden out by this loop (one warning per poll).
        hook = SmartlyQHook(conn_id, retry_max_wait=min(30.0, max(1.0, interval)))
        failures = 0
        try:
            while True:
                observed_at = _utcnow_iso()
                snapshot: dict[str, Any]
                try:
                    health = await hook.aget_accounts_health()
                except Exception as exc:
                    if is_unexpected(exc):
                        raise  # a bug, not an outage: let the triggerer report it
                    # The provider-wide rule: 401/403, 404 (NOT_ENABLED too), 422 and an unusable
                    # connection are permanent and count towards max_consecutive_failures.
                    permanent = is_permanent(exc)
                    failures += 1
                    delay = _backoff(interval, failures, exc)
                    log.warning(
                        "SmartlyQ health poll on connection %s failed (%s error, %d in a row); "
                        "next poll in %.1f s: %s",
                        conn_id,
                        "permanent" if permanent else "transient",
                        failures,
                        delay,
                        exc,
                    )
                    error = f"{type(exc).__name__}: {exc}"
                    snapshot = {
                        "ok": False,
                        "observed_at": observed_at,
                        "permanent": permanent,
                        "error": error,
                    }
                else:
                    failures = 0
                    delay = interval
                    accounts = [
                        json.loads(json.dumps(item, default=str))  # JSON-plain whatever the API adds
                        for item in health.get("accounts") or []
                        if isinstance(item, dict)
                    ]
                    snapshot = {"ok": True, "observed_at": observed_at, "accounts": accounts}
                yield snapshot
                await asyncio.sleep(delay)
        finally:
            await hook.aclose()

    async def filter_shared_stream(
        self, shared_stream: AsyncIterator[Any]
    ) -> AsyncGenerator[TriggerEvent, None]:
        """Turn the shared snapshots into this watcher's events (its selector, its last-seen states)."""
        async for snapshot in shared_stream:
            payloads = await self._process(snapshot)
            for payload in payloads:
                yield TriggerEvent(payload)
            # Saved after the events were handed over: a crash in between fires them again
            # (at least once, deduplicate on event_key) rather than losing them.
            if self._dirty:
                await self._save_states()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll alone, with the same snapshot logic (Airflow without shared streams)."""
        from airflow_provider_smartlyq._compat import airflow_version, has_shared_streams

        if not has_shared_streams():
            self.log.info(
                "Airflow %s has no shared trigger streams (Airflow 3.3+): this watcher polls on its "
                "own, one GET /social/accounts/health per %.0f s, not one per connection and interval",
                airflow_version(),
                self.poll_interval,
            )
        _, kwargs = self.serialize()
        stream = self.open_shared_stream(kwargs)
        # Close both generators now (not at garbage collection) so the hook's session is released.
        async with (
            contextlib.aclosing(stream),
            contextlib.aclosing(self.filter_shared_stream(stream)) as events,
        ):
            async for event in events:
                yield event

    # -- per-watcher logic -----------------------------------------------------------------

    async def _process(self, snapshot: Any) -> list[dict[str, Any]]:
        """Return the payloads one snapshot fires; raise once permanent errors exhausted the budget."""
        if not isinstance(snapshot, dict):
            self.log.warning(
                "Ignoring a malformed SmartlyQ health snapshot of type %s", type(snapshot).__name__
            )
            return []
        if not snapshot.get("ok"):
            return self._on_failure(snapshot)
        self._permanent_failures = 0
        if not self._loaded:
            await self._load_states()
        payloads, states = diff_snapshot(
            self._states,
            snapshot.get("accounts") or [],
            selector=self.selector,
            events=self.events,
            expiring_within_days=self.expiring_within_days,
            fire_on_start=self.fire_on_start,
            observed_at=str(snapshot.get("observed_at") or _utcnow_iso()),
        )
        self._dirty = states != self._states
        self._states = states
        for payload in payloads:
            self.log.info(
                "Account %s (%s) is %s: firing %s",
                payload["account"]["id"],
                payload["account"]["account_name"],
                payload["account"]["status"],
                payload["event_key"],
            )
        return payloads

    def _on_failure(self, snapshot: dict[str, Any]) -> list[dict[str, Any]]:
        error = snapshot.get("error") or "unknown error"
        if not snapshot.get("permanent"):
            self.log.warning("SmartlyQ health poll failed (transient, will retry): %s", error)
            return []
        self._permanent_failures += 1
        if self._permanent_failures >= self.max_consecutive_failures:
            raise SmartlyQWatcherStoppedError(
                f"SmartlyQ health watcher ({self.selector.describe()}) on connection "
                f"{self.smartlyq_conn_id!r} stopped after {self._permanent_failures} permanent errors "
                f"in a row; fix the connection's API key or scopes. Last error: {error}"
            )
        self.log.warning(
            "SmartlyQ health poll failed with a permanent error (%d of %d before stopping): %s",
            self._permanent_failures,
            self.max_consecutive_failures,
            error,
        )
        return []

    # -- last-seen states: the asset state store, else memory ------------------------------

    @property
    def state_key(self) -> str:
        """Return this watcher's key in the asset state store (stable across restarts)."""
        identity = {
            "conn": self.smartlyq_conn_id,
            "selector": self.selector.to_dict(),
            "events": self.events,
            "expiring_within_days": self.expiring_within_days,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        return f"{STATE_KEY_PREFIX}:{digest}"

    def _store(self) -> Any:
        """Return the asset state store the triggerer injected, or ``None`` (before Airflow 3.3)."""
        return getattr(self, "asset_state_store", None)

    def _no_store(self, exc: Exception, action: str) -> None:
        """Keep states in memory: for good when the store refuses this trigger, else this once."""
        if isinstance(exc, ValueError):
            self.asset_state_store = None  # it will refuse every time: say so once
            # Airflow's accessors answer aget/aset only for a trigger watching ONE asset; the
            # per-asset accessors need the asset, which a trigger is not told. Two AssetWatchers
            # with the same kwargs share one trigger, so they land here.
            self.log.warning(
                "This watcher serves several assets (their AssetWatchers have the same kwargs), so it "
                "keeps last-seen states in memory; give each watcher distinct kwargs (e.g. its own "
                "selector) to keep them across triggerer restarts"
            )
        else:
            self.log.warning("Could not %s the asset state store, keeping states in memory: %s", action, exc)

    async def _load_states(self) -> None:
        self._loaded = True
        store = self._store()
        if store is None:
            from airflow_provider_smartlyq._compat import airflow_version, has_asset_state_store

            if not has_asset_state_store():
                self.log.info(
                    "Airflow %s has no asset state store (Airflow 3.3+): last-seen account states "
                    "are kept in memory, so a triggerer restart starts from a new baseline "
                    "(see fire_on_start)",
                    airflow_version(),
                )
            return
        try:
            stored = await store.aget(self.state_key, None)
        except Exception as exc:  # a store outage must not stop the watcher
            self._no_store(exc, "read")
            return
        if isinstance(stored, dict) and isinstance(stored.get("states"), dict):
            self._states = {str(k): str(v) for k, v in stored["states"].items()}
            self.log.info("Resumed %d last-seen account states from the asset state store", len(self._states))

    async def _save_states(self) -> None:
        self._dirty = False
        store = self._store()
        if self._states is None or store is None:
            return
        value = {"states": self._states, "saved_at": _utcnow_iso()}
        try:
            await store.aset(self.state_key, value)
        except Exception as exc:
            self._no_store(exc, "write")
