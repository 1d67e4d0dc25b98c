"""
SmartlyQ triggers: import them from here.

Serialized triggers name their class by this module (``airflow_provider_smartlyq.triggers.
smartlyq.<Name>``), which loads only the module that defines it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_smartlyq.core.surface import public_module

__getattr__, __dir__, __all__ = public_module(__name__)

# For type checkers and IDEs only: at run time each name loads on first access. ``X as X``
# marks each as exported, for type checkers that do not re-export implicitly (__all__ is computed).
if TYPE_CHECKING:
    from airflow_provider_smartlyq.triggers.connect import ConnectCompletedTrigger as ConnectCompletedTrigger
    from airflow_provider_smartlyq.triggers.events import (
        AccountHealthEventTrigger as AccountHealthEventTrigger,
    )
    from airflow_provider_smartlyq.triggers.health import AccountHealthTrigger as AccountHealthTrigger
    from airflow_provider_smartlyq.triggers.posts import PostPublishedTrigger as PostPublishedTrigger
