"""The emulator's posts area: lifecycle, knobs, idempotent replay, validation (shapes: OpenAPI test)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from airflow_provider_smartlyq.testing.emulator import run_emulator


@pytest.fixture
def api(smartlyq_emulator):
    """Return ``call(method, path, expected, **kwargs) -> body`` on the emulator's /v1 API."""
    emu = smartlyq_emulator

    def call(method: str, path: str, expected: int | None = None, *, key: str | None = None, **kwargs: Any):
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        if key:
            headers["X-Idempotency-Key"] = key
        response = requests.request(method, emu.api_url + path, headers=headers, timeout=10, **kwargs)
        if expected is not None:
            assert response.status_code == expected, response.text
        return response

    return call


def body(content: str = "Hello", ids=(101, 103), platforms=("facebook", "twitter"), **extra) -> dict:
    return {"content": content, "account_ids": list(ids), "platforms": list(platforms), **extra}


def wait_final(api, post_id: int, within: float = 60.0) -> dict:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        post = api("GET", f"/social/posts/{post_id}", 200).json()["data"]
        if post["status"] not in ("processing", "scheduled"):
            return post
        time.sleep(0.05)
    raise AssertionError("post did not finish")


def test_lifecycle_goes_through_the_stages_in_order(api, smartlyq_emulator):
    smartlyq_emulator.client.update_posts_settings(stage_seconds=0.2)
    created = api("POST", "/social/posts", 201, json=body()).json()
    assert created["data"]["status"] == "processing"
    assert created["data"]["publish_stage"] == "validating"
    assert created["usage"] == {"units": 2, "cost": "0.0300", "balance_remaining": "99.9700"}
    seen: list[str | None] = []
    post = created["data"]
    while post["status"] == "processing":
        if not seen or seen[-1] != post["publish_stage"]:
            seen.append(post["publish_stage"])
        time.sleep(0.03)
        post = api("GET", f"/social/posts/{post['id']}", 200).json()["data"]
    assert seen == ["validating", "processing_media", "publishing"]
    assert post["status"] == "published"
    assert post["publish_stage"] is None
    assert post["published_at"]
    assert post["post_urls"] == {
        "facebook": [f"https://facebook.com/acme/posts/{post['id']}"],
        "twitter": [f"https://x.com/acme_x/posts/{post['id']}"],
    }


def test_outcome_is_logged_even_when_nobody_polls(api, smartlyq_emulator):
    smartlyq_emulator.client.update_posts_settings(stage_seconds=0.05)
    api("POST", "/social/posts", 201, json=body())
    time.sleep(0.6)
    actions = [w["action"] for w in smartlyq_emulator.client.writes()]
    assert actions == ["post_created", "post_published"]  # the background tick finished it


def test_failing_platform_gives_partial_then_failed(api, smartlyq_emulator):
    emu = smartlyq_emulator
    emu.client.update_posts_settings(stage_seconds=0.02, fail_platforms={"twitter": "X API is down"})
    partial = wait_final(api, api("POST", "/social/posts", 201, json=body()).json()["data"]["id"])
    assert partial["status"] == "partially_published"
    assert partial["post_urls"]["_errors"] == {"twitter": "X API is down"}
    assert "facebook" in partial["post_urls"]

    emu.client.update_posts_settings(fail_platforms=["facebook", "twitter"])
    failed = wait_final(api, api("POST", "/social/posts", 201, json=body("Other")).json()["data"]["id"])
    assert failed["status"] == "failed"
    assert set(failed["post_urls"]["_errors"]) == {"facebook", "twitter"}
    assert "published_at" not in failed  # never published: no publication time (spec: non-null)


def test_expired_and_paused_accounts_fail_their_platform(api, smartlyq_emulator):
    smartlyq_emulator.client.update_posts_settings(stage_seconds=0.02)
    # 104 Acme LinkedIn has an expired token in the demo seed; 105 Globex TikTok is paused.
    post = wait_final(
        api,
        api(
            "POST", "/social/posts", 201, json=body(ids=(101, 104), platforms=("facebook", "linkedin"))
        ).json()["data"]["id"],
    )
    assert post["status"] == "partially_published"
    assert "expired" in post["post_urls"]["_errors"]["linkedin"]
    media = {"media_urls": ["https://cdn.example.com/clip.mp4"]}
    paused = wait_final(
        api,
        api("POST", "/social/posts", 201, json=body("T", ids=(105,), platforms=("tiktok",), **media)).json()[
            "data"
        ]["id"],
    )
    assert paused["status"] == "failed"
    assert "paused" in paused["post_urls"]["_errors"]["tiktok"]


def test_replay_returns_the_original_post_without_a_second_effect(api, smartlyq_emulator):
    first = api("POST", "/social/posts", 201, json=body(), key="k-1").json()
    again = api("POST", "/social/posts", 200, key="k-1", json=body())  # the spec: replays answer 200

    assert again.headers["X-Idempotent-Replay"] == "true"
    assert again.json()["data"]["idempotent_replay"] is True
    assert again.json()["data"]["id"] == first["data"]["id"]
    state = smartlyq_emulator.client.posts()
    assert len(state["posts"]) == 1
    assert len(state["charges"]) == 1
    assert state["posts"][0]["idempotency_key"] == "k-1"
    assert [w["action"] for w in smartlyq_emulator.client.writes()].count("post_created") == 1


def test_credits_run_out_with_402(api, smartlyq_emulator):
    smartlyq_emulator.client.update_posts_settings(balance="0.0200")
    error = api("POST", "/social/posts", 402, json=body()).json()["error"]
    assert error["code"] == "INSUFFICIENT_BALANCE"
    assert error["details"] == {"required": "0.0300", "balance": "0.0200"}
    api("POST", "/social/posts", 201, json=body(ids=(101,), platforms=("facebook",)))
    assert smartlyq_emulator.client.posts()["settings"]["balance"] == "0.0050"


def test_a_402_is_not_replayed_after_a_top_up(api, smartlyq_emulator):
    smartlyq_emulator.client.update_posts_settings(balance=0)
    api("POST", "/social/posts", 402, json=body(), key="topup-1")
    smartlyq_emulator.client.update_posts_settings(balance=1)

    created = api("POST", "/social/posts", 201, json=body(), key="topup-1").json()["data"]
    assert not created.get("idempotent_replay")
    assert len(smartlyq_emulator.client.posts()["charges"]) == 1


def test_duplicate_content_guard_and_its_switch(api, smartlyq_emulator):
    first = api("POST", "/social/posts", 201, json=body()).json()["data"]
    error = api("POST", "/social/posts", 409, json=body()).json()["error"]
    assert error["code"] == "DUPLICATE_CONTENT"
    assert error["details"] == {"existing_post_id": first["id"]}
    api("POST", "/social/posts", 201, json=body(allow_duplicates=True))
    smartlyq_emulator.client.update_posts_settings(duplicate_check=False)
    api("POST", "/social/posts", 201, json=body())
    assert len(smartlyq_emulator.client.posts()["charges"]) == 3  # the refused one was not charged


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"content": "x"}, 422, "VALIDATION_ERROR"),
        (body(platforms=("facebook",)), 422, "VALIDATION_ERROR"),  # 103 is on twitter
        (body(ids=(101, 999)), 404, "RESOURCE_NOT_FOUND"),
        (body(platforms=("facebook", "myspace")), 422, "UNSUPPORTED_PLATFORM"),
        (body("x" * 281), 422, "VALIDATION_ERROR"),  # over twitter's 280
        (body(ids=(102,), platforms=("instagram",)), 422, "VALIDATION_ERROR"),  # no media
    ],
)
def test_create_rejects_bad_requests(api, payload, status, code):
    assert api("POST", "/social/posts", status, json=payload).json()["error"]["code"] == code


def test_schedule_by_time_queue_and_cancel(api, smartlyq_emulator):
    scheduled = api(
        "POST",
        "/social/posts/schedule",
        201,
        json=body(scheduled_time="2099-06-01T09:00:00", timezone="Europe/Paris"),
    ).json()["data"]
    assert scheduled["status"] == "scheduled"
    assert scheduled["scheduled_time"] == "2099-06-01T07:00:00Z"
    queued = api("POST", "/social/posts/schedule", 201, json=body("Q", queue_id=3)).json()["data"]
    assert queued["queue_id"] == 3
    api(
        "POST",
        "/social/posts/schedule",
        422,
        json=body("Both", queue_id=3, scheduled_time="2099-01-01T00:00:00Z"),
    )
    api("POST", "/social/posts/schedule", 422, json=body("Past", scheduled_time="2001-01-01T00:00:00Z"))
    api("DELETE", f"/social/posts/{scheduled['id']}", 204)
    api("GET", f"/social/posts/{scheduled['id']}", 404)
    assert "post_deleted" in [w["action"] for w in smartlyq_emulator.client.writes()]


def test_validate_is_a_free_dry_run(api, smartlyq_emulator):
    report = api(
        "POST",
        "/social/validate/post",
        200,
        json={
            "content": "y" * 300,
            "platforms": ["twitter", "youtube", "tumblr"],
            "media_urls": ["https://c/a.png"],
        },
    ).json()["data"]
    assert report["valid"] is False
    assert report["platforms"]["twitter"]["within_limit"] is False
    assert report["platforms"]["youtube"]["media_ok"] is False  # youtube needs a video
    assert report["platforms"]["tumblr"]["limit"] is None
    assert smartlyq_emulator.client.writes() == []
    assert smartlyq_emulator.client.posts()["charges"] == []


def test_a_read_only_key_may_validate_but_not_publish():
    read_only = "sqk_test_read_only_posts_1"
    with run_emulator(read_only_key=read_only) as emu:
        headers = {"Authorization": f"Bearer {read_only}"}
        draft = {"content": "hi", "platforms": ["twitter"]}
        validated = requests.post(
            f"{emu.api_url}/social/validate/post", json=draft, headers=headers, timeout=10
        )
        published = requests.post(
            f"{emu.api_url}/social/posts", json=body(), headers=headers, timeout=10
        )  # fmt: skip
    assert validated.status_code == 200, validated.text  # the spec: scope social:read
    assert published.status_code == 403


def test_reset_restores_the_knobs(smartlyq_emulator):
    smartlyq_emulator.client.update_posts_settings(stage_seconds=5, fail_platforms=["twitter"], balance=0)
    smartlyq_emulator.client.reset()
    assert smartlyq_emulator.client.posts()["settings"] == {
        "stage_seconds": 0.3,
        "fail_platforms": {},
        "balance": "100.0000",
        "duplicate_check": True,
    }


def test_unknown_knob_is_refused(smartlyq_emulator):
    with pytest.raises(requests.HTTPError):
        smartlyq_emulator.client.update_posts_settings(speed=3)
