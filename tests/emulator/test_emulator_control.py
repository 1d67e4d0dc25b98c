"""Control API, fault injection, logs and the test helpers of the emulator."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
import requests

from airflow_provider_smartlyq.testing.emulator import EmulatorClient, RunningEmulator, run_emulator


def call(emu: RunningEmulator, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {emu.api_key}", **kwargs.pop("headers", {})}
    return requests.request(method, emu.api_url + path, headers=headers, timeout=10, **kwargs)


# -- faults ----------------------------------------------------------------------------------
def test_fault_status_with_retry_after_answers_count_requests(smartlyq_emulator):
    client = smartlyq_emulator.client
    fault_id = client.inject_fault("/v1/social/accounts/health", "GET", status=503, retry_after=7, count=2)
    answers = [call(smartlyq_emulator, "GET", "/social/accounts/health") for _ in range(3)]
    assert [r.status_code for r in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "7"
    body = answers[0].json()
    assert body["success"] is False
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["details"] == {"fault_id": fault_id, "retry_after": 7}
    assert call(smartlyq_emulator, "GET", "/me").status_code == 200  # other paths untouched
    log = client.requests()
    assert [(r["status"], r["fault"], r["fault_id"]) for r in log[:3]] == [
        (503, True, fault_id),
        (503, True, fault_id),
        (200, False, None),
    ]
    assert client.faults()[0]["remaining"] == 0


def test_fault_glob_and_method_and_no_writes(smartlyq_emulator):
    client = smartlyq_emulator.client
    client.inject_fault("/v1/social/connect/*", "POST", status=500, count=5)
    assert call(smartlyq_emulator, "POST", "/social/connect/facebook").status_code == 500
    assert call(smartlyq_emulator, "POST", "/social/connect/youtube").status_code == 500
    assert (
        call(smartlyq_emulator, "GET", "/social/connect/unknown-token").status_code == 404
    )  # method differs
    assert client.writes() == []
    assert client.clear_faults() == 1
    assert client.faults() == []
    assert call(smartlyq_emulator, "POST", "/social/connect/facebook").status_code == 201


def test_fault_delay_then_normal_answer(smartlyq_emulator):
    smartlyq_emulator.client.inject_fault("/v1/me", delay=0.4)
    started = time.monotonic()
    response = call(smartlyq_emulator, "GET", "/me")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.4
    assert smartlyq_emulator.client.requests()[0]["fault"] is False
    smartlyq_emulator.client.inject_fault("/v1/me", delay=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(smartlyq_emulator.api_url + "/me", timeout=0.3)


def test_fault_raw_html_body(smartlyq_emulator):
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    smartlyq_emulator.client.inject_fault("/v1/social/accounts", status=502, body=html)
    response = call(smartlyq_emulator, "GET", "/social/accounts")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == html
    plain = smartlyq_emulator.client.inject_fault(
        "/v1/social/accounts", status=503, body="", content_type="application/json"
    )
    empty = call(smartlyq_emulator, "GET", "/social/accounts")
    assert (empty.status_code, empty.content) == (503, b"")
    assert plain


def test_fault_drops_the_connection(smartlyq_emulator):
    smartlyq_emulator.client.inject_fault("/v1/social/accounts/101/pause", "POST", drop_connection=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        call(smartlyq_emulator, "POST", "/social/accounts/101/pause")
    assert smartlyq_emulator.client.writes() == []  # dropped before the handler ran
    entry = smartlyq_emulator.client.requests()[0]
    assert (entry["status"], entry["dropped"], entry["fault"]) == (None, True, True)
    # The server keeps serving new connections.
    assert call(smartlyq_emulator, "POST", "/social/accounts/101/pause").json()["data"] == {
        "id": 101,
        "paused": True,
    }


def test_fault_after_acts_then_fails_and_retry_replays(smartlyq_emulator):
    client = smartlyq_emulator.client
    client.inject_fault("/v1/social/accounts/102/pause", "POST", status=503, after=True)
    headers = {"X-Idempotency-Key": "pause-102-a"}
    assert call(smartlyq_emulator, "POST", "/social/accounts/102/pause", headers=headers).status_code == 503
    # The server acted although the client saw a 503 ...
    assert next(a for a in client.state()["accounts"] if a["id"] == 102)["paused"] is True
    assert [w["action"] for w in client.writes()] == ["account_paused"]
    # ... and the retry with the same key replays the original answer without acting twice.
    retry = call(smartlyq_emulator, "POST", "/social/accounts/102/pause", headers=headers)
    assert retry.status_code == 200
    assert retry.headers["X-Idempotent-Replay"] == "true"
    assert retry.json()["data"] == {"id": 102, "paused": True, "idempotent_replay": True}
    assert len(client.writes()) == 1


def test_fault_after_with_dropped_connection(smartlyq_emulator):
    smartlyq_emulator.client.inject_fault(
        "/v1/social/accounts/106", "DELETE", drop_connection=True, after=True
    )
    with pytest.raises(requests.exceptions.ConnectionError):
        call(smartlyq_emulator, "DELETE", "/social/accounts/106")
    assert 106 not in [a["id"] for a in smartlyq_emulator.client.state()["accounts"]]


def test_invalid_fault_is_rejected(smartlyq_emulator):
    response = requests.post(smartlyq_emulator.url + "/_emulator/faults", json={"path": "/v1/me"}, timeout=10)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    response = requests.post(
        smartlyq_emulator.url + "/_emulator/faults", json={"path": "/v1/me", "bogus": 1}, timeout=10
    )
    assert response.status_code == 422


# -- logs ------------------------------------------------------------------------------------
def test_request_log_fields_and_no_secrets(smartlyq_emulator):
    call(
        smartlyq_emulator,
        "POST",
        "/social/accounts/105/resume",
        headers={"X-Idempotency-Key": "r-105", "X-Profile-Id": "42"},
    )
    call(smartlyq_emulator, "GET", "/social/accounts", headers={"X-Profile-Id": "42"})
    log = smartlyq_emulator.client.requests()
    assert set(log[0]) >= {"method", "path", "status", "idempotency_key", "profile_id", "timestamp", "fault"}
    assert (log[0]["method"], log[0]["path"], log[0]["status"]) == (
        "POST",
        "/v1/social/accounts/105/resume",
        404,
    )
    assert (log[0]["idempotency_key"], log[0]["profile_id"]) == ("r-105", 42)
    assert (log[1]["status"], log[1]["profile_id"]) == (200, 42)
    dumped = json.dumps(log)
    assert smartlyq_emulator.api_key not in dumped
    assert "Bearer" not in dumped
    assert "authorization" not in dumped.lower()


# -- control API -----------------------------------------------------------------------------
def test_add_update_and_expire_accounts(smartlyq_emulator):
    client = smartlyq_emulator.client
    added = client.add_account("reddit", "Acme Reddit", username="acme_r", validity_days=10)
    assert (added["id"], added["validity_days"], added["status"]) == (111, 10, "connected")
    assert client.update_account(111, validity_days=3)["validity_days"] == 3
    health = call(smartlyq_emulator, "GET", "/social/accounts/health").json()["data"]
    assert health["expiring"] == 2
    assert client.update_account(111, status="error")["status"] == "error"
    assert call(smartlyq_emulator, "GET", "/social/accounts/111/health").json()["data"]["status"] == "error"
    assert client.update_account(111, status="connected", paused=True)["paused"] is True
    expired = client.expire_account_token(101)
    assert (expired["status"], expired["token_expired"], expired["validity_days"]) == ("expired", True, 0)
    client.expire_account_token(101)  # already expired: no second write
    in_profile = client.add_account("gmb", "Initech Maps", profile_id=42, status="expired")
    assert in_profile["status"] == "expired"
    actions = [(w["action"], w["source"]) for w in client.writes()]
    assert actions == [
        ("account_added", "control"),
        ("account_updated", "control"),
        ("account_updated", "control"),
        ("account_updated", "control"),
        ("token_expired", "control"),
        ("account_added", "control"),
    ]
    with pytest.raises(requests.HTTPError) as excinfo:
        client.update_account(999, paused=True)
    assert excinfo.value.response.status_code == 404


def test_approve_and_expire_connect_via_control(smartlyq_emulator):
    client = smartlyq_emulator.client
    url = call(smartlyq_emulator, "POST", "/social/connect/linkedin").json()["data"]["connect_url"]
    token = url.split("state=")[1].split("&")[0]
    accounts = client.approve_connect(token, name="Acme Pages", username="acme-pages")
    assert [a["name"] for a in accounts] == ["Acme Pages 1", "Acme Pages 2"]
    assert all(a["platform"] == "linkedin" and a["validity_days"] == 60 for a in accounts)
    with pytest.raises(requests.HTTPError) as excinfo:
        client.approve_connect(token)
    assert excinfo.value.response.status_code == 409
    other = call(smartlyq_emulator, "POST", "/social/connect/reddit").json()["data"]["connect_url"]
    other_token = other.split("state=")[1].split("&")[0]
    assert client.expire_connect(other_token)["status"] == "expired"
    poll = call(smartlyq_emulator, "GET", f"/social/connect/{other_token}").json()["data"]
    assert poll["status"] == "expired"
    assert poll["account"] is None
    sessions = {s["state_token"]: s for s in client.state()["connect_sessions"]}
    assert sessions[token]["status"] == "connected"
    assert len(sessions[token]["account_ids"]) == 2


def test_reset_clears_everything(smartlyq_emulator):
    client = smartlyq_emulator.client
    client.inject_fault("/v1/me", status=500)
    call(smartlyq_emulator, "POST", "/social/accounts/101/pause", headers={"X-Idempotency-Key": "k1"})
    client.reset("empty")
    assert client.state()["accounts"] == []
    assert client.faults() == []
    assert client.requests() == []
    assert client.writes() == []
    assert call(smartlyq_emulator, "GET", "/social/accounts").json()["data"] == []
    client.reset()
    assert len(client.state()["accounts"]) == 10
    # The idempotency key was forgotten: the same key acts again.
    again = call(smartlyq_emulator, "POST", "/social/accounts/101/pause", headers={"X-Idempotency-Key": "k1"})
    assert "X-Idempotent-Replay" not in again.headers
    assert [w["action"] for w in client.writes()] == ["account_paused"]


def test_control_token_guards_control_routes():
    with run_emulator(control_token="ctl-secret") as emu:
        assert requests.get(emu.url + "/_emulator/state", timeout=10).status_code == 401
        wrong = requests.get(emu.url + "/_emulator/state", headers={"X-Emulator-Token": "x"}, timeout=10)
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "UNAUTHORIZED"
        assert requests.get(emu.url + "/_emulator/health", timeout=10).status_code == 200
        assert len(emu.client.state()["accounts"]) == 10  # the runner's client sends the token
        assert EmulatorClient(emu.url, "ctl-secret").writes() == []


# -- helpers ---------------------------------------------------------------------------------
def test_running_emulator_connection_forms(smartlyq_emulator):
    conn = json.loads(smartlyq_emulator.connection_json(timeout=5))
    assert conn == {
        "conn_type": "smartlyq",
        "host": smartlyq_emulator.url,
        "password": smartlyq_emulator.api_key,
        "extra": {"timeout": 5},
    }
    assert smartlyq_emulator.url == f"http://127.0.0.1:{smartlyq_emulator.port}"
    from airflow.sdk import Connection

    parsed = Connection.from_uri(smartlyq_emulator.connection_uri(timeout=5), conn_id="smartlyq_default")
    assert (parsed.conn_type, parsed.password, parsed.extra_dejson) == (
        "smartlyq",
        smartlyq_emulator.api_key,
        {"timeout": 5},
    )
    assert parsed.host == smartlyq_emulator.url


def test_smartlyq_conn_fixture_sets_the_environment(smartlyq_conn):
    value = json.loads(os.environ["AIRFLOW_CONN_SMARTLYQ_DEFAULT"])
    assert value["host"] == smartlyq_conn.url
    assert value["password"] == smartlyq_conn.api_key
    assert smartlyq_conn.env() == {"AIRFLOW_CONN_SMARTLYQ_DEFAULT": smartlyq_conn.connection_json()}


def test_tls_runner_serves_https():
    with run_emulator(tls=True) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        assert emu.cert_path
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        # Close the response: a TLS server's shutdown waits for clients' open sockets.
        with requests.get(emu.api_url + "/me", headers=headers, verify=emu.cert_path, timeout=10) as response:
            assert response.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(emu.api_url + "/me", headers=headers, timeout=10)
        assert len(emu.client.state()["accounts"]) == 10


def test_idempotency_keys_are_scoped_per_api_key():
    from airflow_provider_smartlyq.emulator.idempotency import IdempotencyCache, fingerprint

    cache = IdempotencyCache(ttl=60)
    print_ = fingerprint("POST", "/v1/social/accounts/101/pause", b"", b"")
    assert cache.begin(("primary", "k"), print_) is None
    assert cache.begin(("read_only", "k"), print_) is None  # same key, other API key: independent
    cache.finish(("primary", "k"), 200, [], b"{}")
    assert cache.begin(("primary", "k"), print_).status == 200
    # Whitespace and key order do not make a JSON body "different".
    assert fingerprint("POST", "/p", b"", b'{"a": 1, "b": 2}') == fingerprint(
        "POST", "/p", b"", b'{"b":2,"a":1}'
    )


def test_config_repr_masks_keys():
    from airflow_provider_smartlyq.emulator import EmulatorConfig

    config = EmulatorConfig(api_key="sqk_test_secret_value_123456", read_only_key="sqk_test_ro_secret_999")
    assert "secret_value" not in repr(config)
    assert "ro_secret" not in repr(config)


def test_the_latest_pending_link_is_approved_without_its_token(smartlyq_conn):
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    with SmartlyQHook() as hook:
        older = hook.create_connect_link("facebook")
        newer = hook.create_connect_link("twitter")
        approved = smartlyq_conn.client.approve_latest_connect(name="Acme X 2")
        assert approved["state_token"] == newer["state_token"]
        assert [a["name"] for a in approved["accounts"]] == ["Acme X 2"]
        assert hook.get_connect_status(newer["state_token"])["status"] == "connected"
        assert hook.get_connect_status(older["state_token"])["status"] == "pending"
        # By platform: the newest pending facebook link, then nothing is left.
        assert (
            smartlyq_conn.client.approve_latest_connect(platform="facebook")["state_token"]
            == older["state_token"]
        )
    with pytest.raises(requests.HTTPError) as info:
        smartlyq_conn.client.approve_latest_connect()
    assert info.value.response.status_code == 404


# -- rate limit: window length, workspace scope, usage per window ----------------------------
def _in_one_window(window: float, needed: float = 1.5) -> None:
    """Sleep past a window boundary when too little of the current window is left."""
    left = window - time.time() % window
    if left < needed:
        time.sleep(left + 0.05)


def test_rate_limit_with_a_short_window_reports_usage_per_window():
    with run_emulator(rate_limit=3, rate_window=5) as emu:
        _in_one_window(5)
        answers = [call(emu, "GET", "/me") for _ in range(5)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0", "0"]
        reset = int(answers[0].headers["X-RateLimit-Reset"])
        assert reset % 5 == 0  # windows aligned on multiples of 5 s
        assert 0 < reset - time.time() <= 5
        limited = answers[3]
        # Consistent with the 429: waiting Retry-After lands in the next window.
        assert time.time() + int(limited.headers["Retry-After"]) >= reset
        assert "3 requests per 5 seconds" in limited.json()["error"]["message"]

        report = emu.client.rate_limit_usage()
        assert (report["limit"], report["window_seconds"], report["scope"]) == (3, 5.0, "key")
        assert (report["requests"], report["limited"]) == (5, 2)
        assert (report["max_requests_per_window"], report["max_accepted_per_window"]) == (5, 3)
        [window] = report["windows"]
        assert window == {
            "budget": "primary",
            "start": reset - 5,
            "end": reset,
            "requests": 5,
            "limited": 2,
            "accepted": 3,
        }

        time.sleep(reset - time.time() + 0.05)  # the next window starts afresh
        assert call(emu, "GET", "/me").status_code == 200
        assert len(emu.client.rate_limit_usage()["windows"]) == 2


def test_workspace_scope_shares_one_budget_between_keys():
    with run_emulator(
        rate_limit=2, rate_window=10, rate_limit_scope="workspace", read_only_key="sqk_test_ro"
    ) as emu:
        _in_one_window(10, needed=3)
        first = call(emu, "GET", "/me")
        second = call(emu, "GET", "/me", headers={"Authorization": "Bearer sqk_test_ro"})
        third = call(emu, "GET", "/me", headers={"Authorization": "Bearer sqk_test_ro"})
        assert [r.status_code for r in (first, second, third)] == [200, 200, 429]
        assert second.headers["X-RateLimit-Remaining"] == "0"
        assert [w["budget"] for w in emu.client.rate_limit_usage()["windows"]] == ["workspace"]


def test_rate_limit_changes_through_the_control_api_until_reset(smartlyq_emulator):
    client = smartlyq_emulator.client
    # Not limiting by default: the headers advertise a limit no client reaches.
    assert call(smartlyq_emulator, "GET", "/me").headers["X-RateLimit-Limit"] == "100000"
    report = client.set_rate_limit(1, window_seconds=30, scope="workspace")
    assert (report["limit"], report["window_seconds"], report["scope"]) == (1, 30.0, "workspace")
    _in_one_window(30)
    assert [call(smartlyq_emulator, "GET", "/me").status_code for _ in range(2)] == [200, 429]
    with pytest.raises(requests.HTTPError):
        client.set_rate_limit(window_seconds=0.5)
    with pytest.raises(requests.HTTPError):
        client.set_rate_limit(scope="galaxy")
    client.reset()
    assert client.rate_limit_usage()["limit"] == 0
    assert client.rate_limit_usage()["windows"] == []
    assert call(smartlyq_emulator, "GET", "/me").status_code == 200


def test_request_in_flight_across_a_reset_stays_out_of_the_new_log(smartlyq_emulator):
    # A request that began before a reset (a slow or dropped one from the previous test) must not
    # turn up in the log that the next test reads: that made `[entry] = requests()` flaky.
    client = smartlyq_emulator.client
    client.inject_fault("/v1/me", delay=0.6)
    slow = threading.Thread(target=call, args=(smartlyq_emulator, "GET", "/me"))
    slow.start()
    time.sleep(0.2)  # the request is inside the emulator, sleeping in its fault
    client.reset()
    slow.join()
    assert call(smartlyq_emulator, "GET", "/me").status_code == 200
    assert [entry["path"] for entry in client.requests()] == ["/v1/me"]


def test_idle_keep_alive_connection_stays_open_past_uvicorn_default(smartlyq_emulator):
    # uvicorn's default closes an idle connection after 5 s; a pooled client reusing it at that
    # moment got "connection reset by peer" (seen in CI on the session's control client).
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(smartlyq_emulator.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    headers = {"Authorization": f"Bearer {smartlyq_emulator.api_key}"}
    conn.request("GET", "/v1/me", headers=headers)
    first = conn.getresponse()
    first.read()
    sock = conn.sock
    time.sleep(6)
    conn.request("GET", "/v1/me", headers=headers)
    second = conn.getresponse()
    second.read()
    assert (first.status, second.status) == (200, 200)
    assert conn.sock is sock  # the same TCP connection served both: it was not closed while idle
    conn.close()


def test_the_client_offers_exactly_the_fields_the_control_api_takes_for_a_new_account():
    # EmulatorClient.add_account mirrors POST /_emulator/accounts on purpose (it speaks HTTP to
    # an emulator that may run in another process), so the two lists are checked against each other.
    import inspect

    from airflow_provider_smartlyq.emulator.routes.control import AccountCreate

    offered = [p for p in inspect.signature(EmulatorClient.add_account).parameters if p != "self"]
    assert sorted(offered) == sorted(AccountCreate.model_fields)
