"""
Pause a brand's social accounts every night at 22:00 and resume them at 07:00.

Two DAGs of the same shape (built by ``brand_dag``), one per action, so that each runs on its
own schedule and can be tried on its own (``airflow dags test smartlyq_pause_brand_nightly``).
The brand is a case-insensitive glob on the account name, given by the ``brand_pattern`` DAG
param: change the default here, or trigger with ``{"brand_pattern": "Globex *"}``. Accounts
outside the brand are never touched, and accounts already in the target state are skipped, so
a rerun changes nothing.

Schedules are in the DAG's timezone (UTC unless ``start_date`` says otherwise).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param

from airflow_provider_smartlyq.operators.smartlyq import (
    SmartlyQPauseAccountsOperator,
    SmartlyQResumeAccountsOperator,
)


def brand_dag(
    dag_id: str,
    schedule: str,
    description: str,
    operator: type[SmartlyQPauseAccountsOperator | SmartlyQResumeAccountsOperator],
    task_id: str,
) -> DAG:
    """Return a DAG that runs ``operator`` on the brand given by the ``brand_pattern`` param."""
    with DAG(
        dag_id=dag_id,
        description=description,
        schedule=schedule,
        start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
        catchup=False,
        params={
            "brand_pattern": Param(
                "Acme *",
                type="string",
                minLength=1,
                description="Glob on the account name selecting the brand, e.g. 'Acme *'.",
            )
        },
        tags=["smartlyq", "example"],
    ) as dag:
        operator(task_id=task_id, account_name_pattern="{{ params.brand_pattern }}")
    return dag


pause_nightly = brand_dag(
    "smartlyq_pause_brand_nightly",
    "0 22 * * *",
    "Pause a brand's SmartlyQ accounts at 22:00",
    SmartlyQPauseAccountsOperator,
    "pause_brand",
)
resume_morning = brand_dag(
    "smartlyq_resume_brand_morning",
    "0 7 * * *",
    "Resume a brand's SmartlyQ accounts at 07:00",
    SmartlyQResumeAccountsOperator,
    "resume_brand",
)
