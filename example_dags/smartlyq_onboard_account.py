"""
Onboard a social account: create a connect link, wait (deferred) for the user, then check it.

The connect task pushes the link to XCom (``connect_url``) and shows it as the task's
"SmartlyQ connect link" button; send it to the account owner. While the owner consents, the
task is *deferred*: the triggerer polls SmartlyQ and no worker slot is held. Against the
emulator started with ``smartlyq-emulator --auto-approve-after 3`` the emulator plays the user.

Run it: ``airflow dags test smartlyq_onboard_account`` (``-c '{"platform": "instagram"}'``
picks another platform).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_smartlyq.operators.smartlyq import SmartlyQConnectAccountOperator
from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor

with DAG(
    dag_id="smartlyq_onboard_account",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["smartlyq", "example"],
    params={
        "platform": Param("facebook", type="string", description="Platform to connect, e.g. instagram, x"),
    },
) as dag:
    # [START howto_connect_account]
    connect_account = SmartlyQConnectAccountOperator(
        task_id="connect_account",
        platform="{{ params.platform }}",
        deferrable=True,  # wait for the user in the triggerer, not in a worker slot
        poll_interval=2,  # small for demos; 5-15 s is plenty in production
        timeout=900,  # SmartlyQ connect links live 15 minutes
    )
    # [END howto_connect_account]

    # The new account must be usable right away: connected, a fresh token, not paused.
    check_new_account = SmartlyQHealthSensor(
        task_id="check_new_account",
        account_ids="{{ ti.xcom_pull(task_ids='connect_account')['id'] }}",
        min_validity_days=1,
        fail_on_unhealthy=True,
        deferrable=True,
        poke_interval=2,
        timeout=120,
    )

    connect_account >> check_new_account
