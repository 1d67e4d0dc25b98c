"""
The one rule for what an account's health row means: healthy, expiring or unhealthy, and why.

Every place that judges an account asks :func:`account_state`: the health gate
(:func:`airflow_provider_smartlyq.waits.health_gate.unhealthy_reason`, so the health sensor, its trigger and
the reconnect-link operator), the event watcher (:func:`airflow_provider_smartlyq.waits.transitions.classify`)
and the hook's ``paused`` flag (:func:`is_paused`). A row cannot be "fine" for one of them and
"needs a human" for another. Pure code, standard library only: cheap to import anywhere, and
meant to be reused by anything that shows account health (a UI view, a report).

The rule, on one row of ``GET /social/accounts/health`` (or ``GET /social/accounts/{id}/health``):

``unhealthy`` (a human must reconnect it)
    its ``status`` is anything but ``connected`` (``expired``, ``error``, ``disconnected``, a
    status this version does not know, or none at all), or ``token_expired`` is true, or
    ``validity_days`` is negative.
``expiring`` (fine today, but not for as long as asked)
    otherwise, when a validity is asked for (``min_validity_days > 0``) and ``validity_days``
    is below it, or not reported.
``healthy``
    everything else.

Pausing is not a health state: a paused account is as connected as before. It is reported
beside the state (:attr:`AccountState.paused`); the gate refuses it unless told otherwise.

The two cases where the gate and the watcher used to disagree, decided:

* **Status ``disconnected`` or unknown** is ``unhealthy``. SmartlyQ says ``connected`` exactly
  when it can publish; any other word, including one added after this version, means it cannot
  (or cannot say), and the safe answer for a gate and a watcher alike is "a human should look".
* **``validity_days: 0`` with no validity asked for** is *not* unhealthy. SmartlyQ reports whole
  days, rounded down, beside an explicit ``token_expired`` flag: 0 means "less than a day left",
  which is every day for platforms with short tokens (Snapchat's last about an hour) that
  SmartlyQ refreshes itself. Only a negative count, ``token_expired`` or the status say expired.
  It is ``expiring`` for any ``min_validity_days > 0``.

Days compare strictly: an account is short when ``validity_days < min_validity_days``. SmartlyQ
floors the days, so ``validity_days: 7`` means at least seven full days: it passes a gate asking
for 7 and is not "expiring within 7 days".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["EXPIRING", "HEALTHY", "STATES", "UNHEALTHY", "AccountState", "account_state", "is_paused"]

HEALTHY = "healthy"
EXPIRING = "expiring"
UNHEALTHY = "unhealthy"

#: Every state, best first.
STATES = (HEALTHY, EXPIRING, UNHEALTHY)


@dataclass(frozen=True)
class AccountState:
    """
    What one health row means.

    :ivar state: ``healthy``, ``expiring`` or ``unhealthy``.
    :ivar reasons: Why it is not ``healthy``, one phrase per failed rule (empty when healthy).
    :ivar paused: Whether the account is paused (orthogonal to ``state``).
    """

    state: str
    reasons: tuple[str, ...] = ()
    paused: bool = False

    @property
    def needs_reconnect(self) -> bool:
        """Return whether only a human re-authorising the account can fix it."""
        return self.state == UNHEALTHY

    def gate_reasons(self, *, allow_paused: bool = False) -> tuple[str, ...]:
        """Return why a health gate refuses the account (empty when it passes)."""
        if self.paused and not allow_paused:
            return (*self.reasons, "paused")
        return self.reasons


def is_paused(row: Mapping[str, Any]) -> bool:
    """
    Return whether a health row is paused.

    An explicit ``paused`` field wins; otherwise ``is_active`` being exactly ``False`` (the only
    per-account flag SmartlyQ documents for it). A missing or ``null`` ``is_active`` says nothing,
    so the account counts as not paused.
    """
    if "paused" in row:
        return bool(row["paused"])
    return row.get("is_active") is False


def _days(row: Mapping[str, Any]) -> float | None:
    days = row.get("validity_days")
    if isinstance(days, bool) or not isinstance(days, (int, float)) or math.isnan(days):
        return None
    return days


def account_state(row: Mapping[str, Any], *, min_validity_days: float = 0) -> AccountState:
    """
    Return the state of one health row, with the reasons it is not healthy.

    :param row: One account of a health answer (``status``, ``token_expired``,
        ``validity_days``, ``is_active``/``paused``; other fields are ignored).
    :param min_validity_days: Days the token must still be valid for the account to count as
        ``healthy`` rather than ``expiring`` (the gate's ``min_validity_days``, the watcher's
        ``expiring_within_days``). 0 asks for none.
    """
    raw_status = row.get("status")
    status = raw_status.strip().lower() if isinstance(raw_status, str) else ""
    days = _days(row)
    reasons: list[str] = []
    if status != "connected":
        reasons.append(f"status is {status or 'unknown'}, not connected")
    if row.get("token_expired") or (days is not None and days < 0):
        reasons.append("token expired")
    paused = is_paused(row)
    if reasons:  # "0 days left" adds nothing to "expired"
        return AccountState(UNHEALTHY, tuple(reasons), paused)
    if min_validity_days > 0:
        if days is None:
            return AccountState(EXPIRING, ("token validity unknown",), paused)
        if days < min_validity_days:
            return AccountState(
                EXPIRING, (f"token valid {days:g} more days, {min_validity_days:g} required",), paused
            )
    return AccountState(HEALTHY, (), paused)
