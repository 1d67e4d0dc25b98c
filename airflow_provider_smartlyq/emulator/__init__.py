"""
SmartlyQ emulator: a local stand-in for SmartlyQ's social-account API.

Start it with ``smartlyq-emulator --port 8765`` (or ``python -m airflow_provider_smartlyq.emulator``)
or, in tests, with :func:`airflow_provider_smartlyq.testing.emulator.run_emulator`.
Heavy imports (FastAPI) happen on first use of :func:`create_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smartlyq.emulator.config import DEFAULT_API_KEY, EmulatorConfig

if TYPE_CHECKING:
    from airflow_provider_smartlyq.emulator.app import create_app

__all__ = ["DEFAULT_API_KEY", "EmulatorConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from airflow_provider_smartlyq.emulator.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
