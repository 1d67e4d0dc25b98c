"""
Wait for a connect link that another task created to be approved.

Import :class:`SmartlyQConnectCompletedSensor` from :mod:`airflow_provider_smartlyq.sensors.smartlyq`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq._compat import AirflowSensorTimeout
from airflow_provider_smartlyq._tasks import arguments
from airflow_provider_smartlyq._tasks.task import WaitSensor, task_method

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

__all__ = ["SmartlyQConnectCompletedSensor"]


class SmartlyQConnectCompletedSensor(WaitSensor):
    """
    Wait until a connect link is approved; return the connected account.

    For DAGs where one task creates the link (e.g. ``SmartlyQConnectAccountOperator`` with
    ``wait_for_completion=False``) and another sends it to the user. Works in ``poke``,
    ``reschedule`` and deferrable mode with the same outcome: the account dict when approved,
    a failure saying what to do next when the link expired, ``AirflowSensorTimeout`` at
    ``timeout``. Network errors, 429 and 5xx count as "still pending".

    :param state_token: The link's state token, e.g.
        ``"{{ ti.xcom_pull(task_ids='create_link', key='state_token') }}"``. Templated.
    :param poke_interval: Seconds between checks (default 10).
    :param timeout: Seconds before giving up (default 1200: links live 15 minutes).

    Like every SmartlyQ sensor it takes ``smartlyq_conn_id`` and ``deferrable`` (see "Arguments
    every sensor takes").
    """

    template_fields: Sequence[str] = ("state_token",)
    trigger_name = "ConnectCompletedTrigger"
    ui_color = "#dbe9ff"
    argument_checks = {"state_token": arguments.state_token}
    state_token: str

    def __init__(
        self,
        *,
        state_token: str,
        poke_interval: float = 10,
        timeout: float = 20 * 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.store_arguments(state_token=state_token)

    def target(self) -> str:
        """Return the rendered state token, checked."""
        return str(self.checked("state_token"))

    def check_event(self, context: Context) -> dict[str, Any] | None:
        """Check the link once: the final event (connected, expired) or ``None`` while pending."""
        from airflow_provider_smartlyq.waits.connect_status import check_connect_link

        return check_connect_link(self.hook, self.target(), self.log, self.pacer)

    @task_method
    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Return the connected account, or fail the way poke mode would."""
        from airflow_provider_smartlyq.waits.connect_status import RERUN_UPSTREAM, account_from_event

        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(
                f"The connect link was not approved within {self.timeout:g} s; {RERUN_UPSTREAM}."
            )
        account = account_from_event(event, rerun_hint=RERUN_UPSTREAM)
        self.log.info(
            "Connected %s account %s (id %s)", account.get("platform"), account.get("name"), account.get("id")
        )
        return account
