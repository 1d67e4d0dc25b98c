"""
A DAG file that uses our operators and sensors parses without loading any HTTP machinery.

Checked in a fresh interpreter: ``sys.modules`` after importing Airflow's task API (which every
DAG file pays anyway, and which brings tenacity) is compared with ``sys.modules`` after
importing every public operator and sensor and building them in a DAG.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: What a DAG file must not pay for by importing our operators and sensors.
HEAVY = ("requests", "aiohttp", "tenacity", "fastapi", "uvicorn", "airflow_provider_smartlyq.hooks")

_PROBE = textwrap.dedent(
    """
    import json, sys
    import pendulum
    from airflow.sdk import DAG, BaseOperator, BaseSensorOperator  # every DAG file's baseline
    baseline = set(sys.modules)

    {body}

    added = sorted(set(sys.modules) - baseline)
    print(json.dumps({{"added": added, "baseline_has": sorted(m for m in baseline if m in {heavy!r})}}))
    """
)

_DAG_BODY = """
from airflow_provider_smartlyq.operators.smartlyq import (
    SmartlyQConnectAccountOperator, SmartlyQDisconnectAccountOperator, SmartlyQListAccountsOperator,
    SmartlyQPauseAccountsOperator, SmartlyQPublishPostOperator, SmartlyQReconnectUrlOperator,
    SmartlyQResumeAccountsOperator, SmartlyQValidatePostOperator,
)
from airflow_provider_smartlyq.sensors.smartlyq import (
    SmartlyQConnectCompletedSensor, SmartlyQHealthSensor, SmartlyQPostStatusSensor,
)

with DAG("parse_probe", schedule=None, start_date=pendulum.datetime(2025, 1, 1)):
    SmartlyQConnectAccountOperator(task_id="connect", platform="instagram")
    SmartlyQConnectCompletedSensor(task_id="wait_connect", state_token="{{ ti.xcom_pull('connect') }}")
    SmartlyQHealthSensor(task_id="gate", account_name_pattern="Acme *", deferrable=True)
    SmartlyQPauseAccountsOperator(task_id="pause", platforms=["instagram"])
    SmartlyQResumeAccountsOperator(task_id="resume", account_ids=[101, 102])
    SmartlyQReconnectUrlOperator(task_id="reconnect", account_ids=[101])
    SmartlyQListAccountsOperator(task_id="list", all_accounts=True)
    SmartlyQDisconnectAccountOperator(task_id="bye", account_id=103, confirm_account_name="Acme X")
    SmartlyQValidatePostOperator(task_id="validate", content="Hello", platforms=["instagram"])
    SmartlyQPublishPostOperator(task_id="publish", content="Hello", account_ids=[101])
    SmartlyQPostStatusSensor(task_id="post_status", post_id="{{ ti.xcom_pull('publish')['id'] }}")
"""


def _run_probe(body: str) -> dict[str, list[str]]:
    code = _PROBE.format(body=textwrap.dedent(body), heavy=HEAVY)
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _heavy(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_a_dag_with_every_operator_and_sensor_loads_no_http_library_nor_the_hook():
    result = _run_probe(_DAG_BODY)

    assert _heavy(result["added"]) == []
    # The probe is meaningful: every module defining a public class was loaded, and the HTTP
    # libraries were not loaded before it started.
    from airflow_provider_smartlyq.core.surface import PUBLIC_SURFACE

    defining = {
        module
        for public in (
            "airflow_provider_smartlyq.operators.smartlyq",
            "airflow_provider_smartlyq.sensors.smartlyq",
        )
        for module in PUBLIC_SURFACE[public].values()
    }
    assert defining <= set(result["added"])
    assert not {"requests", "aiohttp"} & set(result["baseline_has"])


def test_the_public_trigger_module_is_lazy():
    # The triggerer imports the module a serialized trigger names; naming it must not load them all.
    result = _run_probe(
        """
        import airflow_provider_smartlyq.triggers.smartlyq as triggers
        public = sorted(triggers.__all__)
        """
    )

    assert "airflow_provider_smartlyq.triggers.smartlyq" in result["added"]
    assert [m for m in result["added"] if m.startswith("airflow_provider_smartlyq.triggers.")] == [
        "airflow_provider_smartlyq.triggers.smartlyq"
    ]
    assert _heavy(result["added"]) == []


def test_resolving_one_trigger_loads_only_its_module():
    result = _run_probe(
        """
        from airflow_provider_smartlyq.triggers.smartlyq import ConnectCompletedTrigger
        """
    )

    loaded = {m for m in result["added"] if m.startswith("airflow_provider_smartlyq.triggers.")}
    assert "airflow_provider_smartlyq.triggers.connect" in loaded
    assert not loaded & {
        "airflow_provider_smartlyq.triggers.health",
        "airflow_provider_smartlyq.triggers.posts",
        "airflow_provider_smartlyq.triggers.events",
    }
