"""Account lifecycle operators against the emulator (demo seed: 101-104 Acme, 105-108 Globex)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from log_support import BOTH_LOG_LEVELS

from airflow_provider_smartlyq._tasks.task import task_idempotency_key
from airflow_provider_smartlyq.exceptions import SmartlyQError, SmartlyQValidationError
from airflow_provider_smartlyq.operators.smartlyq import (
    SmartlyQDisconnectAccountOperator,
    SmartlyQListAccountsOperator,
    SmartlyQPauseAccountsOperator,
    SmartlyQReconnectUrlOperator,
    SmartlyQResumeAccountsOperator,
)

ACME = [101, 102, 103, 104]
GLOBEX = [105, 106, 107, 108]


@pytest.fixture
def emu(smartlyq_conn, monkeypatch):
    """Return the emulator with the default connection retrying once (fast failure tests)."""
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", smartlyq_conn.connection_json(max_retries=1))
    return smartlyq_conn


def paused_ids(emu) -> set[int]:
    return {a["id"] for a in emu.client.state()["accounts"] if a["paused"]}


def api_requests(emu, method: str | None = None, path: str | None = None) -> list[dict]:
    return [
        r
        for r in emu.client.requests()
        if (method is None or r["method"] == method) and (path is None or r["path"] == path)
    ]


def ti_context(task_id: str = "pause_brand") -> dict:
    ti = SimpleNamespace(dag_id="brand", run_id="scheduled__2025-01-01", task_id=task_id, map_index=-1)
    return {"ti": ti}


def ids(accounts) -> list[int]:
    return [a["id"] for a in accounts]


# -- selection (through the list operator) -------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"account_ids": [103, 101]}, [101, 103]),
        ({"account_ids": "106"}, [106]),
        ({"platforms": ["facebook"]}, [101]),
        ({"platforms": "x"}, [103]),  # alias
        ({"account_name_pattern": "acme *"}, ACME),  # case-insensitive glob
        ({"account_ids": [101, 102, 106], "platforms": ["instagram", "youtube"]}, [102, 106]),
        ({"platforms": ["facebook", "tiktok"], "account_name_pattern": "Globex*"}, [105]),
        ({"account_ids": "101,102,103", "account_name_pattern": "*X"}, [103]),
        (
            {"account_ids": [101, 105], "platforms": ["facebook", "tiktok"], "account_name_pattern": "Acme*"},
            [101],
        ),
        ({"all_accounts": True}, ACME + GLOBEX),
    ],
)
def test_selector_combinations(emu, kwargs, expected):
    result = SmartlyQListAccountsOperator(task_id="list", **kwargs).execute({})
    assert ids(result) == expected
    assert len(api_requests(emu, "GET", "/v1/social/accounts")) == 1  # resolved with one list call


def test_unknown_ids_are_named(emu):
    with pytest.raises(SmartlyQValidationError, match="999"):
        SmartlyQListAccountsOperator(task_id="list", account_ids=[101, 999]).execute({})


def test_a_selection_matching_nothing_fails(emu):
    with pytest.raises(SmartlyQValidationError, match="no account matches"):
        SmartlyQListAccountsOperator(task_id="list", account_name_pattern="Initech*").execute({})


def test_profile_comes_from_the_connection(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", emu.connection_json(profile_id=42))
    result = SmartlyQListAccountsOperator(task_id="list", all_accounts=True).execute({})
    assert ids(result) == [109, 110]


def test_list_with_health_merges_one_bulk_call(emu):
    result = SmartlyQListAccountsOperator(
        task_id="list", account_name_pattern="Acme *", include_health=True
    ).execute({})
    health = {a["id"]: a["health"] for a in result}
    assert health[104]["status"] == "expired"
    assert health[104]["token_expired"] is True
    assert health[101]["status"] == "connected"
    assert health[101]["paused"] is False
    assert result[0]["name"] == "Acme Facebook"  # the list's fields are kept
    assert len(api_requests(emu, "GET", "/v1/social/accounts/health")) == 1


def test_list_without_health_makes_no_health_call(emu):
    result = SmartlyQListAccountsOperator(task_id="list", platforms="facebook").execute({})
    assert "health" not in result[0]
    assert api_requests(emu, "GET", "/v1/social/accounts/health") == []


# -- pause / resume --------------------------------------------------------------------------------


def test_pause_brand_skips_already_paused_and_touches_nothing_else(emu):
    result = SmartlyQPauseAccountsOperator(task_id="pause", account_name_pattern="Globex *").execute({})
    assert result == [
        {"id": 105, "platform": "tiktok", "account_name": "Globex TikTok", "paused": True, "changed": False},
        {"id": 106, "platform": "youtube", "account_name": "Globex YouTube", "paused": True, "changed": True},
        {"id": 107, "platform": "threads", "account_name": "Globex Threads", "paused": True, "changed": True},
        {
            "id": 108,
            "platform": "pinterest",
            "account_name": "Globex Pinterest",
            "paused": True,
            "changed": True,
        },
    ]
    assert paused_ids(emu) == set(GLOBEX)
    assert api_requests(emu, "POST", "/v1/social/accounts/105/pause") == []  # skipped, not re-sent


def test_second_run_writes_nothing(emu):
    op = SmartlyQPauseAccountsOperator(task_id="pause", account_name_pattern="Acme *")
    op.execute(ti_context())
    writes = emu.client.writes()
    assert sorted(w["account_id"] for w in writes if w["action"] == "account_paused") == ACME
    again = op.execute(ti_context())
    assert emu.client.writes() == writes
    assert not any(entry["changed"] for entry in again)


def test_resume_then_resume_again(emu):
    emu.client.update_account(101, paused=True)
    before = len(emu.client.writes())
    op = SmartlyQResumeAccountsOperator(task_id="resume", account_ids=[101, 102])
    assert [(e["id"], e["paused"], e["changed"]) for e in op.execute({})] == [
        (101, False, True),
        (102, False, False),
    ]
    assert [w["action"] for w in emu.client.writes()[before:]] == ["account_resumed"]
    op.execute({})
    assert len(emu.client.writes()) == before + 1
    assert paused_ids(emu) == {105}


def test_writes_carry_deterministic_idempotency_keys(emu):
    SmartlyQPauseAccountsOperator(task_id="pause_brand", account_ids=[101]).execute(ti_context())
    (write,) = [w for w in emu.client.writes() if w["action"] == "account_paused"]
    assert write["idempotency_key"] == task_idempotency_key(ti_context(), "pause", 101)
    # the same run resuming gets another key, so it is not answered from the pause's replay
    SmartlyQResumeAccountsOperator(task_id="pause_brand", account_ids=[101]).execute(ti_context())
    assert paused_ids(emu) == {105}


def test_partial_failure_pauses_the_others_then_fails_with_a_summary(emu):
    emu.client.inject_fault("/v1/social/accounts/102/pause", "POST", status=500, count=10)
    op = SmartlyQPauseAccountsOperator(task_id="pause", account_name_pattern="Acme *")
    with pytest.raises(SmartlyQError) as info:
        op.execute({})
    message = str(info.value)
    assert "1 of 4" in message
    assert "102 (Acme Instagram)" in message
    assert "HTTP 500" in message
    assert paused_ids(emu) == {101, 103, 104, 105}
    # the retry acts only on what is left
    emu.client.clear_faults()
    result = op.execute({})
    assert [e["id"] for e in result if e["changed"]] == [102]


def test_answer_lost_after_pausing_is_not_paused_twice(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", emu.connection_json(max_retries=0))
    emu.client.inject_fault("/v1/social/accounts/101/pause", "POST", status=502, after=True)
    op = SmartlyQPauseAccountsOperator(task_id="pause", account_ids=[101])
    with pytest.raises(SmartlyQError, match="101"):
        op.execute(ti_context())
    assert op.execute(ti_context())[0] == {
        "id": 101,
        "platform": "facebook",
        "account_name": "Acme Facebook",
        "paused": True,
        "changed": False,
    }
    assert [w["account_id"] for w in emu.client.writes() if w["action"] == "account_paused"] == [101]


def test_paused_state_comes_from_bulk_health_when_the_list_lacks_it(emu):
    # The spec documents only {id, platform, name} for the list: serve exactly that once.
    listed = [
        {"id": a["id"], "platform": a["platform"], "name": a["name"]}
        for a in emu.client.state()["accounts"]
        if a["profile_id"] is None
    ]
    body = {
        "success": True,
        "data": listed,
        "meta": {"request_id": "req_spec", "timestamp": "2026-01-01T00:00:00Z"},
    }
    emu.client.inject_fault(
        "/v1/social/accounts", "GET", status=200, body=json.dumps(body), content_type="application/json"
    )
    result = SmartlyQPauseAccountsOperator(task_id="pause", account_name_pattern="Globex *").execute({})
    assert [(e["id"], e["changed"]) for e in result] == [(105, False), (106, True), (107, True), (108, True)]
    assert len(api_requests(emu, "GET", "/v1/social/accounts/health")) == 1


# -- reconnect links --------------------------------------------------------------------------------


@BOTH_LOG_LEVELS
def test_reconnect_urls_for_unhealthy_accounts_only(emu, user_logs):
    emu.client.expire_account_token(106)
    emu.client.update_account(107, status="error")
    urls = SmartlyQReconnectUrlOperator(task_id="links", all_accounts=True).execute({})
    # Whoever holds a reconnect link can re-authorise the account: the task log names ids only.
    assert [url for url in urls.values() if url in user_logs.text] == []
    assert user_logs.lines("Reconnect links for accounts 104, 106, 107")
    if user_logs.level == "DEBUG":  # the requests that fetched the links were logged, by path
        assert user_logs.lines("SmartlyQ GET /social/accounts/106/reconnect-url -> HTTP 200")
    assert sorted(urls) == ["104", "106", "107"]  # 102 expires in 3 days: SmartlyQ refreshes it
    assert all(url.startswith("http") for url in urls.values())
    assert len(api_requests(emu, "GET", "/v1/social/accounts/health")) == 1
    link_calls = [r["path"] for r in emu.client.requests() if r["path"].endswith("/reconnect-url")]
    assert sorted(link_calls) == [f"/v1/social/accounts/{i}/reconnect-url" for i in (104, 106, 107)]


def test_reconnect_urls_for_every_selected_account(emu):
    urls = SmartlyQReconnectUrlOperator(task_id="links", account_ids="101,102", unhealthy_only=False).execute(
        {}
    )
    assert list(urls) == ["101", "102"]
    assert api_requests(emu, "GET", "/v1/social/accounts/health") == []


def test_reconnect_with_all_healthy_returns_nothing(emu):
    urls = SmartlyQReconnectUrlOperator(task_id="links", platforms=["facebook", "x"]).execute({})
    assert urls == {}
    assert not [r for r in emu.client.requests() if r["path"].endswith("/reconnect-url")]


def test_reconnect_url_leads_back_to_the_same_account(emu):
    urls = SmartlyQReconnectUrlOperator(task_id="links", account_ids=104).execute({})
    session = next(s for s in emu.client.state()["connect_sessions"] if s["reconnect_account_id"] == 104)
    emu.client.approve_connect(session["state_token"])
    assert urls
    assert SmartlyQReconnectUrlOperator(task_id="links", account_ids=104).execute({}) == {}


# -- disconnect ----------------------------------------------------------------------------------------


def test_disconnect_refuses_a_name_that_does_not_match(emu):
    op = SmartlyQDisconnectAccountOperator(task_id="bye", account_id=103, confirm_account_name="acme x")
    with pytest.raises(SmartlyQValidationError, match="refusing to disconnect account 103"):
        op.execute({})
    assert [(r["method"], r["path"]) for r in emu.client.requests()] == [("GET", "/v1/social/accounts")]
    assert 103 in {a["id"] for a in emu.client.state()["accounts"]}


def test_disconnect_with_matching_name(emu):
    op = SmartlyQDisconnectAccountOperator(task_id="bye", account_id="103", confirm_account_name="  Acme X ")
    assert op.execute(ti_context("bye")) == {
        "id": 103,
        "platform": "twitter",
        "account_name": "Acme X",
        "disconnected": True,
        "already_gone": False,
    }
    assert 103 not in {a["id"] for a in emu.client.state()["accounts"]}
    assert [w["action"] for w in emu.client.writes()] == ["account_disconnected"]


def test_disconnect_of_an_account_already_gone_succeeds(emu):
    op = SmartlyQDisconnectAccountOperator(task_id="bye", account_id=999, confirm_account_name="Old page")
    assert op.execute({})["already_gone"] is True
    assert api_requests(emu, "DELETE") == []


def test_disconnect_404_on_delete_succeeds(emu, user_logs):
    emu.client.inject_fault("/v1/social/accounts/103", "DELETE", status=404, code="RESOURCE_NOT_FOUND")
    result = SmartlyQDisconnectAccountOperator(
        task_id="bye", account_id=103, confirm_account_name="Acme X"
    ).execute({})
    assert result["already_gone"] is True
    assert result["disconnected"] is False
    assert result["account_name"] == "Acme X"
    assert user_logs.lines("Account 103 was already gone")  # a success, with a warning


@pytest.mark.parametrize(("account_id", "name"), [(0, "Acme X"), ("abc", "Acme X"), (103, "   ")])
def test_disconnect_bad_arguments_fail_at_parse_time(account_id, name):
    with pytest.raises(SmartlyQValidationError):
        SmartlyQDisconnectAccountOperator(task_id="bye", account_id=account_id, confirm_account_name=name)


def test_operator_modules_do_not_import_the_hook():
    import subprocess
    import sys

    code = (
        "import sys; from airflow_provider_smartlyq.operators.smartlyq import SmartlyQPauseAccountsOperator; "
        "print(sorted(m for m in ('requests', 'aiohttp', 'tenacity', 'airflow_provider_smartlyq.hooks') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "airflow_provider_smartlyq.hooks" not in out


def test_cleared_pause_after_a_manual_resume_pauses_again(emu):
    # Same task instance, a later try: someone resumed the account in between (here through
    # the API, another task or the SmartlyQ app). Clearing the pause task must pause it again,
    # not get back the first try's stored answer while the account stays active.
    op = SmartlyQPauseAccountsOperator(task_id="pause_brand", account_ids=[101])
    op.execute({"ti": SimpleNamespace(**vars(ti_context()["ti"]), try_number=1)})
    SmartlyQResumeAccountsOperator(task_id="resume_brand", account_ids=[101]).execute(
        ti_context("resume_brand")
    )
    assert 101 not in paused_ids(emu)

    result = op.execute({"ti": SimpleNamespace(**vars(ti_context()["ti"]), try_number=2)})

    assert result[0]["changed"] is True
    assert 101 in paused_ids(emu)
