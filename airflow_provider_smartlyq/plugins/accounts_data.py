"""
What the "SmartlyQ accounts" view shows: SmartlyQ connections and their accounts' health.

One bulk health request (``GET /social/accounts/health``) per connection per
:func:`cache_seconds` serves every viewer and every api-server thread: the answer (or the
error) is cached per process, and a lock makes concurrent viewers wait for the one request in
flight instead of sending their own. The request goes through :class:`SmartlyQHook`, so the
connection's retries and request budget apply. States come from
:func:`airflow_provider_smartlyq.core.account_state.account_state`, the one rule.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from airflow_provider_smartlyq.core.account_state import STATES, account_state
from airflow_provider_smartlyq.core.selector import account_id_of

#: Default seconds one bulk health answer is served from the cache.
DEFAULT_CACHE_SECONDS = 300.0
#: Errors (a bad key, an outage) are kept at most this long, so a fixed key shows up soon.
ERROR_CACHE_SECONDS = 60.0
#: The validity the view calls "expiring" below (days), as the watcher's default.
EXPIRING_WITHIN_DAYS = 7.0

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def cache_seconds() -> float:
    """Return ``[smartlyq] ui_cache_seconds`` (default 300, at least 10)."""
    from airflow_provider_smartlyq._compat import conf

    try:
        value = float(conf.get("smartlyq", "ui_cache_seconds", fallback=str(DEFAULT_CACHE_SECONDS)))
    except (TypeError, ValueError):
        value = DEFAULT_CACHE_SECONDS
    return max(10.0, value)


def smartlyq_connection_ids() -> list[str]:
    """
    Return the ids of SmartlyQ connections in the metadata database and in ``AIRFLOW_CONN_*``.

    Secrets backends cannot be listed; their connections do not appear.
    """
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    ids: set[str] = set()
    with create_session() as session:
        ids.update(session.scalars(select(Connection.conn_id).where(Connection.conn_type == "smartlyq")))
    for name, value in os.environ.items():
        if not name.startswith("AIRFLOW_CONN_") or not value:
            continue
        conn_id = name.removeprefix("AIRFLOW_CONN_").lower()
        text = value.strip()
        if text.startswith("{"):
            import json

            try:
                is_smartlyq = json.loads(text).get("conn_type") == "smartlyq"
            except (ValueError, AttributeError):
                is_smartlyq = False
        else:
            is_smartlyq = text.startswith("smartlyq:")
        if is_smartlyq:
            ids.add(conn_id)
    return sorted(ids)


def _lock(conn_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(conn_id, threading.Lock())


def _fetch(conn_id: str) -> dict[str, Any]:
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    fetched_at = time.time()
    try:
        with SmartlyQHook(conn_id) as hook:
            health = hook.get_accounts_health()
    except Exception as exc:  # shown to the viewer; the hook's messages never carry the key
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "fetched_at": fetched_at}
    rows = []
    counts = dict.fromkeys(STATES, 0)
    paused = 0
    for item in health.get("accounts") or []:
        if not isinstance(item, dict):
            continue
        state = account_state(item, min_validity_days=EXPIRING_WITHIN_DAYS)
        counts[state.state] += 1
        paused += state.paused
        rows.append(
            {
                "id": account_id_of(item),
                "platform": item.get("platform"),
                "account_name": item.get("account_name"),
                "status": item.get("status"),
                "state": state.state,
                "reasons": list(state.reasons),
                "validity_days": item.get("validity_days"),
                "paused": state.paused,
            }
        )
    return {
        "ok": True,
        "accounts": rows,
        "counts": counts,
        "paused": paused,
        "expiring_within_days": EXPIRING_WITHIN_DAYS,
        "fetched_at": fetched_at,
    }


def connection_health(conn_id: str) -> dict[str, Any]:
    """Return the view's data for one connection: cached, else one bulk health request."""
    with _lock(conn_id):
        cached = _cache.get(conn_id)
        now = time.monotonic()
        if cached is not None:
            stored_at, data = cached
            ttl = cache_seconds() if data["ok"] else min(cache_seconds(), ERROR_CACHE_SECONDS)
            if now - stored_at < ttl:
                return {**data, "conn_id": conn_id, "cached": True}
        data = _fetch(conn_id)
        _cache[conn_id] = (time.monotonic(), data)
        return {**data, "conn_id": conn_id, "cached": False}


def reconnect_url(conn_id: str, account_id: int) -> str:
    """Return one account's reconnect URL (one request; never cached, never logged)."""
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    with SmartlyQHook(conn_id) as hook:
        return hook.get_reconnect_url(account_id)
