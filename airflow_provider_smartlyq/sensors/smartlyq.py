"""SmartlyQ sensors: import them from here (each loads from its own module on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_smartlyq.core.surface import public_module

__getattr__, __dir__, __all__ = public_module(__name__)

# For type checkers and IDEs only: at run time each name loads on first access. ``X as X``
# marks each as exported, for type checkers that do not re-export implicitly (__all__ is computed).
if TYPE_CHECKING:
    from airflow_provider_smartlyq.sensors.connect import (
        SmartlyQConnectCompletedSensor as SmartlyQConnectCompletedSensor,
    )
    from airflow_provider_smartlyq.sensors.health import SmartlyQHealthSensor as SmartlyQHealthSensor
    from airflow_provider_smartlyq.sensors.posts import SmartlyQPostStatusSensor as SmartlyQPostStatusSensor
