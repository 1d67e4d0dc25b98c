"""
Wait until a SmartlyQ post has finished publishing (e.g. a scheduled post at its time).

Import :class:`SmartlyQPostStatusSensor` from :mod:`airflow_provider_smartlyq.sensors.smartlyq`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq._compat import AirflowSensorTimeout
from airflow_provider_smartlyq._tasks import arguments
from airflow_provider_smartlyq._tasks.task import WaitSensor, task_method
from airflow_provider_smartlyq.links import SmartlyQPostLink

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

__all__ = ["SmartlyQPostStatusSensor"]


class SmartlyQPostStatusSensor(WaitSensor):
    """
    Wait until a post is published, partially published or failed; return the outcome.

    A ``scheduled`` post keeps the sensor waiting until its time has come and it published.
    Works in ``poke``, ``reschedule`` and deferrable mode
    (:class:`~airflow_provider_smartlyq.triggers.smartlyq.PostPublishedTrigger`) with the same
    outcome as :class:`~airflow_provider_smartlyq.operators.smartlyq.SmartlyQPublishPostOperator`:
    ``{post_id, status, post_urls, errors, url}`` when published; a failure listing each
    platform's error when failed (or partially published with ``fail_on_partial``);
    ``AirflowSensorTimeout`` at ``timeout``. Network errors, 429 and 5xx count as "not yet";
    a deleted post (404) fails. Pushes XCom ``post_urls`` and ``post_url`` (the task's
    "SmartlyQ post" button).

    :param post_id: The post, e.g. ``"{{ ti.xcom_pull(task_ids='publish', key='post_id') }}"``. Templated.
    :param fail_on_partial: Fail when some platforms failed (default); else succeed with a warning.
    :param poke_interval: Seconds between checks (default 10).
    :param timeout: Seconds before giving up (default one hour).

    Like every SmartlyQ sensor it takes ``smartlyq_conn_id`` and ``deferrable`` (see "Arguments
    every sensor takes").
    """

    template_fields: Sequence[str] = ("post_id",)
    trigger_name = "PostPublishedTrigger"
    operator_extra_links = (SmartlyQPostLink(),)
    ui_color = "#ffe8cc"
    argument_checks = {"post_id": arguments.post_id}
    post_id: int | str

    def __init__(
        self,
        *,
        post_id: int | str,
        fail_on_partial: bool = True,
        poke_interval: float = 10,
        timeout: float = 60 * 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.store_arguments(post_id=post_id)
        self.fail_on_partial = fail_on_partial

    def target(self) -> int:
        """Return the rendered post id, checked."""
        return int(self.checked("post_id"))

    def check_event(self, context: Context) -> dict[str, Any] | None:
        """Check the post once: the final event, or ``None`` while it is not final."""
        from airflow_provider_smartlyq.waits.post_status import check_post

        return check_post(self.hook, self.target(), self.log, self.pacer)[0]

    @task_method
    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Return the outcome, or fail the way poke mode would."""
        from airflow_provider_smartlyq.waits.post_status import push_post_xcoms, result_from_event

        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(
                f"Post {event.get('post_id')} was still {event.get('last_status') or 'not final'} "
                f"after {self.timeout:g} s."
            )
        push_post_xcoms(self, context["ti"], event)
        return result_from_event(event, fail_on_partial=self.fail_on_partial, log=self.log)
