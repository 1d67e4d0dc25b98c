"""
Pause a brand's social accounts every night at 22:00 and resume them at 07:00.

Two DAGs, one per action, so that each runs on its own schedule and can be tried on its own
(``airflow dags test smartlyq_pause_brand_nightly``). The brand is a case-insensitive glob on
the account name, given by the ``brand_pattern`` DAG param: change the default here, or trigger
with ``{"brand_pattern": "Globex *"}``. Accounts outside the brand are never touched, and
accounts already in the target state are skipped, so a rerun changes nothing.

Schedules are in the DAG's timezone (UTC unless ``start_date`` says otherwise).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param

from airflow_provider_smartlyq.operators.smartlyq import (
    SmartlyQPauseAccountsOperator,
    SmartlyQResumeAccountsOperator,
)

BRAND_PARAMS = {
    "brand_pattern": Param(
        "Acme *",
        type="string",
        minLength=1,
        description="Glob on the account name selecting the brand, e.g. 'Acme *'.",
    )
}
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)

with DAG(
    dag_id="smartlyq_pause_brand_nightly",
    description="Pause a brand's SmartlyQ accounts at 22:00",
    schedule="0 22 * * *",
    start_date=START,
    catchup=False,
    params=BRAND_PARAMS,
    tags=["smartlyq", "example"],
):
    SmartlyQPauseAccountsOperator(
        task_id="pause_brand",
        account_name_pattern="{{ params.brand_pattern }}",
    )

with DAG(
    dag_id="smartlyq_resume_brand_morning",
    description="Resume a brand's SmartlyQ accounts at 07:00",
    schedule="0 7 * * *",
    start_date=START,
    catchup=False,
    params=BRAND_PARAMS,
    tags=["smartlyq", "example"],
):
    SmartlyQResumeAccountsOperator(
        task_id="resume_brand",
        account_name_pattern="{{ params.brand_pattern }}",
    )
