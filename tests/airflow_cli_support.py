"""
Helpers for running the real ``airflow`` CLI from tests (imported by ``conftest.py`` and tests).

Kept out of ``conftest.py`` so that test modules can import them by a name that is unique in
the tree (``from conftest import ...`` resolves to whichever conftest pytest loaded last).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO / "example_dags"
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))


def airflow_cli_env(home: Path, **extra: str) -> dict[str, str]:
    """Return the environment for an ``airflow`` subprocess using ``home`` and the example DAGs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(EXAMPLE_DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        PYTHONWARNINGS="ignore::DeprecationWarning",
    )
    env.update(extra)
    return env
