"""
Every morning, find accounts that need a human to re-authorise them and send the links.

``check_health`` lists the accounts with their health; ``any_unhealthy`` stops the run
(tasks skipped, not failed) when every account is fine; ``reconnect_urls`` fetches one
re-authorisation link per unhealthy account (status not ``connected`` or token expired);
``notify`` hands them on. Replace ``notify``'s body with an email or Slack message to the
people who own the accounts. It prints which accounts need a reconnect, never the links
themselves: whoever holds a link can re-authorise the account, and task logs are widely read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_smartlyq.operators.smartlyq import (
    SmartlyQListAccountsOperator,
    SmartlyQReconnectUrlOperator,
)

with DAG(
    dag_id="smartlyq_reconnect_unhealthy",
    description="Send reconnect links for unhealthy SmartlyQ accounts",
    schedule="0 8 * * *",
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["smartlyq", "example"],
):
    check_health = SmartlyQListAccountsOperator(
        task_id="check_health",
        all_accounts=True,  # or account_name_pattern="Acme *" for one brand
        include_health=True,
    )

    @task.short_circuit
    def any_unhealthy(accounts: list[dict[str, Any]]) -> bool:
        """Go on only when some account is not connected or has an expired token."""
        broken = [
            a["name"]
            for a in accounts
            if a["health"] and (a["health"]["status"] != "connected" or a["health"]["token_expired"])
        ]
        print(f"Accounts needing a reconnect: {broken or 'none'}")
        return bool(broken)

    reconnect_urls = SmartlyQReconnectUrlOperator(task_id="reconnect_urls", all_accounts=True)

    @task
    def notify(urls: dict[str, str]) -> None:
        """Hand each link to the account's owner; swap the print for an email or Slack message."""
        for account_id in urls:
            # Send urls[account_id] to the owner here. Only the account is printed: the link
            # would let anyone who can read the task log re-authorise the account.
            print(f"Account {account_id} needs re-authorising: reconnect link ready")

    any_unhealthy(check_health.output) >> reconnect_urls
    notify(reconnect_urls.output)
