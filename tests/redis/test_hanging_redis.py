"""A Redis that accepts connections and never answers: every round trip of the limiter is
bounded by what is left of the call's deadline, the call goes on through the local limiter,
and nothing is reported sent that was not.

Each call is wrapped in ``asyncio.wait_for(..., HANG)``: on the code before this fix the
calls hang (or take 2 s, then report a send that never happened); the bounds asserted are
several times the deadline, so a loaded machine cannot make them flaky.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from drfulfill import APITimeoutError, Client, CoordinationError, RateLimitError
from drfulfill.redis import RedisCoordinator
from drfulfill.testing import Emulator

from .conftest import SilentRedis

KEY = "sk_test_hanging_redis"
HANG = 8.0  # a call still running after this long hangs


@pytest.fixture
async def emulator():
    async with Emulator(rate_limit=None) as emu:
        emu.add_order("o1", items=[{"item_id": "i1", "quantity": 5}])
        yield emu


def coordinator_for(silent: SilentRedis, how: str) -> RedisCoordinator:
    if how == "url":
        return RedisCoordinator(silent.url)
    return RedisCoordinator(Redis(host="127.0.0.1", port=silent.port))  # no socket timeout


async def created(dr: Client) -> str:
    fulfillment = await dr.fulfillments.create(
        order_id="o1", items=[{"item_id": "i1", "quantity": 1}]
    )
    return str(fulfillment.id)


@pytest.mark.parametrize("how", ["own client", "url"])
async def test_a_retrieve_with_half_a_second_goes_out_through_the_local_limiter(
    silent_redis, emulator, how
):
    seed = Client(KEY, base_url=emulator.url, rate_limit=None)
    async with seed:
        fulfillment_id = await created(seed)
    coordinator = coordinator_for(silent_redis, how)
    try:
        async with Client(KEY, base_url=emulator.url, coordinator=coordinator, deadline=0.5) as dr:
            started = time.monotonic()
            # Before: own client, still running after 10 s; URL, APITimeoutError(sent=True)
            # after 2 s although the request never left.
            found = await asyncio.wait_for(dr.fulfillments.retrieve(fulfillment_id), HANG)
            assert found.id == fulfillment_id
            assert time.monotonic() - started < 1.5
            assert silent_redis.connections >= 1  # Redis was asked, and did not answer
    finally:
        await asyncio.wait_for(coordinator.close(), HANG)


@pytest.mark.parametrize("how", ["own client", "url"])
async def test_a_429_pause_is_not_waited_on_past_the_deadline(silent_redis, emulator, how):
    emulator.add_fault("GET", "/fulfillments/*", status=429, retry_after=30)
    coordinator = coordinator_for(silent_redis, how)
    try:
        async with Client(KEY, base_url=emulator.url, coordinator=coordinator, deadline=0.5) as dr:
            started = time.monotonic()
            with pytest.raises(RateLimitError):
                await asyncio.wait_for(dr.fulfillments.retrieve("ful_x"), HANG)
            assert time.monotonic() - started < 1.5
    finally:
        await asyncio.wait_for(coordinator.close(), HANG)


@pytest.mark.parametrize("priority", ["interactive", "bulk"])
async def test_the_limiter_falls_back_within_the_call_and_logs_once(silent_redis, caplog, priority):
    coordinator = coordinator_for(silent_redis, "own client")
    limiter = coordinator.limiter(KEY, 25)
    try:
        started = time.monotonic()
        await asyncio.wait_for(limiter.acquire(0.4, priority=priority), HANG)
        assert time.monotonic() - started < 1.2
        assert limiter.degraded
        assert await asyncio.wait_for(limiter.paused_for(), HANG) == 0.0
        warnings = [r for r in caplog.records if r.name == "drfulfill"]
        assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    finally:
        await asyncio.wait_for(coordinator.close(), HANG)


async def test_a_call_without_a_deadline_waits_at_most_a_second_for_redis(silent_redis):
    coordinator = coordinator_for(silent_redis, "own client")
    limiter = coordinator.limiter(KEY, 25)
    try:
        started = time.monotonic()
        await asyncio.wait_for(limiter.acquire(), HANG)
        assert time.monotonic() - started < 2.5
        assert limiter.degraded
    finally:
        await asyncio.wait_for(coordinator.close(), HANG)


async def test_a_cancelled_waiter_ends_at_once_and_leaves_no_command_running(silent_redis):
    coordinator = coordinator_for(silent_redis, "own client")
    limiter = coordinator.limiter(KEY, 25)
    try:
        waiter = asyncio.create_task(limiter.acquire(1.0))
        await asyncio.wait_for(silent_redis.connected.wait(), HANG)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiter, HANG)
        # The command in flight is cancelled within its bound (half of the 1 s), and
        # redis-py closes its connection: nothing is left waiting on the silent server.
        # (Before: the command ran on until redis-py's own 5 s timeout.)
        await asyncio.wait_for(silent_redis.disconnected.wait(), 2.0)
    finally:
        await asyncio.wait_for(coordinator.close(), HANG)


async def test_no_time_left_is_refused_without_asking_redis(silent_redis):
    coordinator = coordinator_for(silent_redis, "own client")
    limiter = coordinator.limiter(KEY, 25)
    try:
        with pytest.raises(APITimeoutError) as caught:
            await asyncio.wait_for(limiter.acquire(0.0), HANG)
        assert caught.value.sent is False
        assert silent_redis.connections == 0 and not limiter.degraded
    finally:
        await asyncio.wait_for(coordinator.close(), HANG)


async def test_closing_the_coordinator_ends_the_commands_its_callers_left(silent_redis):
    # A caller cancelled mid-command leaves the command running on its own until its bound
    # (here a 30 s lease). Closing the coordinator must end it: before, it ran on after the
    # close, and against a real Redis it reconnected to send again (an unclosed socket when
    # the loop ended).
    coordinator = RedisCoordinator(silent_redis.url, lease=30)
    claims = coordinator.claims(KEY)
    caller = asyncio.create_task(claims.round_trip(coordinator.redis.ping(), None, "ping"))
    await asyncio.wait_for(silent_redis.connected.wait(), HANG)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.wait_for(coordinator.close(), HANG)
    await asyncio.wait_for(silent_redis.disconnected.wait(), HANG)
    left = [t for t in asyncio.all_tasks() if "execute_command" in repr(t.get_coro())]
    assert not left, left
    with pytest.raises(CoordinationError, match="coordinator is closed"):
        await claims.round_trip(coordinator.redis.ping(), None, "ping")


async def test_a_round_trip_cut_short_by_a_tight_deadline_does_not_fail_the_fleet_limiter(
    silent_redis,
):
    # With 40 ms left, Redis gets 20 ms: a healthy Redis under load can take that long.
    # Before, that timeout sent the whole process to local pacing (a quarter of the rate)
    # for probe_interval, with a "Redis rate limiter unavailable" warning.
    coordinator = coordinator_for(silent_redis, "own client")
    limiter = coordinator.limiter(KEY, 25)
    try:
        await asyncio.wait_for(limiter.acquire(0.04), HANG)  # out through the local limiter
        assert not limiter.degraded
        await asyncio.wait_for(limiter.acquire(0.5), HANG)  # 250 ms unanswered: failing
        assert limiter.degraded
    finally:
        await asyncio.wait_for(coordinator.close(), HANG)
