"""
Gate publishing on account health: wait (deferred) until the brand's accounts are healthy.

The health sensor checks every selected account with ONE request per check. If an account's
token expired, or will expire within ``min_validity_days``, it pushes the accounts and their
reconnect links to XCom ``unhealthy_accounts`` (the first link is the task's "SmartlyQ
reconnect link" button) and keeps waiting, deferred, until someone reconnects them. The
publish task runs only once every account passed.

Run it: ``airflow dags test smartlyq_gate_publishing``
(``-c '{"account_ids": [101, 102]}'`` includes the emulator's expiring Instagram account).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor

with DAG(
    dag_id="smartlyq_gate_publishing",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["smartlyq", "example"],
    params={
        "account_ids": Param([101, 103], type="array", description="Accounts the post goes to"),
    },
) as dag:
    # [START howto_health_gate]
    accounts_healthy = SmartlyQHealthSensor(
        task_id="accounts_healthy",
        account_ids="{{ params.account_ids }}",
        min_validity_days=7,  # the campaign runs a week: tokens must outlive it
        deferrable=True,  # wait in the triggerer while a human reconnects
        poke_interval=2,  # small for demos; use minutes in production
        timeout=6 * 60 * 60,
    )
    # [END howto_health_gate]

    @task
    def publish(accounts: list[dict[str, Any]]) -> list[int]:
        """Stand in for the publish step: it receives the healthy accounts from the gate."""
        ids = [int(account["id"]) for account in accounts]
        print(f"Publishing to {len(ids)} healthy accounts: {ids}")
        return ids

    publish(accounts_healthy.output)
