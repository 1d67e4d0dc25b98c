"""
AccountHealthEventTrigger against the emulator: both drivers (its own run() and the triggerer's
shared stream), restarts with a state store, and errors.

The shared-stream tests use Airflow's own ``SharedStreamManager`` (the object the triggerer's
``run_trigger`` subscribes watchers to), driven the way ``run_trigger`` drives it: subscribe,
feed the subscription into ``filter_shared_stream``, unsubscribe in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_smartlyq._compat import has_asset_state_store, has_shared_streams
from airflow_provider_smartlyq.exceptions import (
    SmartlyQError,
    SmartlyQValidationError,
    SmartlyQWatcherStoppedError,
)
from airflow_provider_smartlyq.hooks._transport import POOL
from airflow_provider_smartlyq.triggers.events import AccountHealthEventTrigger

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

HEALTH_PATH = "/v1/social/accounts/health"
# Demo seed: 102 "Acme Instagram" expires in 3 days, 104 "Acme LinkedIn" is expired,
# 106 "Globex YouTube" is healthy (60 days).
INITIAL = {(102, "expiring"), (104, "unhealthy")}

# Airflow 3.1 and 3.2 have no SharedStreamManager: there every watcher runs its own run().
needs_shared_streams = pytest.mark.skipif(
    not has_shared_streams(), reason="shared trigger streams need Airflow 3.3+ (docs/versions.md)"
)


class Collector:
    """Consume an async iterator of trigger events on a task, like the triggerer does."""

    def __init__(self, events: AsyncIterator[Any]) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._task = asyncio.create_task(self._consume(events))

    async def _consume(self, events: AsyncIterator[Any]) -> None:
        try:
            async for event in events:
                self.payloads.append(event.payload)
        except Exception as exc:
            self.error = exc

    def fired(self) -> set[tuple[int, str]]:
        return {(p["account"]["id"], p["transition"]) for p in self.payloads}

    async def wait_for(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.payloads) < count:
            if self.error is not None:
                raise self.error
            assert time.monotonic() < deadline, (
                f"only {len(self.payloads)} of {count} events: {self.payloads}"
            )
            await asyncio.sleep(0.02)
        return self.payloads

    async def done(self, timeout: float = 60) -> None:
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class DictStateStore:
    """
    Stand-in for the triggerer's ``AssetStateStoreAccessors`` (same ``aget``/``aset`` API).

    The real accessor talks to the triggerer supervisor over its comms channel, which does not
    exist outside a triggerer; the integration test covers the real one. Values round-trip
    through JSON as they would through the metadata database.
    """

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.data[key]) if key in self.data else default

    async def aset(self, key: str, value: Any) -> None:
        assert value is not None
        self.data[key] = json.dumps(value)
        self.writes += 1


def health_requests(emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.client.requests() if r["path"] == HEALTH_PATH]


async def drain(trigger: AccountHealthEventTrigger) -> None:
    async for event in trigger.run():
        pytest.fail(f"no event expected, got {event}")


async def wait_until(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


# -- construction -------------------------------------------------------------------------


def test_serialize_round_trips_with_plain_kwargs_and_the_public_classpath():
    trigger = AccountHealthEventTrigger(
        smartlyq_conn_id="smartlyq_brands",
        account_ids="104, 102",
        platforms=["X", "instagram"],
        events=("recovered", "unhealthy"),
        expiring_within_days=3,
        poll_interval=60,
        fire_on_start=False,
        max_consecutive_failures=3,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_smartlyq.triggers.smartlyq.AccountHealthEventTrigger"
    assert kwargs == {
        "smartlyq_conn_id": "smartlyq_brands",
        "account_ids": [104, 102],
        "platforms": ["twitter", "instagram"],
        "account_name_pattern": None,
        "all_accounts": False,
        "events": ["unhealthy", "recovered"],
        "expiring_within_days": 3,
        "poll_interval": 60,
        "fire_on_start": False,
        "max_consecutive_failures": 3,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = AccountHealthEventTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.state_key == trigger.state_key
    assert rebuilt.shared_stream_key() == ("smartlyq-health", "smartlyq_brands", 60)
    # The public module resolves to the same class (what the triggerer imports).
    from airflow_provider_smartlyq.triggers.smartlyq import AccountHealthEventTrigger as Public

    assert Public is AccountHealthEventTrigger


def test_watchers_with_other_selectors_keep_separate_state_but_share_the_poll():
    acme = AccountHealthEventTrigger(account_name_pattern="Acme *")
    globex = AccountHealthEventTrigger(account_name_pattern="Globex *", events=["unhealthy"])
    assert acme.shared_stream_key() == globex.shared_stream_key()
    assert acme.state_key != globex.state_key
    # Another connection (hence possibly another profile) never shares, and neither does another
    # interval: the shared poll runs at one interval, so each watcher gets the one it asked for.
    other_conn = AccountHealthEventTrigger(smartlyq_conn_id="other", account_name_pattern="Acme *")
    assert other_conn.shared_stream_key() != acme.shared_stream_key()
    faster = AccountHealthEventTrigger(account_name_pattern="Acme *", poll_interval=30)
    assert faster.shared_stream_key() != acme.shared_stream_key()
    assert faster.state_key == acme.state_key  # the interval does not change what was seen


def test_watcher_stopped_error_is_a_provider_error():
    assert issubclass(SmartlyQWatcherStoppedError, SmartlyQError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no accounts selected"),
        ({"all_accounts": True, "events": ["expired"]}, "unknown events"),
        ({"all_accounts": True, "poll_interval": 0}, "poll_interval"),
        ({"all_accounts": True, "expiring_within_days": -1}, "expiring_within_days"),
        ({"all_accounts": True, "max_consecutive_failures": 0}, "max_consecutive_failures"),
        ({"account_ids": "abc"}, "account"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs, message):
    with pytest.raises(SmartlyQValidationError, match=message):
        AccountHealthEventTrigger(**kwargs)


# -- run(): the watcher's own poll ----------------------------------------------------------


async def test_run_fires_each_transition_once(smartlyq_conn):
    client = smartlyq_conn.client
    trigger = AccountHealthEventTrigger(all_accounts=True, poll_interval=0.1)
    collector = Collector(trigger.run())
    try:
        await collector.wait_for(2)
        assert collector.fired() == INITIAL
        first = {p["account"]["id"]: p for p in collector.payloads}
        assert first[104]["event_key"] == "smartlyq:104:unhealthy:expired"
        assert first[104]["account"] == {
            "id": 104,
            "platform": "linkedin",
            "account_name": "Acme LinkedIn",
            "status": "expired",
            "token_expired": True,
            "validity_days": first[104]["account"]["validity_days"],
        }
        assert first[104]["observed_at"].endswith("Z")

        polls = len(health_requests(smartlyq_conn))
        await wait_until(lambda: len(health_requests(smartlyq_conn)) >= polls + 3)
        assert len(collector.payloads) == 2  # steady states stay silent

        client.expire_account_token(106)
        await collector.wait_for(3)
        assert collector.payloads[2]["transition"] == "unhealthy"
        assert collector.payloads[2]["account"]["id"] == 106

        client.update_account(104, validity_days=60)  # the user reconnected it
        await collector.wait_for(4)
        assert collector.payloads[3]["event_key"] == "smartlyq:104:recovered:connected"
    finally:
        await collector.stop()
    assert POOL.leases() == 0  # the hook's aiohttp lease was released
    assert all(r["method"] == "GET" for r in smartlyq_conn.client.requests())


async def test_run_without_fire_on_start_records_a_baseline(smartlyq_conn):
    trigger = AccountHealthEventTrigger(account_name_pattern="Acme *", fire_on_start=False, poll_interval=0.1)
    collector = Collector(trigger.run())
    try:
        await wait_until(lambda: len(health_requests(smartlyq_conn)) >= 3)
        assert collector.payloads == []
        smartlyq_conn.client.expire_account_token(101)  # Acme Facebook
        smartlyq_conn.client.expire_account_token(106)  # Globex: not selected
        await collector.wait_for(1)
        await wait_until(lambda: len(health_requests(smartlyq_conn)) >= 6)
        assert collector.fired() == {(101, "unhealthy")}
    finally:
        await collector.stop()


# -- one shared poll ------------------------------------------------------------------------


@needs_shared_streams
async def test_two_watchers_on_one_connection_make_one_request_per_interval(smartlyq_conn):
    from airflow.triggers.shared_stream import SharedStreamManager

    acme = AccountHealthEventTrigger(account_name_pattern="Acme *", poll_interval=0.2)
    globex = AccountHealthEventTrigger(
        account_name_pattern="Globex *", events=["unhealthy"], poll_interval=0.2
    )
    key = acme.shared_stream_key()
    assert globex.shared_stream_key() == key
    manager = SharedStreamManager()
    seen: dict[int, list[str]] = {1: [], 2: []}

    def subscribe(trigger_id: int, trigger: AccountHealthEventTrigger) -> Collector:
        # What TriggerRunner.run_trigger does for a watcher with a shared_stream_key.
        raw = manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=trigger.shared_stream_key())

        async def observed() -> AsyncIterator[Any]:  # records which snapshot each watcher got
            async for snapshot in raw:
                seen[trigger_id].append(snapshot["observed_at"])
                yield snapshot

        return Collector(trigger.filter_shared_stream(observed()))

    watchers = {1: subscribe(1, acme), 2: subscribe(2, globex)}
    try:
        await watchers[1].wait_for(2)
        assert watchers[1].fired() == INITIAL
        await wait_until(lambda: len(seen[2]) >= 4)
        assert watchers[2].payloads == []  # Globex accounts are all healthy

        smartlyq_conn.client.expire_account_token(106)  # Globex YouTube
        await watchers[2].wait_for(1)
        assert watchers[2].fired() == {(106, "unhealthy")}
        assert watchers[1].fired() == INITIAL  # not Acme's business
    finally:
        for trigger_id, collector in watchers.items():
            await collector.stop()
            await manager.unsubscribe(trigger_id, key)

    requests = health_requests(smartlyq_conn)
    assert seen[1] == seen[2]  # both watchers were fed the very same snapshots...
    assert len(seen[1]) <= len(requests) <= len(seen[1]) + 1  # ...one request each (+1 in flight at stop)
    assert len(requests) >= 5
    assert POOL.leases() == 0  # the shared poll released the hook when the last watcher left


@needs_shared_streams
async def test_a_failing_watcher_does_not_stop_its_siblings(smartlyq_conn, monkeypatch):
    from airflow.triggers.shared_stream import SharedStreamManager

    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", smartlyq_conn.connection_json(max_retries=0))
    strict = AccountHealthEventTrigger(all_accounts=True, poll_interval=0.05, max_consecutive_failures=1)
    patient = AccountHealthEventTrigger(account_ids=[106], poll_interval=0.05, max_consecutive_failures=100)
    manager = SharedStreamManager()
    key = strict.shared_stream_key()
    smartlyq_conn.client.inject_fault(HEALTH_PATH, "GET", status=403, count=1)
    collectors = {
        trigger_id: Collector(
            trigger.filter_shared_stream(manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key))
        )
        for trigger_id, trigger in ((1, strict), (2, patient))
    }
    try:
        await collectors[1].done()
        assert isinstance(collectors[1].error, SmartlyQWatcherStoppedError)
        await manager.unsubscribe(1, key)  # run_trigger's finally
        smartlyq_conn.client.expire_account_token(106)
        await collectors[2].wait_for(1)
        assert collectors[2].fired() == {(106, "unhealthy")}
    finally:
        await collectors[2].stop()
        await manager.unsubscribe(2, key)


# -- restarts: the state store --------------------------------------------------------------


async def test_a_restarted_watcher_resumes_from_the_state_store(smartlyq_conn):
    store = DictStateStore()
    kwargs = {"all_accounts": True, "poll_interval": 0.1}
    first = AccountHealthEventTrigger(**kwargs)
    first.asset_state_store = store  # what the triggerer injects before run()
    collector = Collector(first.run())
    try:
        await collector.wait_for(2)
        await wait_until(lambda: store.writes >= 1)
    finally:
        await collector.stop()
    assert json.loads(store.data[first.state_key])["states"]["104"] == "unhealthy"

    # The triggerer restarts: a new instance from the serialized kwargs, the same store.
    _, serialized = first.serialize()
    second = AccountHealthEventTrigger(**serialized)
    second.asset_state_store = store
    collector = Collector(second.run())
    try:
        polls = len(health_requests(smartlyq_conn))
        await wait_until(lambda: len(health_requests(smartlyq_conn)) >= polls + 3)
        assert collector.payloads == []  # 102 and 104 did not fire again
        writes = store.writes
        smartlyq_conn.client.expire_account_token(101)
        await collector.wait_for(1)
        assert collector.fired() == {(101, "unhealthy")}
        await wait_until(lambda: store.writes > writes)
    finally:
        await collector.stop()
    assert json.loads(store.data[second.state_key])["states"]["101"] == "unhealthy"


async def test_states_are_written_only_when_they_change(smartlyq_conn):
    store = DictStateStore()
    trigger = AccountHealthEventTrigger(all_accounts=True, poll_interval=0.05)
    trigger.asset_state_store = store
    collector = Collector(trigger.run())
    try:
        await wait_until(lambda: len(health_requests(smartlyq_conn)) >= 6)
        assert store.writes == 1  # the baseline; steady polls write nothing
    finally:
        await collector.stop()


async def test_without_a_state_store_a_restart_starts_over(smartlyq_conn):
    # Documented: without the store (Airflow < 3.3) states live in memory only.
    kwargs = {"account_name_pattern": "Acme *", "poll_interval": 0.1}
    for _ in range(2):
        trigger = AccountHealthEventTrigger(**kwargs)
        collector = Collector(trigger.run())
        try:
            await collector.wait_for(2)
            assert collector.fired() == INITIAL
        finally:
            await collector.stop()


async def test_a_watcher_serving_several_assets_keeps_states_in_memory(smartlyq_conn, user_logs):
    # Airflow's own accessors (not a stand-in): AssetWatchers with identical kwargs share one
    # trigger, and the store it gets answers aget/aset only for a single asset. The watcher uses
    # that public API alone, so it falls back to memory, says why once, and keeps firing.
    pytest.importorskip("airflow.models.asset_state_store", reason="the asset state store is Airflow 3.3+")
    from airflow.sdk import Asset
    from airflow.sdk.execution_time.context import AssetStateStoreAccessors

    trigger = AccountHealthEventTrigger(account_name_pattern="Acme *", poll_interval=0.05)
    trigger.asset_state_store = AssetStateStoreAccessors(inlets=[Asset(name="a"), Asset(name="b")])
    collector = Collector(trigger.run())
    try:
        await collector.wait_for(2)
        assert collector.fired() == INITIAL
        smartlyq_conn.client.expire_account_token(101)
        await collector.wait_for(3)
    finally:
        await collector.stop()
    assert (101, "unhealthy") in collector.fired()
    assert trigger.asset_state_store is None
    assert len(user_logs.lines("serves several assets")) == 1


async def test_the_log_says_what_this_airflow_lacks(smartlyq_conn, user_logs):
    # Before Airflow 3.3 a watcher polls alone and remembers in memory: the log says so, once
    # each; on 3.3 (shared streams, a state store) it says neither.
    trigger = AccountHealthEventTrigger(account_name_pattern="Acme *", poll_interval=0.1)
    collector = Collector(trigger.run())
    try:
        await collector.wait_for(2)
    finally:
        await collector.stop()

    assert len(user_logs.lines("has no shared trigger streams")) == (0 if has_shared_streams() else 1)
    assert len(user_logs.lines("has no asset state store")) == (0 if has_asset_state_store() else 1)


# -- errors ---------------------------------------------------------------------------------


async def test_transient_errors_back_off_and_never_end_the_watcher(smartlyq_conn, monkeypatch, user_logs):
    # No hook retries, so every fault reaches the watcher.
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", smartlyq_conn.connection_json(max_retries=0))
    smartlyq_conn.client.inject_fault(HEALTH_PATH, "GET", status=503, count=4)
    trigger = AccountHealthEventTrigger(all_accounts=True, poll_interval=0.05, max_consecutive_failures=1)
    collector = Collector(trigger.run())
    started = time.monotonic()
    try:
        await collector.wait_for(2)
    finally:
        await collector.stop()
    assert collector.fired() == INITIAL
    statuses = [r["status"] for r in health_requests(smartlyq_conn)]
    assert statuses[:5] == [503, 503, 503, 503, 200]
    # Backoff doubled the pause: 0.1 + 0.2 + 0.4 + 0.8 s at least.
    assert time.monotonic() - started >= 1.4
    assert user_logs.lines("transient error, 4 in a row")


async def test_permanent_errors_end_the_watcher_with_a_clear_message(smartlyq_conn, monkeypatch):
    bad = json.dumps({"conn_type": "smartlyq", "host": smartlyq_conn.url, "password": "sqk_test_not_the_key"})
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_BAD", bad)
    trigger = AccountHealthEventTrigger(
        smartlyq_conn_id="smartlyq_bad", all_accounts=True, poll_interval=0.05, max_consecutive_failures=3
    )
    with pytest.raises(SmartlyQWatcherStoppedError) as info:
        await drain(trigger)
    message = str(info.value)
    assert "stopped after 3 permanent errors" in message
    assert "'smartlyq_bad'" in message
    assert "HTTP 401" in message
    assert "sqk_test_not_the_key" not in message
    assert [r["status"] for r in health_requests(smartlyq_conn)] == [401, 401, 401]
    assert POOL.leases() == 0


async def test_a_missing_connection_is_permanent(smartlyq_conn):
    trigger = AccountHealthEventTrigger(
        smartlyq_conn_id="smartlyq_missing", all_accounts=True, poll_interval=0.05, max_consecutive_failures=2
    )
    with pytest.raises(SmartlyQWatcherStoppedError, match="smartlyq_missing"):
        await drain(trigger)


async def test_a_bug_in_the_poll_surfaces_at_once_not_as_an_outage(smartlyq_conn, monkeypatch):
    # classify.is_unexpected: not SmartlyQ, the connection or the network failing. The trigger
    # fails with the bug's own traceback on the first poll, not after max_consecutive_failures.
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    async def broken(self):
        raise TypeError("a bug")

    monkeypatch.setattr(SmartlyQHook, "aget_accounts_health", broken)
    trigger = AccountHealthEventTrigger(all_accounts=True, poll_interval=0.05, max_consecutive_failures=5)
    with pytest.raises(TypeError, match="a bug"):
        await drain(trigger)
