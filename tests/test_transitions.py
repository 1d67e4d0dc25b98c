"""Transition logic of the health event trigger: which snapshot changes fire which events."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_smartlyq.core.selector import AccountSelector
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError
from airflow_provider_smartlyq.waits.transitions import (
    EXPIRING,
    HEALTHY,
    UNHEALTHY,
    classify,
    diff_snapshot,
    validate_events,
)

ALL = AccountSelector.build(all_accounts=True)
NOW = "2030-01-01T00:00:00Z"


def row(account_id: int, days: float = 40, status: str = "connected", **extra: Any) -> dict[str, Any]:
    return {
        "id": account_id,
        "platform": extra.pop("platform", "facebook"),
        "account_name": extra.pop("account_name", f"Acme {account_id}"),
        "status": status,
        "token_expired": status == "expired",
        "validity_days": days,
        **extra,
    }


def run(previous, accounts, *, selector=ALL, events=("unhealthy", "expiring", "recovered"), **kwargs):
    kwargs.setdefault("expiring_within_days", 7)
    kwargs.setdefault("fire_on_start", True)
    return diff_snapshot(previous, accounts, selector=selector, events=events, observed_at=NOW, **kwargs)


def fired(previous, accounts, **kwargs) -> list[tuple[int, str]]:
    payloads, _ = run(previous, accounts, **kwargs)
    return [(p["account"]["id"], p["transition"]) for p in payloads]


def test_classify_buckets():
    assert classify(row(1, 40), 7) == HEALTHY
    # Whole days, floored (as SmartlyQ reports them): 7 means at least seven full days left.
    assert classify(row(1, 7), 7) == HEALTHY
    assert classify(row(1, 6), 7) == EXPIRING
    assert classify(row(1, 7.5), 7) == HEALTHY
    assert classify(row(1, -1, status="expired"), 7) == UNHEALTHY
    assert classify(row(1, 30, status="error"), 7) == UNHEALTHY
    # A status other than "connected" needs a human, as it fails the health gate.
    assert classify(row(1, 30, status="disconnected"), 7) == UNHEALTHY
    # Zero days left is less than a day, not expired (short-lived tokens SmartlyQ refreshes):
    # expiring, not unhealthy; a negative count is expired.
    assert classify(row(1, 0), 7) == EXPIRING
    assert classify(row(1, -1), 7) == UNHEALTHY


def test_each_transition_fires_once_with_the_documented_payload():
    baseline = {"1": HEALTHY, "2": HEALTHY, "3": UNHEALTHY}
    accounts = [row(1, -1, status="expired"), row(2, 3), row(3, 60)]
    payloads, states = run(baseline, accounts)
    assert [(p["account"]["id"], p["transition"]) for p in payloads] == [
        (1, "unhealthy"),
        (2, "expiring"),
        (3, "recovered"),
    ]
    assert payloads[0] == {
        "event_key": "smartlyq:1:unhealthy:expired",
        "transition": "unhealthy",
        "account": {
            "id": 1,
            "platform": "facebook",
            "account_name": "Acme 1",
            "status": "expired",
            "token_expired": True,
            "validity_days": -1,
        },
        "observed_at": NOW,
    }
    assert states == {"1": UNHEALTHY, "2": EXPIRING, "3": HEALTHY}


def test_steady_states_are_silent():
    accounts = [row(1, -1, status="expired"), row(2, 3), row(3, 60)]
    _, states = run(None, accounts)
    assert fired(states, accounts) == []
    # Days ticking down inside the same bucket are no transition either.
    assert fired(states, [row(1, -2, status="expired"), row(2, 2), row(3, 59)]) == []


def test_recovery_then_relapse_fires_again():
    assert fired({"1": UNHEALTHY}, [row(1, 60)]) == [(1, "recovered")]
    assert fired({"1": HEALTHY}, [row(1, -1, status="expired")]) == [(1, "unhealthy")]


def test_reconnect_with_a_short_token_is_recovered_and_expiring():
    assert fired({"1": UNHEALTHY}, [row(1, 2)]) == [(1, "expiring"), (1, "recovered")]


def test_expiring_to_unhealthy_fires_and_refresh_is_silent():
    assert fired({"1": EXPIRING}, [row(1, -1, status="expired")]) == [(1, "unhealthy")]
    # SmartlyQ refreshed the token on its own: nothing for a human to do.
    assert fired({"1": EXPIRING}, [row(1, 60)]) == []


def test_only_watched_transitions_fire_but_all_states_are_remembered():
    payloads, states = run(
        {"1": HEALTHY, "2": HEALTHY}, [row(1, -1, status="expired"), row(2, 3)], events=["expiring"]
    )
    assert [p["transition"] for p in payloads] == ["expiring"]
    assert states == {"1": UNHEALTHY, "2": EXPIRING}
    # The unwatched unhealthy state was remembered: its recovery is seen by a recovered-watcher.
    assert fired(states, [row(1, 60), row(2, 3)], events=["recovered"]) == [(1, "recovered")]


def test_selector_filters_accounts():
    accounts = [
        row(1, -1, status="expired", account_name="Acme Facebook"),
        row(2, -1, status="expired", account_name="Globex TikTok", platform="tiktok"),
        row(3, -1, status="expired", account_name="Acme X", platform="twitter"),
    ]
    acme = AccountSelector.build(account_name_pattern="acme *")
    payloads, states = run({}, accounts, selector=acme)
    assert [p["account"]["id"] for p in payloads] == [1, 3]
    assert set(states) == {"1", "3"}
    acme_x = AccountSelector.build(account_name_pattern="Acme *", platforms=["x"])
    assert fired({}, accounts, selector=acme_x) == [(3, "unhealthy")]
    assert fired({}, accounts, selector=AccountSelector.build(account_ids=[2])) == [(2, "unhealthy")]


def test_fire_on_start_reports_accounts_already_in_a_watched_state():
    accounts = [row(1, -1, status="expired"), row(2, 3), row(3, 60)]
    assert fired(None, accounts, fire_on_start=True) == [(1, "unhealthy"), (2, "expiring")]


def test_without_fire_on_start_the_first_poll_is_only_the_baseline():
    accounts = [row(1, -1, status="expired"), row(2, 3), row(3, 60)]
    payloads, states = run(None, accounts, fire_on_start=False)
    assert payloads == []
    assert states == {"1": UNHEALTHY, "2": EXPIRING, "3": HEALTHY}
    assert fired(states, [row(1, 60), row(2, 3), row(3, -1, status="expired")], fire_on_start=False) == [
        (1, "recovered"),
        (3, "unhealthy"),
    ]


def test_accounts_connected_after_the_baseline_can_enter_but_not_recover():
    baseline = {"1": HEALTHY}
    new_accounts = [row(1), row(2, -1, status="expired"), row(3, 60)]
    assert fired(baseline, new_accounts, fire_on_start=False) == [(2, "unhealthy")]


def test_disconnected_accounts_are_forgotten():
    _, states = run({"1": HEALTHY, "2": UNHEALTHY}, [row(1)])
    assert states == {"1": HEALTHY}


def test_expiring_threshold_is_configurable():
    accounts = [row(1, 10), row(2, 20)]
    assert fired({}, accounts, expiring_within_days=14) == [(1, "expiring")]
    assert fired({}, accounts, expiring_within_days=30) == [(1, "expiring"), (2, "expiring")]
    assert fired({}, accounts, expiring_within_days=0) == []


def test_event_key_is_stable_for_the_same_transition():
    first, _ = run({"1": HEALTHY}, [row(1, -1, status="expired")])
    again, _ = run({"1": HEALTHY}, [row(1, -3, status="expired")])
    assert first[0]["event_key"] == again[0]["event_key"] == "smartlyq:1:unhealthy:expired"
    errored, _ = run({"1": HEALTHY}, [row(1, 30, status="error")])
    assert errored[0]["event_key"] == "smartlyq:1:unhealthy:error"


def test_events_are_validated():
    assert validate_events(("recovered", "unhealthy")) == ["unhealthy", "recovered"]
    assert validate_events("expiring, unhealthy") == ["unhealthy", "expiring"]
    with pytest.raises(SmartlyQValidationError, match="unknown events: expired"):
        validate_events(["expired"])
    with pytest.raises(SmartlyQValidationError, match="at least one"):
        validate_events([])
