"""
Turn successive bulk-health snapshots into account transition events.

Pure code, no I/O, the standard library and the provider's light modules only: the event trigger
runs it in the triggerer for every snapshot of its poll (shared or its own), and tests call it
directly.

Each account is in one *state* per snapshot, decided by
:func:`airflow_provider_smartlyq.core.account_state.account_state` (the health gate's rule too) with
``min_validity_days=expiring_within_days``:

``unhealthy``
    Its status is not ``connected`` (``expired``, ``error``, ``disconnected``, unknown) or its
    token expired: a human must reconnect it.
``expiring``
    Connected, but the token is valid for fewer than ``expiring_within_days`` days (or does
    not say for how long).
``healthy``
    Anything else. Pausing does not change the state.

A watcher fires once per *transition into* a watched state, never again while the account
stays there (steady states are silent):

``unhealthy``
    Into ``unhealthy`` from any other state.
``expiring``
    Into ``expiring`` from any other state (also straight after a reconnect that gave a short token).
``recovered``
    Out of ``unhealthy`` into ``healthy`` or ``expiring`` (the user reconnected it).

``expiring`` -> ``healthy`` is silent: SmartlyQ refreshed the token itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.core.account_state import EXPIRING, HEALTHY, UNHEALTHY, account_state
from airflow_provider_smartlyq.core.selector import account_id_of
from airflow_provider_smartlyq.core.values import parse_number
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_provider_smartlyq.core.selector import AccountSelector

RECOVERED = "recovered"

#: Transitions a watcher can fire, in the order they are reported for one account.
TRANSITIONS = (UNHEALTHY, EXPIRING, RECOVERED)

#: Fields of an account carried in an event payload.
ACCOUNT_FIELDS = ("id", "platform", "account_name", "status", "token_expired", "validity_days")


def validate_events(events: Any) -> list[str]:
    """
    Return ``events`` as a de-duplicated list in canonical order.

    :raises SmartlyQValidationError: empty, not a list of names, or an unknown name.
    """
    if isinstance(events, str):
        events = [part for part in events.replace(",", " ").split() if part]
    if not isinstance(events, (list, tuple, set, frozenset)) or not events:
        raise SmartlyQValidationError.local(f"events must name at least one of {', '.join(TRANSITIONS)}")
    unknown = sorted({str(e) for e in events} - set(TRANSITIONS))
    if unknown:
        raise SmartlyQValidationError.local(
            f"unknown events: {', '.join(unknown)}; choose among {', '.join(TRANSITIONS)}"
        )
    return [name for name in TRANSITIONS if name in events]


def validate_days(value: Any) -> float:
    """Return ``expiring_within_days`` as a non-negative finite number."""
    return parse_number(value, "expiring_within_days", minimum=0)


def classify(account: Mapping[str, Any], expiring_within_days: float) -> str:
    """Return the state (``healthy``, ``expiring`` or ``unhealthy``) of one health row."""
    return account_state(account, min_validity_days=expiring_within_days).state


def account_view(account: Mapping[str, Any]) -> dict[str, Any]:
    """Return the JSON-plain account part of an event payload."""
    view = {field: account.get(field) for field in ACCOUNT_FIELDS}
    view["id"] = account_id_of(account)
    return view


def event_key(account_id: int | None, transition: str, status: Any) -> str:
    """
    Return the dedupe key of a transition.

    The same account, transition and observed status give the same key wherever and whenever
    they are observed (by another watcher, after a restart), e.g. ``smartlyq:104:unhealthy:expired``.
    """
    return f"smartlyq:{account_id}:{transition}:{status or 'unknown'}"


def transitions_for(
    previous: str | None, current: str, *, first_poll: bool, fire_on_start: bool
) -> list[str]:
    """
    Return the transitions from ``previous`` to ``current`` (both states).

    :param previous: The account's state at the last poll; ``None`` when it was not seen.
    :param first_poll: This is the watcher's first poll ever (no baseline yet).
    :param fire_on_start: On the first poll, report accounts already in ``unhealthy`` or
        ``expiring`` as if they just entered it.
    """
    if previous is None:
        if first_poll and not fire_on_start:
            return []
        # Not seen before: an account connected since the last poll, or the first poll. It has no
        # history, so it can enter a state but cannot "recover".
        previous = HEALTHY
    found = []
    if current == UNHEALTHY and previous != UNHEALTHY:
        found.append(UNHEALTHY)
    if current == EXPIRING and previous != EXPIRING:
        found.append(EXPIRING)
    if previous == UNHEALTHY and current != UNHEALTHY:
        found.append(RECOVERED)
    return found


def diff_snapshot(
    previous: Mapping[str, str] | None,
    accounts: Iterable[Mapping[str, Any]],
    *,
    selector: AccountSelector,
    events: Iterable[str],
    expiring_within_days: float,
    fire_on_start: bool,
    observed_at: str,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """
    Compare one bulk-health snapshot with the last-seen states of a watcher.

    :param previous: Last-seen state per account id (``str`` keys: it round-trips through JSON);
        ``None`` before the watcher's first poll.
    :param accounts: The ``accounts`` of ``GET /social/accounts/health``.
    :param selector: Only accounts it matches are watched.
    :param events: Watched transitions (see :data:`TRANSITIONS`).
    :param observed_at: When the snapshot was taken (ISO 8601), copied into each payload.
    :return: ``(payloads, states)``: the event payloads to fire, in account order, and the
        states to remember (every selected account, so that a transition out of an unwatched
        state is still seen; accounts gone from the snapshot are forgotten).
    """
    watched = set(events)
    first_poll = previous is None
    last = previous or {}
    payloads: list[dict[str, Any]] = []
    states: dict[str, str] = {}
    for account in accounts:
        account_id = account_id_of(account)
        if account_id is None or not selector.matches(account):
            continue
        current = classify(account, expiring_within_days)
        states[str(account_id)] = current
        for transition in transitions_for(
            last.get(str(account_id)), current, first_poll=first_poll, fire_on_start=fire_on_start
        ):
            if transition in watched:
                payloads.append(
                    {
                        "event_key": event_key(account_id, transition, account.get("status")),
                        "transition": transition,
                        "account": account_view(account),
                        "observed_at": observed_at,
                    }
                )
    return payloads, states
