"""
SmartlyQ sensors.

Import them from here; each is defined in a small module of its own and loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_smartlyq.core.lazy import lazy_exports

_EXPORTS = {
    "SmartlyQConnectCompletedSensor": ".connect",
    "SmartlyQHealthSensor": ".health",
    "SmartlyQPostStatusSensor": ".posts",
}
__all__ = [
    "SmartlyQConnectCompletedSensor",
    "SmartlyQHealthSensor",
    "SmartlyQPostStatusSensor",
]
__getattr__, __dir__ = lazy_exports("airflow_provider_smartlyq.sensors", _EXPORTS)

# For type checkers and IDEs only: at run time each name loads on first access.
if TYPE_CHECKING:
    from airflow_provider_smartlyq.sensors.connect import SmartlyQConnectCompletedSensor
    from airflow_provider_smartlyq.sensors.health import SmartlyQHealthSensor
    from airflow_provider_smartlyq.sensors.posts import SmartlyQPostStatusSensor
