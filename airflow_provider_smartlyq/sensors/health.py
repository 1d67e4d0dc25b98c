"""
The health gate: wait until the selected SmartlyQ accounts can be published to.

Import :class:`SmartlyQHealthSensor` from :mod:`airflow_provider_smartlyq.sensors.smartlyq`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq._compat import AirflowFailException, AirflowSensorTimeout
from airflow_provider_smartlyq._tasks.selection import SELECTION_TEMPLATE_FIELDS, AccountSelectionMixin
from airflow_provider_smartlyq._tasks.task import WaitSensor, task_method
from airflow_provider_smartlyq.links import SmartlyQReconnectLink, push_link

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_smartlyq.triggers._base import SmartlyQPollingTrigger
    from airflow_provider_smartlyq.waits.health_gate import HealthReport

__all__ = ["SmartlyQHealthSensor"]

#: XCom key of the unhealthy rows ``[{id, platform, account_name, reason, reconnect_url}]``.
UNHEALTHY_XCOM_KEY = "unhealthy_accounts"


class SmartlyQHealthSensor(AccountSelectionMixin, WaitSensor):
    """
    Wait until every selected account is healthy; return their health items.

    Put it before publish tasks. Each check is ONE request (``GET /social/accounts/health``)
    whatever the number of accounts. An account is healthy when its status is ``connected``,
    ``token_expired`` is false, ``validity_days >= min_validity_days``, and it is not paused
    (unless ``allow_paused``).

    * A selection matching nothing, or naming ids that do not exist, fails the task (a typo
      must not make the gate wait forever).
    * When some accounts are unhealthy the sensor pushes XCom ``unhealthy_accounts`` =
      ``[{id, platform, account_name, reason, reconnect_url}]`` (reconnect links are fetched
      for those accounts only; the first is the task's "SmartlyQ reconnect link" button),
      logs a table, and fails at once with ``fail_on_unhealthy``, else keeps waiting for a
      human to reconnect. On success ``unhealthy_accounts`` is ``[]``.
    * Network errors, 429 and 5xx count as "not yet", never as a failure.

    ``poke``, ``reschedule`` and deferrable mode (``AccountHealthTrigger``) judge with the same
    function (:func:`airflow_provider_smartlyq.waits.health_gate.evaluate`) and end the same way.

    :param account_ids: Accounts to check. Templated, like the next three.
    :param platforms: Check accounts on these platforms.
    :param account_name_pattern: Check accounts whose name matches this glob, e.g. ``"Acme *"``.
    :param all_accounts: Check every account (must be explicit).
    :param min_validity_days: Fewest days each token must still be valid (e.g. the campaign length).
    :param allow_paused: Count paused accounts as healthy.
    :param fail_on_unhealthy: Fail at the first unhealthy check instead of waiting.
    :param poke_interval: Seconds between checks.

    Like every SmartlyQ sensor it takes ``smartlyq_conn_id`` and ``deferrable`` (see "Arguments
    every sensor takes").
    """

    template_fields: Sequence[str] = SELECTION_TEMPLATE_FIELDS
    operator_extra_links = (SmartlyQReconnectLink(),)
    ui_color = "#e0f5e9"

    def __init__(
        self,
        *,
        account_ids: Any = None,
        platforms: Any = None,
        account_name_pattern: str | None = None,
        all_accounts: Any = False,
        min_validity_days: float = 0,
        allow_paused: bool = False,
        fail_on_unhealthy: bool = False,
        poke_interval: float = 60,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_smartlyq.waits.health_gate import validate_min_validity_days

        super().__init__(poke_interval=poke_interval, **kwargs)
        self._init_selection(account_ids, platforms, account_name_pattern, all_accounts)
        self.min_validity_days = validate_min_validity_days(min_validity_days)
        self.allow_paused = bool(allow_paused)
        self.fail_on_unhealthy = bool(fail_on_unhealthy)
        # Poke mode reuses one instance across checks: fetch each reconnect link once, and
        # log/push the unhealthy rows only when they change.
        self._reconnect_urls: dict[Any, str | None] = {}
        self._last_rows: list[dict[str, Any]] | None = None

    @property
    def unhealthy_accounts(self) -> Any:
        """
        Return XCom ``unhealthy_accounts`` of this task as a task argument (an ``XComArg``).

        The gate-then-notify pattern in one line:
        ``notify.override(trigger_rule="one_failed")(gate.unhealthy_accounts)`` hands the notify
        task ``[{id, platform, account_name, reason, reconnect_url}]`` (accounts that block only
        by ``min_validity_days`` included) and makes it run only when the gate failed.
        """
        from airflow.sdk import XComArg

        return XComArg(self, key=UNHEALTHY_XCOM_KEY)

    # -- one check -----------------------------------------------------------------------------

    def check(self) -> HealthReport | None:
        """
        Judge the selection with one bulk request; ``None`` when SmartlyQ is unavailable.

        :raises SmartlyQValidationError: bad or empty selection, unknown ids (before or after the
            request), and permanent API errors as their typed errors.
        """
        from airflow_provider_smartlyq.waits.health_gate import evaluate
        from airflow_provider_smartlyq.waits.policy import ask_once

        selector = self.build_selector()  # bad input fails before anything is sent
        answer = ask_once(
            self.hook.get_accounts_health, pacer=self.pacer, log=self.log, what="account health"
        )
        if answer is None:
            return None
        return evaluate(
            answer, selector, min_validity_days=self.min_validity_days, allow_paused=self.allow_paused
        )

    def check_event(self, context: Context) -> dict[str, Any] | None:
        """Check once: the final event, or ``None`` to wait on (after reporting the unhealthy rows)."""
        from airflow_provider_smartlyq.waits.health_gate import event_for_report

        report = self.check()
        if report is None:
            return None
        event = event_for_report(report, fail_on_unhealthy=self.fail_on_unhealthy)
        if event is None:
            self.report_unhealthy(context, report.unhealthy)
        return event

    def trigger(self, end_time: float) -> SmartlyQPollingTrigger:
        """Return the :class:`AccountHealthTrigger` of this gate."""
        from airflow_provider_smartlyq.triggers.health import AccountHealthTrigger

        return AccountHealthTrigger(
            selector=self.build_selector().to_dict(),
            min_validity_days=self.min_validity_days,
            allow_paused=self.allow_paused,
            fail_on_unhealthy=self.fail_on_unhealthy,
            smartlyq_conn_id=self.smartlyq_conn_id,
            poll_interval=self.poke_interval,
            end_time=end_time,
        )

    @task_method
    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[dict[str, Any]]:
        """
        Finish from a final event (the trigger's, or one built in the worker).

        :return: The healthy accounts' health items.
        :raises AirflowFailException: ``unhealthy`` (with ``fail_on_unhealthy``).
        :raises AirflowSensorTimeout: ``timeout``.
        :raises SmartlyQWaitError: ``error`` (bad selection, permanent API error); the task then
            fails without retries.
        """
        from airflow_provider_smartlyq.exceptions import SmartlyQWaitError
        from airflow_provider_smartlyq.waits.health_gate import unhealthy_summary

        status = event.get("status")
        if status == "healthy":
            accounts = list(event.get("accounts") or [])
            context["ti"].xcom_push(key=UNHEALTHY_XCOM_KEY, value=[])
            self.log.info(
                "All %d selected accounts are healthy: %s",
                len(accounts),
                ", ".join(f"{a.get('account_name')} (id {a.get('id')})" for a in accounts),
            )
            return accounts
        if status in ("unhealthy", "timeout"):
            rows = list(event.get("unhealthy_accounts") or [])
            if rows:  # none when SmartlyQ never answered the trigger: keep what the worker pushed
                rows = self.report_unhealthy(context, rows)
            if status == "unhealthy":
                raise AirflowFailException(
                    f"{len(rows)} selected account(s) are unhealthy: {unhealthy_summary(rows)}. Send the "
                    "reconnect links (XCom 'unhealthy_accounts') to the account owner, then clear this task."
                )
            raise AirflowSensorTimeout(
                f"Accounts still unhealthy after {self.timeout:g} s: "
                f"{unhealthy_summary(rows) or 'SmartlyQ did not answer the last checks'}."
            )
        raise SmartlyQWaitError(f"Checking account health failed: {event.get('message') or event!r}")

    # -- reporting -----------------------------------------------------------------------------

    def report_unhealthy(self, context: Context, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add reconnect links, push XCom ``unhealthy_accounts`` and log a table (when changed)."""
        from airflow_provider_smartlyq.waits.health_gate import format_table

        rows = [{**row, "reconnect_url": self._reconnect_url(row.get("id"))} for row in rows]
        if rows != self._last_rows:
            ti = context["ti"]
            ti.xcom_push(key=UNHEALTHY_XCOM_KEY, value=rows)
            first = next((row["reconnect_url"] for row in rows if row["reconnect_url"]), None)
            if first:
                push_link(self, ti, SmartlyQReconnectLink.xcom_key, first)
            self.log.warning(
                "%d selected account(s) are unhealthy%s (reconnect links: XCom '%s' and the task's "
                "'SmartlyQ reconnect link' button):\n%s",
                len(rows),
                "" if self.fail_on_unhealthy else "; waiting for them to be reconnected",
                UNHEALTHY_XCOM_KEY,
                format_table(rows),
            )
            self._last_rows = rows
        return rows

    def _reconnect_url(self, account_id: Any) -> str | None:
        """Return an account's reconnect link, fetched once per sensor instance; ``None`` if unavailable."""
        from airflow_provider_smartlyq.exceptions import SmartlyQError

        if account_id not in self._reconnect_urls:
            try:
                self._reconnect_urls[account_id] = self.hook.get_reconnect_url(account_id)
            except SmartlyQError as exc:  # a missing link must not hide the health verdict
                self.log.warning("Could not fetch the reconnect link of account %s: %s", account_id, exc)
                return None
        return self._reconnect_urls[account_id]
