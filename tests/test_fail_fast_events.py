"""A deferred wait that its trigger ended on an error fails the task now; a timed-out publish may retry."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_smartlyq._compat import AirflowFailException
from airflow_provider_smartlyq.exceptions import SmartlyQError, SmartlyQWaitError
from airflow_provider_smartlyq.operators.smartlyq import (
    SmartlyQConnectAccountOperator,
    SmartlyQPublishPostOperator,
)
from airflow_provider_smartlyq.sensors.smartlyq import (
    SmartlyQConnectCompletedSensor,
    SmartlyQHealthSensor,
    SmartlyQPostStatusSensor,
)

TASKS = {
    "connect operator": lambda: SmartlyQConnectAccountOperator(task_id="t", platform="facebook"),
    "publish operator": lambda: SmartlyQPublishPostOperator(task_id="t", content="Hi", account_ids=[101]),
    "health sensor": lambda: SmartlyQHealthSensor(task_id="t", account_ids=[101]),
    "connect sensor": lambda: SmartlyQConnectCompletedSensor(task_id="t", state_token="abcdef123456"),
    "post sensor": lambda: SmartlyQPostStatusSensor(task_id="t", post_id=5),
}


def context() -> dict:
    return {"ti": SimpleNamespace(xcom_push=lambda key, value: None, xcom_pull=lambda key: None)}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_an_error_event_from_the_trigger_fails_without_retries(name):
    # Triggers poll through transient errors and end with "error" only on permanent ones.
    event = {"status": "error", "message": "GET /social/posts/5 failed: HTTP 401, code UNAUTHORIZED"}
    with pytest.raises(SmartlyQWaitError) as info:
        TASKS[name]().execute_complete(context(), event)
    assert isinstance(info.value, AirflowFailException)
    assert "HTTP 401" in str(info.value)
    assert "Not retried" in str(info.value)


def test_a_publish_that_timed_out_is_left_to_task_retries():
    # A retry replays the post and waits again: it may well succeed.
    task = TASKS["publish operator"]()
    with pytest.raises(SmartlyQError) as info:
        task.execute_complete(context(), {"status": "timeout", "post_id": 5, "last_status": "publishing"})
    assert not isinstance(info.value, AirflowFailException)
