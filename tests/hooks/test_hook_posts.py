"""SmartlyQHook post calls against the emulator (demo seed: 101 Acme Facebook, 103 Acme X...)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from airflow_provider_smartlyq.exceptions import (
    SmartlyQDuplicateContentError,
    SmartlyQIdempotencyConflictError,
    SmartlyQInsufficientBalanceError,
    SmartlyQNotFoundError,
    SmartlyQValidationError,
)
from airflow_provider_smartlyq.hooks._transport import POOL


def api_calls(emu, method=None, prefix="/v1/social/posts"):
    return [
        r
        for r in emu.client.requests()
        if (method is None or r["method"] == method) and r["path"].startswith(prefix)
    ]


def wait_final(hook, post_id, within=60.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        post = hook.get_post(post_id)
        if post["status"] not in ("processing", "scheduled"):
            return post
        time.sleep(0.1)
    raise AssertionError(f"post {post_id} did not finish")


def test_create_post_derives_platforms_with_one_account_listing(hook, smartlyq_conn):
    post = hook.create_post("Hello", [103, 101])

    assert post["platforms"] == ["facebook", "twitter"]  # account-id order
    assert post["account_ids"] == [101, 103]
    assert post["idempotent_replay"] is False
    listings = [r for r in smartlyq_conn.client.requests() if r["path"] == "/v1/social/accounts"]
    assert len(listings) == 1
    final = wait_final(hook, post["id"])
    assert final["status"] == "published"
    assert set(final["post_urls"]) == {"facebook", "twitter"}


def test_given_platforms_skip_the_listing(hook, smartlyq_conn):
    hook.create_post("Hello", [101], platforms=["FB"])
    assert not [r for r in smartlyq_conn.client.requests() if r["path"] == "/v1/social/accounts"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content": "  ", "account_ids": [101]}, "content"),
        ({"content": "x", "account_ids": []}, "at least one account"),
        ({"content": "x", "account_ids": [101], "scheduled_time": dt.datetime(2030, 1, 1)}, "no timezone"),
        ({"content": "x", "account_ids": [101], "scheduled_time": "2030-01-01T09:00:00"}, "no timezone"),
        (
            {"content": "x", "account_ids": [101], "scheduled_time": "2030-01-01T09:00Z", "queue_id": 3},
            "not both",
        ),
        ({"content": "x", "account_ids": [101], "scheduled_time": "tomorrow"}, "ISO 8601"),
        (
            {
                "content": "x",
                "account_ids": [101],
                "scheduled_time": "2030-01-01T09:00",
                "timezone": "Mars/Base",
            },
            "timezone",
        ),
        ({"content": "x", "account_ids": [101], "timezone": "UTC"}, "scheduled_time"),
        ({"content": "x", "account_ids": [101], "media_urls": ["file:///etc/passwd"]}, "media_urls"),
        ({"content": "x", "account_ids": [101], "platforms": ["myspace"]}, "unknown platform"),
        ({"content": "x", "account_ids": [101], "idempotency_key": "has space"}, "idempotency key"),
    ],
)
def test_bad_input_fails_before_any_request(hook, smartlyq_conn, kwargs, message):
    with pytest.raises(SmartlyQValidationError, match=message) as info:
        hook.create_post(**kwargs)
    assert info.value.status_code == 0
    assert smartlyq_conn.client.requests() == []


def test_unknown_account_is_named_before_posting(hook, smartlyq_conn):
    with pytest.raises(SmartlyQValidationError, match="999"):
        hook.create_post("Hello", [101, 999])
    assert api_calls(smartlyq_conn, "POST") == []


def test_same_key_and_body_replays_the_original_post(hook, smartlyq_conn):
    first = hook.create_post("Launch", [101], idempotency_key="launch-1")
    again = hook.create_post("Launch", [101], idempotency_key="launch-1")

    assert again["id"] == first["id"]
    assert again["idempotent_replay"] is True
    assert len(smartlyq_conn.client.posts()["posts"]) == 1
    assert len(smartlyq_conn.client.posts()["charges"]) == 1


def test_same_key_different_body_is_an_idempotency_conflict(hook):
    hook.create_post("Launch", [101], idempotency_key="launch-2")
    with pytest.raises(SmartlyQIdempotencyConflictError) as info:
        hook.create_post("Launch v2", [101], idempotency_key="launch-2")
    assert info.value.status_code == 409
    assert info.value.code == "IDEMPOTENCY_CONFLICT"


def test_out_of_credits_is_a_typed_402(hook, smartlyq_conn):
    smartlyq_conn.client.update_posts_settings(balance="0.01")
    with pytest.raises(SmartlyQInsufficientBalanceError) as info:
        hook.create_post("Hello", [101])
    assert info.value.status_code == 402
    assert info.value.request_id
    assert smartlyq_conn.client.posts()["posts"] == []


def test_duplicate_content_is_a_typed_409_naming_the_existing_post(hook, smartlyq_conn):
    first = hook.create_post("Same words", [101])
    with pytest.raises(SmartlyQDuplicateContentError) as info:
        hook.create_post("Same words", [103])
    assert info.value.existing_post_id == first["id"]

    second = hook.create_post("Same words", [103], allow_duplicates=True)
    assert second["id"] != first["id"]
    assert len(smartlyq_conn.client.posts()["charges"]) == 2


def test_schedule_with_an_aware_time_is_sent_in_utc(hook, smartlyq_conn):
    paris = dt.timezone(dt.timedelta(hours=2))
    when = dt.datetime.now(paris).replace(microsecond=0) + dt.timedelta(days=1)

    post = hook.create_post("Later", [101], scheduled_time=when)

    assert post["status"] == "scheduled"
    assert post["scheduled_time"] == when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert api_calls(smartlyq_conn, "POST")[0]["path"] == "/v1/social/posts/schedule"


def test_schedule_with_a_naive_time_and_timezone(hook):
    local = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    post = hook.create_post(
        "Later again", [101], scheduled_time=local.isoformat(), timezone="America/New_York"
    )

    from zoneinfo import ZoneInfo

    expected = local.replace(tzinfo=ZoneInfo("America/New_York")).astimezone(dt.timezone.utc)
    assert post["scheduled_time"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_schedule_into_a_queue_takes_its_next_slot(hook, smartlyq_conn):
    first = hook.create_post("Queued one", [101], queue_id=7)
    second = hook.create_post("Queued two", [101], queue_id="7")

    assert first["status"] == second["status"] == "scheduled"
    assert first["queue_id"] == 7
    assert second["scheduled_time"] > first["scheduled_time"]  # the next free slot


def test_get_post_follows_the_lifecycle_to_published(hook):
    post = hook.create_post("Stages", [101])
    stages = []
    for _ in range(100):
        current = hook.get_post(post["id"])
        stages.append(current["publish_stage"])
        if current["status"] == "published":
            break
        time.sleep(0.05)
    assert current["status"] == "published"
    assert current["publish_stage"] is None
    assert "validating" in stages
    assert "publishing" in stages


def test_aget_post_reads_the_same_post(hook):
    post = hook.create_post("Async", [101])

    async def read():
        try:
            return await hook.aget_post(post["id"])
        finally:
            await hook.aclose()
            assert POOL.leases() == 0  # the lease was given back

    answer = asyncio.run(read())
    assert answer["id"] == post["id"]
    assert answer["content"] == "Async"


def test_get_missing_post_is_not_found(hook):
    with pytest.raises(SmartlyQNotFoundError):
        hook.get_post(424242)


def test_validate_post_reports_per_platform(hook, smartlyq_conn):
    report = hook.validate_post("x" * 300, ["x", "instagram", "facebook"])

    assert report["valid"] is False
    assert report["platforms"]["twitter"] == {
        "characters": 300,
        "limit": 280,
        "within_limit": False,
        "requires_media": False,
        "media_ok": True,
    }
    assert report["platforms"]["instagram"]["media_ok"] is False
    assert len(report["errors"]) == 2
    assert smartlyq_conn.client.posts()["posts"] == []  # a dry run creates nothing


def test_retry_post_republishes_only_failed_platforms(hook, smartlyq_conn):
    smartlyq_conn.client.update_posts_settings(stage_seconds=0.05, fail_platforms={"twitter": "X is down"})
    post = hook.create_post("Retry me", [101, 103])
    final = wait_final(hook, post["id"])
    assert final["status"] == "partially_published"
    assert final["post_urls"]["_errors"] == {"twitter": "X is down"}

    smartlyq_conn.client.update_posts_settings(fail_platforms={})
    answer = hook.retry_post(post["id"])

    assert answer["retried"] == ["twitter"]
    assert answer["final_status"] == "published"
    again = hook.get_post(post["id"])
    assert again["status"] == "published"
    assert "_errors" not in again["post_urls"]


def test_delete_post(hook):
    post = hook.create_post("Delete me", [101])
    assert hook.delete_post(post["id"]) is None
    with pytest.raises(SmartlyQNotFoundError):
        hook.get_post(post["id"])


def test_list_posts_pages_newest_first_and_the_async_page_matches(hook, smartlyq_conn):
    created = [hook.create_post(f"Listed {n}", [101])["id"] for n in range(3)]

    posts = hook.list_posts()

    assert [p["id"] for p in posts] == sorted(created, reverse=True)
    assert all("status" in p and "post_urls" in p for p in posts)
    assert hook.list_posts(max_pages=1) == posts[:100]

    async def first_page():
        try:
            return await hook.alist_posts_page(page=1, per_page=2)
        finally:
            await hook.aclose()

    page = asyncio.run(first_page())
    assert [p["id"] for p in page["posts"]] == sorted(created, reverse=True)[:2]
    assert page["pagination"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    queries = [r["query"] for r in api_calls(smartlyq_conn, "GET", "/v1/social/posts")]
    assert "page=1&per_page=100" in queries
    assert "page=1&per_page=2" in queries


@pytest.mark.parametrize("kwargs", [{"per_page": 101}, {"per_page": 0}, {"page": 0}, {"page": True}])
def test_a_bad_posts_page_fails_before_any_request(hook, smartlyq_conn, kwargs):
    with pytest.raises(SmartlyQValidationError, match="page"):
        asyncio.run(hook.alist_posts_page(**kwargs))
    assert api_calls(smartlyq_conn) == []
