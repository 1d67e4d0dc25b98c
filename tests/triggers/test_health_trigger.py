"""AccountHealthTrigger, the deferrable engine of the health gate, driven as the triggerer does."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_smartlyq._compat import import_string
from airflow_provider_smartlyq.hooks._transport import POOL
from airflow_provider_smartlyq.triggers.smartlyq import AccountHealthTrigger

CLASSPATH = "airflow_provider_smartlyq.triggers.smartlyq.AccountHealthTrigger"


def selector(**criteria) -> dict:
    return {
        "account_ids": None,
        "platforms": None,
        "account_name_pattern": None,
        "all_accounts": False,
        **criteria,
    }


async def run_to_event(trigger, within: float = 30.0) -> list:
    async def collect():
        return [event async for event in trigger.run()]

    try:
        return await asyncio.wait_for(collect(), within)
    finally:
        await trigger.cleanup()


def api_calls(emu) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in emu.client.requests()]


def test_serialize_round_trips_with_plain_kwargs(smartlyq_conn):
    trigger = AccountHealthTrigger(selector(account_ids=[101, 103]), min_validity_days=7, poll_interval=2)

    classpath, kwargs = trigger.serialize()
    again = import_string(classpath)(**json.loads(json.dumps(kwargs)))

    assert classpath == CLASSPATH
    assert kwargs == {
        "selector": selector(account_ids=[101, 103]),
        "min_validity_days": 7,
        "allow_paused": False,
        "fail_on_unhealthy": False,
        "smartlyq_conn_id": "smartlyq_default",
        "poll_interval": 2.0,
        "end_time": trigger.end_time,
    }
    assert again.serialize() == (classpath, kwargs)


def test_an_empty_selector_is_refused_when_built(smartlyq_conn):
    with pytest.raises(Exception, match="no accounts selected"):
        AccountHealthTrigger(selector())
    assert smartlyq_conn.client.requests() == []


async def test_healthy_selection_ends_at_once_with_one_bulk_request(smartlyq_conn):
    trigger = AccountHealthTrigger(selector(account_ids=[101, 103]), min_validity_days=7, poll_interval=0.2)

    (event,) = await run_to_event(trigger)

    assert event.payload["status"] == "healthy"
    assert [a["id"] for a in event.payload["accounts"]] == [101, 103]
    assert api_calls(smartlyq_conn) == [("GET", "/v1/social/accounts/health")]


@pytest.mark.parametrize(
    ("ids", "options", "reason"),
    [
        ([104], {}, "status is expired, not connected; token expired"),
        ([102], {"min_validity_days": 7}, "token valid 3 more days, 7 required"),
        ([105], {}, "paused"),
    ],
    ids=["expired", "expiring", "paused"],
)
async def test_unhealthy_with_fail_on_unhealthy_ends_with_the_reasons(smartlyq_conn, ids, options, reason):
    trigger = AccountHealthTrigger(
        selector(account_ids=[101, *ids]), fail_on_unhealthy=True, poll_interval=0.2, **options
    )

    (event,) = await run_to_event(trigger)

    assert event.payload["status"] == "unhealthy"
    (row,) = event.payload["unhealthy_accounts"]
    assert row["id"] == ids[0]
    assert row["reason"] == reason
    assert set(row) == {"id", "platform", "account_name", "reason", "reconnect_url"}
    # Only GETs of the bulk health, never per account: reconnect links are the worker's job.
    assert api_calls(smartlyq_conn) == [("GET", "/v1/social/accounts/health")]


async def test_allow_paused_and_lower_validity_make_the_same_accounts_healthy(smartlyq_conn):
    trigger = AccountHealthTrigger(selector(account_ids=[102, 105]), allow_paused=True, poll_interval=0.2)

    (event,) = await run_to_event(trigger)

    assert event.payload["status"] == "healthy"


async def test_unhealthy_keeps_waiting_until_reconnected(smartlyq_conn, user_logs):
    emu = smartlyq_conn
    emu.client.expire_account_token(103)
    trigger = AccountHealthTrigger(selector(platforms=["twitter"]), poll_interval=0.2)
    task = asyncio.ensure_future(run_to_event(trigger))
    await asyncio.sleep(1.0)

    assert not task.done()
    await asyncio.to_thread(emu.client.update_account, 103, validity_days=40)
    (event,) = await task

    assert event.payload == {"status": "healthy", "accounts": [event.payload["accounts"][0]]}
    assert event.payload["accounts"][0]["id"] == 103
    polls = api_calls(emu)
    assert set(polls) == {("GET", "/v1/social/accounts/health")}
    assert len(polls) >= 4
    assert len(user_logs.lines("selected accounts are unhealthy")) == 1  # the table is logged when it changes


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"account_ids": [101, 999]}, "account ids not found: 999"),
        ({"platforms": ["reddit"]}, "no account matches"),
    ],
    ids=["unknown-id", "empty-selection"],
)
async def test_a_selection_that_cannot_match_is_an_error_not_a_wait(smartlyq_conn, criteria, message):
    (event,) = await run_to_event(AccountHealthTrigger(selector(**criteria), poll_interval=0.2))

    assert event.payload["status"] == "error"
    assert message in event.payload["message"]


async def test_outage_then_deadline_gives_one_timeout_with_the_last_rows(smartlyq_conn):
    emu = smartlyq_conn
    emu.client.inject_fault("/v1/social/accounts/health", "GET", status=503, count=3, after=False)
    trigger = AccountHealthTrigger(selector(account_ids=[104]), poll_interval=0.2, end_time=time.time() + 3)

    events = await run_to_event(trigger)

    assert [e.payload["status"] for e in events] == ["timeout"]
    assert [r["id"] for r in events[0].payload["unhealthy_accounts"]] == [104]
    assert POOL.leases() == 0


def test_a_run_with_asyncio_debug_logs_no_slow_callback(smartlyq_conn, run_on_debug_loop):
    smartlyq_conn.client.expire_account_token(103)
    trigger = AccountHealthTrigger(selector(account_ids=[101, 103]), poll_interval=0.1)

    async def scenario():
        task = asyncio.ensure_future(run_to_event(trigger))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(smartlyq_conn.client.update_account, 103, validity_days=40)
        return await task

    events, slow = run_on_debug_loop(scenario)

    assert [e.payload["status"] for e in events] == ["healthy"]
    assert slow == []
