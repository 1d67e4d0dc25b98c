"""
Start a reconnect flow the moment a SmartlyQ account's token expires (event-driven, no timer).

An ``AssetWatcher`` runs ``AccountHealthEventTrigger`` in the triggerer: one bulk health request
per interval per connection, shared by every watcher on that connection with the same interval.
When an Acme account turns unhealthy or starts expiring, the trigger's event becomes an asset
event and this DAG runs: it reads the accounts from the triggering asset events, fetches a
reconnect URL for each, and hands the links to a notify task (swap in Slack, e-mail or a ticket).

Needs a running triggerer. ``SMARTLYQ_HEALTH_POLL_INTERVAL`` (seconds, default 300) exists for
demos and tests; keep the default in production (the bulk call counts against the rate limit).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_smartlyq.triggers.smartlyq import AccountHealthEventTrigger

log = logging.getLogger(__name__)

POLL_INTERVAL = float(os.environ.get("SMARTLYQ_HEALTH_POLL_INTERVAL", "300"))

acme_account_health = Asset(
    name="smartlyq_acme_account_health",
    uri="smartlyq://accounts/health/acme",
    watchers=[
        AssetWatcher(
            name="smartlyq_acme_health_watcher",
            trigger=AccountHealthEventTrigger(
                smartlyq_conn_id="smartlyq_default",
                account_name_pattern="Acme *",
                events=["unhealthy", "expiring"],
                expiring_within_days=7,
                poll_interval=POLL_INTERVAL,
            ),
        )
    ],
)


@dag(
    dag_id="smartlyq_reconnect_on_expiry",
    schedule=[acme_account_health],
    catchup=False,
    tags=["smartlyq", "example", "event-driven"],
    doc_md=__doc__,
)
def smartlyq_reconnect_on_expiry():
    @task
    def reconnect_links(**context: Any) -> list[dict[str, Any]]:
        """Return one reconnect link per account in the triggering asset events."""
        from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

        # The trigger's payload is in each asset event's extra["payload"]. Several events can
        # land in one run (the scheduler batches them), some for the same account (expiring,
        # then unhealthy): one link per account is enough, so keep each account's latest event.
        latest: dict[int, dict[str, Any]] = {}
        for event in context["triggering_asset_events"][acme_account_health]:
            payload = (event.extra or {}).get("payload") or {}
            if payload.get("event_key") and payload.get("account", {}).get("id") is not None:
                latest[payload["account"]["id"]] = payload
        links = []
        with SmartlyQHook(smartlyq_conn_id="smartlyq_default") as hook:
            for payload in latest.values():
                account = payload["account"]
                links.append(
                    {
                        "account_id": account["id"],
                        "account_name": account["account_name"],
                        "platform": account["platform"],
                        "transition": payload["transition"],
                        "event_key": payload["event_key"],
                        "reconnect_url": hook.get_reconnect_url(account["id"]),
                    }
                )
        return links

    @task
    def notify(links: list[dict[str, Any]]) -> int:
        """Tell the account owners which accounts need a reconnect (here: a log line each)."""
        for link in links:
            # Send link["reconnect_url"] to the owner here (Slack, e-mail, a ticket). It is not
            # logged: whoever holds the link can re-authorise the account.
            log.info(
                "SmartlyQ account %s (%s, %s) is %s: reconnect link ready (%s)",
                link["account_id"],
                link["account_name"],
                link["platform"],
                link["transition"],
                link["event_key"],
            )
        return len(links)

    notify(reconnect_links())  # type: ignore[arg-type]  # an XComArg at parse time


smartlyq_reconnect_on_expiry()
