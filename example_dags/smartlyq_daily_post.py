"""
Every day at 09:00: check the brand's accounts, then publish one post or tell a human why not.

1. ``accounts_healthy`` checks every "Acme *" account ONCE (one request): connected, token not
   expired, valid for at least 3 more days, not paused. With ``fail_on_unhealthy`` it does not
   wait: if any account fails, it pushes ``unhealthy_accounts`` (id, platform, name, reason and
   a reconnect link per account, including accounts that block only because their token ends
   within 3 days) and fails, without retries.
2. ``notify`` runs only when the gate failed (``trigger_rule="one_failed"``) and receives those
   rows. Replace its body with an email or Slack message to the account owners. It prints the
   accounts and reasons, never the links: whoever holds a link can re-authorise the account.
3. ``publish`` runs only when the gate passed: one post to every Acme account, exactly once per
   run (a retry or a clear replays it), and waits until SmartlyQ has published it. The text
   carries the date, so SmartlyQ's 24-hour duplicate-content guard never refuses tomorrow's
   post; it includes an image because Instagram refuses text-only posts, and ``validate_first``
   checks that (free) before anything is created.

Final state, on purpose: when an account is unhealthy the run ends **failed** (the gate failed,
``publish`` is ``upstream_failed``, ``notify`` succeeded): no post went out today, and the run
list and DAG-level failure alerts should say so. After the owner has reconnected, clear
``accounts_healthy`` with its downstream tasks: the gate passes, ``publish`` posts once and
``notify`` is skipped. When everything is healthy the run succeeds and ``notify`` is skipped.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_smartlyq.operators.smartlyq import SmartlyQPublishPostOperator
from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor

with DAG(
    dag_id="smartlyq_daily_post",
    description="09:00: publish the daily Acme post if every account is healthy, else notify",
    schedule="0 9 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["smartlyq", "example"],
):
    # --8<-- [start:howto_gate_then_notify]
    accounts_healthy = SmartlyQHealthSensor(
        task_id="accounts_healthy",
        account_name_pattern="Acme *",
        min_validity_days=3,  # tokens must last 3 more days
        fail_on_unhealthy=True,  # decide now: notify instead of waiting for a reconnect
        deferrable=False,  # one check decides; a wait only happens while SmartlyQ is unreachable
        poke_interval=60,
        timeout=30 * 60,
    )

    @task(trigger_rule="one_failed")
    def notify(unhealthy: list[dict[str, Any]]) -> list[int]:
        """Tell the account owners which accounts block today's post and why (swap print for email/Slack)."""
        for row in unhealthy:
            # Send row["reconnect_url"] to the owner here; it is not printed on purpose.
            link = "reconnect link ready" if row["reconnect_url"] else "no reconnect link"
            print(f"Account {row['id']} ({row['account_name']}, {row['platform']}): {row['reason']}; {link}")
        return [row["id"] for row in unhealthy]

    publish = SmartlyQPublishPostOperator(
        task_id="publish",
        content="Good morning from Acme! Today's offer is in our shop ({{ ds }}).",
        media_urls=["https://cdn.example.com/acme/daily-offer.jpg"],  # Instagram needs media
        account_name_pattern="Acme *",
        validate_first=True,  # free dry run: missing media or too long fails before posting
        deferrable=True,  # wait for publishing in the triggerer, not in a worker slot
        poll_interval=2,
        retries=2,  # safe: a retry replays the post created by the first try
    )

    accounts_healthy >> publish
    notify(accounts_healthy.unhealthy_accounts)  # also makes notify run after the gate
    # --8<-- [end:howto_gate_then_notify]
