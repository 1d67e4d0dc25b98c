"""
Shared fixtures: a throwaway AIRFLOW_HOME, hooks on the emulator, and a real ``airflow`` CLI.

The ``smartlyq_emulator`` / ``smartlyq_conn`` fixtures come from the provider's own pytest
plugin (``airflow_provider_smartlyq.testing.pytest_plugin``), the same ones users get.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Test modules import these from airflow_cli_support, not from "conftest": with several
# conftest.py files in the tree, "conftest" names whichever pytest loaded last.
from airflow_cli_support import AIRFLOW_BIN, REPO, airflow_cli_env
from ci_support import skip_or_fail
from log_support import UserLogs

if TYPE_CHECKING:
    from collections.abc import Iterator

# Before anything imports Airflow: never touch the user's ~/airflow.
_HOME = Path(tempfile.mkdtemp(prefix="smartlyq-tests-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")

# SmartlyQ's OpenAPI document is read, never copied into the repository: it lives beside the
# checkout (shared/smartlyq-api/) unless SMARTLYQ_OPENAPI names it.
OPENAPI_DEFAULT = REPO.parent / "shared" / "smartlyq-api" / "openapi-social.json"


def _main_checkout(repo: Path) -> Path:
    """Return the main checkout of a git worktree (``repo`` itself for a plain clone)."""
    git = repo / ".git"
    if git.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>"
        gitdir = Path(git.read_text().partition("gitdir:")[2].strip())
        if gitdir.parent.name == "worktrees":
            return gitdir.parent.parent.parent
    return repo


def openapi_path() -> Path:
    """Return where the OpenAPI document is: SMARTLYQ_OPENAPI, else beside the (main) checkout."""
    if os.environ.get("SMARTLYQ_OPENAPI"):
        return Path(os.environ["SMARTLYQ_OPENAPI"])
    beside_main = _main_checkout(REPO).parent / "shared" / "smartlyq-api" / "openapi-social.json"
    return OPENAPI_DEFAULT if OPENAPI_DEFAULT.is_file() or not beside_main.is_file() else beside_main


def pytest_sessionfinish(session: pytest.Session) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_request_budgets():
    """Forget the per-process request budgets after each test (a 429 hold must not leak on)."""
    yield
    from airflow_provider_smartlyq.hooks._budget import reset_budgets

    reset_budgets()


@pytest.fixture(scope="session")
def openapi_spec() -> dict:
    """Return SmartlyQ's OpenAPI document; when absent, skip (under CI: fail) naming where it looked."""
    path = openapi_path()
    if not path.is_file():
        skip_or_fail(f"SmartlyQ OpenAPI document not found at {path} (set SMARTLYQ_OPENAPI to its path)")
    return json.loads(path.read_text())


@pytest.fixture
def hook(smartlyq_conn):
    """Return a SmartlyQHook on the emulator with short backoff (the policy is the same)."""
    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

    hook = SmartlyQHook(retry_min_wait=0.05, retry_max_wait=0.2)
    yield hook
    hook.close()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Return an AIRFLOW_HOME with a migrated sqlite database (once per test session)."""
    home = _HOME / "cli-home"
    home.mkdir(exist_ok=True)
    env = airflow_cli_env(home)
    subprocess.run([AIRFLOW_BIN, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    return home


@pytest.fixture
def run_airflow(airflow_db, smartlyq_emulator):
    """
    Return a function that runs the real ``airflow`` CLI against the emulator.

    ``run_airflow("dags", "test", "my_dag", conn_extra={...}, env={...})`` returns the
    ``CompletedProcess`` (stdout and stderr captured as text).
    """

    def run(*args: str, conn_extra: dict | None = None, env: dict | None = None, timeout: float = 300):
        overrides = {"AIRFLOW_CONN_SMARTLYQ_DEFAULT": smartlyq_emulator.connection_json(**(conn_extra or {}))}
        overrides.update(env or {})  # a test may point the connection elsewhere
        full_env = airflow_cli_env(airflow_db, **overrides)
        return subprocess.run(
            [AIRFLOW_BIN, *args], env=full_env, capture_output=True, text=True, timeout=timeout
        )

    return run


@pytest.fixture
def user_logs(request, capsys, caplog) -> Iterator[UserLogs]:
    """
    Capture the logs a user sees, at ``DEBUG`` (default) or at ``INFO`` (parametrize indirectly).

    Airflow filters structlog by level through its bound-logger class; ``logging_level = DEBUG``
    swaps in a filter at DEBUG. This does the same through structlog's public API and keeps
    Airflow's processors and renderer, so the captured lines are the ones a user reads; the
    filter is restored afterwards. Stdlib loggers are lowered to the same level for ``caplog``.
    """
    import structlog

    level: str = getattr(request, "param", "DEBUG")
    saved = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)))
    caplog.set_level(level)
    try:
        yield UserLogs(capsys, caplog, level)
    finally:
        structlog.configure(wrapper_class=saved)
