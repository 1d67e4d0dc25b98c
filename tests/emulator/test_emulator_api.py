"""SmartlyQ API behaviour of the emulator, over real HTTP on loopback."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from airflow_provider_smartlyq.testing.emulator import RunningEmulator, run_emulator

READ_ONLY_KEY = "sqk_test_readonly_1111111111"
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def call(
    emu: RunningEmulator, method: str, path: str, *, key: str | None = "default", **kwargs
) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {emu.api_key if key == 'default' else key}"
    return requests.request(method, emu.api_url + path, headers=headers, timeout=10, **kwargs)


def assert_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"success", "error", "meta"}
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert REQUEST_ID.match(body["meta"]["request_id"])
    assert response.headers["X-Request-Id"] == body["meta"]["request_id"]
    return body


def data_of(response: requests.Response, status: int = 200):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def state_token(url: str) -> str:
    return parse_qs(urlparse(url).query)["state"][0]


@pytest.fixture(scope="module")
def read_only_emulator():
    with run_emulator(read_only_key=READ_ONLY_KEY) as emu:
        yield emu


# -- envelopes, auth -------------------------------------------------------------------------
def test_me_envelope_and_headers(smartlyq_emulator):
    response = call(smartlyq_emulator, "GET", "/me")
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"success", "data", "meta"}
    assert set(body["data"]) == {"id", "name", "email", "plan", "created_at"}
    assert REQUEST_ID.match(body["meta"]["request_id"])
    assert TIMESTAMP.match(body["meta"]["timestamp"])
    assert response.headers["X-Request-Id"] == body["meta"]["request_id"]
    # Not limiting (the default): the headers say so with a limit no client will reach.
    assert response.headers["X-RateLimit-Limit"] == "100000"
    assert 0 <= int(response.headers["X-RateLimit-Remaining"]) < 100000
    assert int(response.headers["X-RateLimit-Reset"]) > time.time()


def test_missing_key_is_unauthorized(smartlyq_emulator):
    response = call(smartlyq_emulator, "GET", "/social/accounts", key=None)
    assert_error(response, 401, "UNAUTHORIZED")
    assert "X-RateLimit-Limit" in response.headers
    malformed = call(smartlyq_emulator, "GET", "/me", key=None, headers={"Authorization": "Basic abc"})
    assert_error(malformed, 401, "UNAUTHORIZED")


def test_unknown_key_is_invalid_and_never_echoed(smartlyq_emulator):
    secret = "sqk_test_not_a_real_key_42"
    response = call(smartlyq_emulator, "GET", "/social/accounts", key=secret)
    assert_error(response, 401, "INVALID_API_KEY")
    assert secret not in response.text
    assert smartlyq_emulator.api_key not in str(smartlyq_emulator.client.requests())


def test_read_only_key_reads_but_cannot_write(read_only_emulator):
    read_only_emulator.client.reset()
    assert len(data_of(call(read_only_emulator, "GET", "/social/accounts", key=READ_ONLY_KEY))) == 8
    body = assert_error(
        call(read_only_emulator, "POST", "/social/accounts/101/pause", key=READ_ONLY_KEY), 403, "FORBIDDEN"
    )
    assert body["error"]["details"] == {"required_scope": "social:write"}
    assert_error(
        call(read_only_emulator, "POST", "/social/connect/facebook", key=READ_ONLY_KEY), 403, "FORBIDDEN"
    )
    assert read_only_emulator.client.writes() == []


def test_unknown_route_and_malformed_json(smartlyq_emulator):
    assert_error(call(smartlyq_emulator, "GET", "/nope"), 404, "RESOURCE_NOT_FOUND")
    response = call(
        smartlyq_emulator,
        "POST",
        "/social/connect/facebook",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, "BAD_REQUEST")


# -- accounts --------------------------------------------------------------------------------
def test_list_accounts_demo_seed(smartlyq_emulator):
    accounts = data_of(call(smartlyq_emulator, "GET", "/social/accounts"))
    assert [a["id"] for a in accounts] == list(range(101, 109))
    first = accounts[0]
    assert set(first) == {
        "id",
        "platform",
        "name",
        "username",
        "profile_id",
        "status",
        "paused",
        "created_at",
    }
    assert first["name"].startswith("Acme ")
    assert first["profile_id"] is None
    assert {a["name"].split()[0] for a in accounts} == {"Acme", "Globex"}
    assert {a["status"] for a in accounts} == {"connected", "expired"}
    assert sum(a["paused"] for a in accounts) == 1


def test_profile_scoping(smartlyq_emulator):
    profile = data_of(call(smartlyq_emulator, "GET", "/social/accounts", headers={"X-Profile-Id": "42"}))
    assert [a["profile_id"] for a in profile] == [42, 42]
    assert_error(
        call(smartlyq_emulator, "GET", "/social/accounts/101/health", headers={"X-Profile-Id": "42"}),
        404,
        "RESOURCE_NOT_FOUND",
    )
    health = data_of(
        call(smartlyq_emulator, "GET", "/social/accounts/health", headers={"X-Profile-Id": "42"})
    )
    assert health["healthy"] == 2
    assert len(health["accounts"]) == 2
    body = assert_error(
        call(smartlyq_emulator, "GET", "/social/accounts", headers={"X-Profile-Id": "abc"}),
        400,
        "BAD_REQUEST",
    )
    assert "X-Profile-Id" in body["error"]["message"]
    created = data_of(
        call(
            smartlyq_emulator,
            "POST",
            "/social/connect/bluesky",
            headers={"X-Profile-Id": "42"},
            json={"identifier": "initech.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
        ),
        201,
    )
    assert (
        data_of(call(smartlyq_emulator, "GET", "/social/accounts", headers={"X-Profile-Id": "42"}))[-1]["id"]
        == (created["account"]["account_id"])
    )


def test_bulk_health(smartlyq_emulator):
    health = data_of(call(smartlyq_emulator, "GET", "/social/accounts/health"))
    assert (health["healthy"], health["expiring"], health["expired"], health["paused"]) == (5, 1, 1, 1)
    rows = {row["id"]: row for row in health["accounts"]}
    assert set(rows[101]) >= {
        "id",
        "platform",
        "account_name",
        "is_active",
        "status",
        "token_expired",
        "validity_days",
    }
    paused = next(row for row in rows.values() if row["paused"])
    assert paused["is_active"] is False
    assert rows[102]["validity_days"] == 3
    assert rows[104]["status"] == "expired"
    assert rows[104]["token_expired"] is True


def test_account_health(smartlyq_emulator):
    healthy = data_of(call(smartlyq_emulator, "GET", "/social/accounts/101/health"))
    assert healthy == {
        "id": 101,
        "platform": "facebook",
        "account_name": "Acme Facebook",
        "status": "connected",
        "token_expired": False,
        "validity_days": 45,
    }
    expired = data_of(call(smartlyq_emulator, "GET", "/social/accounts/104/health"))
    assert (expired["status"], expired["token_expired"], expired["validity_days"]) == ("expired", True, 0)


def test_unknown_and_invalid_account_ids(smartlyq_emulator):
    body = assert_error(
        call(smartlyq_emulator, "GET", "/social/accounts/999/health"), 404, "RESOURCE_NOT_FOUND"
    )
    assert body["error"]["details"] == {"id": 999}
    for method, path in [
        ("GET", "/social/accounts/abc/health"),
        ("POST", "/social/accounts/abc/pause"),
        ("DELETE", "/social/accounts/abc"),
    ]:
        assert_error(call(smartlyq_emulator, method, path), 422, "VALIDATION_ERROR")
    assert_error(call(smartlyq_emulator, "DELETE", "/social/accounts/999"), 404, "RESOURCE_NOT_FOUND")


def test_pause_resume_and_write_log(smartlyq_emulator):
    assert data_of(call(smartlyq_emulator, "POST", "/social/accounts/101/pause")) == {
        "id": 101,
        "paused": True,
    }
    # Pausing again answers the same but changes nothing, so nothing is written.
    assert data_of(call(smartlyq_emulator, "POST", "/social/accounts/101/pause")) == {
        "id": 101,
        "paused": True,
    }
    assert data_of(call(smartlyq_emulator, "POST", "/social/accounts/101/resume")) == {
        "id": 101,
        "paused": False,
    }
    writes = smartlyq_emulator.client.writes()
    assert [(w["action"], w["account_id"]) for w in writes] == [
        ("account_paused", 101),
        ("account_resumed", 101),
    ]
    assert [w["seq"] for w in writes] == [1, 2]
    assert all(w["source"] == "api" and TIMESTAMP.match(w["at"]) for w in writes)


def test_rename_and_disconnect(smartlyq_emulator):
    renamed = data_of(
        call(smartlyq_emulator, "PATCH", "/social/accounts/103", json={"account_name": "Acme X Main"})
    )
    assert renamed == {"id": 103, "platform": "twitter", "account_name": "Acme X Main"}
    assert_error(call(smartlyq_emulator, "PATCH", "/social/accounts/103", json={}), 422, "VALIDATION_ERROR")
    response = call(smartlyq_emulator, "DELETE", "/social/accounts/103")
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert 103 not in [a["id"] for a in data_of(call(smartlyq_emulator, "GET", "/social/accounts"))]
    assert_error(call(smartlyq_emulator, "GET", "/social/accounts/103/health"), 404, "RESOURCE_NOT_FOUND")
    assert [w["action"] for w in smartlyq_emulator.client.writes()] == [
        "account_renamed",
        "account_disconnected",
    ]


# -- headless connect ------------------------------------------------------------------------
def test_connect_flow_through_the_consent_page(smartlyq_emulator):
    started = data_of(call(smartlyq_emulator, "POST", "/social/connect/facebook", json={}), 201)
    assert set(started) == {"platform", "connect_url", "expires_at"}
    url = started["connect_url"]
    assert url.startswith(smartlyq_emulator.url + "/_emulator/oauth/authorize?")
    token = state_token(url)
    assert 30 <= len(token) <= 44
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert parse_qs(urlparse(url).query)["platform"] == ["facebook"]
    poll = data_of(call(smartlyq_emulator, "GET", f"/social/connect/{token}"))
    assert poll == {
        "platform": "facebook",
        "status": "pending",
        "expires_at": started["expires_at"],
        "account": None,
    }
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    assert "Approve" in page.text
    assert "<form method='post'" in page.text
    approved = requests.post(url, timeout=10)
    assert approved.status_code == 200
    assert "Connected 1 account" in approved.text
    poll = data_of(call(smartlyq_emulator, "GET", f"/social/connect/{token}"))
    assert poll["status"] == "connected"
    assert set(poll["account"]) == {"account_id", "name", "username", "platform"}
    new_id = poll["account"]["account_id"]
    assert new_id == 111
    health = data_of(call(smartlyq_emulator, "GET", f"/social/accounts/{new_id}/health"))
    assert health["status"] == "connected"
    assert 59 <= health["validity_days"] <= 60
    assert requests.post(url, timeout=10).status_code == 410  # single use
    actions = [w["action"] for w in smartlyq_emulator.client.writes()]
    assert actions == ["connect_link_created", "account_connected"]


def test_multi_target_platform_and_return_url(smartlyq_emulator):
    started = data_of(
        call(
            smartlyq_emulator,
            "POST",
            "/social/connect/youtube",
            json={"return_url": "https://app.example/done?x=1"},
        ),
        201,
    )
    response = requests.post(started["connect_url"], allow_redirects=False, timeout=10)
    assert response.status_code == 303
    assert response.headers["Location"] == "https://app.example/done?x=1&connected=2&platform=youtube"
    accounts = data_of(call(smartlyq_emulator, "GET", "/social/accounts"))
    youtube = [a for a in accounts if a["platform"] == "youtube" and a["id"] > 110]
    assert len(youtube) == 2
    poll = data_of(call(smartlyq_emulator, "GET", f"/social/connect/{state_token(started['connect_url'])}"))
    assert poll["account"]["account_id"] == youtube[0]["id"]


def test_unsupported_platform(smartlyq_emulator):
    body = assert_error(
        call(smartlyq_emulator, "POST", "/social/connect/myspace"), 422, "UNSUPPORTED_PLATFORM"
    )
    supported = body["error"]["details"]["supported_platforms"]
    assert "facebook" in supported
    assert "gmb" in supported
    assert len(supported) == 16


def test_credential_platforms_connect_at_once(smartlyq_emulator):
    cases = {
        "bluesky": {"identifier": "acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
        "telegram": {"bot_token": "123456:AAbc", "chat_id": "@acme"},
        "whatsapp": {"phone_number_id": "1098", "access_token": "EAAG..."},
    }
    for platform, credentials in cases.items():
        data = data_of(call(smartlyq_emulator, "POST", f"/social/connect/{platform}", json=credentials), 201)
        assert set(data) == {"platform", "account"}
        assert data["platform"] == platform
        assert data["account"]["platform"] == platform
        assert isinstance(data["account"]["account_id"], int)
    telegram = data_of(
        call(smartlyq_emulator, "POST", "/social/connect/telegram", json={"bot_token": "1:A", "chat": "@x"}),
        201,
    )
    assert telegram["account"]["name"] == "@x"
    body = assert_error(
        call(smartlyq_emulator, "POST", "/social/connect/telegram", json={"bot_token": "1:A"}),
        422,
        "VALIDATION_ERROR",
    )
    assert body["error"]["details"]["fields"] == ["chat"]
    # Bluesky without credentials falls back to the browser flow.
    assert "connect_url" in data_of(call(smartlyq_emulator, "POST", "/social/connect/bluesky"), 201)
    actions = [w["action"] for w in smartlyq_emulator.client.writes()]
    assert actions == ["account_connected"] * 4 + ["connect_link_created"]


def test_unknown_state_token(smartlyq_emulator):
    assert_error(call(smartlyq_emulator, "GET", "/social/connect/nope"), 404, "RESOURCE_NOT_FOUND")
    assert (
        requests.get(smartlyq_emulator.url + "/_emulator/oauth/authorize?state=nope", timeout=10).status_code
        == 404
    )


def test_reconnect_keeps_the_account_id(smartlyq_emulator):
    first = data_of(call(smartlyq_emulator, "GET", "/social/accounts/104/reconnect-url"))["reconnect_url"]
    again = data_of(call(smartlyq_emulator, "GET", "/social/accounts/104/reconnect-url"))["reconnect_url"]
    assert first == again
    assert first.startswith(smartlyq_emulator.url + "/_emulator/oauth/authorize?")
    assert requests.post(first, timeout=10).status_code == 200
    health = data_of(call(smartlyq_emulator, "GET", "/social/accounts/104/health"))
    assert (health["id"], health["status"], health["token_expired"]) == (104, "connected", False)
    assert health["validity_days"] == 60
    assert len(data_of(call(smartlyq_emulator, "GET", "/social/accounts"))) == 8
    assert [w["action"] for w in smartlyq_emulator.client.writes()] == [
        "reconnect_link_created",
        "account_reconnected",
    ]
    assert_error(
        call(smartlyq_emulator, "GET", "/social/accounts/999/reconnect-url"), 404, "RESOURCE_NOT_FOUND"
    )


def test_connect_link_expires():
    with run_emulator(connect_ttl=0.3) as emu:
        url = data_of(call(emu, "POST", "/social/connect/tiktok"), 201)["connect_url"]
        time.sleep(0.5)
        assert data_of(call(emu, "GET", f"/social/connect/{state_token(url)}"))["status"] == "expired"
        assert requests.post(url, timeout=10).status_code == 410


def test_auto_approve_in_the_background():
    with run_emulator(auto_approve_after=0.2) as emu:
        url = data_of(call(emu, "POST", "/social/connect/instagram"), 201)["connect_url"]
        deadline = time.monotonic() + 60
        # Nobody polls: the background task alone must connect the account.
        while time.monotonic() < deadline:
            if any(w["action"] == "account_connected" for w in emu.client.writes()):
                break
            time.sleep(0.05)
        writes = emu.client.writes()
        assert [w["action"] for w in writes] == ["connect_link_created", "account_connected"]
        assert writes[1]["source"] == "auto"
        poll = data_of(call(emu, "GET", f"/social/connect/{state_token(url)}"))
        assert poll["status"] == "connected"
        assert poll["account"]["platform"] == "instagram"


def test_provider_not_configured_and_not_enabled():
    with run_emulator(unconfigured_platforms={"tiktok"}) as emu:
        body = assert_error(call(emu, "POST", "/social/connect/tiktok"), 422, "PROVIDER_NOT_CONFIGURED")
        assert body["error"]["details"] == {"platform": "tiktok"}
        data_of(call(emu, "POST", "/social/connect/facebook"), 201)
    with run_emulator(headless_connect_enabled=False) as emu:
        assert_error(call(emu, "POST", "/social/connect/facebook"), 404, "NOT_ENABLED")


# -- idempotency and rate limits -------------------------------------------------------------
def test_idempotent_replay_and_conflict(smartlyq_emulator):
    headers = {"X-Idempotency-Key": "connect-acme:1"}
    first = call(
        smartlyq_emulator,
        "POST",
        "/social/connect/facebook",
        json={"return_url": "https://a"},
        headers=headers,
    )
    replay = call(
        smartlyq_emulator,
        "POST",
        "/social/connect/facebook",
        json={"return_url": "https://a"},
        headers=headers,
    )
    assert first.status_code == replay.status_code == 201
    assert replay.headers["X-Idempotent-Replay"] == "true"
    assert "X-Idempotent-Replay" not in first.headers
    assert replay.json()["data"]["connect_url"] == first.json()["data"]["connect_url"]
    assert replay.json()["data"]["idempotent_replay"] is True
    conflict = call(
        smartlyq_emulator,
        "POST",
        "/social/connect/facebook",
        json={"return_url": "https://b"},
        headers=headers,
    )
    assert_error(conflict, 409, "IDEMPOTENCY_CONFLICT")
    assert [w["action"] for w in smartlyq_emulator.client.writes()] == ["connect_link_created"]
    assert smartlyq_emulator.client.writes()[0]["idempotency_key"] == "connect-acme:1"
    log = smartlyq_emulator.client.requests()
    assert [(r["status"], r["replay"]) for r in log] == [(201, False), (201, True), (409, False)]


def test_idempotent_delete_replays_instead_of_404(smartlyq_emulator):
    headers = {"X-Idempotency-Key": "delete-107"}
    assert call(smartlyq_emulator, "DELETE", "/social/accounts/107", headers=headers).status_code == 200
    replay = call(smartlyq_emulator, "DELETE", "/social/accounts/107", headers=headers)
    assert replay.status_code == 200
    assert replay.json()["data"] is None
    assert [w["action"] for w in smartlyq_emulator.client.writes()] == ["account_disconnected"]


def test_invalid_idempotency_key(smartlyq_emulator):
    for key in ["x" * 65, "has space", "slash/bad"]:
        response = call(
            smartlyq_emulator, "POST", "/social/accounts/101/pause", headers={"X-Idempotency-Key": key}
        )
        assert_error(response, 400, "VALIDATION_ERROR")
    assert smartlyq_emulator.client.writes() == []


def test_rate_limit_enforced():
    with run_emulator(rate_limit=3) as emu:
        if time.time() % 60 > 55:  # keep all four requests inside one fixed window
            time.sleep(60 - time.time() % 60 + 0.1)
        remaining = [call(emu, "GET", "/me").headers["X-RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        limited = call(emu, "GET", "/me")
        body = assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert body["error"]["details"]["retry_after"] == int(limited.headers["Retry-After"])
        assert limited.headers["X-RateLimit-Limit"] == "3"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PATCH", "/social/accounts/103", {"account_name": "  "}, "account_name"),
        ("PATCH", "/social/accounts/103", {"account_name": "x" * 256}, "account_name"),
        ("PATCH", "/social/accounts/103", {"account_name": 5}, "account_name"),
        ("POST", "/social/validate/post", {"content": "hi", "platforms": []}, "platforms"),
        ("POST", "/social/validate/post", {"content": 5, "platforms": ["twitter"]}, "content"),
        ("POST", "/social/validate/post", {"platforms": ["twitter"], "media_urls": "x"}, "media_urls"),
        ("POST", "/social/posts/1/retry", {"platforms": "twitter"}, "platforms"),
    ],
)
def test_request_bodies_are_checked_by_their_models(smartlyq_emulator, method, path, body, field):
    # pydantic models (FastAPI's own validation library) check the bodies; the error envelope
    # names each refused field, and nothing changes.
    error = assert_error(call(smartlyq_emulator, method, path, json=body), 422, "VALIDATION_ERROR")
    assert error["error"]["details"]["fields"] == [field]
    assert smartlyq_emulator.client.writes() == []
