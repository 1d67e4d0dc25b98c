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
# A string shaped like a production key; docs must use placeholders such as sqk_live_xxx.
LIVE_KEY = re.compile(r"sqk_live_[A-Za-z0-9]{12,}")


def built_exports() -> list[str]:
    """Return the public names whose defining module exists (names still to come are skipped)."""
    from airflow_provider_smartlyq.core.surface import PUBLIC_SURFACE

    return [
        name
        for names in PUBLIC_SURFACE.values()
        for name, defining in names.items()
        if importlib.util.find_spec(defining) is not None
    ]


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
