"""ConnectCompletedTrigger, driven the way the triggerer drives it, against the emulator."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from log_support import BOTH_LOG_LEVELS

from airflow_provider_smartlyq._compat import import_string
from airflow_provider_smartlyq.hooks._transport import POOL
from airflow_provider_smartlyq.triggers.smartlyq import ConnectCompletedTrigger

CLASSPATH = "airflow_provider_smartlyq.triggers.smartlyq.ConnectCompletedTrigger"


@pytest.fixture
def link(hook):
    """Return a fresh pending facebook connect link on the emulator."""
    return hook.create_connect_link("facebook")


async def run_to_event(trigger, *, within: float = 30.0) -> list:
    """Collect every event of ``trigger.run()`` as the triggerer does, then run ``cleanup()``."""

    async def collect():
        return [event async for event in trigger.run()]

    try:
        return await asyncio.wait_for(collect(), within)
    finally:
        await trigger.cleanup()


def assert_token_kept_out_of_logs(user_logs, token: str) -> None:
    """No line a user reads shows the whole token; the trigger's and the hook's lines show a prefix."""
    # The test's own control calls (urllib3 lines of ``/_emulator/...``) are not the trigger's.
    theirs = [line for line in user_logs.text.splitlines() if "/_emulator/" not in line]
    assert [line for line in theirs if token in line] == []
    own = [line for line in theirs if "ConnectCompletedTrigger" in line]
    assert own, "the trigger logged nothing"
    assert any(token[:6] + "…" in line for line in own)
    if user_logs.level == "DEBUG":  # the hook's per-request line was produced, shortened
        assert any(f"SmartlyQ GET /social/connect/{token[:6]}… -> HTTP" in line for line in theirs)


def rebuild(trigger):
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)  # JSON-plain, as the triggerer table stores them
    return import_string(classpath)(**kwargs)


def connect_polls(emu) -> list[dict]:
    return [
        r
        for r in emu.client.requests()
        if r["path"].startswith("/v1/social/connect/") and r["method"] == "GET"
    ]


def test_serialize_names_the_public_classpath_and_round_trips(link):
    trigger = ConnectCompletedTrigger(link["state_token"], poll_interval=2)

    classpath, kwargs = trigger.serialize()
    again = rebuild(trigger)

    assert classpath == CLASSPATH
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert set(kwargs) == {"state_token", "smartlyq_conn_id", "poll_interval", "end_time"}
    assert again.serialize() == (classpath, kwargs)


def test_default_deadline_is_twenty_minutes_from_the_first_build_and_survives_a_rebuild(link):
    before = time.time()
    trigger = ConnectCompletedTrigger(link["state_token"])
    time.sleep(0.05)
    again = rebuild(trigger)

    assert before + 1200 <= trigger.end_time <= time.time() + 1200
    assert again.end_time == trigger.end_time


def test_repr_shows_only_a_prefix_of_the_state_token(link):
    token = link["state_token"]
    text = repr(ConnectCompletedTrigger(token))

    assert token not in text
    assert token[:6] + "…" in text


def test_bad_input_fails_before_any_request(smartlyq_conn):
    with pytest.raises(Exception, match="state_token"):
        ConnectCompletedTrigger("")
    with pytest.raises(Exception, match="poll_interval"):
        ConnectCompletedTrigger("abc", poll_interval=0)
    assert smartlyq_conn.client.requests() == []


@BOTH_LOG_LEVELS
async def test_pending_keeps_waiting_then_approval_gives_connected(smartlyq_conn, link, user_logs):
    emu = smartlyq_conn
    trigger = ConnectCompletedTrigger(link["state_token"], poll_interval=0.2)
    task = asyncio.ensure_future(run_to_event(trigger))
    await asyncio.sleep(1.0)

    assert not task.done()
    assert len(connect_polls(emu)) >= 3
    (approved,) = await asyncio.to_thread(emu.client.approve_connect, link["state_token"])
    events = await task

    assert [e.payload for e in events] == [
        {
            "status": "connected",
            "account": {
                "account_id": approved["id"],
                "id": approved["id"],
                "name": approved["name"],
                "username": approved["username"],
                "platform": "facebook",
            },
        }
    ]
    methods = [r["method"] for r in emu.client.requests()]
    assert methods[0] == "POST"
    assert set(methods[1:]) == {"GET"}
    assert_token_kept_out_of_logs(user_logs, link["state_token"])


async def test_expired_link_gives_expired(smartlyq_conn, link):
    trigger = ConnectCompletedTrigger(link["state_token"], poll_interval=0.2)
    task = asyncio.ensure_future(run_to_event(trigger))
    await asyncio.sleep(0.5)
    await asyncio.to_thread(smartlyq_conn.client.expire_connect, link["state_token"])

    assert [e.payload for e in await task] == [{"status": "expired"}]


async def test_passed_deadline_gives_exactly_one_timeout_event_and_no_request(smartlyq_conn, link):
    trigger = ConnectCompletedTrigger(link["state_token"], poll_interval=0.2, end_time=time.time() - 1)

    assert [e.payload for e in await run_to_event(trigger)] == [{"status": "timeout"}]
    assert connect_polls(smartlyq_conn) == []


async def test_deadline_while_pending_gives_one_timeout_on_time(smartlyq_conn, link):
    start = time.monotonic()
    # A 60 s poll interval and a deadline in 1 s: sleeping a whole interval would take 60 s.
    trigger = ConnectCompletedTrigger(link["state_token"], poll_interval=60, end_time=time.time() + 1.0)

    events = await run_to_event(trigger, within=120)

    assert [e.payload for e in events] == [{"status": "timeout"}]
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 30  # never sleeps past the deadline (generous: the gap is 59 s)


async def test_rebuilt_mid_wait_keeps_the_original_deadline(smartlyq_conn, link):
    first = ConnectCompletedTrigger(link["state_token"], poll_interval=0.2, end_time=time.time() + 2.0)
    task = asyncio.ensure_future(run_to_event(first))
    await asyncio.sleep(1.0)
    task.cancel()  # the triggerer stopped; another one rebuilds the trigger from its kwargs
    with pytest.raises(asyncio.CancelledError):
        await task

    second = rebuild(first)
    assert second.serialize()[1]["end_time"] == first.end_time  # the absolute deadline travels
    events = await run_to_event(second)

    assert [e.payload for e in events] == [{"status": "timeout"}]
    assert time.time() >= first.end_time  # not early; the deadline logic itself: the test above
    assert POOL.leases() == 0


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "count": 7},  # outlasts the trigger hook's own retries (3 attempts a poll)
        {"status": 429, "count": 7, "retry_after": 0, "code": "RATE_LIMIT_EXCEEDED"},
        {"drop_connection": True, "count": 7},
    ],
    ids=["503", "429", "dropped"],
)
async def test_transient_errors_while_waiting_do_not_end_it(smartlyq_conn, link, user_logs, fault):
    emu = smartlyq_conn
    token = link["state_token"]
    emu.client.inject_fault("/v1/social/connect/*", "GET", **fault)
    trigger = ConnectCompletedTrigger(token, poll_interval=0.2)
    task = asyncio.ensure_future(run_to_event(trigger))
    while emu.client.faults()[0]["remaining"] > 0:
        assert not task.done()
        await asyncio.sleep(0.2)
    await asyncio.to_thread(emu.client.approve_connect, token)
    events = await task

    assert [e.payload["status"] for e in events] == ["connected"]
    assert "SmartlyQ unavailable while waiting for connect link" in user_logs.text
    assert_token_kept_out_of_logs(user_logs, token)


async def test_an_outage_never_makes_the_trigger_spin(smartlyq_conn, link):
    emu = smartlyq_conn
    emu.client.inject_fault("/v1/social/connect/*", "GET", status=500, count=1000)
    trigger = ConnectCompletedTrigger(link["state_token"], poll_interval=0.5, end_time=time.time() + 3)

    events = await run_to_event(trigger)

    assert [e.payload for e in events] == [{"status": "timeout"}]
    # 3 s at one poll per 0.5 s plus the hook's 2 retries a poll: a spin would make hundreds.
    assert len(connect_polls(emu)) <= 20


async def test_unknown_token_is_a_permanent_error(smartlyq_conn):
    token = "NoSuchTokenAtAll1234567890"
    trigger = ConnectCompletedTrigger(token, poll_interval=0.2)

    (event,) = await run_to_event(trigger)

    assert event.payload["status"] == "error"
    assert set(event.payload) == {"status", "message"}
    assert "404" in event.payload["message"]
    assert token not in event.payload["message"]
    assert len(connect_polls(smartlyq_conn)) == 1  # a 404 is not retried


async def test_a_rejected_api_key_is_a_permanent_error(smartlyq_conn, link, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMARTLYQ_DEFAULT",
        smartlyq_conn.connection_json().replace(smartlyq_conn.api_key, "sqk_test_wrong_key_0000"),
    )
    (event,) = await run_to_event(ConnectCompletedTrigger(link["state_token"], poll_interval=0.2))

    assert event.payload["status"] == "error"
    assert "401" in event.payload["message"]
    assert "sqk_test_wrong_key_0000" not in event.payload["message"]


async def test_cleanup_releases_the_shared_session(smartlyq_conn, link):
    trigger = ConnectCompletedTrigger(link["state_token"], poll_interval=0.2)
    task = asyncio.ensure_future(run_to_event(trigger))
    await asyncio.sleep(0.5)
    assert POOL.leases() == 1

    await asyncio.to_thread(smartlyq_conn.client.approve_connect, link["state_token"])
    await task

    assert POOL.leases() == 0


def test_a_run_with_asyncio_debug_logs_no_slow_callback(smartlyq_conn, link, run_on_debug_loop):
    trigger = ConnectCompletedTrigger(link["state_token"], poll_interval=0.1)

    async def scenario():
        task = asyncio.ensure_future(run_to_event(trigger))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(smartlyq_conn.client.approve_connect, link["state_token"])
        return await task

    events, slow = run_on_debug_loop(scenario)

    assert [e.payload["status"] for e in events] == ["connected"]
    assert slow == []
