"""Coalesced waits: many triggers on one connection share one poller, driven as the triggerer does."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time

import pytest

from airflow_provider_smartlyq._compat import import_string
from airflow_provider_smartlyq.hooks._transport import POOL
from airflow_provider_smartlyq.triggers import _shared_polls
from airflow_provider_smartlyq.triggers._shared_polls import active_polls
from airflow_provider_smartlyq.triggers.smartlyq import (
    AccountHealthTrigger,
    ConnectCompletedTrigger,
    PostPublishedTrigger,
)

HEALTH = "/v1/social/accounts/health"


def selector(*ids: int) -> dict:
    return {"account_ids": list(ids), "platforms": None, "account_name_pattern": None, "all_accounts": False}


async def run_all(triggers, within: float = 30.0) -> list[list]:
    """Run triggers concurrently on this loop (one triggerer); return each one's events."""

    async def one(trigger):
        try:
            return [event async for event in trigger.run()]
        finally:
            await trigger.cleanup()

    return await asyncio.wait_for(asyncio.gather(*(one(t) for t in triggers)), within)


def requests_to(emu, path: str, method: str = "GET") -> list[dict]:
    return [r for r in emu.client.requests() if r["path"] == path and r["method"] == method]


# -- the contract: kwargs and classpaths as stored before coalescing ------------------------------


@pytest.mark.parametrize(
    ("classpath", "stored"),
    [
        (
            "airflow_provider_smartlyq.triggers.smartlyq.AccountHealthTrigger",
            {
                "selector": selector(101),
                "min_validity_days": 7,
                "allow_paused": False,
                "fail_on_unhealthy": False,
                "smartlyq_conn_id": "smartlyq_default",
                "poll_interval": 60.0,
                "end_time": 1_900_000_000.0,
            },
        ),
        (
            "airflow_provider_smartlyq.triggers.smartlyq.PostPublishedTrigger",
            {"post_id": 7, "smartlyq_conn_id": "smartlyq_default", "poll_interval": 5.0, "end_time": 1.9e9},
        ),
        (
            "airflow_provider_smartlyq.triggers.smartlyq.ConnectCompletedTrigger",
            {
                "state_token": "StateTokenStoredBefore0123",
                "smartlyq_conn_id": "smartlyq_default",
                "poll_interval": 5.0,
                "end_time": 1.9e9,
            },
        ),
    ],
    ids=["health", "post", "connect"],
)
def test_kwargs_stored_by_the_previous_version_rebuild_the_same_trigger(classpath, stored):
    trigger = import_string(classpath)(**stored)

    assert trigger.serialize() == (classpath, stored)


# -- health gates ---------------------------------------------------------------------------------


async def test_eight_gates_share_one_health_request_per_interval_and_each_gets_its_own_event(smartlyq_conn):
    emu = smartlyq_conn
    emu.client.expire_account_token(103)
    interval = 0.4
    waiting = [AccountHealthTrigger(selector(101, 103), poll_interval=interval) for _ in range(6)]
    healthy_at_once = AccountHealthTrigger(selector(101), poll_interval=interval)
    failing = AccountHealthTrigger(selector(103), fail_on_unhealthy=True, poll_interval=interval)
    task = asyncio.ensure_future(run_all([*waiting, healthy_at_once, failing]))
    await asyncio.sleep(2.0)
    assert not task.done()
    (poll,) = active_polls()
    assert len(poll.subscriptions) == 6  # the two that decided at once have left

    start = time.monotonic()
    await asyncio.sleep(2.0)
    during = len(requests_to(emu, HEALTH))
    await asyncio.to_thread(emu.client.update_account, 103, validity_days=30)
    results = await task
    elapsed = time.monotonic() - start

    assert [[e.payload["status"] for e in events] for events in results] == [
        *[["healthy"]] * 6,
        ["healthy"],
        ["unhealthy"],
    ]
    assert all(len(events) == 1 for events in results)
    # One request per round for all eight, never one per gate: in 4 s at 0.4 s that is at
    # most 11 rounds (a polling-per-gate design would have made about 80).
    assert during <= (2.0 + elapsed) / interval + 2
    assert poll.requests == len(requests_to(emu, HEALTH))
    assert active_polls() == []
    assert POOL.leases() == 0


async def test_gates_with_different_intervals_are_served_at_the_smallest(smartlyq_conn):
    emu = smartlyq_conn
    emu.client.expire_account_token(103)
    slow = AccountHealthTrigger(selector(103), poll_interval=600)
    fast = AccountHealthTrigger(selector(103), poll_interval=0.3)
    task = asyncio.ensure_future(run_all([slow, fast]))
    await asyncio.sleep(1.5)
    await asyncio.to_thread(emu.client.update_account, 103, validity_days=30)

    results = await task

    # The slow gate hears the answers the fast one asked for: both end with the fix.
    assert [[e.payload["status"] for e in events] for events in results] == [["healthy"], ["healthy"]]
    assert len(requests_to(emu, HEALTH)) >= 3


async def test_a_gate_joining_after_a_fresh_answer_starts_from_it_without_a_request(smartlyq_conn):
    emu = smartlyq_conn
    emu.client.expire_account_token(103)
    first = AccountHealthTrigger(selector(103), poll_interval=30)
    task = asyncio.ensure_future(run_all([first]))
    while not requests_to(emu, HEALTH):
        await asyncio.sleep(0.05)

    (events,) = await run_all([AccountHealthTrigger(selector(101), poll_interval=30)])

    assert [e.payload["status"] for e in events] == ["healthy"]
    assert len(requests_to(emu, HEALTH)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert active_polls() == []


async def test_cleanup_removes_the_subscriber_and_the_last_one_stops_the_poller(smartlyq_conn):
    smartlyq_conn.client.expire_account_token(103)
    triggers = [AccountHealthTrigger(selector(103), poll_interval=0.2) for _ in range(3)]
    runs = [asyncio.ensure_future(run_all([t])) for t in triggers]
    await asyncio.sleep(0.5)
    (poll,) = active_polls()
    assert len(poll.subscriptions) == 3
    assert POOL.leases() == 1  # one hook for the three

    runs[0].cancel()  # the triggerer removes a trigger: run() is cancelled, then cleanup()
    await asyncio.gather(runs[0], return_exceptions=True)
    await triggers[0].cleanup()  # twice is harmless
    assert len(poll.subscriptions) == 2

    for run in runs[1:]:
        run.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    assert active_polls() == []
    assert POOL.leases() == 0
    await asyncio.sleep(0.5)
    count = len(requests_to(smartlyq_conn, HEALTH))
    await asyncio.sleep(0.5)
    assert len(requests_to(smartlyq_conn, HEALTH)) == count  # the poller really stopped


async def test_a_transient_failure_is_seen_by_every_gate_and_none_ends(smartlyq_conn, caplog, capsys):
    emu = smartlyq_conn
    caplog.set_level(logging.WARNING)
    emu.client.inject_fault(HEALTH, "GET", status=503, count=6)
    triggers = [AccountHealthTrigger(selector(101), poll_interval=0.2) for _ in range(4)]

    results = await run_all(triggers)

    assert [[e.payload["status"] for e in events] for events in results] == [["healthy"]] * 4
    # 6 failures at 3 attempts a round = 2 failed rounds, each heard by all four gates.
    line = "SmartlyQ unavailable while waiting for health"
    out = capsys.readouterr().out  # Airflow's structlog writes here, stdlib records reach caplog
    assert max(caplog.text.count(line), out.count(line)) == 2 * 4


async def test_a_permanent_failure_ends_every_gate_with_the_same_error_and_one_request(
    smartlyq_conn, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMARTLYQ_DEFAULT",
        smartlyq_conn.connection_json().replace(smartlyq_conn.api_key, "sqk_test_wrong_key_0000"),
    )
    triggers = [AccountHealthTrigger(selector(101), poll_interval=0.2) for _ in range(5)]

    results = await run_all(triggers)

    payloads = [events[0].payload for events in results]
    assert all(len(events) == 1 for events in results)
    assert {p["status"] for p in payloads} == {"error"}
    assert len({p["message"] for p in payloads}) == 1
    assert "401" in payloads[0]["message"]
    assert len(requests_to(smartlyq_conn, HEALTH)) == 1


async def test_each_gate_keeps_its_own_deadline(smartlyq_conn):
    smartlyq_conn.client.expire_account_token(103)
    start = time.monotonic()
    short = AccountHealthTrigger(selector(103), poll_interval=0.3, end_time=time.time() + 1.0)
    long = AccountHealthTrigger(selector(103), poll_interval=0.3, end_time=time.time() + 2.5)
    task = asyncio.ensure_future(run_all([short, long]))
    while len(active_polls()[0].subscriptions) == 2 if active_polls() else True:
        await asyncio.sleep(0.05)
    short_ended = time.monotonic() - start

    results = await task

    assert [[e.payload["status"] for e in events] for events in results] == [["timeout"], ["timeout"]]
    assert results[0][0].payload["unhealthy_accounts"][0]["id"] == 103
    assert short_ended >= 0.9  # not before its own deadline
    assert time.monotonic() - start >= 2.4  # the other one waited on for its own


# -- post waits -----------------------------------------------------------------------------------


@pytest.fixture
def posts(hook, smartlyq_conn):
    smartlyq_conn.client.update_posts_settings(stage_seconds=0.4)
    return [hook.create_post(f"Coalesced {n}", [101]) for n in range(5)]


async def test_post_waits_share_list_sweeps_instead_of_one_read_each(smartlyq_conn, posts):
    triggers = [PostPublishedTrigger(p["id"], poll_interval=0.3) for p in posts]

    results = await run_all(triggers)

    assert [[e.payload["status"] for e in events] for events in results] == [["published"]] * 5
    assert [events[0].payload["post_id"] for events in results] == [p["id"] for p in posts]
    singles = [r for r in smartlyq_conn.client.requests() if r["path"].startswith("/v1/social/posts/")]
    sweeps = requests_to(smartlyq_conn, "/v1/social/posts")
    assert singles == []
    assert sweeps
    assert all("per_page=100" in r["query"] for r in sweeps)


async def test_a_deleted_post_ends_alone_with_an_error_the_others_publish(hook, smartlyq_conn, posts):
    smartlyq_conn.client.update_posts_settings(stage_seconds=1.0)
    doomed = hook.create_post("Deleted while waited for", [101])
    hook.delete_post(doomed["id"])
    triggers = [PostPublishedTrigger(p["id"], poll_interval=0.3) for p in [*posts, doomed]]

    results = await run_all(triggers)

    statuses = [[e.payload["status"] for e in events] for events in results]
    assert statuses == [*[["published"]] * 5, ["error"]]
    assert "404" in results[-1][0].payload["message"]


async def test_a_single_post_wait_reads_the_post_itself(smartlyq_conn, posts):
    (events,) = await run_all([PostPublishedTrigger(posts[0]["id"], poll_interval=0.3)])

    assert [e.payload["status"] for e in events] == ["published"]
    assert requests_to(smartlyq_conn, "/v1/social/posts") == []


# -- connect waits --------------------------------------------------------------------------------


@pytest.fixture
def links(hook, smartlyq_conn):
    return [hook.create_connect_link("facebook") for _ in range(6)]


async def test_connect_waits_rotate_one_request_at_a_time_and_each_gets_its_own_event(smartlyq_conn, links):
    emu = smartlyq_conn
    triggers = [ConnectCompletedTrigger(link["state_token"], poll_interval=0.2) for link in links]
    task = asyncio.ensure_future(run_all(triggers))
    await asyncio.sleep(1.0)
    for link in links[:3]:
        await asyncio.to_thread(emu.client.approve_connect, link["state_token"])
    for link in links[3:]:
        await asyncio.to_thread(emu.client.expire_connect, link["state_token"])

    results = await task

    assert [[e.payload["status"] for e in events] for events in results] == [
        *[["connected"]] * 3,
        *[["expired"]] * 3,
    ]
    polls = [r for r in emu.client.requests() if r["method"] == "GET"]
    checked = [r["path"].rsplit("/", 1)[1] for r in polls]
    # Fair: every link was checked, and in the first six checks each link once.
    assert set(checked) == {link["state_token"] for link in links}
    assert len(set(checked[:6])) == 6
    assert active_polls() == []


async def test_a_link_past_its_expires_at_ends_without_a_request(hook, smartlyq_conn, monkeypatch):
    monkeypatch.setattr("airflow_provider_smartlyq.triggers.connect.EXPIRY_GRACE", 0.0)
    link = hook.create_connect_link("facebook")
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1.0)
    trigger = ConnectCompletedTrigger(link["state_token"], poll_interval=60)
    original = trigger.judge

    def judge_with_a_near_expiry(answer):  # the emulator's links live 15 minutes
        return original({**answer, "expires_at": soon.isoformat().replace("+00:00", "Z")})

    monkeypatch.setattr(trigger, "judge", judge_with_a_near_expiry)

    (events,) = await run_all([trigger])

    assert [e.payload for e in events] == [{"status": "expired"}]
    gets = [r for r in smartlyq_conn.client.requests() if r["method"] == "GET"]
    assert len(gets) == 1  # the first check only; the expiry cost nothing


async def test_the_rotation_logs_once_when_links_wait_longer_than_asked(
    smartlyq_conn, links, caplog, monkeypatch
):
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    caplog.set_level(logging.WARNING, logger=_shared_polls.__name__)
    original = SmartlyQHook.aget_connect_status
    paced = asyncio.Lock()

    async def budget_paced(self, state_token):  # stands in for a budget allowing ~3 requests/s
        async with paced:
            await asyncio.sleep(0.3)
        return await original(self, state_token)

    monkeypatch.setattr(SmartlyQHook, "aget_connect_status", budget_paced)
    triggers = [ConnectCompletedTrigger(link["state_token"], poll_interval=0.1) for link in links]
    task = asyncio.ensure_future(run_all(triggers))
    await asyncio.sleep(5.0)
    for link in links:
        await asyncio.to_thread(smartlyq_conn.client.approve_connect, link["state_token"])
    await task

    lines = [r.getMessage() for r in caplog.records if "checked in rotation" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("6 connect links wait on connection smartlyq_default")
    effective = float(re.search(r"about every ([0-9.]+) s instead of every 0.1 s", lines[0]).group(1))
    assert effective >= 1.5  # six links at ~3 requests a second


async def test_a_429_that_outlasts_the_retries_holds_the_whole_poller_for_retry_after(
    smartlyq_conn, monkeypatch
):
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    rounds: list[float] = []
    original = SmartlyQHook.aget_accounts_health

    async def spy(self):
        rounds.append(time.monotonic())
        return await original(self)

    monkeypatch.setattr(SmartlyQHook, "aget_accounts_health", spy)
    # Three attempts a round (two retries, each after the 1 s Retry-After), then the poller's hold.
    smartlyq_conn.client.inject_fault(HEALTH, "GET", status=429, count=3, retry_after=1)
    triggers = [AccountHealthTrigger(selector(101), poll_interval=0.2) for _ in range(3)]

    results = await run_all(triggers)

    assert [[e.payload["status"] for e in events] for events in results] == [["healthy"]] * 3
    assert len(rounds) == 2
    # 2 s of the hook's own waits, then at least the 1 s Retry-After, not the 0.2 s interval.
    assert rounds[1] - rounds[0] >= 2.9


async def test_the_posts_sweep_pages_only_as_far_as_the_oldest_watched_post(hook, smartlyq_conn, monkeypatch):
    smartlyq_conn.client.update_posts_settings(stage_seconds=0.3)
    monkeypatch.setattr(_shared_polls.PostsPoll, "per_page", 2)
    ids = [hook.create_post(f"Paged {n}", [101])["id"] for n in range(7)]  # newest first: 6 5 | 4 3 | ...
    triggers = [PostPublishedTrigger(post_id, poll_interval=0.3) for post_id in (ids[3], ids[4])]

    results = await run_all(triggers)

    assert [[e.payload["status"] for e in events] for events in results] == [["published"]] * 2
    pages = {r["query"] for r in requests_to(smartlyq_conn, "/v1/social/posts")}
    assert pages == {"page=1&per_page=2", "page=2&per_page=2"}


async def test_posts_beyond_the_sweeps_page_cap_are_read_alone(hook, smartlyq_conn, monkeypatch):
    smartlyq_conn.client.update_posts_settings(stage_seconds=0.3)
    monkeypatch.setattr(_shared_polls.PostsPoll, "per_page", 1)
    monkeypatch.setattr(_shared_polls.PostsPoll, "max_pages", 2)
    ids = [hook.create_post(f"Capped {n}", [101])["id"] for n in range(4)]
    triggers = [PostPublishedTrigger(post_id, poll_interval=0.3) for post_id in (ids[0], ids[3])]

    results = await run_all(triggers)

    assert [[e.payload["status"] for e in events] for events in results] == [["published"]] * 2
    singles = {
        r["path"] for r in smartlyq_conn.client.requests() if r["path"].startswith("/v1/social/posts/")
    }
    assert singles == {f"/v1/social/posts/{ids[0]}"}  # the newest was always in the sweep


async def test_one_slow_link_does_not_hold_up_the_others(smartlyq_conn, links):
    emu = smartlyq_conn
    slow, fast = links[0], links[1:]
    emu.client.inject_fault(f"/v1/social/connect/{slow['state_token']}", "GET", delay=3.0, count=100)
    for link in fast:
        await asyncio.to_thread(emu.client.approve_connect, link["state_token"])
    slow_run = asyncio.ensure_future(
        run_all([ConnectCompletedTrigger(slow["state_token"], poll_interval=0.2, end_time=time.time() + 4)])
    )
    await asyncio.sleep(0.3)  # the slow link's first check is under way

    results = await run_all(
        [ConnectCompletedTrigger(link["state_token"], poll_interval=0.2) for link in fast]
    )

    assert [[e.payload["status"] for e in events] for events in results] == [["connected"]] * len(fast)
    assert not slow_run.done()  # its answer is still on the way
    ((event,),) = await slow_run
    assert event.payload["status"] == "timeout"


async def test_no_wait_of_a_shared_request_runs_past_the_deadline_of_those_it_serves(smartlyq_conn, capsys):
    from airflow_provider_smartlyq.hooks._budget import reset_budgets

    reset_budgets()
    # SmartlyQ asks everyone on the key to wait 60 s: far past this gate's deadline.
    smartlyq_conn.client.inject_fault(HEALTH, "GET", status=429, count=5, retry_after=60)
    gate = AccountHealthTrigger(selector(101), poll_interval=0.2, end_time=time.time() + 2.0)
    try:
        (events,) = await run_all([gate])
    finally:
        reset_budgets()

    assert [e.payload["status"] for e in events] == ["timeout"]
    # The hook gave up on the hold at once (its retry would have come after the deadline)
    # and said why, instead of sleeping 60 s inside the poll.
    assert "no SmartlyQ request budget for GET /social/accounts/health" in capsys.readouterr().out
    assert len(requests_to(smartlyq_conn, HEALTH)) == 1


@pytest.mark.parametrize("steps_between", range(5))
async def test_a_trigger_cancelled_as_its_answer_arrives_stops_waiting(steps_between):
    # The triggerer removes triggers by cancelling their tasks. A cancellation that lands in the
    # same loop iterations as a delivered round must still end the wait: asyncio.wait_for
    # swallowed it before Python 3.12, the trigger waited on, its link stayed in the rotation
    # and the triggerer's teardown never finished (bench_triggerer.py at N=1,000). Every
    # interleaving of "answer delivered" and "task cancelled" a few loop steps apart is tried.
    poll = _shared_polls.ConnectRotation("unstarted")  # no poller runs: the test delivers by hand
    subscription = _shared_polls.Subscription(poll, "token", interval=5.0, end_time=time.time() + 3600)
    waiting = asyncio.ensure_future(subscription.next(3600.0))
    await asyncio.sleep(0)  # parked on its mailbox
    subscription.deliver(_shared_polls.Outcome(answer={"status": "pending"}))
    for _ in range(steps_between):
        await asyncio.sleep(0)
    if waiting.done():  # it took the answer before the cancellation: nothing was lost
        assert waiting.result() == _shared_polls.Outcome(answer={"status": "pending"})
        return
    waiting.cancel()
    await asyncio.wait((waiting,), timeout=30)
    assert waiting.cancelled(), f"the cancellation was swallowed; next() returned {waiting.result()!r}"


async def test_wait_event_returns_whether_the_event_came_in_time():
    event = asyncio.Event()
    assert await _shared_polls.wait_event(event, 0.0) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await _shared_polls.wait_event(event, 3600.0) is True
    assert await _shared_polls.wait_event(event, 0.0) is True


async def test_a_link_answered_429_keeps_its_place_at_the_head_of_the_rotation(smartlyq_conn, links):
    emu = smartlyq_conn
    first = links[0]["state_token"]
    path = f"/v1/social/connect/{first}"
    # Every attempt of its first check (the hook's two retries included) is answered 429.
    emu.client.inject_fault(path, "GET", status=429, count=3, retry_after=1)
    end_time = time.time() + 8
    triggers = [
        ConnectCompletedTrigger(link["state_token"], poll_interval=60, end_time=end_time) for link in links
    ]

    results = await run_all(triggers)

    assert [[e.payload["status"] for e in events] for events in results] == [["timeout"]] * 6
    checks = [r["status"] for r in requests_to(emu, path)]
    # Its turn was not lost: it was checked again at once (after the hold), not a whole
    # 60 s interval later, as the links that were answered are.
    assert checks == [429, 429, 429, 200]
    for link in links[1:]:
        assert len(requests_to(emu, f"/v1/social/connect/{link['state_token']}")) == 1


def test_the_rotation_starts_a_few_seconds_of_checks_at_the_rate_answers_come():
    rotation = _shared_polls.ConnectRotation("smartlyq_default")
    assert rotation.slots() == rotation.max_in_flight  # no answers yet: no rate known
    rotation._answered.extend(100.0 + 1.25 * i for i in range(20))  # 0.8 a second (60/min, 80 %)
    assert rotation.slots() == 3  # ceil(0.8 * 3 s)
    rotation._answered.extend(200.0 + 0.01 * i for i in range(64))  # fast: no limit to speak of
    assert rotation.slots() == rotation.max_in_flight
    rotation._answered.extend(300.0 + 60 * i for i in range(64))  # one a minute
    assert rotation.slots() == rotation.min_in_flight
