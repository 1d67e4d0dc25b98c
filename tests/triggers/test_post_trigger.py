"""PostPublishedTrigger, driven the way the triggerer drives it, against the emulator."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_smartlyq._compat import import_string
from airflow_provider_smartlyq.hooks._transport import POOL
from airflow_provider_smartlyq.triggers.smartlyq import PostPublishedTrigger

CLASSPATH = "airflow_provider_smartlyq.triggers.smartlyq.PostPublishedTrigger"


@pytest.fixture
def post(hook, smartlyq_conn):
    smartlyq_conn.client.update_posts_settings(stage_seconds=0.1)
    return hook.create_post("Trigger me", [101, 103])


async def run_to_event(trigger, *, within: float = 30.0) -> list:
    """Collect every event of ``trigger.run()`` as the triggerer does, then run ``cleanup()``."""

    async def collect():
        events = [event async for event in trigger.run()]
        assert POOL.leases() == 0  # the hook's lease is released when run() returns
        return events

    try:
        return await asyncio.wait_for(collect(), within)
    finally:
        await trigger.cleanup()


def rebuild(trigger):
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)  # JSON-plain, as the triggerer table stores them
    return import_string(classpath)(**kwargs)


def post_reads(emu) -> list[dict]:
    return [r for r in emu.client.requests() if r["path"].startswith("/v1/social/posts/")]


def test_serialize_names_the_public_classpath_and_round_trips(post):
    trigger = PostPublishedTrigger(post["id"], poll_interval=2)

    classpath, kwargs = trigger.serialize()

    assert classpath == CLASSPATH
    assert kwargs == {
        "post_id": post["id"],
        "smartlyq_conn_id": "smartlyq_default",
        "poll_interval": 2.0,
        "end_time": trigger.end_time,
    }
    assert rebuild(trigger).serialize() == (classpath, kwargs)


def test_default_deadline_is_an_hour_from_the_first_build_and_survives_a_rebuild(post):
    before = time.time()
    trigger = PostPublishedTrigger(str(post["id"]))  # a rendered template gives a string
    again = rebuild(trigger)

    assert before + 3600 <= trigger.end_time <= time.time() + 3600
    assert again.end_time == trigger.end_time
    assert again.post_id == post["id"]


def test_yields_one_published_event_with_urls(post, smartlyq_conn):
    before = len(smartlyq_conn.client.requests())
    events = asyncio.run(run_to_event(PostPublishedTrigger(post["id"], poll_interval=0.1)))

    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "published"
    assert payload["post_id"] == post["id"]
    assert set(payload["post_urls"]) == {"facebook", "twitter"}
    assert payload["errors"] == {}
    assert {r["method"] for r in smartlyq_conn.client.requests()[before:]} == {"GET"}  # reads only


def test_partial_event_carries_the_errors(hook, smartlyq_conn):
    smartlyq_conn.client.update_posts_settings(stage_seconds=0.05, fail_platforms={"twitter": "X is down"})
    post = hook.create_post("Half", [101, 103])

    (event,) = asyncio.run(run_to_event(PostPublishedTrigger(post["id"], poll_interval=0.1)))

    assert event.payload["status"] == "partially_published"
    assert event.payload["errors"] == {"twitter": "X is down"}
    assert list(event.payload["post_urls"]) == ["facebook"]


def test_deadline_in_the_past_times_out_without_polling(post, smartlyq_conn):
    before = len(post_reads(smartlyq_conn))
    trigger = PostPublishedTrigger(post["id"], end_time=time.time() - 1)

    (event,) = asyncio.run(run_to_event(trigger))

    assert event.payload == {"status": "timeout", "post_id": post["id"], "last_status": None}
    assert len(post_reads(smartlyq_conn)) == before


def test_scheduled_post_waits_until_the_deadline(hook, smartlyq_conn):
    post = hook.create_post("Tomorrow", [101], scheduled_time="2099-01-01T09:00:00Z")
    trigger = PostPublishedTrigger(post["id"], poll_interval=0.2, end_time=time.time() + 1)

    (event,) = asyncio.run(run_to_event(trigger))

    assert event.payload["status"] == "timeout"
    assert event.payload["last_status"] == "scheduled"
    assert 2 <= len(post_reads(smartlyq_conn)) <= 8  # polled on its interval, no spinning


def test_server_errors_do_not_end_the_wait(post, smartlyq_conn):
    smartlyq_conn.client.inject_fault(f"/v1/social/posts/{post['id']}", "GET", status=503, count=4)

    (event,) = asyncio.run(run_to_event(PostPublishedTrigger(post["id"], poll_interval=0.1)))

    assert event.payload["status"] == "published"


def test_deleted_post_ends_with_an_error_event(post, hook):
    hook.delete_post(post["id"])

    (event,) = asyncio.run(run_to_event(PostPublishedTrigger(post["id"], poll_interval=0.1)))

    assert event.payload["status"] == "error"
    assert "404" in event.payload["message"]


def test_bad_post_id_fails_at_build_time():
    from airflow_provider_smartlyq.exceptions import SmartlyQValidationError

    with pytest.raises(SmartlyQValidationError, match="post_id"):
        PostPublishedTrigger("abc")
