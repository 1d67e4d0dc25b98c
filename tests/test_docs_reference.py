"""The hand-written parameter tables on the reference pages list exactly each class's parameters."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest
from airflow_cli_support import REPO

PAGES = {
    "operators": "airflow_provider_smartlyq.operators.smartlyq",
    "sensors": "airflow_provider_smartlyq.sensors.smartlyq",
    "triggers": "airflow_provider_smartlyq.triggers.smartlyq",
    "hook": "airflow_provider_smartlyq.hooks.smartlyq",
}
TITLE = re.compile(r"^\*\*`(?P<names>[^`]+)`\*\*$")
ROW = re.compile(r"^\| `(?P<param>\w+)` \|")


def tables(page: str) -> dict[str, list[str]]:
    """Return ``{class name: [parameter, ...]}`` from a page's "At a glance" tables."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    text = (REPO / "docs" / "reference" / f"{page}.md").read_text()
    section = text.split("## At a glance", 1)[1].split("\n## ", 1)[0].split("\n::: ", 1)[0]
    for line in section.splitlines():
        if title := TITLE.match(line):
            current = []
            for name in title["names"].split(" / "):
                found[name] = current
        elif row := ROW.match(line):
            current.append(row["param"])
    return found


def parameters(cls: type) -> list[str]:
    """Return the provider-defined ``__init__`` parameters of ``cls`` and its provider bases."""
    names: list[str] = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("airflow_provider_smartlyq") or "__init__" not in vars(klass):
            continue
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in names:
                names.append(p.name)
    return names


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_public_class_has_a_complete_table(page):
    module = importlib.import_module(PAGES[page])
    names = getattr(module, "__all__", ["SmartlyQHook"])  # the hook module has one public class
    public = [name for name in names if isinstance(getattr(module, name), type)]
    documented = tables(page)
    assert sorted(documented) == sorted(public)
    for name, listed in documented.items():
        assert sorted(listed) == sorted(parameters(getattr(module, name))), name
