"""
Counters and timers sent through Airflow's own metrics facade (StatsD or OpenTelemetry).

Airflow decides where metrics go (``[metrics]`` in airflow.cfg); the provider only names them.
The facade is looked up on first use, never at import (hooks load in DAG files), and every
failure degrades to a no-op: metrics must never fail a request.

Names (all tagged ``conn_id`` and ``priority``):

* ``smartlyq.api.requests``: answers received, any status;
* ``smartlyq.api.rate_limited``: answers that were ``429``;
* ``smartlyq.budget.wait``: time a request waited for the shared request budget (a timer);
* ``smartlyq.budget.exhausted``: requests that gave up waiting for the budget.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def stats() -> Any:
    """Return Airflow's ``Stats`` facade, or ``None`` where this Airflow has none."""
    from airflow_provider_smartlyq import _compat

    try:
        return _compat.stats()
    except Exception:  # no usable facade on this Airflow: metrics are optional
        return None


def incr(name: str, tags: dict[str, str]) -> None:
    """Count one ``name`` event; never raise."""
    facade = stats()
    if facade is None:
        return
    try:
        facade.incr(name, 1, 1, tags=tags)
    except Exception:  # a broken metrics backend must not break a request
        return


def timing(name: str, seconds: float, tags: dict[str, str]) -> None:
    """Record a duration in seconds; never raise."""
    facade = stats()
    if facade is None:
        return
    try:
        facade.timing(name, dt.timedelta(seconds=seconds), tags=tags)
    except Exception:  # a broken metrics backend must not break a request
        return
