"""The shared rate limiter against a real redis-server."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest

from drfulfill._ratelimit import RateLimiter
from drfulfill.errors import APITimeoutError
from drfulfill.redis import RedisCoordinator, RedisLimiter

KEY = "sk_live_fleet_limiter"


def max_in_window(times: list[float], window: float) -> int:
    """The most timestamps that fall in any window of ``window`` seconds."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


class Sleeps:
    """An injected sleep that records and returns at once (or blocks, when told to)."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.block = False
        self.during: object = None
        self._changed = asyncio.Condition()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        async with self._changed:
            self._changed.notify_all()
        if callable(self.during):
            await self.during()
        if self.block:
            await asyncio.Event().wait()

    async def reach(self, count: int) -> None:
        """Until ``count`` sleeps have begun."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.waits) >= count)


def recorded(coordinator: RedisCoordinator, rate: float, sleeps: Sleeps) -> RedisLimiter:
    return RedisLimiter(
        coordinator.redis,
        coordinator.prefix(KEY),
        rate,
        fallback=RateLimiter(rate / 4),
        probe_interval=0,
        sleep=sleeps,
    )


async def test_four_processes_stay_within_the_shared_rate(coordinators):
    rate, count = 200.0, 100
    limiters = [c.limiter(KEY, rate) for c in coordinators]
    sent: list[float] = []

    async def worker(limiter: RedisLimiter) -> None:
        while len(sent) < count:
            await limiter.acquire()
            sent.append(time.monotonic())

    await asyncio.gather(*(worker(limiter) for limiter in limiters for _ in range(8)))
    burst = rate / 5
    span = max(sent) - min(sent)
    # GCRA's bound over the span; four local limiters would allow four times as much.
    assert len(sent) <= burst + rate * span + 2
    assert len(sent) >= 0.8 * (burst + rate * span)
    # The same bound for every 100 ms window (+2: event-loop jitter bunches a few sends).
    assert max_in_window(sent, 0.1) <= burst + rate * 0.1 + 2


async def test_the_burst_then_the_interval(coordinators):
    sleeps = Sleeps()
    limiter = recorded(coordinators[0], 10, sleeps)  # burst 2, interval 0.1 s
    for _ in range(3):
        await limiter.acquire()
    assert sleeps.waits == [pytest.approx(0.1, abs=0.02)]


# At 2 req/s (burst 1) the slots are 0.5 s apart: wide margins for a loaded machine, and
# the sleeps are recorded, not slept.
RATE = 2


def approx(seconds: float) -> object:
    return pytest.approx(seconds, abs=0.1)


async def test_a_slot_beyond_max_wait_is_refused_and_not_reserved(coordinators):
    sleeps = Sleeps()
    limiter = recorded(coordinators[0], RATE, sleeps)
    await limiter.acquire()
    await limiter.acquire()  # waits 0.5 s
    with pytest.raises(APITimeoutError) as caught:
        await limiter.acquire(max_wait=0.7)  # its slot would be 1 s away
    assert caught.value.sent is False
    await limiter.acquire()  # takes the slot the refused call did not
    assert sleeps.waits == [approx(0.5), approx(1.0)]


async def test_a_cancelled_last_waiter_rolls_the_schedule_back(coordinators):
    sleeps = Sleeps()
    limiter = recorded(coordinators[0], RATE, sleeps)
    await limiter.acquire()
    sleeps.block = True
    waiter = asyncio.create_task(limiter.acquire())
    await sleeps.reach(1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    sleeps.block = False
    other = recorded(coordinators[1], RATE, sleeps)  # another process gets that slot
    await other.acquire()
    assert sleeps.waits == [approx(0.5), approx(0.5)]


async def test_a_cancelled_waiter_in_the_middle_leaves_its_slot_to_the_next(coordinators):
    sleeps = Sleeps()
    limiter = recorded(coordinators[0], RATE, sleeps)
    await limiter.acquire()
    sleeps.block = True
    middle = asyncio.create_task(limiter.acquire())  # waits 0.5 s
    await sleeps.reach(1)
    last = asyncio.create_task(limiter.acquire())  # waits 1 s
    await sleeps.reach(2)
    middle.cancel()
    with pytest.raises(asyncio.CancelledError):
        await middle
    sleeps.block = False
    await limiter.acquire()  # the hole at 0.5 s, not a new slot at 1.5 s
    await limiter.acquire()  # then the schedule goes on after `last`
    last.cancel()
    with pytest.raises(asyncio.CancelledError):
        await last
    assert sleeps.waits == [approx(0.5), approx(1.0), approx(0.5), approx(1.5)]


async def test_a_slot_given_back_inside_a_pause_is_not_handed_out(coordinators):
    sleeps = Sleeps()
    limiter = recorded(coordinators[0], RATE, sleeps)
    await limiter.acquire()
    sleeps.block = True
    waiter = asyncio.create_task(limiter.acquire())  # slot 0.5 s away
    await sleeps.reach(1)
    await coordinators[1].limiter(KEY, RATE).pause(2)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    sleeps.block = False
    await limiter.acquire()
    assert sleeps.waits == [approx(0.5), approx(2.0)]


async def test_a_pause_is_seen_by_every_process(coordinators):
    first, second = (c.limiter(KEY, 100) for c in coordinators[:2])
    await first.pause(0.5)
    await second.pause(0.1)  # the longer pause stays
    assert await second.paused_for() == pytest.approx(0.5, abs=0.05)
    sleeps = Sleeps()
    third = recorded(coordinators[2], 100, sleeps)
    await third.acquire()
    assert sleeps.waits[0] >= 0.45  # the pause, and the burst allowance is gone after it


async def test_a_pause_longer_than_max_wait_is_refused(coordinators):
    await coordinators[0].limiter(KEY, RATE).pause(2)
    with pytest.raises(APITimeoutError) as caught:
        await coordinators[1].limiter(KEY, RATE).acquire(max_wait=0.5)
    assert caught.value.sent is False


async def test_a_pause_set_while_a_waiter_sleeps_holds_it_back(coordinators):
    sleeps = Sleeps()
    limiter = recorded(coordinators[0], RATE, sleeps)
    await limiter.acquire()
    other = coordinators[1].limiter(KEY, RATE)

    async def another_process_sees_a_429() -> None:
        sleeps.during = None
        await other.pause(2)

    sleeps.during = another_process_sees_a_429
    await limiter.acquire()
    # It woke inside the pause and asked again for a slot after it.
    assert sleeps.waits == [approx(0.5), approx(2.0)]


async def test_limiter_keys_expire(coordinators, raw):
    limiter = coordinators[0].limiter(KEY, 100)
    await limiter.acquire()
    await limiter.pause(0.2)
    ttls = [await raw.pttl(key) async for key in raw.scan_iter()]
    assert ttls and all(0 < ttl <= 1000 for ttl in ttls)


async def test_redis_down_falls_back_to_a_share_of_the_rate_and_recovers(own_redis_server, caplog):
    coordinator = RedisCoordinator(own_redis_server.url, fallback_share=0.5, probe_interval=0)
    limiter = coordinator.limiter(KEY, 40)
    try:
        await limiter.acquire()
        own_redis_server.stop()
        caplog.set_level(logging.WARNING, logger="drfulfill")
        await limiter.acquire()
        await limiter.pause(0.01)
        assert await limiter.paused_for() <= 0.01
        await limiter.acquire()
        assert limiter.degraded
        down = [r for r in caplog.records if r.name == "drfulfill"]
        assert len(down) == 1
        assert "pacing locally at 20 req/s" in down[0].getMessage()
        own_redis_server.start()
        await limiter.acquire()
        await limiter.acquire()
        assert not limiter.degraded
        back = [r for r in caplog.records if r.name == "drfulfill"]
        assert len(back) == 2 and "back" in back[1].getMessage()
    finally:
        await coordinator.close()


async def test_a_cancelled_acquire_always_ends_cancelled(coordinators):
    # redis-py can swallow a cancellation that lands while a command is in flight; the
    # waiter would then go on and send although its caller gave up.
    limiter = coordinators[0].limiter(KEY, 1_000_000)
    for _ in range(300):
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(random.random() * 0.001)
        if waiter.cancel():
            await asyncio.wait({waiter})
            assert waiter.cancelled()


async def test_after_a_pause_no_process_sends_until_it_ends(coordinators):
    rate, pause = 200.0, 0.25
    limiters = [c.limiter(KEY, rate) for c in coordinators]
    sent: list[float] = []
    paused_at: list[float] = []

    async def worker(limiter: RedisLimiter) -> None:
        while len(sent) < 120:
            await limiter.acquire()
            sent.append(time.monotonic())
            if len(sent) == 60 and not paused_at:  # one process sees a 429
                paused_at.append(time.monotonic())
                await limiter.pause(pause)

    await asyncio.gather(*(worker(limiter) for limiter in limiters for _ in range(8)))
    start = paused_at[0]
    # A send already past its pause check when the pause was set may still go (one round
    # trip); nothing else goes until the pause ends.
    inside = [t for t in sent if start + 0.02 < t < start + pause - 0.01]
    assert inside == []
    assert any(t >= start + pause for t in sent)
