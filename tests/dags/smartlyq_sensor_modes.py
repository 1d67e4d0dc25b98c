"""
Test DAGs: the sensors in poke and reschedule mode under a real ``airflow dags test``.

Used by ``tests/test_sensor_modes_dags.py`` against the emulator; small intervals keep the runs
short. Not examples: the example DAGs live in ``example_dags/``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_smartlyq.operators.smartlyq import SmartlyQPublishPostOperator
from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor, SmartlyQPostStatusSensor

START = pendulum.datetime(2025, 1, 1, tz="UTC")

for mode in ("poke", "reschedule"):
    with DAG(dag_id=f"smartlyq_test_health_{mode}", schedule=None, start_date=START, catchup=False):
        SmartlyQHealthSensor(
            task_id="accounts_healthy",
            account_ids=[101, 103],
            mode=mode,
            poke_interval=1,
            timeout=300,
        )

with DAG(dag_id="smartlyq_test_post_reschedule", schedule=None, start_date=START, catchup=False):
    publish = SmartlyQPublishPostOperator(
        task_id="publish",
        content="Sensor modes under airflow dags test",
        account_ids=[101, 103],
        wait_for_completion=False,
    )
    published = SmartlyQPostStatusSensor(
        task_id="published",
        post_id="{{ ti.xcom_pull(task_ids='publish')['post_id'] }}",
        mode="reschedule",
        poke_interval=1,
        timeout=300,
    )
    publish >> published
