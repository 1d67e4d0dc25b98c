"""
Wait for a connect link that another task created to be approved.

Import :class:`SmartlyQConnectCompletedSensor` from :mod:`airflow_provider_smartlyq.sensors.smartlyq`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_smartlyq._compat import AirflowSensorTimeout, conf
from airflow_provider_smartlyq._tasks.selection import is_templated
from airflow_provider_smartlyq._tasks.task import (
    PacedPokes,
    SmartlyQTaskMixin,
    check_then_defer_or_poll,
    defer_until_connected,
    task_method,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

__all__ = ["SmartlyQConnectCompletedSensor"]


class SmartlyQConnectCompletedSensor(PacedPokes, SmartlyQTaskMixin, BaseSensorOperator):
    """
    Wait until a connect link is approved; return the connected account.

    For DAGs where one task creates the link (e.g. ``SmartlyQConnectAccountOperator`` with
    ``wait_for_completion=False``) and another sends it to the user. Works in ``poke``,
    ``reschedule`` and deferrable mode with the same outcome: the account dict when approved,
    a failure saying what to do next when the link expired, ``AirflowSensorTimeout`` at
    ``timeout``. Network errors, 429 and 5xx count as "still pending".

    :param state_token: The link's state token, e.g.
        ``"{{ ti.xcom_pull(task_ids='create_link', key='state_token') }}"``. Templated.
    :param smartlyq_conn_id: The Airflow connection to use.
    :param deferrable: Wait in the triggerer. Default: ``[operators] default_deferrable``.
    :param poke_interval: Seconds between checks (default 10).
    :param timeout: Seconds before giving up (default 1200: links live 15 minutes).
    """

    template_fields: Sequence[str] = ("state_token",)
    ui_color = "#dbe9ff"

    def __init__(
        self,
        *,
        state_token: str,
        smartlyq_conn_id: str = "smartlyq_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 10,
        timeout: float = 20 * 60,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_smartlyq.core.validation import validate_state_token

        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        if not is_templated(state_token):
            validate_state_token(state_token)
        self.state_token = state_token
        self.smartlyq_conn_id = smartlyq_conn_id
        self.deferrable = deferrable

    @task_method
    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check the link once: done with the account, not yet, or fail (expired)."""
        from airflow_provider_smartlyq.core.validation import validate_state_token
        from airflow_provider_smartlyq.waits.connect_status import check_connect_link

        event = check_connect_link(self.hook, validate_state_token(self.state_token), self.log, self.pacer)
        if event is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.execute_complete(context, event))

    @task_method
    def execute(self, context: Context) -> Any:
        """Check once; then defer (deferrable) or poke/reschedule as configured."""
        from airflow_provider_smartlyq.core.validation import short_token, validate_state_token
        from airflow_provider_smartlyq.waits.connect_status import check_connect_link

        if not self.deferrable:
            return super().execute(context)
        state_token = validate_state_token(self.state_token)
        end_time = time.time() + self.timeout

        def defer() -> NoReturn:
            self.log.info("Deferring until connect link %s is approved", short_token(state_token))
            defer_until_connected(
                self,
                state_token,
                smartlyq_conn_id=self.smartlyq_conn_id,
                poll_interval=self.poke_interval,
                end_time=end_time,
            )

        event = check_then_defer_or_poll(
            lambda pacer: check_connect_link(self.hook, state_token, self.log),
            deferrable=True,
            defer=defer,
            poll_interval=self.poke_interval,
            end_time=end_time,
        )
        # Through resume_execution, as a trigger's event would be: soft_fail/never_fail apply.
        return self.resume_execution("execute_complete", {"event": event}, context)

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
