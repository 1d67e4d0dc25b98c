"""
Pytest fixtures running the SmartlyQ emulator (registered through the ``pytest11`` entry point).

Installing ``airflow-provider-smartlyq`` makes these fixtures available in every test session:

``smartlyq_emulator_server`` (session scope)
    One emulator per test session, on a free loopback port, demo seed.
``smartlyq_emulator`` (function scope)
    The same server, reset to the demo seed (accounts, logs, faults, idempotency keys, rate
    windows) before the test; the test process's request budgets are forgotten with it.
    Yields a :class:`~airflow_provider_smartlyq.testing.emulator.RunningEmulator` with
    ``.url``, ``.port``, ``.api_key``, ``.client`` (control API) and ``.connection_json()``.
``smartlyq_conn`` (function scope)
    ``smartlyq_emulator`` plus ``AIRFLOW_CONN_SMARTLYQ_DEFAULT`` pointing at it, so hooks and
    operators using the default connection id talk to the emulator.

Example, testing your own DAG's task against the emulator::

    def test_health_gate(smartlyq_conn):
        smartlyq_conn.client.expire_account_token(101)
        result = my_dag.test()  # tasks use conn id "smartlyq_default"
        assert not any(w["action"] == "account_paused" for w in smartlyq_conn.client.writes())

Only :mod:`pytest` is imported here; the emulator (FastAPI, uvicorn) loads when a fixture runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_smartlyq.testing.emulator import RunningEmulator


@pytest.fixture(scope="session")
def smartlyq_emulator_server() -> Iterator[RunningEmulator]:
    """Start one SmartlyQ emulator for the whole test session."""
    from airflow_provider_smartlyq.testing.emulator import run_emulator

    with run_emulator(seed="demo") as emulator:
        yield emulator


@pytest.fixture
def smartlyq_emulator(smartlyq_emulator_server: RunningEmulator) -> RunningEmulator:
    """Return the session's emulator, reset to the demo seed (and this process's request budgets)."""
    from airflow_provider_smartlyq.hooks._budget import reset_budgets

    smartlyq_emulator_server.client.reset("demo")
    reset_budgets()  # a hold or spent window learnt in one test must not slow the next
    return smartlyq_emulator_server


@pytest.fixture
def smartlyq_conn(smartlyq_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    """Point ``AIRFLOW_CONN_SMARTLYQ_DEFAULT`` at the (reset) emulator and return it."""
    monkeypatch.setenv("AIRFLOW_CONN_SMARTLYQ_DEFAULT", smartlyq_emulator.connection_json())
    return smartlyq_emulator
