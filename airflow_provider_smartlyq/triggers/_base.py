"""
Polling machinery shared by SmartlyQ's triggers.

A subclass says what one poll is (:meth:`SmartlyQPollingTrigger.poll`) and which kwargs
rebuild it; the base keeps the rules every wait must follow:

* an absolute wall-clock deadline (``end_time``, unix seconds) stored in the kwargs, so a
  trigger rebuilt after a triggerer restart keeps the original deadline;
* transient errors (no answer, 429, 5xx, see :mod:`airflow_provider_smartlyq._waiting`) never
  end the wait, however long they last: they are logged and the next poll comes on schedule;
  permanent ones (401/403, 404, 422, a bad connection) end it with an ``error`` event;
* a sleep on every path that loops, so an error can never make the trigger spin;
* exactly one event, then return;
* the hook's share of the event loop's aiohttp session released in ``cleanup()`` and in a
  ``finally`` (whichever runs first; releasing twice is harmless).
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_smartlyq._waiting import is_transient, next_delay, validate_poll_interval

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

#: Module serialized triggers name; it loads only the module defining the class (see ``_lazy``).
PUBLIC_MODULE = "airflow_provider_smartlyq.triggers.smartlyq"


class SmartlyQPollingTrigger(BaseTrigger):
    """
    Poll SmartlyQ with GET requests until :meth:`poll` returns an event or the deadline passes.

    :param smartlyq_conn_id: The Airflow connection to use.
    :param poll_interval: Seconds between polls (also after an error).
    :param end_time: Deadline as unix seconds; ``None`` means :attr:`default_wait` seconds
        after this trigger is first built (stored, so a rebuilt trigger keeps it).
    """

    #: Seconds to the deadline when the caller passes no ``end_time``.
    default_wait: ClassVar[float] = 20 * 60
    #: Retries inside one poll. Modest on purpose: a long outage is ridden out by the loop
    #: (one warning per poll) rather than by one request backing off for minutes.
    hook_max_retries: ClassVar[int] = 2

    def __init__(
        self,
        *,
        smartlyq_conn_id: str = "smartlyq_default",
        poll_interval: float = 5.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        self.smartlyq_conn_id = smartlyq_conn_id
        self.poll_interval = validate_poll_interval(poll_interval)
        self.end_time = float(end_time) if end_time is not None else time.time() + self.default_wait
        self._hook: SmartlyQHook | None = None

    # -- what subclasses provide ----------------------------------------------------------------

    @abstractmethod
    def trigger_kwargs(self) -> dict[str, Any]:
        """Return the subclass's own JSON-plain kwargs (the base adds conn id, interval, deadline)."""

    @abstractmethod
    async def poll(self, hook: SmartlyQHook) -> dict[str, Any] | None:
        """Make one check (GET requests only); return the final event's payload, or ``None`` to wait on."""

    @abstractmethod
    def describe(self) -> str:
        """Return a short description of what is awaited, safe to log (no secrets)."""

    def timeout_event(self) -> dict[str, Any]:
        """Return the payload sent when the deadline passes."""
        return {"status": "timeout"}

    def redact(self, text: str) -> str:
        """Return ``text`` with anything secret removed (for log lines and error events)."""
        return text

    async def on_start(self) -> None:
        """Run once before the first poll (e.g. log what is awaited)."""

    # -- shared machinery -----------------------------------------------------------------------

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the public classpath and JSON-plain kwargs (``end_time`` included)."""
        return (
            f"{PUBLIC_MODULE}.{type(self).__name__}",
            {
                **self.trigger_kwargs(),
                "smartlyq_conn_id": self.smartlyq_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    def get_hook(self) -> SmartlyQHook:
        """Return the trigger's hook (built on first use; reading the connection waits for a poll)."""
        if self._hook is None:
            from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

            self._hook = SmartlyQHook(
                self.smartlyq_conn_id,
                max_retries=self.hook_max_retries,
                retry_max_wait=min(30.0, max(1.0, self.poll_interval)),
            )
        return self._hook

    async def release_hook(self) -> None:
        """Give back the hook's lease on the shared aiohttp session."""
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook.aclose()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until an event, the deadline or a permanent error; yield exactly one event."""
        try:
            await self.on_start()
            hook = self.get_hook()
            while True:
                if time.time() >= self.end_time:
                    self.log.info("Deadline passed while waiting for %s; giving up", self.describe())
                    yield TriggerEvent(self.timeout_event())
                    return
                delay = self.poll_interval
                try:
                    payload = await self.poll(hook)
                except Exception as exc:  # sorted below: transient waits on, the rest ends the wait
                    message = self.redact(str(exc) or type(exc).__name__)
                    if not is_transient(exc):
                        self.log.error("Stopped waiting for %s: %s", self.describe(), message)
                        yield TriggerEvent({"status": "error", "message": message})
                        return
                    delay = next_delay(self.poll_interval, exc)
                    self.log.warning(
                        "SmartlyQ unavailable while waiting for %s (%s); polling again in %.1f s",
                        self.describe(),
                        message,
                        delay,
                    )
                    payload = None
                if payload is not None:
                    yield TriggerEvent(payload)
                    return
                # Never sleep past the deadline: the timeout event is due on time.
                await asyncio.sleep(max(0.0, min(delay, self.end_time - time.time())))
        finally:
            await self.release_hook()

    async def cleanup(self) -> None:
        """Release the hook (the triggerer calls this when the trigger is removed)."""
        await self.release_hook()
