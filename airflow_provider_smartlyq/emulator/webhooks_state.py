"""
Webhook subscriptions of the emulator and their signed deliveries (a mixin of ``EmulatorState``).

Effects already logged through ``record_write`` become events: ``token_expired`` ->
``account.token_expired``, ``account_connected``/``account_reconnected`` -> ``account.connected``,
``account_disconnected`` -> ``account.disconnected``. Each subscribed endpoint gets a signed POST
(``X-SmartlyQ-Signature: t=<unix>,v1=<hex>``, ``X-SmartlyQ-Event``, ``X-SmartlyQ-Event-Id``)
from a background task on the server's event loop: up to 5 attempts with exponential backoff,
and 10 failed deliveries in a row mark the endpoint ``failing`` (no more deliveries).

Signing is done here with the standard library, independently of the provider's
:mod:`airflow_provider_smartlyq.webhooks` (which tests use to verify what arrives), and the
emulator needs no Airflow. Only loopback URLs are accepted: the emulator never calls out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import itertools
import json
import logging
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_smartlyq.emulator.models import ApiError, iso

if TYPE_CHECKING:
    import datetime as dt
    import threading
    from collections.abc import Callable

    from airflow_provider_smartlyq.emulator.models import Account

log = logging.getLogger(__name__)

#: Subscribable event names (the spec's enum for ``POST /webhooks``).
EVENT_CATALOG: tuple[str, ...] = (
    "post.published", "post.partial", "post.failed", "account.connected", "account.disconnected",
    "account.token_expired", "comment.received", "message.received", "job.completed", "job.failed",
    "balance.low", "balance.depleted", "key.revoked", "wallet.recharge.succeeded",
    "wallet.recharge.failed", "account_billing.charged", "account_billing.failed", "contact.created",
    "contact.updated", "contact.tag_added", "contact.tag_removed", "deal.created", "deal.stage_changed",
    "deal.won", "deal.lost", "post.scheduled", "post.cancelled", "post.recycled",
    "post.external.created", "post.external.updated", "message.sent", "conversation.started",
    "reaction.received", "review.new", "review.updated", "message.delivered", "message.read",
    "message.failed",
)  # fmt: skip

#: Write-log actions that SmartlyQ announces as events.
EVENT_FOR_WRITE = {
    "token_expired": "account.token_expired",
    "account_connected": "account.connected",
    "account_reconnected": "account.connected",
    "account_disconnected": "account.disconnected",
}

MAX_ACTIVE_WEBHOOKS = 10
MAX_ATTEMPTS = 5
FAILING_AFTER = 10

_webhook_ids = itertools.count(1)


def sign(secret: str, raw_body: bytes, timestamp: int) -> str:
    """Return the ``X-SmartlyQ-Signature`` value for ``raw_body`` at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def validate_loopback_url(url: Any) -> str:
    """Return ``url`` when it is an http(s) URL on a loopback host; else raise ``422``."""
    message = "url must be an http(s) URL on a loopback host (the emulator delivers to this machine only)."
    if not isinstance(url, str) or len(url) > 2048:
        raise ApiError(422, "VALIDATION_ERROR", message, {"fields": ["url"]})
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if parts.scheme not in ("http", "https") or not loopback:
        raise ApiError(422, "VALIDATION_ERROR", message, {"fields": ["url"]})
    return url


def validate_events(events: Any) -> list[str]:
    """Return the subscribed event names, refusing an empty list and unknown names with ``422``."""
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ApiError(
            422, "VALIDATION_ERROR", "events must be a non-empty list of event names.", {"fields": ["events"]}
        )
    unknown = sorted(set(events) - set(EVENT_CATALOG))
    if unknown:
        raise ApiError(
            422,
            "VALIDATION_ERROR",
            f"Unknown events: {', '.join(unknown)}.",
            {"fields": ["events"], "unknown": unknown},
        )
    return list(dict.fromkeys(events))


class WebhooksMixin:
    """Webhook registrations, event fan-out and delivery (mixed into ``EmulatorState``)."""

    #: First pause between delivery attempts in seconds; doubles after each failure.
    webhook_retry_base: float = 0.5
    #: Seconds one delivery attempt may take.
    webhook_timeout: float = 5.0

    if TYPE_CHECKING:
        lock: threading.RLock
        accounts: dict[int, Account]
        clock: Callable[[], dt.datetime]

        def record_write(self, action: str, **fields: Any) -> dict[str, Any]: ...

    def init_webhooks(self) -> None:
        """Create the webhook records (called once by ``EmulatorState.__init__``)."""
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.webhook_deliveries: list[dict[str, Any]] = []
        self._webhook_loop: asyncio.AbstractEventLoop | None = None
        self._delivery_tasks: set[asyncio.Task[None]] = set()

    def reset_webhooks(self) -> None:
        """Forget every subscription and delivery (part of ``reset``)."""
        with self.lock:
            self.webhooks.clear()
            self.webhook_deliveries.clear()

    # -- registrations ------------------------------------------------------------------
    def create_webhook(self, url: Any, events: Any, secret: Any = None) -> dict[str, Any]:
        """Subscribe ``url`` to ``events``; return the record (with its secret, shown only now)."""
        url, names = validate_loopback_url(url), validate_events(events)
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ApiError(
                422, "VALIDATION_ERROR", "secret must be a non-empty string.", {"fields": ["secret"]}
            )
        # Deliveries run on the loop serving the API; registering happens on it.
        self._webhook_loop = asyncio.get_running_loop()
        with self.lock:
            if sum(1 for w in self.webhooks.values() if w["status"] == "active") >= MAX_ACTIVE_WEBHOOKS:
                raise ApiError(
                    422,
                    "VALIDATION_ERROR",
                    f"At most {MAX_ACTIVE_WEBHOOKS} active webhooks per workspace.",
                    {},
                )
            record = {
                "id": next(_webhook_ids),
                "url": url,
                "events": names,
                "status": "active",
                "secret": secret or "whsec_" + secrets.token_hex(16),
                "last_triggered_at": None,
                "created_at": iso(self.clock()),
                "consecutive_failures": 0,
            }
            self.webhooks[record["id"]] = record
            self.record_write("webhook_created", webhook_id=record["id"])
            return dict(record)

    def list_webhooks(self) -> list[dict[str, Any]]:
        """Return the subscriptions as ``GET /webhooks`` shows them (no secrets)."""
        fields = ("id", "url", "events", "status", "last_triggered_at", "created_at")
        with self.lock:
            return [{k: w[k] for k in fields} for w in self.webhooks.values()]

    def delete_webhook(self, webhook_id: int) -> None:
        """Remove a subscription or raise ``404 RESOURCE_NOT_FOUND``."""
        with self.lock:
            if self.webhooks.pop(webhook_id, None) is None:
                raise ApiError(404, "RESOURCE_NOT_FOUND", "Webhook not found.", {"id": webhook_id})
            self.record_write("webhook_deleted", webhook_id=webhook_id)

    # -- events -------------------------------------------------------------------------
    def publish_write(self, entry: dict[str, Any]) -> None:
        """Turn one write-log entry into an event for the subscribed endpoints, if it is one."""
        event = EVENT_FOR_WRITE.get(str(entry.get("action")))
        if event is None:
            return
        with self.lock:
            targets = [
                w["id"] for w in self.webhooks.values() if w["status"] == "active" and event in w["events"]
            ]
            if not targets:
                return
            data = self._event_data(event, entry)
        envelope = {
            "id": "evt_" + uuid.uuid4().hex[:24],
            "event": event,
            "created_at": entry["at"],
            "data": data,
        }
        loop = self._webhook_loop
        if loop is None or loop.is_closed():
            return
        for webhook_id in targets:
            # Writes happen on the loop (API requests) or on a test's thread (direct state calls).
            with contextlib.suppress(RuntimeError):  # the server is shutting down
                loop.call_soon_threadsafe(self._start_delivery, webhook_id, envelope)

    def _event_data(self, event: str, entry: dict[str, Any]) -> dict[str, Any]:
        account = self.accounts.get(entry.get("account_id") or -1)
        data: dict[str, Any] = {"account_id": entry.get("account_id")}
        if account is not None:
            data.update(platform=account.platform, account_name=account.name)
            if event == "account.connected":
                data["account_username"] = account.username
            if account.profile_id is not None:
                data["profile_id"] = account.profile_id
        if event == "account.token_expired":
            data["reason"] = "token_expired"
        return data

    def _start_delivery(self, webhook_id: int, envelope: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(webhook_id, envelope))
        self._delivery_tasks.add(task)  # keep a reference until it finishes
        task.add_done_callback(self._delivery_tasks.discard)

    async def _deliver(self, webhook_id: int, envelope: dict[str, Any]) -> None:
        import aiohttp

        body = json.dumps(envelope, separators=(",", ":")).encode()
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                with self.lock:
                    webhook = self.webhooks.get(webhook_id)
                    if webhook is None or webhook["status"] != "active":
                        return  # deleted or failing meanwhile
                    url, secret = webhook["url"], webhook["secret"]
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "SmartlyQ-Webhooks/1.0 (emulator)",
                    "X-SmartlyQ-Event": envelope["event"],
                    "X-SmartlyQ-Event-Id": envelope["id"],
                    "X-SmartlyQ-Signature": sign(secret, body, int(time.time())),
                }
                status: int | None = None
                error: str | None = None
                try:
                    async with session.post(
                        url, data=body, headers=headers, allow_redirects=False
                    ) as response:
                        status = response.status
                        await response.read()
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                delivered = status is not None and 200 <= status < 300
                self._record_attempt(webhook_id, envelope, attempt, status, error, delivered)
                if delivered:
                    return
                if attempt < MAX_ATTEMPTS:
                    await asyncio.sleep(self.webhook_retry_base * 2 ** (attempt - 1))
        with self.lock:
            webhook = self.webhooks.get(webhook_id)
            if webhook is not None:
                webhook["consecutive_failures"] += 1
                if webhook["consecutive_failures"] >= FAILING_AFTER:
                    webhook["status"] = "failing"
                    log.warning("webhook %s paused after %d failed deliveries", webhook_id, FAILING_AFTER)

    def _record_attempt(
        self,
        webhook_id: int,
        envelope: dict[str, Any],
        attempt: int,
        status: int | None,
        error: str | None,
        delivered: bool,
    ) -> None:
        with self.lock:
            self.webhook_deliveries.append(
                {
                    "webhook_id": webhook_id,
                    "event_id": envelope["id"],
                    "event": envelope["event"],
                    "attempt": attempt,
                    "status": status,
                    "error": error,
                    "delivered": delivered,
                    "at": iso(self.clock()),
                }
            )
            webhook = self.webhooks.get(webhook_id)
            if webhook is not None and delivered:
                webhook["last_triggered_at"] = iso(self.clock())
                webhook["consecutive_failures"] = 0
