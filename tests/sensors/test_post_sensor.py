"""SmartlyQPostStatusSensor in poke mode against the emulator (deferral: see the DAG tests)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from airflow.sdk import PokeReturnValue

from airflow_provider_smartlyq._compat import AirflowSensorTimeout, TaskDeferred
from airflow_provider_smartlyq.exceptions import (
    SmartlyQNotFoundError,
    SmartlyQPublishError,
    SmartlyQValidationError,
)
from airflow_provider_smartlyq.sensors.smartlyq import SmartlyQPostStatusSensor


def context() -> tuple[dict, dict]:
    pushed: dict = {}
    ti = SimpleNamespace(
        dag_id="d", run_id="r", task_id="wait", map_index=-1, try_number=1,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )  # fmt: skip
    return {"ti": ti}, pushed


def poke_until_done(sensor, ctx, within=60.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = sensor.poke(ctx)
        if isinstance(result, PokeReturnValue) and result.is_done:
            return result.xcom_value
        assert result is False
        time.sleep(0.05)
    raise AssertionError("sensor never finished")


@pytest.fixture
def fast(smartlyq_conn):
    smartlyq_conn.client.update_posts_settings(stage_seconds=0.05)
    return smartlyq_conn


def test_pokes_until_published_and_pushes_the_urls(hook, fast):
    post = hook.create_post("Sensed", [101, 103])
    ctx, pushed = context()

    result = poke_until_done(SmartlyQPostStatusSensor(task_id="wait", post_id=str(post["id"])), ctx)

    assert result["status"] == "published"
    assert pushed["post_urls"] == result["post_urls"]
    assert pushed["post_url"] == result["post_urls"]["facebook"][0]


def test_failed_post_fails_with_each_platform_error(hook, fast):
    fast.client.update_posts_settings(fail_platforms={"facebook": "Page unpublished", "twitter": "X down"})
    post = hook.create_post("Doomed", [101, 103])
    ctx, _ = context()

    with pytest.raises(SmartlyQPublishError, match="facebook: Page unpublished; twitter: X down") as info:
        poke_until_done(SmartlyQPostStatusSensor(task_id="wait", post_id=post["id"]), ctx)
    assert info.value.status == "failed"


def test_partial_post_succeeds_with_fail_on_partial_false(hook, fast):
    fast.client.update_posts_settings(fail_platforms={"twitter": "X down"})
    post = hook.create_post("Half", [101, 103])
    ctx, _ = context()

    sensor = SmartlyQPostStatusSensor(task_id="wait", post_id=post["id"], fail_on_partial=False)
    result = poke_until_done(sensor, ctx)

    assert result["status"] == "partially_published"
    assert result["errors"] == {"twitter": "X down"}


def test_scheduled_post_is_not_done_yet(hook, fast):
    post = hook.create_post("Later", [101], queue_id=1)
    ctx, _ = context()
    assert SmartlyQPostStatusSensor(task_id="wait", post_id=post["id"]).poke(ctx) is False


def test_server_errors_count_as_not_yet(hook, fast):
    post = hook.create_post("Flaky", [101])
    fast.client.inject_fault(f"/v1/social/posts/{post['id']}", "GET", status=503, count=20)
    ctx, _ = context()
    sensor = SmartlyQPostStatusSensor(task_id="wait", post_id=post["id"])
    sensor.hook.max_retries = 0
    assert sensor.poke(ctx) is False


def test_deleted_post_fails(hook, fast):
    post = hook.create_post("Gone", [101])
    hook.delete_post(post["id"])
    ctx, _ = context()
    with pytest.raises(SmartlyQNotFoundError):
        SmartlyQPostStatusSensor(task_id="wait", post_id=post["id"]).poke(ctx)


def test_deferrable_defers_to_the_post_trigger_with_a_deadline(hook, fast):
    post = hook.create_post("Deferred", [101], queue_id=2)
    ctx, _ = context()
    sensor = SmartlyQPostStatusSensor(task_id="wait", post_id=post["id"], deferrable=True, timeout=120)

    with pytest.raises(TaskDeferred) as info:
        sensor.execute(ctx)

    classpath, kwargs = info.value.trigger.serialize()
    assert classpath == "airflow_provider_smartlyq.triggers.smartlyq.PostPublishedTrigger"
    assert kwargs["post_id"] == post["id"]
    assert time.time() + 110 < kwargs["end_time"] <= time.time() + 120


def test_timeout_event_raises_sensor_timeout():
    ctx, _ = context()
    sensor = SmartlyQPostStatusSensor(task_id="wait", post_id=5, timeout=30)
    with pytest.raises(AirflowSensorTimeout, match="scheduled"):
        sensor.execute_complete(ctx, {"status": "timeout", "post_id": 5, "last_status": "scheduled"})


def test_literal_bad_post_id_fails_at_parse_time():
    with pytest.raises(SmartlyQValidationError):
        SmartlyQPostStatusSensor(task_id="wait", post_id="abc")
    SmartlyQPostStatusSensor(task_id="wait", post_id="{{ ti.xcom_pull(task_ids='p', key='post_id') }}")


def test_soft_fail_skips_a_post_already_failed_when_deferrable(hook, fast):
    # The check made before deferring decides here; soft_fail applies as after a trigger event.
    from airflow_provider_smartlyq._compat import AirflowSkipException

    fast.client.update_posts_settings(fail_platforms=["facebook"])
    post = hook.create_post("Doomed", [101])
    poke_until_done_or_fail = SmartlyQPostStatusSensor(task_id="wait", post_id=post["id"])
    with pytest.raises(SmartlyQPublishError):
        poke_until_done(poke_until_done_or_fail, context()[0])  # it is final now

    sensor = SmartlyQPostStatusSensor(task_id="wait", post_id=post["id"], deferrable=True, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        sensor.execute(context()[0])
