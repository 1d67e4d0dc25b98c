"""The shared request budget, on a fake clock: pacing, the shared hold, priorities, reserve, jitter."""

from __future__ import annotations

import asyncio
import random

import pytest

from airflow_provider_smartlyq.exceptions import SmartlyQRateLimitError
from airflow_provider_smartlyq.hooks._budget import (
    Clock,
    Priority,
    RequestBudget,
    contention_margin,
    current_deadline,
    jitter_after,
    priority_of,
    request_deadline,
)

WRITE, TASK, BACKGROUND = Priority.WRITE, Priority.FOREGROUND, Priority.BACKGROUND
START = 1_800_000_000.0  # a round unix time: windows of the fake server start on it


class FakeClock(Clock):
    """Time moves only when someone sleeps."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, event, *args, **kw) -> None:
        pass

    def warning(self, event, *args, **kw) -> None:
        self.lines.append(event % args)


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(int(reset)),
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def budget(clock) -> RequestBudget:
    return RequestBudget("smartlyq_default", clock=clock, rng=random.Random(7))


def test_priority_is_inferred_from_the_method_and_the_transport():
    assert priority_of("post", background=True) is WRITE
    assert priority_of("DELETE", background=False) is WRITE
    assert priority_of("GET", background=False) is TASK
    assert priority_of("GET", background=True) is BACKGROUND


def test_before_any_answer_60_per_minute_is_assumed_and_background_is_paced_evenly(budget, clock):
    # 60 per 60 s, 20 % reserved: background may spend 48, one every 60/48 = 1.25 s.
    times = []
    for _ in range(48):
        budget.acquire(BACKGROUND)
        times.append(clock.now - START)
    assert times[:3] == [0.0, 1.25, 2.5]
    assert times[-1] == pytest.approx(47 * 1.25)
    assert budget.remaining == 12  # the reserve is left
    # The 49th waits for the next window rather than take the reserve.
    budget.acquire(BACKGROUND)
    assert clock.now >= START + 60


def test_the_window_length_comes_from_the_headers_not_a_minute(budget, clock):
    budget.acquire(TASK)
    budget.observe(200, headers(12, 11, START + 6))
    assert budget.limit == 12
    assert budget.window == pytest.approx(6)
    clock.now = START + 6.5
    budget.acquire(TASK)
    budget.observe(200, headers(12, 11, START + 12))  # the next fixed window: exactly 6 s later
    assert budget.window == pytest.approx(6)
    clock.now = START + 12.5
    budget.acquire(TASK)  # rolls locally into the third 6 s window before any answer
    assert budget.reset == pytest.approx(START + 18)
    assert budget.remaining == 11


def test_answers_from_other_processes_lower_what_is_left(budget, clock):
    budget.acquire(WRITE)
    budget.observe(200, headers(60, 58, START + 60))  # someone else spent one too
    assert budget.remaining == 58
    budget.acquire(WRITE)
    budget.acquire(WRITE)  # two in flight, answers not back yet
    budget.observe(200, headers(60, 40, START + 60))  # others spent 16 more; one of ours is still out
    assert budget.remaining == 39
    budget.observe(200, headers(60, 50, START + 60))  # a late answer never raises the count again
    assert budget.remaining == 39


def test_a_429_puts_one_hold_on_every_priority_released_with_jitter(budget, clock):
    budget.acquire(WRITE)
    budget.observe(429, headers(60, 0, START + 60), retry_after=20)
    assert budget.hold_until == START + 20
    releases = []
    for priority in (WRITE, TASK, BACKGROUND, WRITE, TASK):
        clock.now = START + 1
        budget.hold_until = START + 20  # each waiter meets the same hold
        budget.reset, budget.remaining = START + 20, 0
        budget.acquire(priority, reserve=0)
        releases.append(clock.now)
    assert all(START + 20 <= t <= START + 20 + 4 for t in releases)  # jitter: 20 % of 20 s at most
    assert len(set(releases)) == len(releases)  # each left at its own time


def test_writes_and_task_reads_may_take_the_reserve_background_polls_may_not(budget, clock):
    budget.acquire(TASK)
    budget.observe(200, headers(60, 12, START + 60))  # exactly the reserve is left
    with pytest.raises(SmartlyQRateLimitError):
        budget.acquire(BACKGROUND, max_wait=5)
    assert clock.now == START  # it did not sleep first: the wait was known to be too long
    budget.acquire(TASK)
    for _ in range(10):
        budget.acquire(WRITE)
    # Others spent 47 of this window: the last request is left for their next poll, sent
    # before they could see ours (else it is answered 429).
    assert budget.remaining == 1
    with pytest.raises(SmartlyQRateLimitError):
        budget.acquire(WRITE, max_wait=5)


def test_a_process_alone_on_its_key_may_spend_the_whole_window(budget, clock):
    budget.acquire(TASK)
    budget.observe(200, headers(60, 59, START + 60))  # the one spent is ours
    assert not budget.contended(clock.now)
    for _ in range(59):
        budget.acquire(WRITE)
    assert budget.remaining == 0


def test_a_fresh_process_sees_others_spending_at_its_first_answer(budget, clock):
    # A worker whose first request comes mid-window: 40 were spent, one of them ours. No
    # rate can be learnt from one answer, but the margin applies from now on.
    clock.now = START + 30
    budget.acquire(WRITE)
    budget.observe(200, headers(60, 20, START + 60))
    assert budget.contended(clock.now)
    for _ in range(19):
        budget.acquire(WRITE)
    assert budget.remaining == 1
    waited = budget.acquire(WRITE)  # the next one waits for the next window
    assert waited == pytest.approx(30)
    # In the new window nobody else was seen yet: no margin until they are.
    assert not budget.contended(clock.now)


def test_the_contention_margin_grows_with_the_limit():
    assert [contention_margin(limit) for limit in (5, 12, 60, 79, 80, 600)] == [1, 1, 1, 1, 2, 15]


def test_a_waiter_that_gives_up_stops_counting_as_waiting(budget, clock):
    budget.acquire(BACKGROUND)
    stuck = budget._waits(BACKGROUND, 0.2, None, None, None, "cancelled")
    assert next(stuck) > 0
    assert budget._waiting[BACKGROUND] == 1
    stuck.close()  # e.g. its trigger was cancelled while it slept
    assert budget._waiting[BACKGROUND] == 0
    clock.now += 1.25
    assert budget.acquire(BACKGROUND, max_wait=0) == 0.0  # the slot is not kept for it


def test_sync_and_async_waiters_wait_the_same(clock):
    sync = RequestBudget("a", clock=clock, rng=random.Random(1))
    for _ in range(4):
        sync.acquire(BACKGROUND)
    sync_took = clock.now - START
    clock.now = START
    other = RequestBudget("b", clock=clock, rng=random.Random(1))

    async def run():
        for _ in range(4):
            await other.aacquire(BACKGROUND)

    asyncio.run(run())
    assert clock.now - START == pytest.approx(sync_took) == pytest.approx(3.75)


def test_the_reserve_is_a_setting(budget, clock):
    budget.acquire(TASK)
    budget.observe(200, headers(60, 12, START + 60))
    budget.acquire(BACKGROUND, reserve=0.1)  # 6 reserved: there is room
    assert budget.remaining == 11
    assert budget.reserve_count(0.25) == 15
    assert budget.reserve_count(0) == 0


def test_background_yields_to_task_reads_waiting_before_it(budget, clock):
    budget._waiting[TASK] += 1  # a task read is sleeping for its pacing slot
    with pytest.raises(SmartlyQRateLimitError):
        budget.acquire(BACKGROUND, max_wait=0)
    budget._waiting[TASK] -= 1
    budget.acquire(BACKGROUND, max_wait=0)


def test_task_reads_are_paced_too_but_four_times_faster(budget, clock):
    for _ in range(3):
        budget.acquire(TASK)
    # 60 left over 60 s: even rate 1 s, task reads may go 4x faster.
    assert clock.now - START == pytest.approx(0.25 * 2, abs=0.01)


def test_a_write_that_finds_no_budget_waits_then_raises_a_clear_error(budget, clock):
    budget.acquire(WRITE)
    budget.observe(200, headers(60, 0, START + 45))
    waited = budget.acquire(WRITE, max_wait=60)  # waits for the next window
    assert waited == pytest.approx(45)
    budget.observe(200, headers(60, 0, START + 105))
    with pytest.raises(SmartlyQRateLimitError) as info:
        budget.acquire(WRITE, max_wait=30, what="POST /social/accounts/101/pause")
    error = info.value
    assert error.status_code == 0
    assert error.code == "BUDGET_EXHAUSTED"
    assert "POST /social/accounts/101/pause" in str(error)
    assert "0 of 60 requests left" in str(error)
    assert error.retry_after == pytest.approx(60)


def test_a_deadline_stops_waits_that_would_pass_it(budget, clock):
    budget.acquire(TASK)
    budget.observe(429, headers(60, 0, START + 60), retry_after=30)
    with request_deadline(START + 10):
        assert current_deadline() == START + 10
        with request_deadline(START + 50):  # nested: the earlier one stays
            assert current_deadline() == START + 10
        with pytest.raises(SmartlyQRateLimitError) as info:
            budget.acquire(BACKGROUND, deadline=current_deadline())
    assert current_deadline() is None
    assert clock.now == START  # raised at once, no sleep towards a deadline it could not meet
    assert "429" in str(info.value)


def test_request_deadline_follows_each_asyncio_task():
    async def one(end):
        with request_deadline(end):
            await asyncio.sleep(0)
            return current_deadline()

    async def both():
        return await asyncio.gather(one(100.0), one(200.0))

    assert asyncio.run(both()) == [100.0, 200.0]


def test_async_acquire_waits_on_the_fake_clock(budget, clock):
    async def run():
        for _ in range(3):
            await budget.aacquire(BACKGROUND)

    asyncio.run(run())
    assert clock.now - START == pytest.approx(2.5)


def test_waiting_is_logged_once_per_window(budget, clock):
    log = Log()
    budget.acquire(WRITE)
    budget.observe(200, headers(60, 0, START + 12))
    budget.acquire(WRITE, log=log)
    budget.observe(200, headers(60, 0, START + 72))
    budget.acquire(WRITE, log=log)
    budget.observe(200, headers(60, 0, START + 132))
    assert log.lines == [
        "waiting 12 s for SmartlyQ request budget (write): 0 of 60 left until 08:00:12 UTC",
        "waiting 60 s for SmartlyQ request budget (write): 0 of 60 left until 08:01:12 UTC",
    ]
    budget.acquire(WRITE, log=log)  # a third window: one more line
    assert len(log.lines) == 3


def test_retry_now_means_now():
    assert jitter_after(0) == 0.0


@pytest.mark.parametrize("seconds", [0.1, 0.3, 1, 10, 30, 120])
def test_jitter_never_shortens_and_stays_bounded(seconds):
    rng = random.Random(3)
    values = [jitter_after(seconds, rng) for _ in range(500)]
    spread = min(5.0, max(0.5, 0.2 * seconds))
    assert all(seconds <= v <= seconds + spread for v in values)
    assert max(values) - min(values) > spread / 2  # it really spreads


def test_what_other_processes_spend_between_answers_is_learnt_and_left_to_them(budget, clock):
    budget.acquire(TASK)
    budget.observe(200, headers(60, 50, START + 60))
    clock.now += 2
    budget.acquire(TASK)
    budget.observe(200, headers(60, 40, START + 60))  # we sent 1 in 2 s, the count fell by 10
    assert budget.others_rate == pytest.approx(0.5 * 9 / 2)
    # 5 s later they have probably spent ~11 more (the rate fading by half per window unseen):
    # reads count on 39 - 11, writes on 39.
    clock.now += 5
    assert budget._spent_by_others(clock.now) == pytest.approx(0.5 * 9 / 2 * 5 * 0.5 ** (5 / 60))
    # A burst not seen again fades: a window later, half the rate.
    assert budget._spent_by_others(clock.now + 55) < 0.5 * 9 / 2 * 60 * 0.6
    budget.observe(200, headers(60, 40, START + 60))  # and when they stop, the rate decays
    assert budget.others_rate < 0.5 * 9 / 2


def test_our_requests_still_out_at_an_answer_are_not_counted_as_other_processes(budget, clock):
    # Eight polls at once (a shared poller's checks): all granted, then answered one by one.
    for _ in range(8):
        budget.acquire(TASK)
    for left in range(52, 44, -1):
        clock.now += 0.1
        budget.observe(200, headers(60, left, START + 60))

    assert budget.others_rate == 0.0


def test_an_overestimate_of_other_processes_fades_with_each_new_window(budget, clock):
    budget.others_rate = 8.0  # e.g. learnt during a burst that has ended
    for window in range(1, 6):  # one answer per window: no pair to correct it within one
        clock.now = START + 60 * window + 1
        budget.acquire(TASK)
        budget.observe(200, headers(60, 59, START + 60 * (window + 1)))

    assert budget.others_rate <= 8.0 / 2**4


def test_a_read_never_goes_into_the_reserve_the_server_reported_left(budget, clock):
    budget.acquire(BACKGROUND)
    budget.observe(200, headers(60, 12, START + 60))  # the reserve is all that is left
    budget.others_rate = 5.0
    with pytest.raises(SmartlyQRateLimitError):
        budget.acquire(BACKGROUND, max_wait=5)
