"""Every sync method of SmartlyQHook against the emulator, over HTTP on loopback."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_smartlyq.exceptions import SmartlyQNotFoundError, SmartlyQValidationError
from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

MAIN_ACCOUNT_IDS = list(range(101, 109))


def _api_requests(emulator) -> list[dict]:
    return emulator.client.requests()


def test_get_me_returns_the_key_owner(hook, smartlyq_conn):
    me = hook.get_me()

    assert me["id"] == 4242
    assert me["email"] == "emulator@example.com"
    [entry] = _api_requests(smartlyq_conn)
    assert (entry["method"], entry["path"], entry["key"]) == ("GET", "/v1/me", "primary")


def test_test_connection_succeeds_and_names_the_user(hook, smartlyq_conn):
    ok, message = hook.test_connection()

    assert ok is True
    assert "SmartlyQ Emulator" in message
    assert smartlyq_conn.url in message


def test_test_connection_answers_after_one_attempt(hook, smartlyq_conn):
    # The Test button reports at once instead of backing off (the hook alone would retry a 503).
    smartlyq_conn.client.inject_fault("/v1/me", "GET", status=503, count=1)

    ok, message = hook.test_connection()

    assert ok is False
    assert "SmartlyQServerError" in message
    assert "HTTP 503" in message
    assert len(_api_requests(smartlyq_conn)) == 1


def test_create_connect_link_parses_the_state_token(hook, smartlyq_conn):
    link = hook.create_connect_link("X", "https://app.example.com/connected")

    assert link["platform"] == "twitter"  # the alias was normalised before sending
    state = parse_qs(urlsplit(link["connect_url"]).query)["state"][0]
    assert link["state_token"] == state
    assert link["expires_at"].endswith("Z")
    [write] = smartlyq_conn.client.writes()
    assert write["action"] == "connect_link_created"
    assert write["state_token"] == state
    assert write["idempotency_key"].startswith("af-")
    [session] = smartlyq_conn.client.state()["connect_sessions"]
    assert session["return_url"] == "https://app.example.com/connected"


def test_create_connect_link_with_a_given_key_is_replayed_not_repeated(hook, smartlyq_conn):
    first = hook.create_connect_link("facebook", idempotency_key="dag-run-1:connect")
    second = hook.create_connect_link("facebook", idempotency_key="dag-run-1:connect")

    assert second["connect_url"] == first["connect_url"]
    assert second["state_token"] == first["state_token"]
    assert second.get("idempotent_replay") is True
    assert [w["action"] for w in smartlyq_conn.client.writes()] == ["connect_link_created"]
    keys = {r["idempotency_key"] for r in _api_requests(smartlyq_conn)}
    assert keys == {"dag-run-1:connect"}
    assert [r["replay"] for r in _api_requests(smartlyq_conn)] == [False, True]


def test_create_connect_link_without_return_url_sends_an_empty_body(hook, smartlyq_conn):
    link = hook.create_connect_link("google_business")

    assert link["platform"] == "gmb"
    [session] = smartlyq_conn.client.state()["connect_sessions"]
    assert session["return_url"] is None


def test_credential_only_platform_is_refused_by_the_api(hook, smartlyq_conn):
    # The hook sends no credentials, so Telegram answers 422: typed, naming the missing fields.
    with pytest.raises(SmartlyQValidationError) as info:
        hook.create_connect_link("telegram")

    assert info.value.status_code == 422
    assert "bot_token" in str(info.value)
    assert len(_api_requests(smartlyq_conn)) == 1


def test_get_connect_status_follows_pending_then_connected(hook, smartlyq_conn):
    link = hook.create_connect_link("instagram")
    pending = hook.get_connect_status(link["state_token"])
    assert pending == {
        "platform": "instagram",
        "status": "pending",
        "expires_at": link["expires_at"],
        "account": None,
    }

    [account] = smartlyq_conn.client.approve_connect(link["state_token"], name="Acme Reels")
    connected = hook.get_connect_status(link["state_token"])

    assert connected["status"] == "connected"
    assert connected["account"]["account_id"] == account["id"]
    assert connected["account"]["name"] == "Acme Reels"


def test_get_connect_status_of_an_expired_link(hook, smartlyq_conn):
    link = hook.create_connect_link("tiktok")
    smartlyq_conn.client.expire_connect(link["state_token"])

    assert hook.get_connect_status(link["state_token"])["status"] == "expired"


def test_get_connect_status_of_an_unknown_token_is_not_found(hook, smartlyq_conn):
    with pytest.raises(SmartlyQNotFoundError) as info:
        hook.get_connect_status("no-such-token")

    assert info.value.status_code == 404
    assert info.value.request_id
    assert info.value.request_id.startswith("req_")


def test_list_accounts_returns_the_main_profile(hook, smartlyq_conn):
    accounts = hook.list_accounts()

    assert [a["id"] for a in accounts] == MAIN_ACCOUNT_IDS
    assert {a["platform"] for a in accounts} >= {"facebook", "instagram", "twitter"}
    assert all(isinstance(a["name"], str) for a in accounts)


def test_list_accounts_follows_pages_with_the_servers_page_size(hook, smartlyq_conn):
    def page(ids: list[int], number: int) -> str:
        return json.dumps(
            {
                "success": True,
                "data": [{"id": i, "platform": "facebook", "name": f"Page {i}"} for i in ids],
                "pagination": {"page": number, "per_page": 2, "total": 5, "pages": 3},
                "meta": {"request_id": f"req_page{number}"},
            }
        )

    for number, ids in enumerate(([1, 2], [3, 4], [5]), start=1):
        smartlyq_conn.client.inject_fault(
            "/v1/social/accounts", "GET", status=200, body=page(ids, number), content_type="application/json"
        )

    accounts = hook.list_accounts()

    assert [a["id"] for a in accounts] == [1, 2, 3, 4, 5]
    queries = [parse_qs(r["query"]) for r in _api_requests(smartlyq_conn)]
    assert queries == [{}, {"page": ["2"], "per_page": ["2"]}, {"page": ["3"], "per_page": ["2"]}]


def test_get_accounts_health_tallies_and_derives_paused(hook, smartlyq_conn):
    health = hook.get_accounts_health()

    assert {k: health[k] for k in ("healthy", "expiring", "expired", "paused")} == {
        "healthy": 5,
        "expiring": 1,
        "expired": 1,
        "paused": 1,
    }
    by_id = {a["id"]: a for a in health["accounts"]}
    assert sorted(by_id) == MAIN_ACCOUNT_IDS
    assert by_id[105]["paused"] is True
    assert by_id[105]["is_active"] is False
    assert by_id[101]["paused"] is False
    assert by_id[104]["token_expired"] is True


def test_get_account_health_of_one_account(hook, smartlyq_conn):
    health = hook.get_account_health(102)

    assert health["id"] == 102
    assert health["account_name"] == "Acme Instagram"
    assert health["status"] == "connected"
    assert 0 < health["validity_days"] <= 7


def test_get_account_health_accepts_a_rendered_id(hook, smartlyq_conn):
    assert hook.get_account_health("104")["status"] == "expired"
    assert _api_requests(smartlyq_conn)[0]["path"] == "/v1/social/accounts/104/health"


def test_get_account_health_of_an_unknown_account(hook, smartlyq_conn):
    with pytest.raises(SmartlyQNotFoundError) as info:
        hook.get_account_health(9999)

    assert "GET /social/accounts/9999/health" in str(info.value)
    assert "HTTP 404" in str(info.value)


def test_get_reconnect_url_lets_the_same_account_resume(hook, smartlyq_conn):
    url = hook.get_reconnect_url(104)

    assert url.startswith(smartlyq_conn.url)
    state = parse_qs(urlsplit(url).query)["state"][0]
    smartlyq_conn.client.approve_connect(state)
    health = hook.get_account_health(104)
    assert health["status"] == "connected"
    assert health["token_expired"] is False
    assert [a["id"] for a in hook.list_accounts()] == MAIN_ACCOUNT_IDS  # no new account


def test_pause_and_resume_account(hook, smartlyq_conn):
    assert hook.pause_account(101) == {"id": 101, "paused": True}
    assert hook.get_accounts_health()["paused"] == 2
    assert hook.resume_account(101) == {"id": 101, "paused": False}

    writes = smartlyq_conn.client.writes()
    assert [(w["action"], w["account_id"]) for w in writes] == [
        ("account_paused", 101),
        ("account_resumed", 101),
    ]
    assert writes[0]["idempotency_key"] != writes[1]["idempotency_key"]


def test_pause_with_an_explicit_idempotency_key(hook, smartlyq_conn):
    hook.pause_account(103, idempotency_key="brand-acme:pause:103")

    [entry] = _api_requests(smartlyq_conn)
    assert entry["idempotency_key"] == "brand-acme:pause:103"


def test_disconnect_account_removes_it(hook, smartlyq_conn):
    assert hook.disconnect_account(108) is None

    assert 108 not in [a["id"] for a in hook.list_accounts()]
    with pytest.raises(SmartlyQNotFoundError):
        hook.get_account_health(108)
    [write] = smartlyq_conn.client.writes()
    assert (write["action"], write["account_id"]) == ("account_disconnected", 108)


def test_accounts_of_another_profile_are_not_found(hook, smartlyq_conn):
    # 109 belongs to profile 42; the default connection acts for the main account.
    with pytest.raises(SmartlyQNotFoundError):
        hook.pause_account(109)
    assert smartlyq_conn.client.writes() == []


def test_get_conn_is_one_keep_alive_session_and_close_releases_it(smartlyq_conn):
    hook = SmartlyQHook()
    session = hook.get_conn()

    assert isinstance(session, requests.Session)
    assert hook.get_conn() is session
    hook.get_me()
    hook.list_accounts()
    hook.close()
    assert hook.get_conn() is not session  # a closed hook opens a fresh session on next use
    hook.close()


def test_hook_as_context_manager(smartlyq_conn):
    with SmartlyQHook() as hook:
        assert hook.get_me()["id"] == 4242
        assert hook._sync is not None
    assert hook._sync is None


def test_a_netrc_entry_for_the_host_does_not_replace_the_api_key(hook, smartlyq_conn, tmp_path, monkeypatch):
    # requests swaps in ~/.netrc credentials when a request has no auth object of its own.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-the-api-key\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    assert hook.get_me()["id"]
