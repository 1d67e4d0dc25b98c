"""
Waits that share their requests: triggers on one connection in one triggerer poll together.

A triggerer runs all its triggers on one event loop. Polled one by one, N waits cost N requests
per interval out of a key's budget (60 a minute by default). Here the waits of one kind on one
connection subscribe to ONE poller task, which makes the requests and hands each subscriber
the answer it needs:

* **health gates** (:class:`HealthPoll`): one ``GET /social/accounts/health`` per round for
  every gate; each judges its own selector on the same answer. The round comes at the
  smallest ``poll_interval`` among the gates: M gates cost 1 request per interval, not M.
  A gate that joins while the last answer is younger than its own interval starts from that
  answer instead of asking again.
* **post waits** (:class:`PostsPoll`): one sweep of ``GET /social/posts?per_page=100`` (newest
  first, paged only until every watched post was seen, at most :attr:`PostsPoll.max_pages`
  pages) per round; the list items carry ``status``, ``publish_stage`` and ``post_urls``, as
  ``GET /social/posts/{id}`` does. A post the sweep does not show is read alone, as before.
* **connect waits** (:class:`ConnectRotation`): there is no bulk endpoint, so links are
  checked one request at a time in rotation, least recently checked first, each no sooner
  than its own interval. The hook paces the requests within the background share of the
  budget, so as links pile up the effective interval stretches to about
  ``N / (requests per second for background polls)``; one log line says so when it does.

The registry is per event loop and keyed by (kind, connection id). The connection fixes the
profile (its ``profile_id`` extra), so two connections with different profiles never share.
Nothing here is serialized: after a triggerer restart the triggers are rebuilt from their
unchanged kwargs and subscribe again. A poller stops, releasing its hook's share of the
aiohttp session, when its last subscriber leaves.

Every failure of a shared request reaches every subscriber it concerns as the same exception,
so they classify it the same way (:func:`airflow_provider_smartlyq.core.classify.is_transient`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_smartlyq.core.classify import is_transient
from airflow_provider_smartlyq.exceptions import SmartlyQRateLimitError
from airflow_provider_smartlyq.waits.policy import jittered, next_delay

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable

    from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

log = logging.getLogger(__name__)

#: Fewest seconds between two rounds of one poller, whatever the intervals: it never spins.
MIN_PAUSE = 0.05
#: Retries inside one shared request. Modest on purpose: a long outage is ridden out by the
#: poller's rounds (one warning per subscriber per round), not by one request backing off.
HOOK_MAX_RETRIES = 2


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """
    Wait up to ``timeout`` seconds for ``event``; return whether it is set.

    Not ``asyncio.wait_for``: before Python 3.12 it swallows a cancellation that arrives in
    the same loop iteration as the event (CPython gh-86296) and returns as if nothing
    happened. A triggerer removing 1,000 triggers at once while the poller delivered a round
    hit that: a few cancelled triggers went on waiting, kept their links in the rotation and
    their tasks never ended (``benchmarks/bench_triggerer.py`` hung in its teardown).
    ``asyncio.wait`` never swallows the caller's cancellation.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait((waiter,), timeout=max(0.0, timeout))
    finally:
        waiter.cancel()
    return event.is_set()


@dataclass(frozen=True)
class Outcome:
    """What one round brought a subscriber: an answer, or the error that prevented it."""

    answer: Any = None
    error: BaseException | None = None


class Subscription:
    """One waiting trigger's place in a shared poll: what it waits for, and its mailbox."""

    def __init__(self, poll: SharedPoll, item: Hashable, interval: float, end_time: float) -> None:
        self.poll = poll
        #: What this subscriber waits for: a state token, a post id; ``None`` for health gates.
        self.item = item
        self.interval = interval
        #: Wall-clock deadline of the waiting trigger (unix seconds).
        self.end_time = end_time
        #: When (monotonic) this subscriber wants its next answer; 0 = as soon as possible.
        self.next_due = 0.0
        #: When (monotonic) it last got one; ``None`` until the first.
        self.last_answered: float | None = None
        self._outcome: Outcome | None = None
        self._ready = asyncio.Event()

    def deliver(self, outcome: Outcome) -> None:
        """Hand over a round's outcome (only the newest is kept) and schedule the next."""
        self._outcome = outcome
        self._ready.set()
        self.last_answered = time.monotonic()
        self.next_due = self.last_answered + jittered(self.interval)

    async def next(self, timeout: float) -> Outcome | None:
        """Wait up to ``timeout`` seconds for the next outcome; ``None`` when none came in time."""
        if not await wait_event(self._ready, timeout):
            return None
        self._ready.clear()
        outcome, self._outcome = self._outcome, None
        return outcome

    async def close(self) -> None:
        """Leave the shared poll (the poller stops after its last subscriber). Idempotent."""
        await self.poll.leave(self)


# Per event loop (keyed by id: a poller holds its loop, so a weak key would never be freed;
# entries of closed loops are dropped on the next join), then by (kind, connection id).
_REGISTRY: dict[int, tuple[asyncio.AbstractEventLoop, dict[tuple[str, str], SharedPoll]]] = {}


def _polls_of(loop: asyncio.AbstractEventLoop) -> dict[tuple[str, str], SharedPoll]:
    for key, (known, _) in list(_REGISTRY.items()):
        if known.is_closed():
            del _REGISTRY[key]
    entry = _REGISTRY.get(id(loop))
    if entry is None or entry[0] is not loop:
        entry = _REGISTRY[id(loop)] = (loop, {})
    return entry[1]


def active_polls() -> list[SharedPoll]:
    """Return the running loop's shared polls (for tests, benchmarks and debugging)."""
    return list(_polls_of(asyncio.get_running_loop()).values())


class SharedPoll:
    """One poller task for every subscriber of one kind on one connection, on one event loop."""

    #: Names the kind of wait in the registry key, the task name and log lines.
    kind: ClassVar[str]

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self.subscriptions: dict[Subscription, None] = {}  # an insertion-ordered set
        self._by_item: dict[Any, list[Subscription]] = {}
        self.requests = 0  # made by this poller (for tests and the rotation's log line)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- subscribing --------------------------------------------------------------------------

    @classmethod
    def join(cls, conn_id: str, *, item: Hashable, interval: float, end_time: float) -> Subscription:
        """Subscribe to the running loop's poller for ``conn_id``, starting it when needed."""
        loop = asyncio.get_running_loop()
        polls = _polls_of(loop)
        poll = polls.get((cls.kind, conn_id))
        if poll is None:
            poll = polls[(cls.kind, conn_id)] = cls(conn_id)
        subscription = Subscription(poll, item, interval, end_time)
        poll.subscriptions[subscription] = None
        poll._by_item.setdefault(item, []).append(subscription)
        poll.on_join(subscription)
        if poll._task is None:
            poll._task = loop.create_task(poll._run(), name=f"smartlyq-{cls.kind}-poll[{conn_id}]")
        poll._wake.set()
        return subscription

    async def leave(self, subscription: Subscription) -> None:
        """Unsubscribe; the last one out stops the poller and waits until it released its hook."""
        if self.subscriptions.pop(subscription, False) is False:
            return
        same = self._by_item.get(subscription.item, [])
        if subscription in same:
            same.remove(subscription)
        if not same:
            self._by_item.pop(subscription.item, None)
        if self.subscriptions:
            return
        polls = _polls_of(asyncio.get_running_loop())
        if polls.get((self.kind, self.conn_id)) is self:
            del polls[(self.kind, self.conn_id)]  # a new subscriber from now on starts a new poller
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])  # its finally closes the hook before run() returns

    def on_join(self, subscription: Subscription) -> None:
        """React to a new subscriber (by default it is due at once; the next round serves it)."""

    # -- polling ------------------------------------------------------------------------------

    def interval(self) -> float:
        """Return the smallest interval among the subscribers (the pace of shared rounds)."""
        return min((s.interval for s in self.subscriptions), default=60.0)

    def deadline(self, subscriptions: Iterable[Subscription]) -> float:
        """Return the latest deadline among ``subscriptions``: no request is made for nobody."""
        return max((s.end_time for s in subscriptions), default=time.time())

    async def round(self, hook: SmartlyQHook, due: list[Subscription]) -> float:
        """Serve the due subscribers (and any other the same requests serve); return a pause."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Finish whatever the poller started besides its rounds (it is stopping)."""

    def subscribers_of(self, item: Hashable) -> list[Subscription]:
        """Return the subscribers waiting for ``item`` (two tasks may wait on the same post)."""
        return list(self._by_item.get(item, ()))

    def seconds_until_due(self, now: float) -> float:
        """Return how long until a subscriber is due (0 or less: now)."""
        return min(s.next_due for s in self.subscriptions) - now

    def due(self, now: float) -> list[Subscription]:
        """Return the subscribers due at ``now``."""
        return [s for s in self.subscriptions if s.next_due <= now]

    async def _run(self) -> None:
        from airflow_provider_smartlyq.hooks.smartlyq import SmartlyQHook

        hook = SmartlyQHook(
            self.conn_id,
            max_retries=HOOK_MAX_RETRIES,
            retry_max_wait=min(30.0, max(1.0, self.interval())),
        )
        try:
            while self.subscriptions:
                now = time.monotonic()
                wait = self.seconds_until_due(now)
                if wait > 0:
                    # Sleep until a subscriber is due, or until something wakes the poller
                    # (a join; for the rotation, a finished check).
                    self._wake.clear()
                    await wait_event(self._wake, wait)
                    continue
                pause = await self.round(hook, self.due(now))
                await asyncio.sleep(max(MIN_PAUSE, pause))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a round: every waiter hears it instead of hanging
            log.exception("SmartlyQ shared %s poll on connection %s failed", self.kind, self.conn_id)
            # Wrapped so that it is permanent whatever it was (an OSError would read as
            # transient): nobody is left polling for these subscribers.
            crash = RuntimeError(f"the shared {self.kind} poll stopped: {type(exc).__name__}: {exc}")
            for subscription in list(self.subscriptions):
                subscription.deliver(Outcome(error=crash))
        finally:
            await self.stop()
            await hook.aclose()

    async def _call(self, coroutine: Any, subscriptions: Iterable[Subscription]) -> Outcome:
        """
        Await one request made for ``subscriptions``; return its answer or its error.

        Every wait inside (for budget, between retries) is bounded by the latest deadline
        among them: nobody it serves is still waiting after that.
        """
        from airflow_provider_smartlyq.hooks._budget import request_deadline

        self.requests += 1
        try:
            with request_deadline(self.deadline(subscriptions)):
                return Outcome(answer=await coroutine)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # delivered to the subscribers, who classify it
            return Outcome(error=exc)


def pause_after(outcome: Outcome, interval: float) -> float:
    """
    Return the extra pause a failed round asks for before the next request.

    A 429 whose ``Retry-After`` outlasted the hook's own retries holds the whole poller (not
    one subscriber) for that long, with the request budget's jitter, so the next round does
    not earn another 429.
    """
    if outcome.error is None:
        return 0.0
    delay = next_delay(interval, outcome.error)
    if delay <= interval:
        return 0.0
    from airflow_provider_smartlyq.hooks._budget import jitter_after

    return jitter_after(delay)


class HealthPoll(SharedPoll):
    """All health gates on a connection: one ``GET /social/accounts/health`` per round."""

    kind = "health"

    def __init__(self, conn_id: str) -> None:
        super().__init__(conn_id)
        self._latest: tuple[float, Outcome] | None = None

    def on_join(self, subscription: Subscription) -> None:
        """Start a new gate from the last answer when it is younger than the gate's interval."""
        if self._latest is not None and time.monotonic() - self._latest[0] <= subscription.interval:
            subscription.deliver(self._latest[1])

    async def round(self, hook: SmartlyQHook, due: list[Subscription]) -> float:
        """Ask once; every gate (due or not) judges the same answer."""
        outcome = await self._call(hook.aget_accounts_health(), self.subscriptions)
        self._latest = (time.monotonic(), outcome) if outcome.error is None else None
        for subscription in list(self.subscriptions):
            subscription.deliver(outcome)
        return pause_after(outcome, self.interval())


class PostsPoll(SharedPoll):
    """All post waits on a connection: one sweep of the posts list per round."""

    kind = "posts"
    #: Posts per list page (the API's maximum).
    per_page: ClassVar[int] = 100
    #: Most list pages per round; posts further back are read one by one.
    max_pages: ClassVar[int] = 5

    def __init__(self, conn_id: str) -> None:
        super().__init__(conn_id)
        #: False after the list answered with a permanent error (e.g. a scope it needs):
        #: from then on every post is read alone, as before coalescing.
        self.list_usable = True

    async def round(self, hook: SmartlyQHook, due: list[Subscription]) -> float:
        """Sweep the list for every watched post; read alone the due ones it does not show."""
        watched = {s.item for s in self.subscriptions}
        found: dict[Any, Any] = {}
        pause = 0.0
        if self.list_usable and len(watched) > 1:
            failure = await self._sweep(hook, watched, found)
            if failure is not None:
                if is_transient(failure.error or Exception()):
                    # Busy or unreachable: a read per post would fail the same way; all wait on.
                    for subscription in list(self.subscriptions):
                        subscription.deliver(failure)
                    return pause_after(failure, self.interval())
                log.warning(
                    "SmartlyQ posts list on connection %s failed (%s); reading each post alone from now on",
                    self.conn_id,
                    failure.error,
                )
                self.list_usable = False
        for subscription in list(self.subscriptions):
            if subscription.item in found:
                subscription.deliver(Outcome(answer=found[subscription.item]))
        for item in dict.fromkeys(s.item for s in due if s.item not in found):
            post_id = int(item)  # type: ignore[call-overload]
            outcome = await self._call(hook.aget_post(post_id), self.subscribers_of(item))
            for subscription in self.subscribers_of(item):
                subscription.deliver(outcome)
            pause = max(pause, pause_after(outcome, self.interval()))
            if pause:
                break  # a 429: the rest waits for the next round
        return pause

    async def _sweep(self, hook: SmartlyQHook, watched: set[Any], found: dict[Any, Any]) -> Outcome | None:
        """Page through the newest posts into ``found``; return the failure that stopped it, if any."""
        oldest = min(watched)
        for page in range(1, self.max_pages + 1):
            outcome = await self._call(
                hook.alist_posts_page(page=page, per_page=self.per_page), self.subscriptions
            )
            if outcome.error is not None:
                return outcome if page == 1 else None  # a later page: the rest are read alone
            posts = outcome.answer.get("posts") or []
            ids: list[Any] = [post.get("id") for post in posts if isinstance(post, dict)]
            for post in posts:
                # An item without a status cannot decide anything: that post is read alone.
                if isinstance(post, dict) and post.get("id") in watched and "status" in post:
                    found[post["id"]] = post
            pagination = outcome.answer.get("pagination") or {}
            newest_first = all(isinstance(i, int) for i in ids) and ids == sorted(ids, reverse=True)
            if (
                len(found) == len(watched)
                or not posts
                or page >= int(pagination.get("pages") or page)
                # Newest first: once the page reaches ids older than every watched post,
                # further pages cannot hold one.
                or (newest_first and ids[-1] <= oldest)
            ):
                break
        return None


class ConnectRotation(SharedPoll):
    """
    All connect waits on a connection: one link per request, in rotation.

    Links wait in a queue ordered by when they are due (a new link at once, then its last
    answer plus its interval, jittered), so the link that has waited longest goes first. Each
    round starts the checks of the due links (as many as free slots allow) and returns at
    once, so that one slow answer does not hold up the other links. The hook's request budget
    paces them. A check answered 429 (after the hook's retries) keeps its place at the head
    instead of going to the back, and the 429 holds the whole rotation for its ``Retry-After``.

    At most :attr:`max_in_flight` checks run (or wait for budget) at a time, and no more than
    about :attr:`lookahead` seconds of checks at the rate answers come back. With few checks
    waiting for budget at once, they also go out in the rotation's order (the budget grants a
    slot to whichever waiter wakes first: among 32 waiters, some links lost their turn again
    and again and waited two rotations), so each of N links is checked once every N checks;
    and a health or posts poll queued for budget behind link checks waits seconds, not a
    queue of 32 checks (40 s at 60 requests a minute). Every step is O(log N), so 10,000 links
    cost no more per check than 10.
    """

    kind = "connect"
    #: Most link checks waiting for an answer (or for budget) at the same time: enough to ride
    #: out slow answers and to reach hundreds of checks a second when the budget allows, few
    #: enough that a health or posts poll queued behind them for budget is not kept long.
    max_in_flight: ClassVar[int] = 32
    #: Seconds between two "the effective interval stretched" log lines of one rotation.
    log_every: ClassVar[float] = 300.0
    #: Seconds of checks (at the rate answers come back) started ahead of the budget.
    lookahead: ClassVar[float] = 3.0
    #: Fewest checks in flight, whatever the rate: one slow answer never stops the rotation.
    min_in_flight: ClassVar[int] = 2

    def __init__(self, conn_id: str) -> None:
        super().__init__(conn_id)
        self._queue: list[tuple[float, int, Any]] = []  # heap of (due, tie-breaker, link)
        self._scheduled: dict[Any, float] = {}  # link -> its due time in the queue
        self._order = itertools.count()
        self._in_flight: dict[Any, asyncio.Task[None]] = {}
        self._hold_until = 0.0
        self._logged_at: float | None = None
        self._logged_size = 0
        self._answered: deque[float] = deque(maxlen=64)  # when recent checks came back

    def on_join(self, subscription: Subscription) -> None:
        """Queue a new link at once (a second wait on a queued link just shares its checks)."""
        if subscription.item not in self._scheduled and subscription.item not in self._in_flight:
            self._schedule(subscription.item, 0.0)

    def _schedule(self, item: Any, due: float) -> None:
        self._scheduled[item] = due
        heapq.heappush(self._queue, (due, next(self._order), item))

    def _head(self) -> tuple[float, Any] | None:
        """Return the earliest queued link, dropping entries of links that left or moved."""
        while self._queue:
            due, _, item = self._queue[0]
            if self._scheduled.get(item) == due and item in self._by_item:
                return due, item
            heapq.heappop(self._queue)
            if self._scheduled.get(item) == due:
                del self._scheduled[item]  # the link left: forget it
        return None

    def seconds_until_due(self, now: float) -> float:
        """Return the wait for the hold, a free slot (woken by a finished check) or the next link."""
        if now < self._hold_until:
            return self._hold_until - now
        if len(self._in_flight) >= self.slots():
            return 3600.0  # a finished check wakes the poller
        head = self._head()
        return 3600.0 if head is None else head[0] - now

    def due(self, now: float) -> list[Subscription]:
        """Return nothing: the rotation picks its links from its queue."""
        return []

    async def round(self, hook: SmartlyQHook, due: list[Subscription]) -> float:
        """Start the checks of the due links, earliest due first, as far as free slots allow."""
        now = time.monotonic()
        loop = asyncio.get_running_loop()
        while len(self._in_flight) < self.slots():
            head = self._head()
            if head is None or head[0] > now:
                break
            heapq.heappop(self._queue)
            was_due, item = head
            del self._scheduled[item]
            waiting = self._by_item[item]
            since = max((s.last_answered for s in waiting if s.last_answered is not None), default=None)
            self._in_flight[item] = loop.create_task(
                self._check(hook, item, was_due, since, waiting[0].interval)
            )
        return 0.0

    def slots(self) -> int:
        """
        Return how many checks may run (or wait for budget) at once.

        About :attr:`lookahead` seconds of answers at the recent rate (between
        :attr:`min_in_flight` and :attr:`max_in_flight`); the most until answers tell the rate.
        """
        if len(self._answered) < 8:
            return self.max_in_flight
        span = self._answered[-1] - self._answered[0]
        if span <= 0:
            return self.max_in_flight
        rate = (len(self._answered) - 1) / span
        return max(self.min_in_flight, min(self.max_in_flight, math.ceil(rate * self.lookahead)))

    async def _check(
        self, hook: SmartlyQHook, item: Any, due: float, since: float | None, asked: float
    ) -> None:
        try:
            outcome = await self._call(hook.aget_connect_status(str(item)), self.subscribers_of(item))
        finally:
            self._in_flight.pop(item, None)
        self._answered.append(time.monotonic())
        waiting = self.subscribers_of(item)
        for subscription in waiting:
            subscription.deliver(outcome)
        if waiting:
            # Answered 429 (after the hook's retries): no answer came, so the link keeps its
            # place at the head instead of waiting a whole rotation again; the 429's hold
            # (below) keeps it from asking again before Retry-After. (No budget before the
            # deadline goes to the back: asking again at once would be refused at once.)
            error = outcome.error
            lost = isinstance(error, SmartlyQRateLimitError) and error.status_code == 429
            self._schedule(item, due if lost else min(s.next_due for s in waiting))
        if outcome.error is not None and (pause := pause_after(outcome, asked)):
            self._hold_until = max(self._hold_until, time.monotonic() + pause)
        if since is not None:
            self._report_stretch(time.monotonic() - since, asked)
        self._wake.set()  # the poller may be waiting for a free slot

    async def stop(self) -> None:
        """Cancel the checks still running (the poller is stopping)."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _report_stretch(self, effective: float, asked: float) -> None:
        """Log once (then at most every :attr:`log_every` s) when links wait longer than asked."""
        size = len(self.subscriptions)
        now = time.monotonic()
        stretched = effective > 1.5 * asked + 1.0
        if not stretched:
            return
        recent = self._logged_at is not None and now - self._logged_at < self.log_every
        if recent and size <= 2 * self._logged_size:
            return
        self._logged_at, self._logged_size = now, size
        log.warning(
            "%d connect links wait on connection %s; they are checked in rotation within the budget "
            "for background polls, so each is checked about every %.1f s instead of every %.1f s "
            "(effective interval = links / background requests per second)",
            size,
            self.conn_id,
            effective,
            asked,
        )
