"""
The SmartlyQ api-server plugin on a real stack: registration, the return page, signed webhooks.

The emulator delivers a signed ``account.token_expired`` to ``/smartlyq/webhooks/<conn>`` on the
running api-server; the endpoint turns it into one asset event on the asset an
``AccountHealthEventTrigger`` watches (its extra shaped as the trigger's), the scheduler starts
one run carrying the account, a redelivery creates nothing, and SmartlyQ's API sees no request:
the triggerer is stopped for the test, so nothing polls.
"""

from __future__ import annotations

import json
import signal
import textwrap
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_smartlyq.webhooks import signature_header

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import AirflowStack

pytestmark = pytest.mark.integration

CONN_ID = "smartlyq_hooks"
SECRET = "whsec_plugin_e2e_" + "5c1d0e7f"
DAG_ID = "smartlyq_webhook_reconnect"
ASSET_NAME = "smartlyq_webhook_account_health"
ACCOUNT_ID = 101  # Acme Facebook: healthy in the demo seed
USE_JOB_SCHEDULE = "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"

DAG_SOURCE = f'''
from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_smartlyq.triggers.smartlyq import AccountHealthEventTrigger

health = Asset(
    name="{ASSET_NAME}",
    watchers=[
        AssetWatcher(
            name="smartlyq_webhook_health_watcher",
            trigger=AccountHealthEventTrigger(
                smartlyq_conn_id="{CONN_ID}", account_ids=[{ACCOUNT_ID}], events=["unhealthy"],
                poll_interval=3600, fire_on_start=False,
            ),
        )
    ],
)


@dag(dag_id="{DAG_ID}", schedule=[health], catchup=False)
def smartlyq_webhook_reconnect():
    @task
    def accounts(**context):
        return [e.extra["payload"]["account"]["id"] for e in context["triggering_asset_events"][health]]

    accounts()


smartlyq_webhook_reconnect()
'''


@pytest.fixture(scope="module")
def webhook_stack(airflow_stack: AirflowStack) -> Iterator[AirflowStack]:
    """The session's stack with asset-triggered runs on, a connection with a webhook secret, the DAG."""
    stack = airflow_stack
    previous = stack.env.get(USE_JOB_SCHEDULE)
    stack.env[USE_JOB_SCHEDULE] = "True"
    stack.kill("scheduler", signal.SIGTERM)
    stack.start_component("scheduler")
    extra = json.dumps({"webhook_secret": SECRET})
    stack.api(
        "POST",
        "/connections",
        json={
            "connection_id": CONN_ID,
            "conn_type": "smartlyq",
            "host": stack.emulator.url,
            "password": stack.emulator.api_key,
            "extra": extra,
        },
    )
    (stack.dags_folder / f"{DAG_ID}.py").write_text(textwrap.dedent(DAG_SOURCE))
    try:
        yield stack
    finally:
        stack.airflow("dags", "pause", DAG_ID, check=False)
        (stack.dags_folder / f"{DAG_ID}.py").unlink(missing_ok=True)
        stack.api("DELETE", f"/connections/{CONN_ID}")
        if previous is None:
            stack.env.pop(USE_JOB_SCHEDULE, None)
        else:
            stack.env[USE_JOB_SCHEDULE] = previous
        stack.kill("scheduler", signal.SIGTERM)
        stack.start_component("scheduler")


def post_webhook(
    stack: AirflowStack, body: bytes, signature: str, event: dict[str, Any]
) -> requests.Response:
    return requests.post(
        f"{stack.api_url}/smartlyq/webhooks/{CONN_ID}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-SmartlyQ-Signature": signature,
            "X-SmartlyQ-Event": event["event"],
            "X-SmartlyQ-Event-Id": event["id"],
        },
        timeout=30,
    )


def test_airflow_plugins_lists_the_smartlyq_plugin(stack: AirflowStack) -> None:
    listed = json.loads(stack.airflow("plugins", "-o", "json").stdout.strip().splitlines()[-1])
    smartlyq = [p for p in listed if p["name"] == "smartlyq"]
    assert len(smartlyq) == 1, [p["name"] for p in listed]
    assert smartlyq[0]["fastapi_apps"] == [
        {"app": "fastapi.applications.FastAPI", "url_prefix": "/smartlyq", "name": "SmartlyQ"}
    ]
    assert [v["name"] for v in smartlyq[0]["external_views"]] == ["SmartlyQ accounts"]


def test_connect_return_page_shows_count_and_platform_escaped(stack: AirflowStack) -> None:
    answer = requests.get(
        f"{stack.api_url}/smartlyq/connected",
        params={"connected": "2", "platform": "<script>alert(1)</script>"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert "SmartlyQ account connected, you can close this window" in answer.text
    assert "<strong>2</strong>" in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
    assert "<script>" not in answer.text


def test_signed_token_expired_webhook_starts_one_run_with_no_api_request(
    webhook_stack: AirflowStack, stack: AirflowStack
) -> None:
    # No triggerer: nothing polls SmartlyQ; the webhook is the only way the event can arrive.
    stack.kill("triggerer")
    stack.unpause(DAG_ID)
    # The watcher's trigger row (what the endpoint matches assets by) exists once the unpaused DAG is parsed.
    stack.wait_for(
        lambda: stack.query(
            "SELECT t.id FROM trigger t JOIN asset_watcher w ON w.trigger_id = t.id "
            "JOIN asset a ON a.id = w.asset_id WHERE a.name = ?",
            (ASSET_NAME,),
        ),
        timeout=120,
        what="the watcher's trigger row",
    )
    client = stack.emulator.client
    answer = requests.post(
        f"{stack.emulator.api_url}/webhooks",
        json={
            "url": f"{stack.api_url}/smartlyq/webhooks/{CONN_ID}",
            "events": ["account.token_expired"],
            "secret": SECRET,
        },
        headers={"Authorization": f"Bearer {stack.emulator.api_key}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    api_requests_before = len(client.requests())

    # Unsigned, wrongly signed and stale deliveries: 401, nothing recorded.
    forged = {"id": "evt_forged", "event": "account.token_expired", "data": {"account_id": ACCOUNT_ID}}
    body = json.dumps(forged).encode()
    assert post_webhook(stack, body, "t=1,v1=00", forged).status_code == 401
    assert post_webhook(stack, body, signature_header("wrong", body), forged).status_code == 401
    stale = signature_header(SECRET, body, int(time.time()) - 3600)
    assert post_webhook(stack, body, stale, forged).status_code == 401

    began = time.monotonic()
    client.expire_account_token(ACCOUNT_ID)
    delivery = stack.wait_for(
        lambda: next(
            (d for d in client.webhook_deliveries() if d["delivered"]),
            None,
        ),
        timeout=60,
        what="the emulator's delivery to the webhook endpoint",
    )
    print(f"\nwebhook delivered in {time.monotonic() - began:.2f}s (attempt {delivery['attempt']})")
    events = stack.asset_events(ASSET_NAME)
    assert len(events) == 1, events
    payload = events[0]["extra"]["payload"]
    assert payload["event_key"] == f"smartlyq:{ACCOUNT_ID}:unhealthy:expired"
    assert payload["transition"] == "unhealthy"
    assert payload["account"]["id"] == ACCOUNT_ID
    assert payload["account"]["account_name"] == "Acme Facebook"
    assert set(payload) == {"event_key", "transition", "account", "observed_at"}
    assert events[0]["extra"]["smartlyq_webhook"]["event_id"] == delivery["event_id"]

    runs = stack.wait_for(lambda: stack.dag_runs(DAG_ID), timeout=90, what="the asset-triggered run")
    run_id = runs[0]["run_id"]
    assert stack.wait_for_run(DAG_ID, run_id, timeout=120) == "success"
    assert stack.xcoms(DAG_ID, run_id)[("accounts", "return_value")] == [ACCOUNT_ID]

    # A redelivery of the same event (SmartlyQ retries when it missed the 2xx): 2xx, nothing new.
    again = {"id": delivery["event_id"], "event": "account.token_expired", "data": {"account_id": ACCOUNT_ID}}
    body = json.dumps(again).encode()
    redelivered = post_webhook(stack, body, signature_header(SECRET, body), again)
    assert redelivered.status_code == 200
    assert redelivered.json()["duplicate"] is True
    time.sleep(3)  # give the scheduler loops to create a run that must not exist
    assert len(stack.asset_events(ASSET_NAME)) == 1
    assert len(stack.dag_runs(DAG_ID)) == 1

    # SmartlyQ's API: not one request since the subscription (no poll, no lookup).
    assert client.requests()[api_requests_before:] == []
