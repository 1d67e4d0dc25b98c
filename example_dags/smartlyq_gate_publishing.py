"""
Publish behind the health gate, exactly once: gate → validate → publish (deferred) → report.

1. ``accounts_healthy`` waits (deferred) until every target account is healthy and its token
   outlives the campaign; unhealthy accounts and their reconnect links go to XCom
   ``unhealthy_accounts`` (the first link is the task's "SmartlyQ reconnect link" button).
2. ``validate`` dry-runs the post for the accounts' platforms (free): too long for X, media
   missing for Instagram... fail here, before anything is published or charged.
3. ``publish`` creates the post with an idempotency key derived from this task instance, then
   waits in the triggerer until publishing has finished. A retry or a clear of the task
   replays the same post instead of publishing it twice.
4. ``report`` prints the post's URLs (also on ``publish``'s "SmartlyQ post" button).

Run it: ``airflow dags test smartlyq_gate_publishing -c '{"message": "Hello from Airflow"}'``.
SmartlyQ refuses the same text twice within 24 hours (``409 DUPLICATE_CONTENT``): pass a new
message for each run.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_smartlyq.operators.smartlyq import (
    SmartlyQPublishPostOperator,
    SmartlyQValidatePostOperator,
)
from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor

with DAG(
    dag_id="smartlyq_gate_publishing",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["smartlyq", "example"],
    params={
        "account_ids": Param([101, 103], type="array", description="Accounts the post goes to"),
        "message": Param("Our summer collection is live!", type="string", description="The post"),
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

    # --8<-- [start:howto_publish]
    validate = SmartlyQValidatePostOperator(
        task_id="validate",
        content="{{ params.message }}",
        account_ids="{{ params.account_ids }}",
    )

    publish = SmartlyQPublishPostOperator(
        task_id="publish",
        content="{{ params.message }}",
        account_ids="{{ params.account_ids }}",
        deferrable=True,  # wait for publishing in the triggerer, not in a worker slot
        poll_interval=2,
        retries=2,  # safe: a retry replays the post created by the first try
    )
    # --8<-- [end:howto_publish]

    @task
    def report(result: dict[str, Any]) -> list[str]:
        """Print where the post went; return its URLs."""
        urls = [url for platform_urls in result["post_urls"].values() for url in platform_urls]
        print(f"Post {result['post_id']} is {result['status']}: {', '.join(urls)}")
        return urls

    accounts_healthy >> validate >> publish
    report(publish.output)
