"""
Rules shared by everything that waits on SmartlyQ: triggers, sensors and the connect operator.

Keeping them in one light module (standard library and the provider's errors only) means the
deferrable, poke and reschedule paths classify errors and pace themselves the same way.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_smartlyq.core.classify import is_transient
from airflow_provider_smartlyq.core.values import parse_number
from airflow_provider_smartlyq.exceptions import SmartlyQRateLimitError

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

#: Seconds the Airflow-side deferral timeout allows beyond a trigger's own deadline, so that the
#: trigger's ``timeout`` event (and the task's clear message) always wins the race.
DEFERRAL_GRACE = 60

#: Largest share of a wait added at random: waits that started together (a DAG run's tasks,
#: the triggers of a restarted triggerer, everyone who got the same ``Retry-After``) drift
#: apart instead of asking again in the same instant.
JITTER = 0.1


def jittered(seconds: float, spread: float = JITTER) -> float:
    """Return ``seconds`` plus up to ``spread`` of it at random (never less than asked)."""
    return seconds + random.uniform(0.0, max(0.0, seconds) * spread)


def next_delay(poll_interval: float, exc: BaseException | None = None) -> float:
    """
    Return the seconds to sleep before the next poll.

    A 429 that still carries ``Retry-After`` after the hook's own retries is honoured when it
    asks for longer than the poll interval: polling sooner would only earn another 429.
    """
    if isinstance(exc, SmartlyQRateLimitError) and exc.retry_after:
        return max(poll_interval, float(exc.retry_after))
    return poll_interval


class PollPacer:
    """
    Pace a poll loop that runs in a worker, as the shared polls pace the triggerer.

    Used by operators that wait without deferring and by sensors in ``poke`` and
    ``reschedule`` mode. Each pause is the poll interval plus up to :data:`JITTER` of it, so
    waits that started together drift apart; after a 429 that outlasted the hook's retries it
    is at least that answer's ``Retry-After`` (plus jitter), because polling sooner would only
    earn another 429; and it never runs past the deadline.

    :param poll_interval: Seconds between checks while SmartlyQ answers.
    """

    def __init__(self, poll_interval: float) -> None:
        self.poll_interval = float(poll_interval)
        #: The transient error of the last check, ``None`` when it got an answer.
        self.last_error: BaseException | None = None

    def note(self, error: BaseException | None) -> None:
        """Record how the last check went: its transient error, or ``None`` for an answer."""
        self.last_error = error

    def delay(self, interval: float | None = None, *, end_time: float | None = None) -> float:
        """
        Return the seconds to wait before the next check.

        :param interval: The pause the caller would make otherwise (default: the poll interval),
            e.g. the sensor's own, which may grow with ``exponential_backoff``.
        :param end_time: Unix seconds the pause must not run past.
        """
        base = self.poll_interval if interval is None else max(0.0, float(interval))
        server_said = next_delay(base, self.last_error)
        if server_said > base:
            # The server named the time: the request budget's jitter for such waits (loaded
            # here, when a wait runs, so that DAG files importing this module stay light).
            from airflow_provider_smartlyq.hooks._budget import jitter_after

            pause = jitter_after(server_said)
        else:
            pause = jittered(base)
        if end_time is not None:
            pause = min(pause, max(0.0, end_time - time.time()))
        return pause

    def sleep(self, end_time: float | None = None) -> None:
        """Sleep :meth:`delay` seconds (in a worker; never on an event loop)."""
        time.sleep(self.delay(end_time=end_time))


def ask_once(
    call: Callable[[], T], *, pacer: PollPacer | None, log: Any, what: str, redact: Callable[[str], str] = str
) -> T | None:
    """
    Ask SmartlyQ once from a worker; return the answer, or ``None`` when it is unavailable.

    Transient errors (no answer, 429, 5xx after the hook's retries) are logged and count as
    "not yet", exactly as in the triggers; permanent ones raise. The pacer, when given, is told
    how the call went, so that the next pause honours a 429's ``Retry-After``.

    :param what: What was checked, for the log line (e.g. ``post 5001``); safe to log.
    :param redact: Applied to the error's text before it is logged (state tokens).
    """
    try:
        answer = call()
    except Exception as exc:
        if not is_transient(exc):
            raise
        if pacer is not None:
            pacer.note(exc)
        log.warning(
            "SmartlyQ unavailable while checking %s (%s); checking again later", what, redact(str(exc))
        )
        return None
    if pacer is not None:
        pacer.note(None)
    return answer


def validate_poll_interval(poll_interval: object, name: str = "poll_interval") -> float:
    """Return ``poll_interval`` as positive seconds, refusing zero (a busy loop) and non-numbers."""
    return float(parse_number(poll_interval, name, above=0, unit="seconds"))


def validate_timeout(timeout: object, name: str = "timeout") -> float:
    """Return a wait's ``timeout`` (seconds or a ``timedelta``) as positive seconds."""
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    return validate_poll_interval(timeout, name)


def deferral_timeout(timeout: float) -> timedelta:
    """Return the ``defer(timeout=...)`` of a wait whose trigger gives up after ``timeout`` seconds."""
    return timedelta(seconds=timeout + DEFERRAL_GRACE)
