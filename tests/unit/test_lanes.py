"""Priority lanes in the local limiter: interactive calls never queue behind bulk traffic,
and bulk traffic alone still uses the whole limit. Virtual time: nothing really sleeps."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable

import pytest

from drfulfill import APITimeoutError, Client, ValidationError
from drfulfill._ratelimit import RateLimiter

from .conftest import BASE, KEY, FakeTime, sent, url_pattern


class VirtualTime:
    """A clock shared by many tasks: ``sleep`` waits until the clock reaches its end, and
    ``run_until`` moves the clock from one wake-up to the next once every task is blocked."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), woken))
        await woken

    async def _settle(self) -> None:
        for _ in range(50):  # every runnable task runs until it blocks again
            await asyncio.sleep(0)

    async def run_until(self, end: float) -> None:
        await self._settle()
        while self._sleepers and self._sleepers[0][0] <= end:
            wake_at, _, woken = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake_at)
            if not woken.done():
                woken.set_result(None)
            await self._settle()
        self.now = end


def lanes_limiter(time: VirtualTime, rate: float = 25) -> RateLimiter:
    return RateLimiter(rate, clock=time.clock, sleep=time.sleep)


async def saturate(limiter: RateLimiter, time: VirtualTime, sends: list[float], workers: int):
    """``workers`` bulk callers, each sending as soon as the limiter lets it (a bulk upload
    at concurrency ``workers``), recording send times."""

    async def worker() -> None:
        while True:
            await limiter.acquire(priority="bulk")
            sends.append(time.now)

    return [asyncio.create_task(worker()) for _ in range(workers)]


async def interactive_caller(
    limiter: RateLimiter, time: VirtualTime, waits: list[float], every: float, sends: list[float]
) -> None:
    while True:
        asked = time.now
        await limiter.acquire()
        waits.append(time.now - asked)
        sends.append(time.now)
        await time.sleep(every)


def most_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] > window + 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        if task.done():  # a caller that stopped by itself failed: show why
            task.result()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_an_interactive_call_gets_its_slot_within_one_interval_under_bulk_load():
    time = VirtualTime()
    limiter = lanes_limiter(time)  # 25 req/s: one slot every 40 ms, burst 5
    bulk: list[float] = []
    interactive: list[float] = []
    waits: list[float] = []
    workers = await saturate(limiter, time, bulk, workers=16)
    caller = asyncio.create_task(interactive_caller(limiter, time, waits, 0.5, interactive))
    await time.run_until(1019.9)
    await cancel_all([*workers, caller])

    assert len(waits) == 40
    assert max(waits) <= 0.04 + 1e-9  # today: ~0.48 s, behind the 16 queued bulk requests
    # Bulk keeps the key busy: it takes every slot the interactive caller leaves.
    assert len(bulk) + len(interactive) >= 0.99 * 25 * 20
    # Together they never exceed the limit: at most the burst plus the rate in any window.
    every_send = bulk + interactive
    for window in (0.04, 0.2, 1.0, 5.0):
        assert most_in_window(every_send, window) <= 5 + 25 * window + 1e-9


async def test_bulk_alone_uses_the_whole_limit():
    time = VirtualTime()
    limiter = lanes_limiter(time)
    bulk: list[float] = []
    workers = await saturate(limiter, time, bulk, workers=16)
    await time.run_until(1020.0)
    await cancel_all(workers)

    assert len(bulk) >= 0.95 * 25 * 20  # measured: 504 of the 505 GCRA allows
    assert most_in_window(bulk, 1.0) <= 5 + 25


async def test_bulk_waits_behind_interactive_calls_already_waiting():
    t = FakeTime()
    limiter = RateLimiter(10, burst=1, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        limiter.reserve()  # interactive calls hold the next 0.3 s of slots
    await limiter.acquire(priority="bulk")
    assert t.now == pytest.approx(1000.3)  # the first slot after them


async def test_a_bulk_slot_past_max_wait_is_refused_at_once_and_not_taken():
    t = FakeTime()
    limiter = RateLimiter(10, burst=1, clock=t.clock, sleep=t.sleep)
    for _ in range(30):
        limiter.reserve()
    with pytest.raises(APITimeoutError) as caught:
        await limiter.acquire(max_wait=1.0, priority="bulk")
    assert caught.value.sent is False and t.slept == []
    assert limiter.reserve() == pytest.approx(1003.0)  # nothing was taken


async def test_a_pause_holds_bulk_back_and_then_interactive_goes_first():
    t = FakeTime()
    limiter = RateLimiter(25, clock=t.clock, sleep=t.sleep)
    await limiter.pause(2.0)
    await limiter.acquire(priority="bulk")
    assert t.now >= 1002.0
    # Interactive calls still find a slot at once: bulk leaves them the headroom.
    before = t.now
    await limiter.acquire()
    assert t.now == before


async def test_bulk_waiters_go_in_arrival_order_and_a_cancelled_one_passes_its_turn_on():
    time = VirtualTime()
    limiter = RateLimiter(10, burst=1, clock=time.clock, sleep=time.sleep)
    order: list[int] = []

    async def waiter(number: int) -> None:
        await limiter.acquire(priority="bulk")
        order.append(number)

    tasks = [asyncio.create_task(waiter(n)) for n in range(5)]
    await time.run_until(1000.0)
    tasks[2].cancel()
    await time.run_until(1001.0)
    assert order == [0, 1, 3, 4]
    assert tasks[2].cancelled()


async def test_a_waiting_bulk_call_never_waits_past_its_max_wait():
    time = VirtualTime()
    limiter = RateLimiter(10, burst=1, clock=time.clock, sleep=time.sleep)
    outcomes: list[str] = []

    async def bulk_call(max_wait: float) -> None:
        try:
            await limiter.acquire(max_wait, priority="bulk")
            outcomes.append(f"sent at {time.now - 1000:.1f}")
        except APITimeoutError as error:
            assert error.sent is False
            outcomes.append(f"refused at {time.now - 1000:.1f}")

    first = asyncio.create_task(bulk_call(5))
    second = asyncio.create_task(bulk_call(5))
    await time.run_until(1000.0)
    # Interactive calls take the next 6 s of slots: the second bulk call sees at its next
    # wake-up (its slot was due at 0.1) that its turn would come after its max_wait, and
    # gives up then, sending nothing.
    for _ in range(60):
        limiter.reserve()
    await time.run_until(1010.0)
    await asyncio.gather(first, second)
    assert outcomes == ["sent at 0.0", "refused at 0.1"]


def test_priority_must_be_bulk_or_interactive():
    client = Client(KEY, base_url=BASE)
    with pytest.raises(ValidationError, match="priority"):
        client.with_options(priority="urgent")  # type: ignore[arg-type]


class RecordingLimiter:
    """A Limiter (the protocol a coordinator provides) that records each call's lane."""

    rate = 1000.0

    def __init__(self) -> None:
        self.lanes: list[str] = []

    async def acquire(self, max_wait: float | None = None, *, priority: str = "interactive"):
        self.lanes.append(priority)

    async def pause(self, seconds: float) -> None:
        pass

    async def paused_for(self) -> float:
        return 0.0


class RecordingCoordinator:
    def __init__(self) -> None:
        self.recording = RecordingLimiter()

    def limiter(self, api_key: str, rate: float) -> RecordingLimiter:
        return self.recording

    def claims(self, api_key: str) -> None:
        return None


FULFILLMENT = {
    "id": "ful_1",
    "createdTime": "2026-01-01T00:00:00Z",
    "orderId": "o1",
    "items": [{"itemId": "i1", "quantity": 1}],
}

Call = Callable[[Client], Awaitable[object]]


async def test_views_and_bulk_create_mark_their_lane(mock):
    mock.get(url_pattern("/fulfillments/ful_1"), payload=FULFILLMENT, repeat=True)
    mock.get(url_pattern("/fulfillments"), payload={"data": [], "hasMore": False}, repeat=True)
    mock.post(url_pattern("/fulfillments"), payload=FULFILLMENT, repeat=True)
    coordinator = RecordingCoordinator()
    # settle=0.01: the bulk run's start window (no journal, no claims) is not what this tests
    async with Client(KEY, base_url=BASE, coordinator=coordinator, settle=0.01) as dr:  # type: ignore[arg-type]
        lanes = coordinator.recording.lanes
        await dr.fulfillments.retrieve("ful_1")
        await dr.with_options(priority="bulk").fulfillments.retrieve("ful_1")
        await (
            dr.with_options(priority="bulk")
            .with_options(timeout=5)
            .fulfillments.create(order_id="o1", items=[{"item_id": "i1", "quantity": 1}])
        )
        await (
            dr.with_options(priority="bulk")
            .with_options(priority="interactive")
            .fulfillments.retrieve("ful_1")
        )
        assert lanes == ["interactive", "bulk", "bulk", "interactive"]
        lanes.clear()
        rows = [{"order_id": "o1", "items": [{"item_id": "i1", "quantity": 1}]}]
        results = [r async for r in dr.fulfillments.bulk_create(rows)]
        assert results[0].ok
        # The order's lookup and the create: both bulk, from a client that is interactive.
        assert lanes == ["bulk", "bulk"] and len(sent(mock)) == 6
        await dr.fulfillments.retrieve("ful_1")
        assert lanes[-1] == "interactive"
