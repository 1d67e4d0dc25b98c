"""
The compat module gives the names the running Airflow itself uses, on 3.1, 3.2 and 3.3 alike.

These tests run in every lane of the version matrix (see ``scripts/matrix.py``), so each
assertion is checked against each supported Airflow release.
"""

from __future__ import annotations

import importlib

import airflow
import pytest
from packaging.version import Version

from airflow_provider_smartlyq import _compat

AIRFLOW = Version(Version(airflow.__version__).base_version)

EXCEPTIONS = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "TaskDeferred",
]


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_exceptions_are_the_classes_the_task_runner_catches(name):
    # 3.1's task runner takes them from airflow.exceptions; from 3.2 on the task SDK owns them
    # (airflow.exceptions only re-exports them, deprecated). A copy would never be caught.
    home = "airflow.sdk.exceptions" if Version("3.2") <= AIRFLOW else "airflow.exceptions"
    assert getattr(_compat, name) is getattr(importlib.import_module(home), name)


def test_conf_is_the_configuration_tasks_read():
    assert _compat.conf.getboolean("operators", "default_deferrable", fallback=False) in (True, False)
    if Version("3.2") <= AIRFLOW:
        from airflow.sdk import conf

        assert _compat.conf is conf
    else:
        from airflow.configuration import conf

        assert _compat.conf is conf


async def test_amask_secret_masks_locally_and_tells_the_supervisor(monkeypatch):
    from airflow.sdk._shared.secrets_masker import redact
    from airflow.sdk.execution_time import task_runner

    sent = []

    class Comms:  # the triggerer's comms: only the asynchronous send is safe from its event loop
        async def asend(self, msg):
            sent.append(msg)

        def send(self, msg):  # pragma: no cover - would block or fail inside the loop
            raise AssertionError("the synchronous send was used from a coroutine")

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", Comms(), raising=False)
    secret = "compat-secret-8d1f2a7c"

    await _compat.amask_secret(secret)

    assert secret not in str(redact(f"key={secret}"))
    assert [(type(m).__name__, m.value) for m in sent] == [("MaskSecret", secret)]


async def test_amask_secret_outside_a_task_masks_locally():
    from airflow.sdk._shared.secrets_masker import redact

    secret = "compat-secret-no-supervisor-51c0"
    await _compat.amask_secret(secret)

    assert secret not in str(redact(secret))


def test_feature_probes_match_the_release_that_brought_them():
    assert _compat.has_shared_streams() is (Version("3.3") <= AIRFLOW)
    assert _compat.has_asset_state_store() is (Version("3.3") <= AIRFLOW)
    assert _compat.airflow_version() == airflow.__version__


def test_import_string_resolves_a_trigger_classpath():
    trigger = _compat.import_string("airflow_provider_smartlyq.triggers.smartlyq.ConnectCompletedTrigger")

    assert trigger.__name__ == "ConnectCompletedTrigger"
