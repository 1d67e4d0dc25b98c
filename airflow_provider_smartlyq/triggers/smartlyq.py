"""
SmartlyQ triggers.

Serialized triggers name their class by this module (``airflow_provider_smartlyq.triggers.
smartlyq.<Name>``), which loads only the module that defines it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_smartlyq.core.lazy import lazy_exports

_EXPORTS = {
    "ConnectCompletedTrigger": ".connect",
    "AccountHealthTrigger": ".health",
    "PostPublishedTrigger": ".posts",
    "AccountHealthEventTrigger": ".events",
}
__all__ = [
    "AccountHealthEventTrigger",
    "AccountHealthTrigger",
    "ConnectCompletedTrigger",
    "PostPublishedTrigger",
]
__getattr__, __dir__ = lazy_exports("airflow_provider_smartlyq.triggers", _EXPORTS)

# For type checkers and IDEs only: at run time each name loads on first access.
if TYPE_CHECKING:
    from airflow_provider_smartlyq.triggers.connect import ConnectCompletedTrigger
    from airflow_provider_smartlyq.triggers.events import AccountHealthEventTrigger
    from airflow_provider_smartlyq.triggers.health import AccountHealthTrigger
    from airflow_provider_smartlyq.triggers.posts import PostPublishedTrigger
