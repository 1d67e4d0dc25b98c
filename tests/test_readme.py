"""
The README stays true: it lists what the provider exports, and CI runs the command it documents.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PUBLIC_MODULES = (
    "airflow_provider_smartlyq.operators.smartlyq",
    "airflow_provider_smartlyq.sensors.smartlyq",
    "airflow_provider_smartlyq.triggers.smartlyq",
)
# A string shaped like a production key; docs must use placeholders such as sqk_live_xxx.
LIVE_KEY = re.compile(r"sqk_live_[A-Za-z0-9]{12,}")


def built_exports() -> list[str]:
    """Return the public names whose defining module exists (names still to come are skipped)."""
    names = []
    for public in PUBLIC_MODULES:
        module = importlib.import_module(public)
        package = public.rsplit(".", 1)[0]
        for name, relative in module._EXPORTS.items():
            if importlib.util.find_spec(relative, package) is not None:
                names.append(name)
    return names


@pytest.mark.parametrize("name", built_exports())
def test_readme_lists_every_built_operator_sensor_and_trigger(name):
    assert f"`{name}`" in README, f"add {name} to the README's table of operators, sensors and triggers"


def test_ci_runs_the_readme_test_command():
    ci_commands = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]

    assert "make test" in README
    assert "make demo" in README
    assert ci_commands[-1] == "make test"


def test_docs_and_examples_show_no_live_looking_key():
    files = [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        REPO / "mkdocs.yml",
        *REPO.glob("docs/**/*.md"),
        *REPO.glob("example_dags/*.py"),
    ]
    offenders = [str(path.relative_to(REPO)) for path in files if LIVE_KEY.search(path.read_text())]

    assert offenders == []


def test_readme_relative_links_point_at_existing_files():
    targets = re.findall(r"\]\((?!https?://)([^)#\s]+)", README)
    missing = [target for target in targets if not (REPO / target).exists()]

    assert targets
    assert missing == []
