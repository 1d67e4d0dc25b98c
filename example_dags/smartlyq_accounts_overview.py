"""
List every SmartlyQ account with its token health, using ``SmartlyQHook`` in ``@task`` functions.

Two read-only API calls whatever the number of accounts: ``GET /social/accounts`` and the bulk
``GET /social/accounts/health``. The last task joins them, logs a table and returns a summary
(``accounts``, ``healthy``, ``needs_attention``) for downstream tasks, for example to notify the
people who own the accounts that need reconnecting.

The hook is imported inside the tasks: the DAG file then parses without loading the provider's
HTTP libraries, which keeps the DAG processor fast.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.sdk import dag, task

SMARTLYQ_CONN_ID = "smartlyq_default"
#: SmartlyQ counts a token that ends within this many days as expiring.
EXPIRING_WITHIN_DAYS = 7

log = logging.getLogger(__name__)


@dag(
    dag_id="smartlyq_accounts_overview",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["smartlyq", "example"],
    doc_md=__doc__,
)
def smartlyq_accounts_overview() -> None:
    """Fetch accounts and their bulk health, then summarise them."""

    @task
    def list_accounts() -> list[dict[str, Any]]:
        """Return every account the connection's key (and profile) can see."""
        from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

        with SmartlyQHook(smartlyq_conn_id=SMARTLYQ_CONN_ID) as hook:
            return hook.list_accounts()

    @task
    def accounts_health() -> dict[str, Any]:
        """Return the health of every account in one request."""
        from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

        with SmartlyQHook(smartlyq_conn_id=SMARTLYQ_CONN_ID) as hook:
            return hook.get_accounts_health()

    @task
    def summarize(accounts: list[dict[str, Any]], health: dict[str, Any]) -> dict[str, Any]:
        """Join accounts with their health, log a table and return the counts."""
        by_id = {item["id"]: item for item in health.get("accounts", [])}
        needs_attention: list[int] = []
        lines = [f"{'id':>5}  {'platform':<10} {'name':<24} {'status':<10} {'days':>5}  paused"]
        for account in accounts:
            item = by_id.get(account["id"], {})
            days = item.get("validity_days")
            unhealthy = item.get("token_expired") or item.get("status") != "connected"
            expiring = isinstance(days, (int, float)) and days < EXPIRING_WITHIN_DAYS
            if unhealthy or expiring:
                needs_attention.append(account["id"])
            lines.append(
                f"{account['id']:>5}  {account.get('platform', ''):<10} {account.get('name', ''):<24.24} "
                f"{item.get('status', '?'):<10} {days if days is not None else '?':>5}  "
                f"{'yes' if item.get('paused') else 'no'}"
            )
        log.info("SmartlyQ accounts:\n%s", "\n".join(lines))
        summary = {
            "accounts": len(accounts),
            "healthy": health.get("healthy"),
            "expiring": health.get("expiring"),
            "expired": health.get("expired"),
            "paused": health.get("paused"),
            "needs_attention": needs_attention,
        }
        log.info("Summary: %s", summary)
        return summary

    summarize(list_accounts(), accounts_health())


smartlyq_accounts_overview()
