"""SmartlyQConnectCompletedSensor: a link made elsewhere ends the same way in every mode."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time

import pytest

from airflow_provider_smartlyq._compat import AirflowRescheduleException, TaskDeferred
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError
from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQConnectCompletedSensor

MODES = ("poke", "reschedule", "deferrable")


class RecordingTI:
    """The slice of Airflow's runtime task instance a sensor uses."""

    first_reschedule_date: dt.datetime | None = None

    def xcom_push(self, key: str, value: object) -> None:
        raise AssertionError("the connect sensor pushes only its return value")

    def get_first_reschedule_date(self, context) -> dt.datetime | None:
        return self.first_reschedule_date


def run_sensor(mode: str, state_token: str, **kwargs) -> object:
    """Run the sensor to its end in ``mode``; return its result or the exception it raised."""
    kwargs = {"task_id": "wait_for_user", "state_token": state_token, "poke_interval": 0.2, **kwargs}
    ti = RecordingTI()
    context = {"ti": ti}
    try:
        if mode == "poke":
            return SmartlyQConnectCompletedSensor(mode="poke", **kwargs).execute(context)
        if mode == "deferrable":
            sensor = SmartlyQConnectCompletedSensor(deferrable=True, **kwargs)
            try:
                return sensor.execute(context)
            except TaskDeferred as exc:
                deferred = exc

            async def first_event():
                try:
                    return [event.payload async for event in deferred.trigger.run()]
                finally:
                    await deferred.trigger.cleanup()

            (event,) = asyncio.run(first_event())
            return sensor.resume_execution(deferred.method_name, {"event": event}, context)
        started = dt.datetime.now(dt.timezone.utc)
        while True:
            try:
                return SmartlyQConnectCompletedSensor(mode="reschedule", **kwargs).execute(context)
            except AirflowRescheduleException as again:
                ti.first_reschedule_date = ti.first_reschedule_date or started
                wait = again.reschedule_date - dt.datetime.now(dt.timezone.utc)
                time.sleep(max(0.0, wait.total_seconds()))
    except Exception as exc:
        return exc


def test_the_state_token_is_templated_and_a_literal_one_checked_early():
    assert SmartlyQConnectCompletedSensor.template_fields == ("state_token",)
    with pytest.raises(SmartlyQValidationError, match="state_token"):
        SmartlyQConnectCompletedSensor(task_id="t", state_token="a/b")
    SmartlyQConnectCompletedSensor(task_id="t", state_token="{{ ti.xcom_pull(key='state_token') }}")


def test_an_approved_link_returns_the_account_in_every_mode(hook, smartlyq_conn):
    emu = smartlyq_conn
    results = {}
    for mode in MODES:
        token = hook.create_connect_link("threads")["state_token"]
        approve = threading.Timer(0.8, emu.client.approve_connect, args=(token,))
        approve.start()
        results[mode] = run_sensor(mode, token)
        approve.join()

    for mode, account in results.items():
        assert isinstance(account, dict), (mode, account)
        assert account["platform"] == "threads"
        assert account["id"] == account["account_id"]
    assert len({account["id"] for account in results.values()}) == 3  # three links, three accounts


def test_an_expired_link_fails_saying_what_to_do_in_every_mode(hook, smartlyq_conn):
    results = {}
    for mode in MODES:
        token = hook.create_connect_link("threads")["state_token"]
        smartlyq_conn.client.expire_connect(token)
        results[mode] = run_sensor(mode, token)

    assert {mode: type(r).__name__ for mode, r in results.items()} == dict.fromkeys(MODES, "SmartlyQError")
    assert all("re-run the task that created the link" in str(r) for r in results.values())


def test_a_link_left_pending_times_out_in_every_mode(hook, smartlyq_conn):
    token = hook.create_connect_link("threads")["state_token"]

    results = {mode: run_sensor(mode, token, timeout=1) for mode in MODES}

    assert {mode: type(r).__name__ for mode, r in results.items()} == dict.fromkeys(
        MODES, "AirflowSensorTimeout"
    )


def test_an_unknown_token_fails_without_waiting(smartlyq_conn):
    results = {mode: run_sensor(mode, "NoSuchToken12345") for mode in MODES}

    assert {mode: type(r).__name__ for mode, r in results.items()} == {
        "poke": "SmartlyQNotFoundError",
        "reschedule": "SmartlyQNotFoundError",
        "deferrable": "SmartlyQNotFoundError",  # the first check runs in the worker
    }
    assert all("NoSuchToken12345" not in str(r) for r in results.values())
