"""
Validate the emulator's answers against SmartlyQ's published OpenAPI document.

Every operation that both the spec and the emulator have is called, successes and errors, and
each answer is validated against the spec's schema. What the spec does not describe must be a
recorded entry of :data:`spec_support.SPEC_DEVIATIONS` (with its reason), and every entry must
be exercised here, so neither side can drift silently.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from spec_support import (
    SPEC_DEVIATIONS,
    Checked,
    SpecValidator,
    emulator_operations,
    nullable_to_json_schema,
    path_shape,
)


@pytest.fixture(scope="module")
def validator(openapi_spec) -> SpecValidator:
    return SpecValidator(openapi_spec)


def test_nullable_is_converted():
    assert nullable_to_json_schema({"type": "object", "nullable": True}) == {"type": ["object", "null"]}
    # A nullable enum admits null (the spec's publish_stage: "null when the post is idle").
    assert nullable_to_json_schema({"type": "string", "nullable": True, "enum": ["a"]}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }


def test_every_deviation_has_a_reason_and_is_unique():
    keys = [(*d.key, d.absent_fields) for d in SPEC_DEVIATIONS]
    assert len(keys) == len(set(keys))
    assert all(len(d.reason) > 20 for d in SPEC_DEVIATIONS)


class Calls:
    """Call the emulator's /v1 API and validate every answer; remember what was covered."""

    def __init__(self, emu: Any, validator: SpecValidator) -> None:
        self.emu, self.validator = emu, validator
        self.checked: list[Checked] = []

    def __call__(
        self,
        method: str,
        path: str,
        expected: int,
        *,
        headers: dict[str, str] | None = None,
        key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        all_headers = {"Authorization": f"Bearer {self.emu.api_key}", **(headers or {})}
        if key:
            all_headers["X-Idempotency-Key"] = key
        response = requests.request(
            method, self.emu.api_url + path, headers=all_headers, timeout=10, **kwargs
        )
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        body = response.json() if response.content else None
        self.checked.append(self.validator.validate(method, "/v1" + path, response.status_code, body))
        return body

    def wait_post(self, post_id: int, until: tuple[str, ...]) -> dict[str, Any]:
        deadline = time.monotonic() + 60  # generous: only a stuck post ever reaches it
        while time.monotonic() < deadline:
            post = self("GET", f"/social/posts/{post_id}", 200)["data"]
            if post["status"] in until:
                return post
            time.sleep(0.05)
        raise AssertionError(f"post {post_id} never reached {until}")


def test_every_shared_operation_validates(validator, smartlyq_emulator):
    emu = smartlyq_emulator
    call = Calls(emu, validator)

    # -- accounts --------------------------------------------------------------------------------
    call("GET", "/me", 200)
    call("GET", "/social/accounts", 200)
    call("GET", "/social/accounts", 200, headers={"X-Profile-Id": "42"})
    call("GET", "/social/accounts/health", 200)
    call("GET", "/social/accounts/101/health", 200)
    call("GET", "/social/accounts/104/health", 200)
    call("GET", "/social/accounts/104/reconnect-url", 200)
    call("POST", "/social/accounts/101/pause", 200)
    call("POST", "/social/accounts/101/pause", 200, key="p1")
    call("POST", "/social/accounts/101/pause", 200, key="p1")  # replay
    call("POST", "/social/accounts/101/resume", 200)
    call("PATCH", "/social/accounts/102", 200, json={"account_name": "Acme IG"})
    call("GET", "/me", 401, headers={"Authorization": ""})
    call("GET", "/social/accounts", 401, headers={"Authorization": "Bearer sqk_test_wrong"})
    call("GET", "/social/accounts/health", 401, headers={"Authorization": "Bearer sqk_test_wrong"})
    call("GET", "/social/accounts", 400, headers={"X-Profile-Id": "x"})
    call("GET", "/social/accounts/999/health", 404)
    call("GET", "/social/accounts/999/reconnect-url", 404)
    call("POST", "/social/accounts/999/pause", 404)
    call("POST", "/social/accounts/abc/resume", 422)
    call("DELETE", "/social/accounts/abc", 422)
    call("PATCH", "/social/accounts/999", 404, json={"account_name": "x"})
    call("PATCH", "/social/accounts/101", 422, json={"account_name": ""})
    call("POST", "/social/accounts/101/pause", 409, key="p1", json={"x": 1})
    call("POST", "/social/accounts/101/pause", 400, key="bad key")
    emu.client.inject_fault("/v1/social/accounts/health", status=503, retry_after=3)
    call("GET", "/social/accounts/health", 503)
    emu.client.clear_faults()

    # -- connect ---------------------------------------------------------------------------------
    started = call("POST", "/social/connect/facebook", 201, json={"return_url": "https://app.example/cb"})
    token = parse_qs(urlparse(started["data"]["connect_url"]).query)["state"][0]
    call("GET", f"/social/connect/{token}", 200)
    emu.client.approve_connect(token)
    call("GET", f"/social/connect/{token}", 200)
    call(
        "POST",
        "/social/connect/bluesky",
        201,
        json={"identifier": "a.bsky.social", "app_password": "a-b-c-d"},
    )
    call("POST", "/social/connect/myspace", 422)
    call("POST", "/social/connect/telegram", 422, json={"bot_token": "1:A"})
    call("POST", "/social/connect/facebook", 400, data=b"{", headers={"Content-Type": "application/json"})
    call("GET", "/social/connect/no-such-token", 404)

    # -- posts and validate ------------------------------------------------------------------------
    emu.client.update_posts_settings(stage_seconds=0.05, fail_platforms={"twitter": "X API is down"})
    post = {"content": "Spec check", "account_ids": [101, 103], "platforms": ["facebook", "twitter"]}
    created = call("POST", "/social/posts", 201, json=post, key="spec-1")
    assert "published_at" not in created["data"]  # in flight: no publication time yet
    call("POST", "/social/posts", 200, json=post, key="spec-1")  # replay: the original post
    call("POST", "/social/posts", 409, json={**post, "content": "Other"}, key="spec-1")
    post_id = created["data"]["id"]
    call("GET", f"/social/posts/{post_id}", 200)  # in flight
    call("POST", f"/social/posts/{post_id}/retry", 422, json={})  # not finished yet
    partial = call.wait_post(post_id, ("partially_published",))
    assert partial["published_at"]  # facebook published
    call("GET", "/social/posts", 200)
    emu.client.update_posts_settings(fail_platforms={})
    call("POST", f"/social/posts/{post_id}/retry", 200, json={"platforms": ["twitter"]})
    call("POST", f"/social/posts/{post_id}/retry", 422, json={"platforms": ["tiktok"]})  # not sent there
    call("POST", "/social/posts/999999/retry", 404, json={})
    emu.client.update_posts_settings(fail_platforms=["facebook"])
    failed_id = call(
        "POST",
        "/social/posts",
        201,
        json={**post, "content": "Fails", "platforms": ["facebook"], "account_ids": [101]},
    )["data"]["id"]
    failed = call.wait_post(failed_id, ("failed",))
    assert "published_at" not in failed
    scheduled = call("POST", "/social/posts/schedule", 201, json={**post, "content": "Later", "queue_id": 1})
    assert scheduled["data"]["status"] == "scheduled"
    assert scheduled["data"]["publish_stage"] is None  # idle until its time: null, as the spec says
    call("GET", "/social/posts", 200)  # published, failed and scheduled posts in one list
    call("POST", "/social/posts/schedule", 422, json={**post, "content": "Never"})  # no time, no queue
    later = {**post, "content": "Later again", "queue_id": 1}
    call("POST", "/social/posts/schedule", 201, json=later, key="spec-schedule")
    call("POST", "/social/posts/schedule", 409, json={**later, "queue_id": 2}, key="spec-schedule")
    call("POST", "/social/posts/schedule", 404, json={**later, "content": "Ghost", "account_ids": [999, 103]})
    call("POST", "/social/posts", 409, json=post)  # same content within 24 h
    call("POST", "/social/posts", 422, json={"content": "x"})
    call("POST", "/social/posts", 404, json={**post, "content": "Ghost", "account_ids": [999, 103]})
    call("GET", "/social/posts/999999", 404)
    call("DELETE", f"/social/posts/{scheduled['data']['id']}", 204)
    call("DELETE", "/social/posts/999999", 404)
    call("GET", "/social/posts", 401, headers={"Authorization": "Bearer sqk_test_wrong"})
    emu.client.update_posts_settings(balance=0)
    call("POST", "/social/posts", 402, json={**post, "content": "Poor"})
    call("POST", "/social/validate/post", 200, json={"content": "hi", "platforms": ["twitter", "snapchat"]})
    call(
        "POST",
        "/social/validate/post",
        200,
        json={"content": "x" * 300, "platforms": ["twitter", "instagram"]},
    )
    call("POST", "/social/validate/post", 422, json={"content": "hi"})

    # -- webhooks --------------------------------------------------------------------------------
    hook = call(
        "POST", "/webhooks", 201, json={"url": "http://127.0.0.1:9/hook", "events": ["post.published"]}
    )
    call("GET", "/webhooks", 200)
    call("POST", "/webhooks", 422, json={"url": "http://127.0.0.1:9/hook", "events": ["no.such"]})
    call("DELETE", f"/webhooks/{hook['data']['id']}", 200)
    call("DELETE", f"/webhooks/{hook['data']['id']}", 404)
    call("DELETE", "/webhooks/abc", 422)
    call("DELETE", "/social/accounts/103", 200)  # last: the posts above publish through 103

    # Coverage: every operation both sides have was called ...
    shared = {(m, t) for m, t in validator.operations() if (m, path_shape(t)) in emulator_operations()}
    assert {(c.method, c.template) for c in call.checked} == shared
    assert {(c.method, c.template) for c in call.checked if c.status < 300} == shared  # each succeeded once
    assert len(shared) == 21  # today's intersection: a route added on either side shows up here
    # ... and every recorded deviation was needed at least once (an unneeded entry is stale).
    used = {d for c in call.checked for d in c.deviations}
    assert [d for d in SPEC_DEVIATIONS if d not in used] == []


def test_connect_not_enabled_and_not_configured_validate(validator):
    from airflow_provider_smartlyq.testing.emulator import run_emulator

    for config, status in [
        ({"headless_connect_enabled": False}, 404),
        ({"unconfigured_platforms": {"gmb"}}, 422),
    ]:
        with run_emulator(**config) as emu:
            response = requests.post(
                emu.api_url + "/social/connect/gmb",
                headers={"Authorization": f"Bearer {emu.api_key}"},
                timeout=10,
            )
            assert response.status_code == status
            checked = validator.validate("POST", "/v1/social/connect/gmb", status, response.json())
            assert checked.deviations == ()
