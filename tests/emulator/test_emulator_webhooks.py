"""
Emulator webhooks: registration, and signed deliveries verified with the provider's parse_event.

A tiny ``http.server`` on a thread plays the user's endpoint; what it receives is checked with
:func:`airflow_provider_smartlyq.webhooks.parse_event`, exactly as a real receiver would.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_smartlyq.exceptions import SmartlyQSignatureError
from airflow_provider_smartlyq.webhooks import parse_event, signature_header

SECRET = "whsec_test_receiver"
#: The receiver the event-driven how-to includes as "a complete receiver".
RECEIVER_SNIPPET = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "smartlyq_webhook_receiver.py"


class Receiver:
    """A loopback HTTP endpoint recording each POST (headers and raw body)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []
        self.statuses = list(statuses or [])  # answers to give first, then 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.paths.append(self.path)
                receiver.received.append((dict(self.headers.items()), raw))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/smartlyq"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 60) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} deliveries arrived"
            time.sleep(0.02)
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def api(emulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    return requests.request(method, emulator.api_url + path, headers=headers, timeout=10, **kwargs)


def subscribe(emulator, url: str, events: list[str], secret: str | None = SECRET) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "events": events}
    if secret is not None:
        body["secret"] = secret
    response = api(emulator, "POST", "/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_register_list_and_delete(smartlyq_emulator, receiver):
    created = subscribe(smartlyq_emulator, receiver.url, ["account.token_expired"], secret=None)
    assert created["url"] == receiver.url
    assert created["events"] == ["account.token_expired"]
    assert created["status"] == "active"
    assert created["secret"].startswith("whsec_")  # generated, shown once

    listed = api(smartlyq_emulator, "GET", "/webhooks").json()["data"]
    assert [w["id"] for w in listed["webhooks"]] == [created["id"]]
    assert "secret" not in listed["webhooks"][0]
    assert {"account.connected", "account.token_expired", "post.published"} <= set(listed["events"])

    assert api(smartlyq_emulator, "DELETE", f"/webhooks/{created['id']}").json()["data"] is None
    gone = api(smartlyq_emulator, "DELETE", f"/webhooks/{created['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "RESOURCE_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://example.com/hooks", "events": ["account.connected"]}, "url"),
        ({"url": "ftp://127.0.0.1/hooks", "events": ["account.connected"]}, "url"),
        ({"url": "http://127.0.0.1:9/hooks", "events": ["account.exploded"]}, "events"),
        ({"url": "http://127.0.0.1:9/hooks", "events": []}, "events"),
    ],
)
def test_registration_is_validated(smartlyq_emulator, body, field):
    response = api(smartlyq_emulator, "POST", "/webhooks", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"] == [field]


def test_expiring_a_token_delivers_a_signed_account_token_expired(smartlyq_emulator, receiver):
    subscribe(smartlyq_emulator, receiver.url, ["account.token_expired"])
    smartlyq_emulator.client.expire_account_token(101)

    headers, raw = receiver.wait_for(1)[0]
    event = parse_event(raw, headers, SECRET)
    assert event["event"] == "account.token_expired"
    assert event["id"].startswith("evt_")
    assert headers["X-SmartlyQ-Event-Id"] == event["id"]
    assert event["data"] == {
        "account_id": 101,
        "platform": "facebook",
        "account_name": "Acme Facebook",
        "reason": "token_expired",
    }
    assert event["created_at"].endswith("Z")
    with pytest.raises(SmartlyQSignatureError):
        parse_event(raw, headers, "whsec_someone_else")
    # Expiring an already expired token changes nothing and announces nothing.
    smartlyq_emulator.client.expire_account_token(101)
    time.sleep(0.3)
    assert len(receiver.received) == 1


def test_a_completed_connect_delivers_account_connected(smartlyq_emulator, receiver, hook):
    subscribe(smartlyq_emulator, receiver.url, ["account.connected"])
    smartlyq_emulator.client.expire_account_token(102)  # not subscribed: no delivery

    link = hook.create_connect_link("tiktok")
    (account,) = smartlyq_emulator.client.approve_connect(link["state_token"], name="Acme TikTok")

    headers, raw = receiver.wait_for(1)[0]
    event = parse_event(raw, headers, SECRET)
    assert event["event"] == "account.connected"
    assert event["data"]["account_id"] == account["id"]
    assert event["data"]["account_name"] == "Acme TikTok"
    assert event["data"]["platform"] == "tiktok"
    assert event["data"]["account_username"] == account["username"]
    time.sleep(0.3)
    assert len(receiver.received) == 1


def test_failed_deliveries_are_retried_with_backoff(smartlyq_emulator, monkeypatch):
    monkeypatch.setattr(smartlyq_emulator.state, "webhook_retry_base", 0.1)
    flaky = Receiver(statuses=[500, 503])
    try:
        subscribe(smartlyq_emulator, flaky.url, ["account.token_expired"])
        started = time.monotonic()
        smartlyq_emulator.client.expire_account_token(103)
        deliveries = flaky.wait_for(3)
        assert time.monotonic() - started >= 0.3  # 0.1 s, then 0.2 s between attempts
        events = [parse_event(raw, headers, SECRET) for headers, raw in deliveries]
        assert len({e["id"] for e in events}) == 1  # the same event, re-signed on each attempt
        log = requests.get(smartlyq_emulator.url + "/_emulator/webhooks/deliveries", timeout=10).json()[
            "data"
        ]
        assert [(d["attempt"], d["status"], d["delivered"]) for d in log] == [
            (1, 500, False),
            (2, 503, False),
            (3, 200, True),
        ]
    finally:
        flaky.close()


def test_an_unreachable_endpoint_gets_five_attempts(smartlyq_emulator, monkeypatch):
    monkeypatch.setattr(smartlyq_emulator.state, "webhook_retry_base", 0.02)
    closed = Receiver()
    closed.close()  # nothing listens on that port any more
    subscribe(smartlyq_emulator, closed.url, ["account.token_expired"])
    smartlyq_emulator.client.expire_account_token(106)
    deadline = time.monotonic() + 60
    log: list[dict[str, Any]] = []
    while len(log) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
        log = requests.get(smartlyq_emulator.url + "/_emulator/webhooks/deliveries", timeout=10).json()[
            "data"
        ]
    assert [d["attempt"] for d in log] == [1, 2, 3, 4, 5]
    assert not any(d["delivered"] for d in log)
    assert all(d["error"] for d in log)
    time.sleep(0.2)
    assert (
        len(requests.get(smartlyq_emulator.url + "/_emulator/webhooks/deliveries", timeout=10).json()["data"])
        == 5
    )


def test_the_documented_receiver_records_verified_deliveries_as_asset_events(smartlyq_emulator, receiver):
    """The how-to's receiver, end to end: emulator -> receiver -> Airflow's asset-event endpoint."""
    from airflow.api_fastapi.core_api.datamodels.assets import CreateAssetEventsBody

    spec = importlib.util.spec_from_file_location("smartlyq_webhook_receiver", RECEIVER_SNIPPET)
    assert spec is not None
    assert spec.loader is not None
    snippet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(snippet)
    airflow_api = receiver  # plays Airflow's REST API: records what the receiver POSTs
    airflow_url = airflow_api.url.rsplit("/hooks/", 1)[0]
    handler = snippet.make_handler(SECRET, airflow_url, "airflow-token", 7)
    handler.log_message = lambda *args: None  # keep test output clean
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/smartlyq"
    try:
        subscribe(smartlyq_emulator, endpoint, ["account.token_expired"])
        smartlyq_emulator.client.expire_account_token(101)

        headers, raw = airflow_api.wait_for(1)[0]
        assert airflow_api.paths == ["/api/v2/assets/events"]
        assert headers["Authorization"] == "Bearer airflow-token"
        body = json.loads(raw)
        CreateAssetEventsBody.model_validate(body)  # what Airflow's endpoint accepts
        event = body["extra"]["smartlyq_event"]
        assert body["asset_id"] == 7
        assert event["event"] == "account.token_expired"
        assert event["data"]["account_id"] == 101

        # A forged delivery is refused; a re-delivery of the same event is not recorded twice.
        forged = requests.post(
            endpoint,
            data=b"{}",
            headers={"X-SmartlyQ-Signature": signature_header("whsec_guess", b"{}")},
            timeout=10,
        )
        assert forged.status_code == 401
        envelope = json.dumps(event).encode()
        again = requests.post(
            endpoint,
            data=envelope,
            headers={
                "X-SmartlyQ-Signature": signature_header(SECRET, envelope),
                "X-SmartlyQ-Event": event["event"],
                "X-SmartlyQ-Event-Id": event["id"],
            },
            timeout=10,
        )
        assert again.status_code == 204
        time.sleep(0.2)
        assert len(airflow_api.received) == 1
    finally:
        server.shutdown()
        server.server_close()
