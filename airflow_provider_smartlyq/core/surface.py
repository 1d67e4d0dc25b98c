"""
The provider's public surface: every name DAG authors import, and the module defining it.

DAG authors import operators, sensors and triggers from three public modules
(``operators.smartlyq``, ``sensors.smartlyq``, ``triggers.smartlyq``); serialized triggers name
their class by ``triggers.smartlyq`` too. Each name is defined in a small private module and
loaded on first access, so a DAG that imports one operator parses without importing the others
(or the hook and its HTTP libraries), and a triggerer rebuilding a trigger imports only that
trigger's module. :data:`PUBLIC_SURFACE` is the one table of those names; the public modules,
the README test, the parse-import test and the parse benchmark all read it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

_OPERATORS = "airflow_provider_smartlyq.operators"
_SENSORS = "airflow_provider_smartlyq.sensors"
_TRIGGERS = "airflow_provider_smartlyq.triggers"

#: Public module -> {public name: module defining it}.
PUBLIC_SURFACE: dict[str, dict[str, str]] = {
    f"{_OPERATORS}.smartlyq": {
        "SmartlyQConnectAccountOperator": f"{_OPERATORS}.connect",
        "SmartlyQPauseAccountsOperator": f"{_OPERATORS}.accounts",
        "SmartlyQResumeAccountsOperator": f"{_OPERATORS}.accounts",
        "SmartlyQDisconnectAccountOperator": f"{_OPERATORS}.accounts",
        "SmartlyQReconnectUrlOperator": f"{_OPERATORS}.accounts",
        "SmartlyQListAccountsOperator": f"{_OPERATORS}.accounts",
        "SmartlyQPublishPostOperator": f"{_OPERATORS}.posts",
        "SmartlyQValidatePostOperator": f"{_OPERATORS}.validate_post",
        "post_idempotency_key": f"{_OPERATORS}.posts",
    },
    f"{_SENSORS}.smartlyq": {
        "SmartlyQConnectCompletedSensor": f"{_SENSORS}.connect",
        "SmartlyQHealthSensor": f"{_SENSORS}.health",
        "SmartlyQPostStatusSensor": f"{_SENSORS}.posts",
    },
    f"{_TRIGGERS}.smartlyq": {
        "ConnectCompletedTrigger": f"{_TRIGGERS}.connect",
        "AccountHealthTrigger": f"{_TRIGGERS}.health",
        "PostPublishedTrigger": f"{_TRIGGERS}.posts",
        "AccountHealthEventTrigger": f"{_TRIGGERS}.events",
    },
}

#: The module serialized triggers name (``<module>.<class name>``).
TRIGGERS_MODULE = f"{_TRIGGERS}.smartlyq"


def public_module(module: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """
    Return ``(__getattr__, __dir__, __all__)`` for the public ``module``, resolving names lazily.

    :param module: A key of :data:`PUBLIC_SURFACE` (the public module's ``__name__``).
    """
    names = PUBLIC_SURFACE[module]

    def __getattr__(name: str) -> Any:
        defining = names.get(name)
        if defining is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(defining), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
