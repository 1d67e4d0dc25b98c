"""
SmartlyQ triggers.

Serialized triggers name their class by this module (``airflow_provider_smartlyq.triggers.
smartlyq.<Name>``), which loads only the module that defines it.
"""

from __future__ import annotations

from airflow_provider_smartlyq._lazy import lazy_exports

_EXPORTS = {
    "ConnectCompletedTrigger": ".connect",
    "AccountHealthTrigger": ".health",
    "PostPublishedTrigger": ".posts",
    "AccountHealthEventTrigger": ".events",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports("airflow_provider_smartlyq.triggers", _EXPORTS)
