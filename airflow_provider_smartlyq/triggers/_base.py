"""
Polling machinery shared by SmartlyQ's triggers.

A subclass says what it waits for (:meth:`SmartlyQPollingTrigger.wait_item`), which shared poll
asks SmartlyQ for it (:attr:`SmartlyQPollingTrigger.shared_poll`, see
:mod:`airflow_provider_smartlyq.triggers._shared_polls`), how to judge one answer
(:meth:`SmartlyQPollingTrigger.judge`) and which kwargs rebuild it; the base keeps the rules
every wait must follow:

* an absolute wall-clock deadline (``end_time``, unix seconds) stored in the kwargs, so a
  trigger rebuilt after a triggerer restart keeps the original deadline;
* transient errors (no answer, 429, 5xx, see
  :func:`airflow_provider_smartlyq.core.classify.classify_error`) never end the wait, however
  long they last: they are logged and the next answer comes on schedule;
  permanent ones (401/403, 404, 422, a bad connection) end it with an ``error`` event;
* every loop path waits for the shared poller's next round, and the poller sleeps between
  rounds, so an error can never make the trigger spin; the wait never runs past the deadline;
* only GET requests, made by the shared poller on behalf of every trigger it serves;
* exactly one event, then return;
* the subscription to the shared poll released in ``cleanup()`` and in a ``finally``
  (whichever runs first; releasing twice is harmless); the last subscriber out stops the
  poller and releases its hook's share of the event loop's aiohttp session.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_smartlyq.core.classify import is_transient
from airflow_provider_smartlyq.core.surface import TRIGGERS_MODULE
from airflow_provider_smartlyq.waits.policy import next_delay, validate_poll_interval

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Hashable

    from airflow_provider_smartlyq.triggers._shared_polls import SharedPoll, Subscription


class PollingKwargs(TypedDict, total=False):
    """The kwargs every polling trigger takes besides what it waits for (the base stores them)."""

    smartlyq_conn_id: str
    poll_interval: float
    end_time: float | None


class SmartlyQPollingTrigger(BaseTrigger):
    """
    Wait on a shared SmartlyQ poll until :meth:`judge` returns an event or the deadline passes.

    :param smartlyq_conn_id: The Airflow connection to use.
    :param poll_interval: Seconds between polls (also after an error).
    :param end_time: Deadline as unix seconds; ``None`` means :attr:`default_wait` seconds
        after this trigger is first built (stored, so a rebuilt trigger keeps it).
    """

    #: Seconds to the deadline when the caller passes no ``end_time``.
    default_wait: ClassVar[float] = 20 * 60
    #: The shared poll that asks SmartlyQ for every trigger of this kind on a connection.
    shared_poll: ClassVar[type[SharedPoll]]
    #: The kwarg (and attribute) naming the one thing this trigger waits for (``post_id``,
    #: ``state_token``): its only kwarg of its own and its item in the shared poll. ``None``
    #: for a trigger that waits on a whole answer (the health gate), which says its kwargs itself.
    item_kwarg: ClassVar[str | None] = None

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
        self._subscription: Subscription | None = None

    # -- what subclasses provide ----------------------------------------------------------------

    def trigger_kwargs(self) -> dict[str, Any]:
        """Return the subclass's own JSON-plain kwargs (the base adds conn id, interval, deadline)."""
        return {} if self.item_kwarg is None else {self.item_kwarg: self.wait_item()}

    def wait_item(self) -> Hashable:
        """Return what this trigger waits for in its shared poll (a post id, a state token)."""
        return None if self.item_kwarg is None else getattr(self, self.item_kwarg)

    @abstractmethod
    def judge(self, answer: Any) -> dict[str, Any] | None:
        """Judge one answer of the shared poll; return the final event's payload, or ``None`` to wait on."""

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

    def ended_without_request(self, now: float) -> dict[str, Any] | None:
        """Return a final payload known without asking SmartlyQ (e.g. a link past its expiry)."""
        return None

    def wait_until(self) -> float:
        """Return when (unix seconds) to stop waiting for an answer and look again unasked."""
        return self.end_time

    # -- shared machinery -----------------------------------------------------------------------

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the public classpath (it loads only this trigger's module) and JSON-plain kwargs."""
        return (
            f"{TRIGGERS_MODULE}.{type(self).__name__}",
            {
                **self.trigger_kwargs(),
                "smartlyq_conn_id": self.smartlyq_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    async def release(self) -> None:
        """Leave the shared poll (the last trigger out stops it and releases its hook)."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.close()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for shared answers until an event, the deadline or a permanent error; yield one event."""
        try:
            await self.on_start()
            if time.time() < self.end_time:
                self._subscription = self.shared_poll.join(
                    self.smartlyq_conn_id,
                    item=self.wait_item(),
                    interval=self.poll_interval,
                    end_time=self.end_time,
                )
            while True:
                now = time.time()
                if now >= self.end_time or self._subscription is None:
                    self.log.info("Deadline passed while waiting for %s; giving up", self.describe())
                    yield TriggerEvent(self.timeout_event())
                    return
                payload = self.ended_without_request(now)
                if payload is not None:
                    yield TriggerEvent(payload)
                    return
                # The wait is the sleep of this loop: the poller answers once per round, and
                # never later than the deadline does this wait end.
                outcome = await self._subscription.next(self.wait_until() - now)
                if outcome is None:
                    continue
                # The same error object reaches every subscriber of the round: classify it,
                # do not re-raise it (each raise would grow its shared traceback).
                error = outcome.error
                if error is None:
                    try:
                        payload = self.judge(outcome.answer)
                    except Exception as exc:  # e.g. a selection naming ids that do not exist
                        error = exc
                if error is not None:
                    message = self.redact(str(error) or type(error).__name__)
                    if not is_transient(error):
                        self.log.error("Stopped waiting for %s: %s", self.describe(), message)
                        yield TriggerEvent({"status": "error", "message": message})
                        return
                    self.log.warning(
                        "SmartlyQ unavailable while waiting for %s (%s); polling again in about %.1f s",
                        self.describe(),
                        message,
                        next_delay(self.poll_interval, error),
                    )
                    continue
                if payload is not None:
                    yield TriggerEvent(payload)
                    return
        finally:
            await self.release()

    async def cleanup(self) -> None:
        """Leave the shared poll (the triggerer calls this when the trigger is removed)."""
        await self.release()
