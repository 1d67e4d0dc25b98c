"""
Test helpers for users of the SmartlyQ provider: an in-process SmartlyQ emulator and fixtures.

Exports load lazily so that pytest's entry-point import of
:mod:`airflow_provider_smartlyq.testing.pytest_plugin` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_smartlyq.testing.emulator import (
        DEFAULT_API_KEY,
        EmulatorClient,
        RunningEmulator,
        run_emulator,
    )

__all__ = ["DEFAULT_API_KEY", "EmulatorClient", "RunningEmulator", "run_emulator"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from airflow_provider_smartlyq.testing import emulator

        return getattr(emulator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
