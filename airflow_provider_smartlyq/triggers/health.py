"""Wait in the triggerer until selected SmartlyQ accounts are healthy (the deferrable health gate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.core.selector import AccountSelector
from airflow_provider_smartlyq.triggers._base import SmartlyQPollingTrigger
from airflow_provider_smartlyq.triggers._shared_polls import HealthPoll
from airflow_provider_smartlyq.waits.health_gate import (
    evaluate,
    event_for_report,
    format_table,
    validate_min_validity_days,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


class AccountHealthTrigger(SmartlyQPollingTrigger):
    """
    Wait until the selection is healthy, judging the answers of ``GET /social/accounts/health``.

    Every health gate on the same connection in one triggerer shares one such request per
    interval (at the smallest ``poll_interval`` among them): M gates cost 1 request per
    interval, not M (see :mod:`~airflow_provider_smartlyq.triggers._shared_polls`).

    The verdict comes from :func:`airflow_provider_smartlyq.waits.health_gate.evaluate`, the same function
    the health sensor uses in poke and reschedule mode. Yields exactly one event:

    * ``{"status": "healthy", "accounts": [...]}``: every selected account passed; the health
      items of the selected accounts;
    * ``{"status": "unhealthy", "unhealthy_accounts": [...]}``: only with ``fail_on_unhealthy``;
      rows ``{id, platform, account_name, reason, reconnect_url}`` with ``reconnect_url``
      ``None`` (the worker fetches the links, see the sensor);
    * ``{"status": "timeout", "unhealthy_accounts": [...]}``: the deadline passed; the rows of
      the last check;
    * ``{"status": "error", "message": ...}``: a permanent error, including a selection that
      matches nothing or names ids that do not exist.

    :param selector: :meth:`AccountSelector.to_dict` of the selection (JSON-plain).
    :param min_validity_days: Fewest days a token must still be valid.
    :param allow_paused: Count paused accounts as healthy.
    :param fail_on_unhealthy: End with ``unhealthy`` at the first unhealthy check instead of waiting.
    :param smartlyq_conn_id: The Airflow connection to use.
    :param poll_interval: Seconds between polls.
    :param end_time: Deadline as unix seconds; ``None`` = 24 hours after first built (stored).
    """

    default_wait = 24 * 60 * 60
    shared_poll = HealthPoll

    def __init__(
        self,
        selector: Mapping[str, Any],
        min_validity_days: float = 0,
        allow_paused: bool = False,
        fail_on_unhealthy: bool = False,
        smartlyq_conn_id: str = "smartlyq_default",
        poll_interval: float = 60.0,
        end_time: float | None = None,
    ) -> None:
        self.selector = AccountSelector.from_dict(selector)
        self.min_validity_days = validate_min_validity_days(min_validity_days)
        self.allow_paused = bool(allow_paused)
        self.fail_on_unhealthy = bool(fail_on_unhealthy)
        super().__init__(smartlyq_conn_id=smartlyq_conn_id, poll_interval=poll_interval, end_time=end_time)
        self._last_unhealthy: list[dict[str, Any]] = []

    def trigger_kwargs(self) -> dict[str, Any]:
        """Return the selector dict and the health rule's parameters."""
        return {
            "selector": self.selector.to_dict(),
            "min_validity_days": self.min_validity_days,
            "allow_paused": self.allow_paused,
            "fail_on_unhealthy": self.fail_on_unhealthy,
        }

    def describe(self) -> str:
        """Return ``health of <selection>``."""
        return f"health of {self.selector.describe()}"

    def timeout_event(self) -> dict[str, Any]:
        """Return the timeout payload with the last check's unhealthy rows."""
        return {"status": "timeout", "unhealthy_accounts": self._last_unhealthy}

    def judge(self, answer: Any) -> dict[str, Any] | None:
        """Judge one bulk health answer; return the final event or ``None`` to wait on."""
        report = evaluate(
            answer, self.selector, min_validity_days=self.min_validity_days, allow_paused=self.allow_paused
        )
        event = event_for_report(report, fail_on_unhealthy=self.fail_on_unhealthy)
        if event is None and report.unhealthy != self._last_unhealthy:
            # Log the table when it changes, not on every poll: a gate may wait for hours.
            self.log.warning(
                "%d of %d selected accounts are unhealthy; waiting for a reconnect:\n%s",
                len(report.unhealthy),
                len(report.unhealthy) + len(report.healthy),
                format_table(report.unhealthy),
            )
        self._last_unhealthy = report.unhealthy
        return event
