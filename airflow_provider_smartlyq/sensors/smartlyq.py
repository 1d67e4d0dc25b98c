"""
SmartlyQ sensors.

Import them from here; each is defined in a small module of its own and loaded on first use.
"""

from __future__ import annotations

from airflow_provider_smartlyq._lazy import lazy_exports

_EXPORTS = {
    "SmartlyQConnectCompletedSensor": ".connect",
    "SmartlyQHealthSensor": ".health",
    "SmartlyQPostStatusSensor": ".posts",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports("airflow_provider_smartlyq.sensors", _EXPORTS)
