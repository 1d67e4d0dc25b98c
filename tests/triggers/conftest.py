"""Run a trigger on a debug event loop and report the callbacks that blocked it."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_smartlyq.hooks._transport import env_proxy, ssl_for

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    Scenario = Callable[[], Coroutine[Any, Any, Any]]

#: asyncio's slow-callback threshold the brief sets for a trigger run.
SLOW_CALLBACK_SECONDS = 0.05


def _runqueue_wait() -> float | None:
    """Return the seconds this thread has waited for a CPU so far (Linux schedstat), else ``None``."""
    try:
        with open("/proc/thread-self/schedstat") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


class _Reports(logging.Handler):
    """Collect asyncio's slow-callback reports with the measured cost of the reported callback."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last_cost: float | None = None
        self.blocked: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "took" not in message:
            return
        # asyncio logs right after running the slow handle, so ``last_cost`` is that handle's.
        if self.last_cost is None or self.last_cost >= SLOW_CALLBACK_SECONDS:
            self.blocked.append(message)


@pytest.fixture
def run_on_debug_loop(monkeypatch) -> Callable[[Scenario], tuple[Any, list[str]]]:
    """
    Return ``run(scenario)``: run ``scenario()`` with asyncio debug on; return (result, slow callbacks).

    asyncio reports every callback that kept the loop for ``SLOW_CALLBACK_SECONDS`` or more. A
    report counts unless the callback's wall time minus the time its thread waited for a CPU
    (the kernel's run-queue delay) stays under the threshold: on a loaded machine a 5 ms step can
    be descheduled for 70 ms, which says nothing about the trigger. Blocking I/O and heavy CPU
    still count in full. Without schedstat every report counts. The SSL context and proxy
    caches are cleared first, so the first poll runs cold, as in a fresh triggerer.
    """
    reports = _Reports()
    original = asyncio.events.Handle._run

    def measured(handle: asyncio.events.Handle) -> None:
        waited, start = _runqueue_wait(), time.perf_counter()
        try:
            original(handle)
        finally:
            wall, waited_after = time.perf_counter() - start, _runqueue_wait()
            descheduled = None if waited is None or waited_after is None else waited_after - waited
            reports.last_cost = None if descheduled is None else wall - descheduled

    def run(scenario: Scenario) -> tuple[Any, list[str]]:
        ssl_for.cache_clear()
        env_proxy.cache_clear()
        monkeypatch.setattr(asyncio.events.Handle, "_run", measured)
        asyncio_log = logging.getLogger("asyncio")
        asyncio_log.addHandler(reports)
        level = asyncio_log.level
        asyncio_log.setLevel(logging.WARNING)
        loop = asyncio.new_event_loop()  # asyncio.Runner is 3.11+
        loop.set_debug(True)
        loop.slow_callback_duration = SLOW_CALLBACK_SECONDS
        try:
            result = loop.run_until_complete(scenario())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            asyncio_log.removeHandler(reports)
            asyncio_log.setLevel(level)
            monkeypatch.setattr(asyncio.events.Handle, "_run", original)
        return result, reports.blocked

    return run
