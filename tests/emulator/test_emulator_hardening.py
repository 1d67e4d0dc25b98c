"""
Security review, finding 5: the emulator's control API, Host handling, input errors and body size.

Each test failed before its fix. The emulator is a test double, not a production server, but it
listens on a developer's machine where any web page can reach 127.0.0.1.
"""

from __future__ import annotations

import json

import pytest
import requests

from airflow_provider_smartlyq.testing.emulator import run_emulator

EVIL = "https://evil.example"


def control(emu, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{emu.url}/_emulator{path}", timeout=10, **kwargs)


def api(emu, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {emu.api_key}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{emu.api_url}{path}", headers=headers, timeout=30, **kwargs)


def account_ids(emu) -> list[int]:
    return [a["id"] for a in emu.client.state()["accounts"]]


# -- cross-site control requests --------------------------------------------------------------------


def test_cross_site_text_plain_reset_is_refused_and_changes_nothing(smartlyq_emulator):
    emu = smartlyq_emulator
    emu.client.add_account("reddit", "Kept")  # a reset would drop it
    before = account_ids(emu)

    # What a form or a no-cors fetch from any web page can send without a preflight.
    answer = control(emu, "POST", "/reset", data="{}", headers={"Content-Type": "text/plain", "Origin": EVIL})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "FORBIDDEN"
    # Same-site but not JSON: still refused (a cross-site request need not send Origin).
    answer = control(emu, "POST", "/reset", data="{}", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415
    answer = control(
        emu,
        "POST",
        "/reset",
        data="seed=empty",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 415
    answer = control(emu, "POST", "/accounts/101/expire-token")  # no body, no content type
    assert answer.status_code == 415
    assert account_ids(emu) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another local port is another origin
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_cross_origin_control_requests_are_refused_even_as_json(smartlyq_emulator, headers):
    emu = smartlyq_emulator
    assert control(emu, "POST", "/reset", json={}, headers=headers).status_code == 403
    assert control(emu, "GET", "/requests", headers=headers).status_code == 403


def test_same_origin_json_control_requests_still_work(smartlyq_emulator):
    emu = smartlyq_emulator
    answer = control(emu, "POST", "/reset", json={"seed": "empty"}, headers={"Origin": emu.url})
    assert answer.status_code == 200
    assert account_ids(emu) == []


def test_foreign_host_name_is_refused_without_a_token(smartlyq_emulator):
    # DNS rebinding: a page on evil.example re-resolves its name to 127.0.0.1.
    emu = smartlyq_emulator
    answer = control(emu, "GET", "/state", headers={"Host": "evil.example"})
    assert answer.status_code == 403
    assert control(emu, "GET", "/state", headers={"Host": "localhost"}).status_code == 200


# -- Host header and links --------------------------------------------------------------------------


def test_foreign_host_never_reaches_connect_or_reconnect_urls(smartlyq_emulator):
    emu = smartlyq_emulator
    foreign = {"Host": "evil.example:80"}
    link = api(emu, "POST", "/social/connect/facebook", json={}, headers=foreign).json()["data"][
        "connect_url"
    ]
    again = api(emu, "GET", "/social/accounts/101/reconnect-url", headers=foreign).json()["data"][
        "reconnect_url"
    ]
    for url in (link, again):
        assert "evil.example" not in url
        assert url.startswith(emu.url + "/_emulator/oauth/authorize?")
    # A loopback Host is still used as given (localhost keeps working for TLS certificates).
    local = api(emu, "POST", "/social/connect/facebook", json={}, headers={"Host": f"localhost:{emu.port}"})
    assert local.json()["data"]["connect_url"].startswith(f"http://localhost:{emu.port}/")


# -- the loopback-or-token rule lives in the app ----------------------------------------------------


async def asgi_get(app, path: str, headers: dict[str, str] | None = None) -> int:
    """Send one GET straight into the ASGI app from a non-loopback peer; return the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"emulator:8765")]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("192.0.2.10", 50000),  # as if served on 0.0.0.0 and reached over the network
        "server": ("192.0.2.1", 8765),
    }
    statuses: list[int] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


async def test_app_factory_refuses_non_loopback_control_clients_without_a_token():
    from airflow_provider_smartlyq.emulator.app import create_app
    from airflow_provider_smartlyq.emulator.config import EmulatorConfig

    # However the app is served (uvicorn --factory on 0.0.0.0 included), not only via the CLI.
    app = create_app(EmulatorConfig())
    assert await asgi_get(app, "/_emulator/state") == 403
    assert await asgi_get(app, "/_emulator/health") == 200  # readiness stays open
    guarded = create_app(EmulatorConfig(control_token="tok"))
    assert await asgi_get(guarded, "/_emulator/state") == 401
    assert await asgi_get(guarded, "/_emulator/state", {"X-Emulator-Token": "tok"}) == 200


def test_run_emulator_refuses_a_network_address_without_a_token():
    with pytest.raises(ValueError, match="control token"), run_emulator(host="0.0.0.0"):
        pytest.fail("must not start")


# -- input errors answer 4xx and change nothing -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/social/posts"), ("POST", "/social/connect/facebook"), ("PATCH", "/social/accounts/101")],
)
def test_deeply_nested_json_answers_400(smartlyq_emulator, method, path):
    nested = "[" * 50_000 + "]" * 50_000
    answer = api(smartlyq_emulator, method, path, data=nested, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BAD_REQUEST"


def test_deeply_nested_json_to_the_control_api_answers_400(smartlyq_emulator):
    nested = "[" * 50_000 + "]" * 50_000
    answer = control(
        smartlyq_emulator, "POST", "/faults", data=nested, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400


@pytest.mark.parametrize(
    ("scheduled_time", "timezone"),
    [
        ("9999-12-31T23:59:59-12:00", "UTC"),  # past the calendar's end in UTC
        ("9999-12-31T23:59:59", "Etc/GMT+12"),
        ("9999-12-31T23:59:59Z", "UTC"),
        ("3026-01-01T00:00:00Z", "UTC"),
    ],
)
def test_far_future_scheduled_time_answers_422(smartlyq_emulator, scheduled_time, timezone):
    body = {
        "content": f"Far {scheduled_time} {timezone}",
        "platforms": ["facebook"],
        "account_ids": [101],
        "scheduled_time": scheduled_time,
        "timezone": timezone,
    }
    answer = api(smartlyq_emulator, "POST", "/social/posts/schedule", json=body)
    assert answer.status_code == 422, answer.text
    assert api(smartlyq_emulator, "GET", "/social/posts").status_code == 200
    assert smartlyq_emulator.client.posts()["posts"] == []


@pytest.mark.parametrize("days", [1e300, -1e300, 10**30, 3_000_000, "nan"])
def test_huge_validity_days_answers_422(smartlyq_emulator, days):
    emu = smartlyq_emulator
    before = emu.client.state()
    created = control(
        emu, "POST", "/accounts", json={"platform": "reddit", "name": "Huge", "validity_days": days}
    )
    assert created.status_code == 422, created.text
    patched = control(emu, "PATCH", "/accounts/101", json={"validity_days": days})
    assert patched.status_code == 422, patched.text
    assert emu.client.state() == before
    assert api(emu, "GET", "/social/accounts").status_code == 200


def test_naive_token_expires_at_leaves_the_account_unchanged(smartlyq_emulator):
    emu = smartlyq_emulator
    before = emu.client.state()
    answer = control(
        emu, "PATCH", "/accounts/101", json={"name": "Renamed", "token_expires_at": "2030-01-01T00:00:00"}
    )
    assert answer.status_code == 422
    assert emu.client.state() == before
    assert emu.client.writes() == []
    # Every later accounts call used to answer 500 until a reset.
    for path in ("/social/accounts", "/social/accounts/health", "/social/accounts/101/health"):
        assert api(emu, "GET", path).status_code == 200
    aware = control(emu, "PATCH", "/accounts/101", json={"token_expires_at": "2030-01-01T00:00:00+00:00"})
    assert aware.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"name": None},
        {"name": 5},
        {"paused": "yes"},
        {"profile_id": "42"},
        {"status": "gone"},
        {"bogus": 1},
        {"validity_days": True},
    ],
)
def test_bad_account_patch_fields_answer_422_and_change_nothing(smartlyq_emulator, body):
    emu = smartlyq_emulator
    before = emu.client.state()
    answer = control(emu, "PATCH", "/accounts/101", json={"paused": True, **body})
    assert answer.status_code == 422, answer.text
    assert emu.client.state() == before


def test_refused_posts_settings_change_nothing(smartlyq_emulator):
    emu = smartlyq_emulator
    before = emu.client.posts()["settings"]
    for bad in ({"stage_seconds": 7, "balance": "NaN"}, {"stage_seconds": "nan"}, {"balance": "Infinity"}):
        answer = control(emu, "PATCH", "/posts/settings", json=bad)
        assert answer.status_code == 422, answer.text
        assert emu.client.posts()["settings"] == before
    assert api(emu, "GET", "/social/posts").status_code == 200


# -- body size ---------------------------------------------------------------------------------------


def test_bodies_over_one_mib_answer_413(smartlyq_emulator):
    emu = smartlyq_emulator
    big = json.dumps({"content": "x" * (30 * 1024 * 1024)})
    answer = api(emu, "POST", "/social/posts", data=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert emu.client.requests()[-1]["status"] == 413  # logged like any answer

    def chunks():  # no Content-Length: the cap must count what arrives
        for _ in range(40):
            yield b"x" * 65536

    chunked = api(emu, "POST", "/social/posts", data=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert (
        control(
            emu,
            "POST",
            "/faults",
            data=b" " * (2 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        ).status_code
        == 413
    )
    assert emu.client.posts()["posts"] == []


def test_a_request_the_http_parser_refuses_is_answered_in_the_error_envelope(smartlyq_emulator):
    # Never reaches the app (uvicorn's parser refuses it); SmartlyQ answers every error as JSON.
    import json as _json
    import socket

    with socket.create_connection(("127.0.0.1", smartlyq_emulator.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad\x01Name: 1\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower()
    envelope = _json.loads(body)
    assert envelope["success"] is False
    assert envelope["error"]["code"] == "BAD_REQUEST"
    assert envelope["meta"]["request_id"].startswith("req_")
