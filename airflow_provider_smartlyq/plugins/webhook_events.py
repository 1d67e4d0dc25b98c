"""
Turn verified SmartlyQ webhook events into Airflow asset events, on the api-server.

Account events reach the assets that an :class:`AccountHealthEventTrigger` watches on the same
connection, when its selector matches the account and it watches the transition, with the
trigger's own extra shape (``extra["payload"]`` = ``{event_key, transition, account,
observed_at}``): a DAG scheduled on such an asset runs the same way whether the event came from
a poll or from a webhook, and ``event_key`` is the same for both. Post events reach the asset
named :func:`post_events_asset_name` for the connection.

Deduplication is on SmartlyQ's event id, kept in each asset event's
``extra["smartlyq_webhook"]["event_id"]``: the database is the record (every api-server worker
sees it), with a per-process memory in front so a burst of redeliveries costs no query.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.core.account_state import UNHEALTHY
from airflow_provider_smartlyq.core.selector import AccountSelector, account_id_of
from airflow_provider_smartlyq.waits.transitions import RECOVERED, TRANSITIONS, event_key

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

#: The watcher class whose assets account events reach (its serialized classpath).
TRIGGER_CLASSPATH = "airflow_provider_smartlyq.triggers.smartlyq.AccountHealthEventTrigger"

#: ``event name -> (transition, status)`` as a health poll would observe the account afterwards.
#: ``account.connected`` counts as ``recovered``: a webhook cannot tell a reconnect from a
#: first connect, and a watcher's DAG asks for ``recovered`` to learn that an account works again.
ACCOUNT_EVENTS: dict[str, tuple[str, str]] = {
    "account.token_expired": (UNHEALTHY, "expired"),
    "account.disconnected": (UNHEALTHY, "disconnected"),
    "account.connected": (RECOVERED, "connected"),
}

#: How far back the database is searched for an event id already recorded. SmartlyQ retries a
#: delivery 5 times with exponential backoff, well within a day.
DEDUPE_WINDOW = dt.timedelta(days=2)
#: Event ids remembered per api-server process.
_MEMORY_SIZE = 10_000

_seen: OrderedDict[tuple[str, str], None] = OrderedDict()
_seen_lock = threading.Lock()

__all__ = ["ACCOUNT_EVENTS", "post_events_asset_name", "record_event"]


def post_events_asset_name(conn_id: str = "smartlyq_default") -> str:
    """Return the name of the asset that receives a connection's ``post.*`` webhook events."""
    return f"smartlyq_{conn_id}_post_events"


def _remembered(conn_id: str, event_id: str) -> bool:
    with _seen_lock:
        return (conn_id, event_id) in _seen


def _remember(conn_id: str, event_id: str) -> None:
    with _seen_lock:
        _seen[(conn_id, event_id)] = None
        while len(_seen) > _MEMORY_SIZE:
            _seen.popitem(last=False)


def account_payload(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the watcher-shaped payload of an account event, or ``None`` for other events."""
    mapped = ACCOUNT_EVENTS.get(str(event.get("event")))
    data = event.get("data")
    if mapped is None or not isinstance(data, dict):
        return None
    transition, status = mapped
    account_id = account_id_of(data)
    if account_id is None:
        return None
    account = {
        "id": account_id,
        "platform": data.get("platform"),
        "account_name": data.get("account_name"),
        "status": status,
        "token_expired": status == "expired",
        "validity_days": None,  # a webhook does not say; only a health poll does
    }
    return {
        "event_key": event_key(account_id, transition, status),
        "transition": transition,
        "account": account,
        "observed_at": str(event.get("created_at") or _utcnow_iso()),
    }


def post_payload(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the payload of a ``post.*`` event, or ``None`` for other events."""
    name = str(event.get("event"))
    data = event.get("data")
    if not name.startswith("post.") or not isinstance(data, dict):
        return None
    post_id = data.get("post_id", data.get("id"))
    return {
        "event_key": f"smartlyq:post:{post_id}:{name.removeprefix('post.')}",
        "event": name,
        "post": data,
        "observed_at": str(event.get("created_at") or _utcnow_iso()),
    }


def _utcnow_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _watcher_assets(session: Any, conn_id: str, payload: dict[str, Any]) -> list[Any]:
    """Return the assets of health watchers on ``conn_id`` that would fire this transition."""
    from airflow.models.trigger import Trigger
    from sqlalchemy import select

    found: dict[int, Any] = {}
    for trigger in session.scalars(select(Trigger).where(Trigger.classpath == TRIGGER_CLASSPATH)):
        try:
            kwargs = trigger.kwargs
            if str(kwargs.get("smartlyq_conn_id") or "smartlyq_default") != conn_id:
                continue
            if payload["transition"] not in (kwargs.get("events") or TRANSITIONS):
                continue
            if not AccountSelector.from_dict(kwargs).matches(payload["account"]):
                continue
        except Exception:  # one unreadable watcher row must not lose the event for the others
            log.warning("Skipping SmartlyQ watcher trigger %s: its kwargs cannot be read", trigger.id)
            continue
        for asset in trigger.assets:
            found[asset.id] = asset
    return list(found.values())


def _named_assets(session: Any, name: str) -> list[Any]:
    from airflow.models.asset import AssetModel
    from sqlalchemy import select

    return list(session.scalars(select(AssetModel).where(AssetModel.name == name)))


def _already_recorded(session: Any, asset_ids: list[int], event_id: str) -> bool:
    """Return whether an asset event of these assets already carries SmartlyQ's ``event_id``."""
    from airflow.models.asset import AssetEvent
    from sqlalchemy import select

    since = dt.datetime.now(dt.timezone.utc) - DEDUPE_WINDOW
    rows = session.scalars(
        select(AssetEvent.extra).where(AssetEvent.asset_id.in_(asset_ids), AssetEvent.timestamp >= since)
    )
    for extra in rows:
        marker = (extra or {}).get("smartlyq_webhook") if isinstance(extra, dict) else None
        if isinstance(marker, dict) and marker.get("event_id") == event_id:
            return True
    return False


def record_event(conn_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """
    Record one verified event as asset events; return what was done.

    :return: ``{"duplicate": bool, "asset_events": n, "ignored": bool}``; ``ignored`` for events
        that no asset receives (other event types, or no matching asset).
    """
    event_id = str(event.get("id"))
    if _remembered(conn_id, event_id):
        return {"duplicate": True, "asset_events": 0, "ignored": False}
    payload = account_payload(event)
    is_account = payload is not None
    if payload is None:
        payload = post_payload(event)
    if payload is None:
        _remember(conn_id, event_id)
        return {"duplicate": False, "asset_events": 0, "ignored": True}

    from airflow.assets.manager import AssetManager
    from airflow.utils.session import create_session

    extra = {
        "payload": payload,
        "smartlyq_webhook": {"event_id": event_id, "event": event.get("event"), "conn_id": conn_id},
    }
    with create_session() as session:
        assets = (
            _watcher_assets(session, conn_id, payload)
            if is_account
            else _named_assets(session, post_events_asset_name(conn_id))
        )
        if not assets:
            _remember(conn_id, event_id)
            return {"duplicate": False, "asset_events": 0, "ignored": True}
        if _already_recorded(session, [asset.id for asset in assets], event_id):
            _remember(conn_id, event_id)
            return {"duplicate": True, "asset_events": 0, "ignored": False}
        created = 0
        for asset in assets:
            if AssetManager.register_asset_change(asset=asset, extra=extra, session=session) is not None:
                created += 1
    _remember(conn_id, event_id)
    log.info(
        "SmartlyQ webhook %s (%s) on connection %s: %d asset event(s) created",
        event_id,
        event.get("event"),
        conn_id,
        created,
    )
    return {"duplicate": False, "asset_events": created, "ignored": False}
