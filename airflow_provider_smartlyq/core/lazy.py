"""
Resolve a public module's names lazily from the private modules that define them.

The public modules (``operators.smartlyq``, ``sensors.smartlyq``, ``triggers.smartlyq``) are
what DAG authors import and what serialized triggers name. Loading them lazily means a DAG
that imports one operator parses without importing the others (or the hook and its HTTP
libraries), and a triggerer rebuilding a trigger imports only that trigger's module.
"""

from __future__ import annotations

import importlib
from typing import Any


def lazy_exports(package: str, names: dict[str, str]):
    """
    Return ``(__getattr__, __dir__)`` for a module exporting ``names`` lazily.

    :param package: The package the private modules live in.
    :param names: Public name -> module name relative to ``package`` (e.g. ``".connect"``).
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
