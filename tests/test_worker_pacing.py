"""Waits in a worker (operators not deferring, sensors in poke/reschedule mode) pace like the triggerer."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest

from airflow_provider_smartlyq._compat import AirflowRescheduleException
from airflow_provider_smartlyq.exceptions import SmartlyQRateLimitError, SmartlyQServerError
from airflow_provider_smartlyq.hooks._budget import jitter_spread
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook
from airflow_provider_smartlyq.operators.smartlyq import SmartlyQConnectAccountOperator
from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor
from airflow_provider_smartlyq.waits.policy import JITTER, PollPacer


def rate_limited(retry_after: float | None) -> SmartlyQRateLimitError:
    return SmartlyQRateLimitError(429, "RATE_LIMIT_EXCEEDED", "slow down", retry_after=retry_after)


# -- the pacer ------------------------------------------------------------------------------------


def test_every_pause_is_the_interval_plus_bounded_jitter():
    pacer = PollPacer(2.0)

    pauses = [pacer.delay() for _ in range(200)]

    assert all(2.0 <= p <= 2.0 * (1 + JITTER) for p in pauses)
    assert len(set(pauses)) > 1  # really random: waits started together drift apart


def test_after_a_429_the_pause_is_at_least_its_retry_after_until_an_answer_comes():
    pacer = PollPacer(0.5)

    pacer.note(rate_limited(3.0))  # the server named the time: the budget's jitter for such waits
    assert all(3.0 <= pacer.delay() <= 3.0 + jitter_spread(3.0) for _ in range(50))

    pacer.note(SmartlyQServerError(503, "SERVICE_UNAVAILABLE", "busy"))  # no Retry-After: the interval
    assert pacer.delay() <= 0.5 * (1 + JITTER)
    pacer.note(rate_limited(0.1))  # shorter than the interval: the interval wins
    assert 0.5 <= pacer.delay() <= 0.5 * (1 + JITTER)
    pacer.note(None)
    assert pacer.delay() <= 0.5 * (1 + JITTER)


def test_no_pause_runs_past_the_deadline():
    pacer = PollPacer(60.0)
    pacer.note(rate_limited(120.0))

    assert pacer.delay(end_time=time.time() + 2.0) <= 2.0
    assert pacer.delay(end_time=time.time() - 5.0) == 0.0


# -- operators waiting in the worker --------------------------------------------------------------


@pytest.fixture
def check_times(monkeypatch):
    """Record when each connect-status or health check is sent (then send it for real)."""
    times: list[float] = []
    for name in ("get_connect_status", "get_accounts_health"):
        original = getattr(SmartlyQHook, name)

        def spy(self, *args, _original=original, **kwargs):
            times.append(time.monotonic())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(SmartlyQHook, name, spy)
    return times


def test_the_connect_operator_waits_for_retry_after_not_its_poll_interval(
    smartlyq_conn, monkeypatch, check_times
):
    emu = smartlyq_conn
    # No hook retries, so that the 429s reach the wait loop (as they do once the hook gave up).
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", emu.connection_json(max_retries=0))
    emu.client.inject_fault("/v1/social/connect/*", "GET", status=429, count=2, retry_after=1)
    emu.config.auto_approve_after = 0.5
    try:
        operator = SmartlyQConnectAccountOperator(
            task_id="connect", platform="facebook", deferrable=False, poll_interval=0.2, timeout=30
        )
        account = operator.execute({"ti": _TI()})
    finally:
        emu.config.auto_approve_after = None

    assert account["platform"] == "facebook"
    gaps = [b - a for a, b in itertools.pairwise(check_times)]
    # The first two checks were answered 429 with Retry-After: 1; a plain 0.2 s sleep would
    # have asked again four times sooner.
    assert gaps[0] >= 1.0
    assert gaps[1] >= 1.0


class _TI:
    dag_id, run_id, task_id, map_index, try_number = "d", "r", "connect", -1, 1

    def xcom_push(self, key, value):
        pass


# -- sensors in poke and reschedule mode ----------------------------------------------------------


def sensor(mode: str) -> SmartlyQHealthSensor:
    return SmartlyQHealthSensor(
        task_id="gate", account_ids=[101], mode=mode, poke_interval=0.2, timeout=30, fail_on_unhealthy=True
    )


class _SensorTI:
    first_reschedule_date: dt.datetime | None = None

    def xcom_push(self, key, value):
        pass

    def get_first_reschedule_date(self, context):
        return self.first_reschedule_date


def test_a_poking_sensor_waits_for_retry_after_after_a_429(smartlyq_conn, monkeypatch, check_times):
    emu = smartlyq_conn
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", emu.connection_json(max_retries=0))
    emu.client.inject_fault("/v1/social/accounts/health", "GET", status=429, count=2, retry_after=1)

    accounts = sensor("poke").execute({"ti": _SensorTI()})

    assert [a["id"] for a in accounts] == [101]
    gaps = [b - a for a, b in itertools.pairwise(check_times)]
    assert len(gaps) == 2
    assert all(gap >= 1.0 for gap in gaps)


def test_a_rescheduled_sensor_comes_back_after_retry_after_and_with_jitter(smartlyq_conn, monkeypatch):
    emu = smartlyq_conn
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", emu.connection_json(max_retries=0))
    emu.client.inject_fault("/v1/social/accounts/health", "GET", status=429, count=1, retry_after=2)

    with pytest.raises(AirflowRescheduleException) as raised:
        sensor("reschedule").execute({"ti": _SensorTI()})

    wait = (raised.value.reschedule_date - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert wait >= 1.5  # Retry-After 2 s (less the time since), not the 0.2 s poke interval
    assert wait <= 2.0 + jitter_spread(2.0)


def test_sensor_poke_intervals_get_jitter_but_never_less_than_asked(smartlyq_conn):
    gate = sensor("poke")

    intervals = [gate._get_next_poke_interval(time.monotonic(), lambda: 0.0, 1) for _ in range(100)]

    assert all(0.2 <= i <= 0.2 * (1 + JITTER) for i in intervals)
    assert len(set(intervals)) > 1
