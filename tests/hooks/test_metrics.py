"""Request, 429 and budget-wait metrics go through Airflow's own metrics facade."""

from __future__ import annotations

import builtins

import pytest

from airflow_provider_smartlyq._compat import AIRFLOW_V_3_2_PLUS
from airflow_provider_smartlyq.hooks import _metrics
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def incr(self, name, count=None, rate=None, *, tags=None):
        self.calls.append(("incr", name, tags))

    def timing(self, name, dt, *, tags=None):
        self.calls.append(("timing", name, tags))


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(_metrics, "stats", lambda: recorder)
    return recorder


def test_the_facade_is_airflows_stats():
    _metrics.stats.cache_clear()
    if AIRFLOW_V_3_2_PLUS:
        from airflow.sdk.observability.stats import Stats
    else:  # Airflow 3.1 keeps it in core (docs/versions.md)
        from airflow.stats import Stats

    assert _metrics.stats() is Stats
    _metrics.incr("smartlyq.api.requests", {"conn_id": "x", "priority": "write"})  # no backend: no-op


def test_requests_and_429s_are_counted_with_their_priority(recorder, smartlyq_conn):
    smartlyq_conn.client.inject_fault("/v1/me", "GET", status=429, retry_after=1)
    hook = SmartlyQHook(retry_min_wait=0.01, retry_max_wait=0.05)

    hook.get_me()
    hook.pause_account(101)

    names = [(kind, name, tags["priority"]) for kind, name, tags in recorder.calls]
    assert names.count(("incr", "smartlyq.api.requests", "foreground")) == 2  # the 429, then the 200
    assert names.count(("incr", "smartlyq.api.rate_limited", "foreground")) == 1
    assert ("incr", "smartlyq.api.requests", "write") in names
    assert ("timing", "smartlyq.budget.wait", "foreground") in names  # it waited out the hold
    assert all(tags["conn_id"] == "smartlyq_default" for _, _, tags in recorder.calls)


def test_no_facade_means_no_metrics_and_no_error(monkeypatch, smartlyq_conn):
    _metrics.stats.cache_clear()
    real_import = builtins.__import__

    def no_airflow_stats(name, *args, **kwargs):
        if name.endswith("stats"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_airflow_stats)
    monkeypatch.setattr("importlib.import_module", lambda name: no_airflow_stats(name))
    try:
        assert _metrics.stats() is None
        assert SmartlyQHook().get_me()["id"] == 4242
    finally:
        monkeypatch.undo()
        _metrics.stats.cache_clear()


def test_a_broken_backend_never_breaks_a_request(monkeypatch, smartlyq_conn):
    class Broken:
        def incr(self, *args, **kwargs):
            raise RuntimeError("statsd down")

        timing = incr

    monkeypatch.setattr(_metrics, "stats", lambda: Broken())
    assert SmartlyQHook().get_me()["id"] == 4242
