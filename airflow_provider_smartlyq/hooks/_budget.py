"""
One SmartlyQ request budget per API key per process, shared by every hook, sync and async.

SmartlyQ allows a number of requests per window per key (60 per minute by default) and says
on every answer how many are left (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``). The
server is the coordinator: every process reads those headers, so Celery workers, several
triggerers and other machines converge on one budget without any new infrastructure.

Within a process, :class:`RequestBudget` decides who may send now:

* **writes** (POST/PUT/PATCH/DELETE) go first and may spend the last request of a window;
* **task reads** (the sync hook, in workers) come next, paced to at most
  :data:`FOREGROUND_BURST` times the even rate so a loop cannot drain a window in a second;
* **background reads** (the async hook: triggers) are paced evenly over what is left of the
  window, never take its last ``reserve`` share, and yield to anything waiting before them.

A 429 puts one hold on the key until ``Retry-After`` (every waiter of the process waits for
it, each released with its own jitter) instead of a separate retry per request. The window's
length is learnt from the headers, never assumed to be a minute; until the first answer, the
documented default (60 per 60 s) is assumed.

:func:`request_deadline` bounds every budget and retry wait in its scope (a trigger's
``end_time``): a wait that would end past it raises the transient
:class:`~airflow_provider_smartlyq.exceptions.SmartlyQRateLimitError` at once instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import enum
import hashlib
import math
import random
import threading
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_smartlyq.exceptions import SmartlyQRateLimitError
from airflow_provider_smartlyq.hooks import _metrics

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator, Mapping

    from typing_extensions import Unpack

    from airflow_provider_smartlyq.hooks._protocol import LoggerLike
    from airflow_provider_smartlyq.hooks._settings import ConnectionSettings

#: SmartlyQ's documented default, assumed until the first answer says otherwise.
DEFAULT_LIMIT = 60
#: Seconds per window assumed until answers tell the real length.
DEFAULT_WINDOW = 60.0
#: Task reads may run at most this many times faster than the even rate over the window.
FOREGROUND_BURST = 4.0
#: Background polls may run at most this many times faster than their even rate (late in a
#: window with budget left): spending the rest in one burst would hit the next window's start.
BACKGROUND_BURST = 2.0
#: Longest jitter added to a wait that ends when the server said (a hold, a ``Retry-After``).
MAX_JITTER = 5.0
#: Waits shorter than this are not worth a log line.
LOG_THRESHOLD = 1.0
#: A waiter looks again at least this often (seconds): an answer may have brought news (a
#: higher limit, a new window) that shortens its wait.
RECHECK = 1.0
#: Our own grants remembered to tell them from other processes' spending in a window.
GRANTS_REMEMBERED = 1024


def contention_margin(limit: int) -> int:
    """
    Return how many requests of a window writes and task reads leave when others share the key.

    Another process's request sent before it could see our last answers (a trigger poll paced
    at its own rhythm) lands after ours: when a burst of writes takes a window's very last
    request, that request is answered 429. One request per 40 of the limit (at least one) is
    left for it; at 60 per minute, one. A process alone on its key leaves nothing.
    """
    return max(1, limit // 40)


class Priority(enum.IntEnum):
    """Who goes first when the budget is short (lower value first)."""

    WRITE = 0
    FOREGROUND = 1
    BACKGROUND = 2

    @property
    def label(self) -> str:
        return {0: "write", 1: "task read", 2: "background poll"}[int(self)]


def priority_of(method: str, *, background: bool) -> Priority:
    """Return the priority of a request: writes first, then task reads, then trigger polls."""
    if method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
        return Priority.WRITE
    return Priority.BACKGROUND if background else Priority.FOREGROUND


def jitter_spread(seconds: float) -> float:
    """
    Return the most jitter added to a wait of ``seconds``: 20 %, at least 0.5 s, at most 5 s.

    None for a wait of 0: "retry now" (``Retry-After: 0``, or a date in the past) means now.
    """
    if seconds <= 0:
        return 0.0
    return min(MAX_JITTER, max(0.5, 0.2 * seconds))


def jitter_after(seconds: float, rng: random.Random | None = None) -> float:
    """
    Return ``seconds`` plus a random extra of up to :func:`jitter_spread` ``(seconds)``.

    Never less than ``seconds``: the server asked for at least that. The extra spreads
    clients that were told the same ``Retry-After`` so they do not return as a herd.
    """
    seconds = max(0.0, seconds)
    return seconds + (rng or random).uniform(0.0, jitter_spread(seconds))


# -- deadlines --------------------------------------------------------------------------------

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("smartlyq_deadline", default=None)


@contextlib.contextmanager
def request_deadline(end_time: float | None) -> Iterator[None]:
    """
    Bound every SmartlyQ budget and retry wait inside the ``with`` block by ``end_time``.

    ``end_time`` is unix seconds (a trigger's ``end_time``); ``None`` adds no bound. Nested
    blocks keep the earliest deadline. Works in coroutines too (context variables follow the
    task), e.g. ``with request_deadline(self.end_time): await hook.aget_post(1)``. Inside, a
    wait that would end past the deadline raises
    :class:`~airflow_provider_smartlyq.exceptions.SmartlyQRateLimitError` (transient) at
    once instead of sleeping past it.
    """
    current = _DEADLINE.get()
    if end_time is None:
        effective = current
    else:
        effective = float(end_time) if current is None else min(current, float(end_time))
    token = _DEADLINE.set(effective)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> float | None:
    """Return the deadline (unix seconds) set by the innermost :func:`request_deadline`, if any."""
    return _DEADLINE.get()


# -- clock ------------------------------------------------------------------------------------


class Clock:
    """Wall time and sleeping; tests substitute a fake one."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = Clock()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Any case: the transports hand over case-insensitive mappings, tests and callers may not.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _clock_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%H:%M:%S")


class WaitOptions(TypedDict, total=False):
    """How a request waits for budget (keywords of :meth:`RequestBudget.acquire` and ``aacquire``)."""

    #: Share of a window background polls leave to writes and task reads (default 0.2).
    reserve: float
    #: Longest wait in seconds (``None``, the default: no bound besides ``deadline``).
    max_wait: float | None
    #: Unix seconds no wait may pass (see :func:`request_deadline`).
    deadline: float | None
    #: Where the "waiting ... for SmartlyQ request budget" line goes (at most once a window).
    log: LoggerLike | None
    #: What the request is, for the error when no budget comes in time.
    what: str


class RequestBudget:
    """
    The request budget of one API key in this process (see the module docstring).

    Thread-safe; sync callers use :meth:`acquire`, coroutines :meth:`aacquire`, and both report
    every answer with :meth:`observe` (or :meth:`release` when no answer came).

    :param label: What log lines name (a connection id; never the key).
    :param clock: Time source; tests pass a fake.
    :param rng: Randomness for jitter; tests pass a seeded one.
    """

    def __init__(self, label: str = "", *, clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None):
        self.label = label
        self.clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.limit = DEFAULT_LIMIT
        self.window = DEFAULT_WINDOW
        #: Requests this process may still send in the current window (its best estimate).
        self.remaining = DEFAULT_LIMIT
        #: End of the current window (unix seconds); ``None`` before the first request.
        self.reset: float | None = None
        #: Whether an answer described the current window (else it is a local guess).
        self.informed = False
        #: No request of any priority before this time (set by a 429).
        self.hold_until = 0.0
        self._hold_length = 0.0
        self._next_slot: dict[Priority, float] = {Priority.FOREGROUND: 0.0, Priority.BACKGROUND: 0.0}
        self._waiting: Counter[Priority] = Counter()
        self.in_flight = 0
        self._longest_span = 0.0
        self._server_reset: float | None = None
        self._logged_window: float | None = None
        #: Requests per second that other processes spend on this key, learnt from how fast the
        #: server's count falls beyond our own requests; they keep spending between our answers.
        self.others_rate = 0.0
        #: Our requests still without an answer when the last answer came.
        self._out_at_last_answer = 0
        self._last_left: int | None = None
        self._last_answer_at = 0.0
        self._granted_since_answer = 0
        #: When our recent requests were granted (to tell ours from others' in the server's count).
        self._grants: deque[float] = deque(maxlen=GRANTS_REMEMBERED)
        #: Reset of the last window in which the server counted requests that were not ours.
        self._others_window: float | None = None

    # -- decisions (called under the lock) -----------------------------------------------------

    def _roll(self, now: float) -> None:
        """Start a new window when the current one has ended (a guess until an answer comes)."""
        if self.reset is None:
            self.reset = now + self.window
        elif now >= self.reset:
            windows = math.floor((now - self.reset) / self.window) + 1
            self.reset += windows * self.window
        else:
            return
        self.remaining = self.limit
        self.informed = False

    def reserve_count(self, reserve: float) -> int:
        """Return how many requests of a window background polls must leave to others."""
        return math.ceil(self.limit * reserve) if reserve > 0 else 0

    def contended(self, now: float) -> bool:
        """Return whether other processes (or machines) spend on this key now, as far as seen."""
        if self.others_rate * self.window >= 1:
            return True
        return (
            self._others_window is not None
            and self.reset is not None
            and abs(self._others_window - self.reset) <= 0.5
        )

    def _decide(self, priority: Priority, reserve: float, now: float) -> tuple[float, str]:
        """Return ``(0, "")`` and take one request, or ``(seconds to wait, why)``."""
        self._roll(now)
        assert self.reset is not None
        if self.hold_until > now:
            return self.hold_until - now, "hold"
        floor = self.reserve_count(reserve) if priority is Priority.BACKGROUND else 0
        if self.contended(now):
            floor = max(floor, contention_margin(self.limit))
        # Writes spend what the server said is left; reads also leave what other processes
        # have probably spent since our last answer (a write then never finds it gone).
        left = self.remaining if priority is Priority.WRITE else self.remaining - self._spent_by_others(now)
        usable = left - floor
        if usable < 1:
            return max(self.reset - now, 0.01), "window"
        if priority is not Priority.WRITE:
            if any(self._waiting[p] for p in Priority if p < priority):
                # Someone before us waits (for pacing); let them go first.
                return max(0.05, self._next_slot.get(Priority.FOREGROUND, 0.0) - now), "yield"
            burst = FOREGROUND_BURST if priority is Priority.FOREGROUND else BACKGROUND_BURST
            even = (self.reset - now) / usable
            fastest = self.window / max(1, self.limit - floor) / burst
            interval = max(even / (FOREGROUND_BURST if priority is Priority.FOREGROUND else 1.0), fastest)
            slot = self._next_slot[priority]
            if now < slot:
                return slot - now, "pace"
            # Keep the schedule when a sleeper woke a little late; after an idle spell start
            # afresh from now, never bank a burst.
            self._next_slot[priority] = (slot if now - slot < interval else now) + interval
        self.remaining -= 1
        self.in_flight += 1
        self._granted_since_answer += 1
        self._grants.append(now)
        return 0.0, ""

    def _spent_by_others(self, now: float) -> float:
        if not self.others_rate or self.reset is None:
            return 0.0
        since = max(self._last_answer_at, self.reset - self.window)  # never before this window
        # Others spend in bursts (a task pausing 40 accounts): a rate not seen again fades,
        # halving every window, so a burst cannot starve this process for long.
        rate = self.others_rate * 0.5 ** (max(0.0, now - self._last_answer_at) / self.window)
        return min(float(self.remaining), rate * max(0.0, now - since))

    def _plan(
        self,
        priority: Priority,
        reserve: float,
        until: float | None,
        log: LoggerLike | None,
        what: str,
        lot: float,
    ) -> float:
        """
        Decide under the lock; return seconds to wait (0 = granted) or raise past ``until``.

        ``lot`` (0 to 1, drawn once per waiter) places the waiter within the hold's jitter, so
        that each leaves the hold at its own time however often it looks again.
        """
        with self._lock:
            now = self.clock.time()
            release = self.hold_until + lot * jitter_spread(self._hold_length)
            if self.hold_until and now < release:
                wait, why = release - now, "hold"
            else:
                wait, why = self._decide(priority, reserve, now)
            if wait <= 0:
                return 0.0
            if until is not None and now + wait > until:
                raise self._exhausted(what, now, wait, until, why)
            if log is not None and wait >= LOG_THRESHOLD and self._logged_window != self.reset:
                self._logged_window = self.reset
                self._log_wait(log, now, wait, why, priority)
            return wait

    def _log_wait(self, log: LoggerLike, now: float, wait: float, why: str, priority: Priority) -> None:
        assert self.reset is not None
        reason = "held after a 429" if why == "hold" else priority.label
        log.warning(
            "waiting %.0f s for SmartlyQ request budget (%s): %d of %d left until %s UTC",
            wait,
            reason,
            max(0, self.remaining),
            self.limit,
            _clock_time(self.hold_until if why == "hold" else self.reset),
        )

    def _exhausted(
        self, what: str, now: float, wait: float, until: float, why: str
    ) -> SmartlyQRateLimitError:
        assert self.reset is not None
        if why == "hold":
            state = (
                "SmartlyQ answered 429 and asked everyone on this key to wait until "
                f"{_clock_time(self.hold_until)} UTC"
            )
        else:
            state = (
                f"{max(0, self.remaining)} of {self.limit} requests left in the window "
                f"until {_clock_time(self.reset)} UTC"
            )
        message = (
            f"no SmartlyQ request budget for {what} within {max(0.0, until - now):.0f} s "
            f"(next chance in {wait:.0f} s): {state}. Raise the connection's budget_max_wait, "
            "lower the request rate (fewer or slower polls), or ask SmartlyQ for a higher limit."
        )
        return SmartlyQRateLimitError.budget_exhausted(message, retry_after=wait)

    def _bound(self, max_wait: float | None, deadline: float | None) -> float | None:
        if max_wait is not None:
            ends = self.clock.time() + max_wait
            return ends if deadline is None else min(ends, deadline)
        return deadline

    def _tags(self, priority: Priority) -> dict[str, str]:
        return {"conn_id": self.label, "priority": priority.name.lower()}

    # -- public API --------------------------------------------------------------------------------

    def _waits(
        self,
        priority: Priority,
        reserve: float = 0.2,
        max_wait: float | None = None,
        deadline: float | None = None,
        log: LoggerLike | None = None,
        what: str = "a request",
    ) -> Generator[float, None, float]:
        """
        The one home of a waiter's loop: yield each sleep; return the seconds waited when granted.

        :meth:`acquire` and :meth:`aacquire` only do the sleeping (blocking or awaited). The
        waiter counts as waiting while it sleeps (lower priorities yield to it).
        """
        until = self._bound(max_wait, deadline)
        started = self.clock.time()
        lot = self._rng.random()
        while True:
            try:
                wait = self._plan(priority, reserve, until, log, what, lot)
            except SmartlyQRateLimitError:
                _metrics.incr("smartlyq.budget.exhausted", self._tags(priority))
                raise
            if wait <= 0:
                return self._waited(priority, started)
            with self._lock:
                self._waiting[priority] += 1
            try:
                yield min(wait, RECHECK)
            finally:
                with self._lock:
                    self._waiting[priority] -= 1

    def acquire(self, priority: Priority, **options: Unpack[WaitOptions]) -> float:
        """
        Block until a request of ``priority`` may be sent; return the seconds waited.

        :param options: See :class:`WaitOptions` (reserve, max_wait, deadline, log, what).
        :raises SmartlyQRateLimitError: the budget would not come within the bound.
        """
        waits = self._waits(priority, **options)
        try:
            while True:
                self.clock.sleep(next(waits))
        except StopIteration as granted:
            return float(granted.value)
        finally:
            waits.close()

    async def aacquire(self, priority: Priority, **options: Unpack[WaitOptions]) -> float:
        """Wait (without blocking the event loop) until a request may be sent; see :meth:`acquire`."""
        waits = self._waits(priority, **options)
        try:
            while True:
                await self.clock.asleep(next(waits))
        except StopIteration as granted:
            return float(granted.value)
        finally:
            waits.close()  # a cancelled waiter stops counting as waiting at once

    def _waited(self, priority: Priority, started: float) -> float:
        waited = max(0.0, self.clock.time() - started)
        if waited > 0:
            _metrics.timing("smartlyq.budget.wait", waited, self._tags(priority))
        return waited

    def release(self) -> None:
        """Report that a granted request got no answer (a connection error or timeout)."""
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)

    def observe(self, status: int, headers: Mapping[str, str], retry_after: float | None = None) -> None:
        """
        Learn from one answer's ``X-RateLimit-*`` headers; a 429 puts the shared hold on the key.

        :param status: The answer's HTTP status.
        :param headers: Its headers (any case).
        :param retry_after: Its ``Retry-After`` in seconds, parsed, when present.
        """
        limit = _number(_header(headers, "X-RateLimit-Limit"))
        left = _number(_header(headers, "X-RateLimit-Remaining"))
        reset = _number(_header(headers, "X-RateLimit-Reset"))
        with self._lock:
            now = self.clock.time()
            self.in_flight = max(0, self.in_flight - 1)
            if limit is not None and limit >= 1 and int(limit) != self.limit:
                self.limit = int(limit)
                # Slots booked at the assumed rate must not hold back a higher real one.
                for priority, slot in self._next_slot.items():
                    self._next_slot[priority] = min(slot, now + self.window / self.limit)
            if reset is not None and reset > now:
                if left is not None:
                    self._learn_others(int(left), reset, now)  # before the window: it compares resets
                self._learn_window(reset, now)
                if left is not None:
                    self._see_others(int(left), reset)
                if left is not None:
                    # Requests still in flight may not be counted in this answer yet.
                    server_left = int(left) - self.in_flight
                    if not self.informed or self.reset is None or reset > self.reset + 0.5:
                        self.reset, self.remaining, self.informed = reset, server_left, True
                    elif abs(reset - self.reset) <= 0.5:
                        self.remaining = min(self.remaining, server_left)
            if status == 429:
                self._hold(now, retry_after, reset)

    def _learn_others(self, left: int, reset: float, now: float) -> None:
        # Between two answers of one window the server's count fell by what we sent plus what
        # everybody else sent: the rest, over the time between, is the others' rate (smoothed).
        same_window = self._server_reset is not None and abs(reset - self._server_reset) <= 0.5
        elapsed = now - self._last_answer_at
        if same_window and self._last_left is not None and elapsed > 0:
            # Ours are also the requests still out at the last answer: the server may count
            # them only now (concurrent polls, a shared poller's checks). Counting them as the
            # others' made a burst look like a busy neighbour and starved background polls.
            ours = self._granted_since_answer + self._out_at_last_answer
            others = max(0, self._last_left - left - ours)
            self.others_rate = 0.5 * self.others_rate + 0.5 * others / max(elapsed, 0.05)
        elif not same_window:
            # A new window: an estimate that no pair of answers in one window can correct any
            # more (one request a window) must not hold the reads back forever.
            self.others_rate *= 0.5
        self._last_left, self._last_answer_at, self._granted_since_answer = left, now, 0
        self._out_at_last_answer = self.in_flight

    def _see_others(self, left: int, reset: float) -> None:
        # The server counted more in this window than we were granted in it: someone else
        # spends on the key now. Seen at the very first answer of a fresh process (a worker
        # whose burst of writes starts mid-window), where no rate can be learnt yet.
        since = reset - self.window - 1.0  # a second early: our request that this answers
        ours = sum(1 for granted in self._grants if granted >= since)
        if self.limit - left > ours:
            self._others_window = reset

    def _learn_window(self, reset: float, now: float) -> None:
        # Fixed windows: two consecutive resets are one window apart. Sliding ones move the
        # reset with every answer; there the longest time to a reset seen is the window.
        self._longest_span = max(self._longest_span, reset - now)
        previous = self._server_reset
        if previous is None or reset > previous + 0.5:
            step = reset - previous if previous is not None else 0.0
            if self._longest_span * 0.9 <= step <= self._longest_span * 2 + 1:
                self.window = step
            else:
                self.window = max(1.0, self._longest_span, self.window if previous is not None else 0.0)
            self._server_reset = reset

    def _hold(self, now: float, retry_after: float | None, reset: float | None) -> None:
        if retry_after is None:
            retry_after = reset - now if reset is not None and reset > now else 1.0
        until = now + retry_after
        if until > self.hold_until:
            self.hold_until = until
            self._hold_length = retry_after
        # Nothing is left until the time the server named; after it, a fresh window (a guess
        # until an answer describes it). Retry-After wins over an earlier Reset header.
        self.remaining = 0
        self.reset = self.hold_until
        self.informed = False

    def snapshot(self) -> dict[str, Any]:
        """Return the budget's state (for tests, benchmarks and debugging)."""
        with self._lock:
            return {
                "limit": self.limit,
                "window": self.window,
                "remaining": self.remaining,
                "reset": self.reset,
                "informed": self.informed,
                "hold_until": self.hold_until,
                "in_flight": self.in_flight,
                "others_rate": self.others_rate,
            }


# -- the per-process registry -----------------------------------------------------------------

_REGISTRY: dict[tuple[str, str], RequestBudget] = {}
_REGISTRY_LOCK = threading.Lock()


def budget_for(settings: ConnectionSettings) -> RequestBudget:
    """
    Return the process's budget for the key and host of ``settings`` (created on first use).

    Keyed by base URL and a hash of the API key: connections sharing a key share one budget
    (profiles included: SmartlyQ limits the key), and the key itself is never stored.
    """
    digest = hashlib.sha256(settings.api_key.encode()).hexdigest()[:16]
    key = (settings.base_url, digest)
    with _REGISTRY_LOCK:
        budget = _REGISTRY.get(key)
        if budget is None:
            budget = _REGISTRY[key] = RequestBudget(settings.conn_id)
        return budget


def reset_budgets() -> None:
    """Forget every budget of this process (tests and the emulator fixtures call this)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
