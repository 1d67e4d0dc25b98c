"""
Account state is defined once: the health gate and the event watcher agree on every row.

The table crosses every status (SmartlyQ's documented ``connected``/``expired``/``error``, the
``published`` of its OpenAPI example, ``disconnected``, case variants, unknown and missing),
every ``token_expired`` value, every kind of ``validity_days`` (negative, 0, fractional, at and
around the thresholds, missing, null, not a number) and every paused encoding, against several
thresholds. Each row is judged by the gate (``health.unhealthy_reason`` and ``health.evaluate``),
the watcher (``transitions.classify``), the reconnect-link operator's ``needs_reconnect`` and the
hook's ``paused`` flag, and they must all say the same thing; a few rows also pin the expected
answer outright, the two once-disputed cases included.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from airflow_provider_smartlyq.core.account_state import (
    EXPIRING,
    HEALTHY,
    UNHEALTHY,
    account_state,
    is_paused,
)
from airflow_provider_smartlyq.core.selector import AccountSelector
from airflow_provider_smartlyq.hooks._operations import _with_paused_flag
from airflow_provider_smartlyq.operators.accounts import needs_reconnect
from airflow_provider_smartlyq.waits.health_gate import evaluate, unhealthy_reason
from airflow_provider_smartlyq.waits.transitions import classify

_MISSING = object()

STATUSES = [
    "connected",
    "expired",
    "error",
    "published",  # the status of the bulk-health example in SmartlyQ's OpenAPI document
    "disconnected",
    "paused",
    "Connected",
    " CONNECTED ",
    "pending",
    "",
    None,
    _MISSING,
]
TOKEN_EXPIRED = [False, True, None, _MISSING]
DAYS = [-2, -0.5, 0, 0.5, 1, 3, 6.9, 7, 7.5, 30, None, "12", True, float("nan"), _MISSING]
PAUSED = [
    {},
    {"is_active": True},
    {"is_active": False},
    {"is_active": None},
    {"paused": True},
    {"paused": False},
    {"paused": False, "is_active": False},  # the explicit flag wins
    {"paused": True, "is_active": True},
]
THRESHOLDS = [0, 0.5, 1, 7, 30]


def make_row(status: Any, token_expired: Any, days: Any, paused: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": 101, "platform": "facebook", "account_name": "Acme Facebook", **paused}
    for key, value in (("status", status), ("token_expired", token_expired), ("validity_days", days)):
        if value is not _MISSING:
            row[key] = value
    return row


ROWS = [make_row(*combo) for combo in itertools.product(STATUSES, TOKEN_EXPIRED, DAYS, PAUSED)]


def test_the_table_covers_every_combination():
    assert len(ROWS) == len(STATUSES) * len(TOKEN_EXPIRED) * len(DAYS) * len(PAUSED) == 5760


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_gate_and_watcher_agree_on_every_row(threshold):
    selector = AccountSelector.build(all_accounts=True)
    for row in ROWS:
        watcher = classify(row, threshold)
        state = account_state(row, min_validity_days=threshold)
        assert watcher == state.state, row
        for allow_paused in (False, True):
            reason = unhealthy_reason(row, threshold, allow_paused)
            # The gate passes exactly the accounts the watcher calls healthy (pausing aside).
            assert (reason is None) == (watcher == HEALTHY and (allow_paused or not is_paused(row))), row
            # The bulk verdict is the per-row verdict.
            report = evaluate(
                {"accounts": [row]}, selector, min_validity_days=threshold, allow_paused=allow_paused
            )
            assert report.all_healthy == (reason is None), row
            if reason is not None:
                assert report.unhealthy[0]["reason"] == reason
        # "Needs a human" is one notion: the watcher's unhealthy, whatever validity is asked for.
        assert needs_reconnect(row) == (watcher == UNHEALTHY), row
        if watcher == UNHEALTHY:
            assert unhealthy_reason(row, 0, True) is not None, row


def test_paused_is_one_rule_for_the_gate_and_the_hook():
    for row in ROWS:
        shaped = _with_paused_flag(dict(row))
        assert is_paused(shaped) == is_paused(row), row
        if "paused" in shaped:
            assert shaped["paused"] is is_paused(row), row
        # Pausing never changes the health state; it only adds the gate's "paused" reason.
        assert account_state(row).state == account_state({**row, "paused": not is_paused(row)}).state


def row_of(status="connected", token_expired=False, days: Any = 30, **paused: Any) -> dict[str, Any]:
    return make_row(status, token_expired, days, paused)


@pytest.mark.parametrize(
    ("row", "threshold", "state", "reasons"),
    [
        (row_of(), 0, HEALTHY, ()),
        (row_of(), 7, HEALTHY, ()),
        # Disputed case 1: a status other than "connected" is unhealthy for gate AND watcher.
        (row_of("disconnected"), 0, UNHEALTHY, ("status is disconnected, not connected",)),
        (row_of("something_new"), 7, UNHEALTHY, ("status is something_new, not connected",)),
        (row_of(_MISSING), 0, UNHEALTHY, ("status is unknown, not connected",)),
        (row_of("published", True), 0, UNHEALTHY, ("status is published, not connected", "token expired")),
        (row_of("Connected"), 0, HEALTHY, ()),
        # Disputed case 2: 0 days left (less than a day, token not expired) is not unhealthy...
        (row_of(days=0), 0, HEALTHY, ()),
        # ...but it is short of any validity asked for.
        (row_of(days=0), 1, EXPIRING, ("token valid 0 more days, 1 required",)),
        (row_of(days=-1), 0, UNHEALTHY, ("token expired",)),
        (row_of(token_expired=True, days=0), 0, UNHEALTHY, ("token expired",)),
        (row_of("expired", True, 0), 7, UNHEALTHY, ("status is expired, not connected", "token expired")),
        # Whole days, floored: 7 means at least seven full days, enough for 7 and not "expiring".
        (row_of(days=7), 7, HEALTHY, ()),
        (row_of(days=6), 7, EXPIRING, ("token valid 6 more days, 7 required",)),
        (row_of(days=None), 0, HEALTHY, ()),
        (row_of(days=None), 7, EXPIRING, ("token validity unknown",)),
        (row_of(days="12"), 7, EXPIRING, ("token validity unknown",)),
        (row_of(is_active=False), 0, HEALTHY, ()),
    ],
)
def test_pinned_states(row, threshold, state, reasons):
    result = account_state(row, min_validity_days=threshold)
    assert (result.state, result.reasons) == (state, reasons)
    assert classify(row, threshold) == state


def test_gate_names_paused_last_and_only_when_not_allowed():
    row = row_of("error", is_active=False)
    assert unhealthy_reason(row) == "status is error, not connected; paused"
    assert unhealthy_reason(row, allow_paused=True) == "status is error, not connected"
    assert unhealthy_reason(row_of(is_active=False)) == "paused"
    assert unhealthy_reason(row_of(is_active=None)) is None  # null says nothing
