"""
Security review, finding 8: links SmartlyQ answers are checked before XCom and the extra link.

``connect_url`` and ``reconnect_url`` come from the server; only an absolute http(s) URL may
reach XCom or an extra link's ``href`` (a ``javascript:`` URL there would run in the Airflow UI).
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_smartlyq.exceptions import SmartlyQServerError
from airflow_provider_smartlyq.links import SmartlyQConnectLink, SmartlyQReconnectLink
from airflow_provider_smartlyq.operators.smartlyq import SmartlyQConnectAccountOperator

HOSTILE = [
    "javascript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "https://evil.example/\r\nSet-Cookie: x=1",
    "//evil.example/no-scheme",
    "ftp://files.example/x",
    "",
    None,
    42,
]


def _envelope(data: dict) -> str:
    return json.dumps({"success": True, "data": data, "meta": {"request_id": "req_x"}})


class _TI:
    def __init__(self) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number = "d", "r", "t", -1, 1
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_connect_url_never_reaches_xcom(hook, smartlyq_conn, url):
    body = {"platform": "facebook", "connect_url": url, "expires_at": "2030-01-01T00:00:00Z"}
    smartlyq_conn.client.inject_fault(
        "/v1/social/connect/facebook",
        "POST",
        status=201,
        body=_envelope(body),
        content_type="application/json",
        count=2,  # the hook's call, then the operator's
    )
    with pytest.raises(SmartlyQServerError, match="no connect_url") as raised:
        hook.create_connect_link("facebook")
    if isinstance(url, str) and url:
        assert url not in str(raised.value)

    ti = _TI()
    task = SmartlyQConnectAccountOperator(task_id="connect", platform="facebook", wait_for_completion=False)
    with pytest.raises(SmartlyQServerError):
        task.execute({"ti": ti})
    assert ti.xcom == {}


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_reconnect_url_is_refused(hook, smartlyq_conn, url):
    smartlyq_conn.client.inject_fault(
        "/v1/social/accounts/101/reconnect-url",
        "GET",
        status=200,
        body=_envelope({"reconnect_url": url}),
        content_type="application/json",
    )
    with pytest.raises(SmartlyQServerError, match="no reconnect_url"):
        hook.get_reconnect_url(101)


def test_real_links_still_pass(hook, smartlyq_conn):
    assert hook.create_connect_link("facebook")["connect_url"].startswith(smartlyq_conn.url)
    assert hook.get_reconnect_url(101).startswith(smartlyq_conn.url)


@pytest.mark.parametrize("link_class", [SmartlyQConnectLink, SmartlyQReconnectLink])
@pytest.mark.parametrize(
    ("stored", "href"),
    [
        ("https://app.smartlyq.com/connect?state=abc", "https://app.smartlyq.com/connect?state=abc"),
        (
            "http://127.0.0.1:8765/_emulator/oauth/authorize?state=x",
            "http://127.0.0.1:8765/_emulator/oauth/authorize?state=x",
        ),
        *[(value, "") for value in HOSTILE],
    ],
)
def test_extra_link_href_is_only_ever_http(monkeypatch, link_class, stored, href):
    # What the task pushed came from SmartlyQ's answer: the button checks it again anyway.
    from types import SimpleNamespace

    from airflow_provider_smartlyq.links import push_link

    task, pushed = SimpleNamespace(), {}
    push_link(
        task,
        SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value)),
        link_class.xcom_key,
        stored,
    )
    assert pushed == {link_class.xcom_key: stored}
    assert link_class().get_link(task, ti_key=None) == href


def test_a_link_never_pushed_is_empty_without_reading_xcom(monkeypatch):
    # Reading an absent XCom logs "XCom not found" at error level: a false alarm on healthy runs.
    from types import SimpleNamespace

    from airflow.sdk.execution_time.xcom import XCom

    def refuse(*args, **kwargs):
        raise AssertionError("the link must not read XCom")

    monkeypatch.setattr(XCom, "get_value", classmethod(refuse))
    assert SmartlyQReconnectLink().get_link(SimpleNamespace(), ti_key=None) == ""
