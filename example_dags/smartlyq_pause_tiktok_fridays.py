"""
Every Friday at 18:00, pause all TikTok accounts (for example, no posts over the weekend).

One task, one ``GET /social/accounts`` to select the accounts, then one pause request per
TikTok account that is not paused yet: already-paused accounts are skipped, so a rerun changes
nothing. Resume them on Monday with ``SmartlyQResumeAccountsOperator`` and the same selection.
Schedules are in the DAG's timezone: give ``start_date`` a local zone (e.g. ``Europe/Paris``)
for "18:00 local time".
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_smartlyq.operators.smartlyq import SmartlyQPauseAccountsOperator

with DAG(
    dag_id="smartlyq_pause_tiktok_fridays",
    description="Pause every TikTok account on Fridays at 18:00",
    schedule="0 18 * * 5",
    start_date=pendulum.datetime(2025, 1, 3, tz="UTC"),
    catchup=False,
    tags=["smartlyq", "example"],
):
    # --8<-- [start:howto_pause_platform]
    SmartlyQPauseAccountsOperator(task_id="pause_tiktok", platforms=["tiktok"])
    # --8<-- [end:howto_pause_platform]
