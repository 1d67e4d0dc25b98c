"""The plugin's pure parts: the return page, webhook payloads shaped as the watcher's, the off switch."""

from __future__ import annotations

from airflow_provider_smartlyq.core.selector import AccountSelector
from airflow_provider_smartlyq.plugins import _external_views, _fastapi_apps, plugin_enabled
from airflow_provider_smartlyq.plugins.app import connected_page
from airflow_provider_smartlyq.plugins.webhook_events import account_payload, post_payload
from airflow_provider_smartlyq.waits.transitions import diff_snapshot


def test_connected_page_escapes_what_smartlyq_appends():
    page = connected_page("3", '"><img src=x onerror=alert(1)>')

    assert "SmartlyQ account connected, you can close this window" in page
    assert "<strong>3</strong>" in page
    assert "<img" not in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_connected_page_without_parameters_shows_only_the_message():
    page = connected_page(None, None)

    assert "you can close this window" in page
    assert "Platform" not in page
    assert "Accounts connected" not in page


def test_token_expired_webhook_payload_is_the_watchers_payload_for_the_same_expiry():
    event = {
        "id": "evt_1",
        "event": "account.token_expired",
        "created_at": "2030-01-01T08:00:00Z",
        "data": {"account_id": 104, "platform": "linkedin", "account_name": "Acme LinkedIn"},
    }
    polled = {"id": 104, "platform": "linkedin", "account_name": "Acme LinkedIn", "status": "expired",
              "token_expired": True, "validity_days": -2}  # fmt: skip
    [from_poll], _ = diff_snapshot(
        {"104": "healthy"},
        [polled],
        selector=AccountSelector.build(all_accounts=True),
        events=["unhealthy"],
        expiring_within_days=7,
        fire_on_start=True,
        observed_at="2030-01-01T08:00:00Z",
    )

    from_webhook = account_payload(event)

    assert from_webhook is not None
    assert set(from_webhook) == set(from_poll)
    assert set(from_webhook["account"]) == set(from_poll["account"])
    assert from_webhook["event_key"] == from_poll["event_key"] == "smartlyq:104:unhealthy:expired"
    assert from_webhook["transition"] == "unhealthy"


def test_connected_webhook_is_a_recovery_and_unknown_events_are_not_account_events():
    connected = account_payload({"id": "e", "event": "account.connected", "data": {"account_id": "7"}})
    assert connected is not None
    assert (connected["transition"], connected["account"]["id"]) == ("recovered", 7)
    assert account_payload({"id": "e", "event": "balance.low", "data": {}}) is None
    assert account_payload({"id": "e", "event": "account.disconnected", "data": {}}) is None  # no account id


def test_post_events_carry_their_data():
    payload = post_payload({"id": "e", "event": "post.failed", "data": {"post_id": 9, "error": "x"}})
    assert payload is not None
    assert payload["event_key"] == "smartlyq:post:9:failed"
    assert payload["post"] == {"post_id": 9, "error": "x"}
    assert post_payload({"id": "e", "event": "account.connected", "data": {}}) is None


def test_the_plugin_can_be_switched_off_by_config(monkeypatch):
    assert plugin_enabled()
    assert [app["url_prefix"] for app in _fastapi_apps()] == ["/smartlyq"]

    monkeypatch.setenv("AIRFLOW__SMARTLYQ__UI_PLUGIN_ENABLED", "False")

    assert not plugin_enabled()
    assert _fastapi_apps() == []
    assert _external_views() == []
