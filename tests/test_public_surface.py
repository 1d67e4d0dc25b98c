"""
The public surface does not move: README's import paths work and stored triggers still deserialize.

The package's layout changed (core/, waits/, _tasks/); what users import and what a triggerer
stored before the change must not notice.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from airflow_provider_smartlyq._compat import import_string

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()

#: Rows of README's "What's inside" table: (class, module relative to the package).
ROWS = re.findall(r"^\| `(\w+)` \| `([\w.]+)` \|", README.split("## What's inside", 1)[1], flags=re.M)

#: ``serialize()`` output of each trigger, captured from the commit before the layout move and
#: stored as a triggerer keeps it: the classpath and the JSON kwargs.
STORED = [
    '["airflow_provider_smartlyq.triggers.smartlyq.ConnectCompletedTrigger", {"state_token": '
    '"st_9f8e7d6c5b4a", "smartlyq_conn_id": "smartlyq_default", "poll_interval": 5.0, "end_time": '
    "1893456000.0}]",
    '["airflow_provider_smartlyq.triggers.smartlyq.AccountHealthTrigger", {"selector": {"account_ids": '
    '[101, 103], "platforms": null, "account_name_pattern": null, "all_accounts": false}, '
    '"min_validity_days": 7, "allow_paused": false, "fail_on_unhealthy": true, "smartlyq_conn_id": '
    '"smartlyq_default", "poll_interval": 60.0, "end_time": 1893456000.0}]',
    '["airflow_provider_smartlyq.triggers.smartlyq.PostPublishedTrigger", {"post_id": 5001, '
    '"smartlyq_conn_id": "smartlyq_default", "poll_interval": 5.0, "end_time": 1893456000.0}]',
    '["airflow_provider_smartlyq.triggers.smartlyq.AccountHealthEventTrigger", {"smartlyq_conn_id": '
    '"smartlyq_default", "account_ids": null, "platforms": null, "account_name_pattern": "Acme *", '
    '"all_accounts": false, "events": ["unhealthy", "recovered"], "expiring_within_days": 7, '
    '"poll_interval": 300.0, "fire_on_start": true, "max_consecutive_failures": 5}]',
]


def test_the_table_was_read():
    assert len(ROWS) >= 16


@pytest.mark.parametrize(("name", "module"), ROWS, ids=[name for name, _ in ROWS])
def test_every_readme_import_path_works(name, module):
    assert getattr(importlib.import_module(f"airflow_provider_smartlyq.{module}"), name).__name__ == name
    exec(f"from airflow_provider_smartlyq.{module} import {name}", {})  # the line a DAG author writes


@pytest.mark.parametrize("stored", STORED, ids=lambda s: json.loads(s)[0].rsplit(".", 1)[1])
def test_a_trigger_stored_before_the_move_deserializes_and_serializes_the_same(stored):
    classpath, kwargs = json.loads(stored)
    trigger = import_string(classpath)(**kwargs)  # what the triggerer does with a stored row
    assert trigger.serialize() == (classpath, kwargs)
