"""
Decide whether selected accounts are healthy enough to publish to.

Pure functions over the answer of ``GET /social/accounts/health``: the health sensor (in poke
and reschedule mode) and :class:`~airflow_provider_smartlyq.triggers.smartlyq.AccountHealthTrigger`
(deferrable mode) both call :func:`evaluate`, so the three modes reach the same verdict on the
same data. What one account's row means comes from
:func:`airflow_provider_smartlyq.core.account_state.account_state`, the rule the event watcher uses
too. No I/O, standard library and the provider's light modules only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.core.account_state import account_state
from airflow_provider_smartlyq.core.values import parse_number

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_provider_smartlyq.core.selector import AccountSelector


def validate_min_validity_days(value: object) -> float:
    """Return ``value`` as a non-negative number of days, refusing anything else."""
    return parse_number(value, "min_validity_days", minimum=0)


def unhealthy_reason(
    item: Mapping[str, Any], min_validity_days: float = 0, allow_paused: bool = False
) -> str | None:
    """
    Return why one account does not pass the gate, or ``None`` when it does.

    It passes when :func:`~airflow_provider_smartlyq.core.account_state.account_state` calls it
    ``healthy`` for ``min_validity_days`` (status ``connected``, token not expired, at least
    ``min_validity_days`` of validity) and it is not paused, unless ``allow_paused``. Every
    failed rule is named.
    """
    reasons = account_state(item, min_validity_days=min_validity_days).gate_reasons(allow_paused=allow_paused)
    return "; ".join(reasons) or None


@dataclass(frozen=True)
class HealthReport:
    """The verdict on a selection: healthy accounts and unhealthy rows (``reconnect_url`` unset)."""

    healthy: list[dict[str, Any]] = field(default_factory=list)
    unhealthy: list[dict[str, Any]] = field(default_factory=list)

    @property
    def all_healthy(self) -> bool:
        """Return whether every selected account passed."""
        return not self.unhealthy


def evaluate(
    answer: Mapping[str, Any],
    selector: AccountSelector,
    *,
    min_validity_days: float = 0,
    allow_paused: bool = False,
) -> HealthReport:
    """
    Judge the selected accounts of one bulk health answer.

    :param answer: ``data`` of ``GET /social/accounts/health`` (``{..., "accounts": [...]}``).
    :param selector: Which accounts must be healthy.
    :raises SmartlyQValidationError: nothing selected, or selected ids that do not exist (a
        typo must fail the gate, not make it wait forever).
    """
    selected = selector.select(answer.get("accounts") or [])
    healthy: list[dict[str, Any]] = []
    unhealthy: list[dict[str, Any]] = []
    for item in selected:
        reason = unhealthy_reason(item, min_validity_days, allow_paused)
        if reason is None:
            healthy.append(item)
        else:
            unhealthy.append(
                {
                    "id": item.get("id"),
                    "platform": item.get("platform"),
                    "account_name": item.get("account_name") or item.get("name"),
                    "reason": reason,
                    "reconnect_url": None,
                }
            )
    return HealthReport(healthy, unhealthy)


def event_for_report(report: HealthReport, *, fail_on_unhealthy: bool) -> dict[str, Any] | None:
    """
    Return the terminal event for a report, or ``None`` to keep waiting.

    :return: ``{"status": "healthy", "accounts": [...]}`` when all pass;
        ``{"status": "unhealthy", "unhealthy_accounts": [...]}`` when some fail and
        ``fail_on_unhealthy``; else ``None`` (a human may reconnect meanwhile).
    """
    if report.all_healthy:
        return {"status": "healthy", "accounts": report.healthy}
    if fail_on_unhealthy:
        return {"status": "unhealthy", "unhealthy_accounts": report.unhealthy}
    return None


def format_table(rows: Iterable[Mapping[str, Any]], *, with_links: bool = False) -> str:
    """
    Return unhealthy rows as an aligned text table for task logs.

    :param with_links: Add the reconnect URL column. Off by default: a reconnect link lets
        whoever holds it re-authorise the account, so it belongs in XCom, not in every log.
    """
    keys = ("id", "platform", "account_name", "reason", "reconnect_url")[: 5 if with_links else 4]
    header = ("id", "platform", "account", "reason", "reconnect url")[: len(keys)]
    lines = [tuple(str(row.get(key)) if row.get(key) is not None else "-" for key in keys) for row in rows]
    widths = [max(len(cells[i]) for cells in (header, *lines)) for i in range(len(header))]
    render = [
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        for cells in (header, *lines)
    ]
    render.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(render)


def unhealthy_summary(rows: Iterable[Mapping[str, Any]]) -> str:
    """Return a one-line list of unhealthy accounts and reasons, for exception messages."""
    return ", ".join(f"{row.get('account_name')} (id {row.get('id')}): {row.get('reason')}" for row in rows)
