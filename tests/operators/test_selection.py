"""Selector arguments of operators: rendering, parse-time checks, idempotency keys."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from airflow_provider_smartlyq._tasks.selection import build_selector
from airflow_provider_smartlyq._tasks.task import task_idempotency_key
from airflow_provider_smartlyq.exceptions import SmartlyQValidationError
from airflow_provider_smartlyq.operators.smartlyq import SmartlyQListAccountsOperator


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"account_ids": "101,102"}, {"account_ids": [101, 102]}),
        ({"account_ids": "[101, 102]"}, {"account_ids": [101, 102]}),
        ({"account_ids": 101}, {"account_ids": [101]}),
        ({"platforms": "['facebook', 'x']"}, {"platforms": ["facebook", "twitter"]}),
        ({"platforms": '["google_business"]'}, {"platforms": ["gmb"]}),
        ({"platforms": "facebook x"}, {"platforms": ["facebook", "twitter"]}),
        ({"account_name_pattern": "  Acme *  "}, {"account_name_pattern": "Acme *"}),
        ({"all_accounts": "True"}, {"all_accounts": True}),
        ({"all_accounts": True}, {"all_accounts": True}),
    ],
)
def test_rendered_values_build_the_selector(kwargs, expected):
    assert build_selector(**kwargs).to_dict().items() >= expected.items()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"account_ids": "", "platforms": [], "account_name_pattern": ""},
        {"all_accounts": "false"},
        {"all_accounts": "maybe"},
        {"account_ids": "[101, oops"},
        {"platforms": "['myspace']"},
    ],
)
def test_empty_or_bad_selection_is_refused(kwargs):
    with pytest.raises(SmartlyQValidationError) as info:
        build_selector(**kwargs)
    assert info.value.status_code == 0  # caught before anything was sent


def test_a_dag_without_criterion_fails_at_parse_time():
    with pytest.raises(SmartlyQValidationError, match="no accounts selected"):
        SmartlyQListAccountsOperator(task_id="t")


def test_templated_arguments_are_checked_only_after_rendering():
    op = SmartlyQListAccountsOperator(task_id="t", account_ids="{{ params.ids }}", platforms="{{ params.p }}")
    op.render_template_fields({"params": {"ids": [101, 103], "p": ["facebook", "x"]}})
    selector = op.build_selector()
    assert selector.account_ids == (101, 103)
    assert selector.platforms == ("facebook", "twitter")


def test_selector_arguments_are_template_fields():
    assert {"account_ids", "platforms", "account_name_pattern", "all_accounts"} <= set(
        SmartlyQListAccountsOperator.template_fields
    )


def _ti(**overrides):
    fields = {
        "dag_id": "d",
        "run_id": "scheduled__2025-01-01T22:00:00+00:00",
        "task_id": "t",
        "map_index": -1,
    }
    fields.update({"try_number": 1, **overrides})
    return {"ti": SimpleNamespace(**fields)}


def test_idempotency_key_is_stable_within_a_try_and_valid():
    first = task_idempotency_key(_ti(try_number=1), "pause", 101)
    assert first == task_idempotency_key(_ti(try_number=1), "pause", 101)
    # A later try reads the state again and must really write (see test_accounts.py).
    assert first != task_idempotency_key(_ti(try_number=2), "pause", 101)
    assert first is not None
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", first)


@pytest.mark.parametrize(
    ("context", "action", "account"),
    [
        (_ti(), "resume", 101),  # pause then resume in one run
        (_ti(), "pause", 102),
        (_ti(map_index=3), "pause", 101),
        (_ti(run_id="manual__x"), "pause", 101),
        (_ti(task_id="other"), "pause", 101),
        (_ti(dag_id="other"), "pause", 101),
    ],
)
def test_idempotency_key_differs_per_write(context, action, account):
    assert task_idempotency_key(context, action, account) != task_idempotency_key(_ti(), "pause", 101)


def test_idempotency_key_stays_valid_for_long_parts():
    key = task_idempotency_key(_ti(dag_id="d" * 250, run_id="r" * 250), "pause" * 20, 10**30)
    assert key is not None
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", key)


def test_no_task_instance_lets_the_hook_pick_a_key():
    assert task_idempotency_key({}, "pause", 101) is None
