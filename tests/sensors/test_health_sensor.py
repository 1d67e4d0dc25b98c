"""
SmartlyQHealthSensor: the same verdict in poke, reschedule and deferrable mode.

Each scenario runs the sensor to its end in all three modes against the emulator and compares
what a DAG sees: success with the returned accounts, or the failure's type, plus XCom
``unhealthy_accounts``. Poke runs ``execute``; reschedule re-creates the sensor for every
check (as a new worker process would) until it stops raising ``AirflowRescheduleException``;
deferrable runs ``execute``, then the trigger to its event, then ``resume_execution``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time

import pytest
from log_support import BOTH_LOG_LEVELS

from airflow_provider_smartlyq._compat import (
    AirflowFailException,
    AirflowRescheduleException,
    TaskDeferred,
)
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError
from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQHealthSensor

MODES = ("poke", "reschedule", "deferrable")


class RecordingTI:
    """The slice of Airflow's runtime task instance a sensor uses (XCom, first reschedule date)."""

    def __init__(self) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number = "d", "r", "gate", -1, 1
        self.xcom: dict[str, object] = {}
        self.first_reschedule_date: dt.datetime | None = None

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = json.loads(json.dumps(value))

    def get_first_reschedule_date(self, context) -> dt.datetime | None:
        return self.first_reschedule_date


def run_trigger(trigger) -> dict:
    async def events():
        try:
            return [event.payload async for event in trigger.run()]
        finally:
            await trigger.cleanup()

    (payload,) = asyncio.run(events())
    return payload


def run_sensor(mode: str, **kwargs) -> tuple[RecordingTI, object]:
    """Run a health sensor to its end in ``mode``; return the TI and the result or exception."""
    kwargs = {"task_id": "gate", "poke_interval": 0.2, "timeout": 30, **kwargs}
    ti = RecordingTI()
    context = {"ti": ti}
    try:
        if mode == "poke":
            return ti, SmartlyQHealthSensor(mode="poke", **kwargs).execute(context)
        if mode == "deferrable":
            sensor = SmartlyQHealthSensor(deferrable=True, **kwargs)
            try:
                return ti, sensor.execute(context)
            except TaskDeferred as exc:
                deferred = exc
            event = run_trigger(deferred.trigger)
            return ti, sensor.resume_execution(deferred.method_name, {"event": event}, context)
        started = dt.datetime.now(dt.timezone.utc)
        while True:
            try:
                return ti, SmartlyQHealthSensor(mode="reschedule", **kwargs).execute(context)
            except AirflowRescheduleException as again:
                ti.first_reschedule_date = ti.first_reschedule_date or started
                time.sleep(
                    max(0.0, (again.reschedule_date - dt.datetime.now(dt.timezone.utc)).total_seconds())
                )
    except Exception as exc:
        return ti, exc


def outcome(ti: RecordingTI, result: object) -> dict:
    """What a DAG author sees: success and returned ids, or the failure type; and the XCom rows."""
    rows = ti.xcom.get("unhealthy_accounts")
    seen = {"unhealthy": [(r["id"], r["reason"], bool(r["reconnect_url"])) for r in rows] if rows else rows}
    if isinstance(result, Exception):
        return {"failed": type(result).__name__, **seen}
    return {"returned": [a["id"] for a in result], **seen}


def in_every_mode(**kwargs) -> dict[str, dict]:
    return {mode: outcome(*run_sensor(mode, **kwargs)) for mode in MODES}


def test_selector_arguments_are_templated_and_checked_at_parse_time():
    assert set(SmartlyQHealthSensor.template_fields) >= {"account_ids", "platforms", "account_name_pattern"}
    with pytest.raises(SmartlyQValidationError, match="no accounts selected"):
        SmartlyQHealthSensor(task_id="gate")
    with pytest.raises(SmartlyQValidationError, match="min_validity_days"):
        SmartlyQHealthSensor(task_id="gate", all_accounts=True, min_validity_days=-1)
    SmartlyQHealthSensor(task_id="gate", account_ids="{{ params.ids }}")  # renders later


def test_healthy_accounts_pass_the_same_way_in_every_mode(smartlyq_conn):
    results = in_every_mode(account_ids=[101, 103], min_validity_days=7)

    assert results == {mode: {"returned": [101, 103], "unhealthy": []} for mode in MODES}
    health_calls = [r for r in smartlyq_conn.client.requests() if r["path"] == "/v1/social/accounts/health"]
    assert len(health_calls) == 3  # one bulk request per check, whatever the number of accounts
    assert len(smartlyq_conn.client.requests()) == 3


def test_fail_on_unhealthy_fails_at_once_with_reconnect_links_in_every_mode(smartlyq_conn):
    results = in_every_mode(account_name_pattern="Acme *", min_validity_days=7, fail_on_unhealthy=True)

    expected = {
        "failed": "AirflowFailException",
        "unhealthy": [
            (102, "token valid 3 more days, 7 required", True),
            (104, "status is expired, not connected; token expired", True),
        ],
    }
    assert results == {mode: expected for mode in MODES}
    # Reconnect links are fetched for the unhealthy accounts only.
    paths = {r["path"] for r in smartlyq_conn.client.requests()}
    assert paths == {
        "/v1/social/accounts/health",
        "/v1/social/accounts/102/reconnect-url",
        "/v1/social/accounts/104/reconnect-url",
    }


@BOTH_LOG_LEVELS
@pytest.mark.parametrize("mode", MODES)
def test_reconnect_links_reach_xcom_but_not_the_log(smartlyq_conn, user_logs, mode):
    ti, error = run_sensor(mode, account_name_pattern="Acme *", min_validity_days=7, fail_on_unhealthy=True)

    assert isinstance(error, AirflowFailException)
    links = [row["reconnect_url"] for row in ti.xcom["unhealthy_accounts"]]
    assert len(links) == 2
    assert all(links)
    # Whoever holds a reconnect link can re-authorise the account: XCom and the button, not the log.
    assert [link for link in links if link in user_logs.text] == []
    assert user_logs.lines("2 selected account(s) are unhealthy")  # the table was logged
    assert user_logs.lines("Acme LinkedIn")


def test_fail_on_unhealthy_message_and_extra_link(smartlyq_conn):
    ti, error = run_sensor("deferrable", account_ids=[104], fail_on_unhealthy=True)

    assert isinstance(error, AirflowFailException)
    assert "Acme LinkedIn (id 104)" in str(error)
    assert ti.xcom["first_reconnect_url"] == ti.xcom["unhealthy_accounts"][0]["reconnect_url"]


@pytest.mark.parametrize(
    "selection",
    [{"account_ids": [101, 999]}, {"platforms": ["reddit"]}],
    ids=["unknown-id", "empty-selection"],
)
def test_a_selection_that_cannot_match_fails_instead_of_waiting_in_every_mode(smartlyq_conn, selection):
    results = in_every_mode(**selection)

    assert results == {mode: {"failed": "SmartlyQValidationError", "unhealthy": None} for mode in MODES}
    # Failed at the first check, not after waiting: at most one request per mode.
    assert len(smartlyq_conn.client.requests()) <= len(MODES)


def test_unhealthy_accounts_keep_it_waiting_until_reconnected_in_every_mode(smartlyq_conn):
    emu = smartlyq_conn
    results = {}
    for mode in MODES:
        emu.client.expire_account_token(103)
        fix = threading.Timer(1.0, emu.client.update_account, args=(103,), kwargs={"validity_days": 40})
        fix.start()
        start = time.monotonic()
        ti, result = run_sensor(mode, account_ids=[101, 103])
        fix.join()
        assert time.monotonic() - start >= 0.9, mode  # it waited for the reconnect
        results[mode] = outcome(ti, result)

    assert results == {mode: {"returned": [101, 103], "unhealthy": []} for mode in MODES}


def test_a_gate_that_stays_unhealthy_times_out_with_the_rows_in_every_mode(smartlyq_conn):
    results = in_every_mode(account_ids=[104], timeout=1)

    expected = {
        "failed": "AirflowSensorTimeout",
        "unhealthy": [(104, "status is expired, not connected; token expired", True)],
    }
    assert results == {mode: expected for mode in MODES}


def test_server_errors_count_as_not_yet_in_every_mode(smartlyq_conn, monkeypatch):
    emu = smartlyq_conn
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", emu.connection_json(max_retries=0))
    results = {}
    for mode in MODES:
        emu.client.inject_fault("/v1/social/accounts/health", "GET", status=503, count=3)
        results[mode] = outcome(*run_sensor(mode, account_ids=[101]))

    assert results == {mode: {"returned": [101], "unhealthy": []} for mode in MODES}


@pytest.mark.parametrize(
    ("item", "options", "reason"),
    [
        ({"validity_days": 30}, {}, None),
        ({"validity_days": None}, {}, None),  # validity unknown: fine when none is required
        ({"validity_days": None}, {"min_validity_days": 1}, "token validity unknown"),
        ({"validity_days": -1}, {}, "token expired"),  # a negative count means expired
        ({"validity_days": 7}, {"min_validity_days": 7}, None),
        ({"validity_days": 30, "is_active": False}, {"allow_paused": True}, None),
    ],
)
def test_the_health_rule_on_single_items(item, options, reason):
    from airflow_provider_smartlyq.waits.health_gate import unhealthy_reason

    assert unhealthy_reason({"status": "connected", "token_expired": False, **item}, **options) == reason


def test_soft_fail_skips_an_unhealthy_gate_in_every_mode(smartlyq_conn):
    # "Skip the publish branch when the brand is unhealthy": soft_fail must skip in deferrable
    # mode too, also when the first check (made in the worker before deferring) decides.
    results = in_every_mode(account_ids=[104], fail_on_unhealthy=True, soft_fail=True)

    assert {mode: r["failed"] for mode, r in results.items()} == dict.fromkeys(MODES, "AirflowSkipException")
