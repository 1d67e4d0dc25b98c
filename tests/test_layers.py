"""
The import-linter contracts in pyproject.toml hold, and a wrong import breaks them.

``make test`` runs ``lint-imports`` on the checkout; these tests also plant wrong imports in a
copy of the package and check that the same contracts catch each one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with the checkout's contracts over the package found under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    if root != REPO:
        # lint-imports reads ./pyproject.toml; older releases (the Airflow 3.1 lane's) take no
        # config path as an argument, newer ones deprecate --config.
        shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_contracts_hold_on_the_checkout():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "broken"),
    [
        # A wait rule reaching up into the triggers (the old connect_status <-> triggers cycle).
        ("waits/policy.py", "from airflow_provider_smartlyq.triggers import smartlyq", "Layers"),
        # A sensor reusing an operator's module.
        ("sensors/posts.py", "from airflow_provider_smartlyq.operators import posts", "Layers"),
        # The hook depending on the wait rules.
        ("hooks/_protocol.py", "from airflow_provider_smartlyq.waits import policy", "Layers"),
        # The emulator borrowing the client's validation.
        ("emulator/config.py", "from airflow_provider_smartlyq.core import validation", "emulator"),
        # Two modules of one package importing each other.
        ("core/values.py", "from airflow_provider_smartlyq.core import selector", "cycles"),
    ],
)
def test_a_wrong_import_breaks_a_contract(tmp_path, module, wrong_import, broken):
    package = tmp_path / "airflow_provider_smartlyq"
    shutil.copytree(REPO / "airflow_provider_smartlyq", package, ignore=shutil.ignore_patterns("__pycache__"))
    target = package / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken_section = result.stdout.split("Broken contracts", 1)[1]
    assert broken in broken_section
    assert Path(module).stem in broken_section  # the report names the module with the wrong import
