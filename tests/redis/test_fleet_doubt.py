"""Exactly once across a fleet (issue 18), against the emulator and a real redis-server.

Each "worker" is a ``Client`` with a ``RedisCoordinator`` of its own (its own connections):
what one process knows in memory, the other does not. The settle windows and delays are
short so the default run stays fast.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from redis.asyncio import Redis

from drfulfill import Client, CoordinationError, DigitalRiverError
from drfulfill.testing import Emulator

from ._proxy import CuttableProxy
from ._workers import ITEMS, created_per_key, until, worker
from .conftest import RedisServer


@pytest.mark.parametrize("how", ["cancelled mid-send", "deadline after a 504"])
async def test_a_create_left_in_doubt_is_waited_out_by_the_next_worker(
    emu: Emulator, redis_url: str, how: str
) -> None:
    # A per-message timeout cancels worker A's create while it is out (or A's short
    # deadline raises its 504); the queue redelivers the message to worker B, same key.
    # The first create commits later. B must look it up across a window from when A's
    # doubt began, not create it again.
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    latency = 5 if how == "cancelled mid-send" else 0
    late = emu.add_fault(
        "POST", "/fulfillments", action="respond_then_commit", latency=latency, commit_after=0.5
    )
    async with worker(emu, redis_url, settle=0.6) as a, worker(emu, redis_url, settle=0.6) as b:
        if how == "cancelled mid-send":
            first = asyncio.ensure_future(
                a.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
            )
            await until(lambda: late.hits == 1)  # the create is out
            first.cancel()  # the message's time is up
            with pytest.raises(asyncio.CancelledError):
                await first
        else:
            with pytest.raises(DigitalRiverError):
                await a.with_options(deadline=0.2, settle=0.6).fulfillments.create(
                    order_id=order_id, items=ITEMS, key="message-1"
                )
        again = await b.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
    await emu.commit_pending()
    assert created_per_key(emu) == Counter({"message-1": 1})
    assert [f["id"] for f in emu.fulfillments] == [again.id]


async def test_a_worker_cut_off_from_redis_never_sends_after_its_claim_lapsed(
    emu: Emulator, redis_server: RedisServer, redis_url: str
) -> None:
    # Worker A holds the claim and waits out a 429's Retry-After; its link to Redis
    # breaks (the rest of the fleet still reaches Redis), its claim lapses, worker B takes
    # over, settles and creates. Then A's wait ends: it must not send.
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    limited = emu.add_fault("POST", "/fulfillments", status=429, retry_after=1)
    async with CuttableProxy(redis_server.port) as proxy:
        async with (
            worker(emu, proxy.url, settle=0.2, timeout=0.5) as a,
            worker(emu, redis_url, settle=0.2, timeout=0.5) as b,
        ):
            task_a = asyncio.ensure_future(
                a.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
            )
            await until(lambda: limited.hits == 1)  # A got its 429 and is waiting
            proxy.cut()
            made = await b.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
            with pytest.raises(CoordinationError, match="nothing was sent"):
                await task_a
    assert created_per_key(emu) == Counter({"message-1": 1})
    assert [f["id"] for f in emu.fulfillments] == [made.id]


async def test_a_fleet_creates_with_one_request_each_and_repeats_cost_no_post(
    emu: Emulator, redis_url: str
) -> None:
    orders = [emu.add_order(items=[{"item_id": "i1", "quantity": 5}]) for _ in range(20)]
    keys = [f"message-{n}" for n in range(20)]

    async def create_all(client: Client) -> None:
        for key, order_id in zip(keys, orders, strict=True):
            await client.fulfillments.create(order_id=order_id, items=ITEMS, key=key)

    def requests() -> Counter[str]:
        return Counter(
            "POST" if r.method == "POST" else "GET by id" if r.path.count("/") == 2 else "list"
            for r in emu.requests
        )

    async with worker(emu, redis_url, settle=0.05) as first:
        await create_all(first)
    # One POST per create; the fleet's first create loaded its memory: two list requests.
    assert requests() == Counter({"POST": 20, "list": 2})

    emu.clear_log()
    async with worker(emu, redis_url, settle=0.05) as second:  # the messages redelivered
        await create_all(second)
    assert requests() == Counter({"GET by id": 20})  # never a POST, never a lookup

    async with Redis.from_url(redis_url) as raw:
        await raw.flushall()  # Redis loses everything; fresh workers cannot tell
    emu.clear_log()
    async with worker(emu, redis_url, settle=0.05) as third:
        await create_all(third)
    # The memory is loaded again from Digital River before anything is sent.
    assert requests() == Counter({"GET by id": 20, "list": 2})
    assert created_per_key(emu) == Counter({key: 1 for key in keys})


async def test_a_worker_that_cannot_settle_an_inherited_doubt_passes_it_on(
    emu: Emulator, redis_url: str
) -> None:
    # Found by the simulation (seed 1880): worker B inherits A's doubt after its window
    # has passed, but every lookup fails before B's message times out. B must release
    # the claim still in doubt: released clean, worker C would send the create again.
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    late = emu.add_fault(
        "POST", "/fulfillments", action="respond_then_commit", latency=5, commit_after=0.4
    )
    async with (
        worker(emu, redis_url, settle=0.2, timeout=0.1) as a,
        worker(emu, redis_url, settle=0.2) as b,
        worker(emu, redis_url, settle=0.2) as c,
    ):
        first = asyncio.ensure_future(
            a.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
        )
        await until(lambda: late.hits == 1)
        await asyncio.sleep(0.15)  # A's attempt timed out: it is looking the key up
        first.cancel()  # A leaves the key in doubt, in Redis
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.sleep(0.5)  # A's window has passed; its create has landed by now
        emu.add_fault("GET", "/fulfillments", status=503, times=None)
        with pytest.raises((asyncio.TimeoutError, DigitalRiverError)):  # lookups all fail
            await asyncio.wait_for(
                b.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1"), 0.5
            )
        emu.clear_faults()
        again = await c.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
    await emu.commit_pending()
    assert [f["id"] for f in emu.fulfillments] == [again.id]


async def test_a_create_that_settled_a_doubt_but_never_resent_leaves_it_in_doubt(
    emu: Emulator, redis_url: str
) -> None:
    # Found by the simulation (seed 587 of its third fault model): DR answers 503 with
    # Retry-After and commits after the settle window; the window's lookups find nothing
    # (the doubt is settled), but the lookup before the resend fails and the create
    # raises. Released clean, the next worker would send at once (its claim says nobody
    # sent the key) and create it a second time.
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    emu.add_fault(
        "POST",
        "/fulfillments",
        action="respond_then_commit",
        status=503,
        retry_after=2,
        commit_after=1.0,
    )
    async with worker(emu, redis_url, settle=0.5) as a, worker(emu, redis_url, settle=0.5) as b:
        first = asyncio.ensure_future(
            a.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
        )
        await asyncio.sleep(1.2)  # the window has passed, found nothing; the commit landed
        emu.add_fault("GET", "/fulfillments", status=503, times=None)
        with pytest.raises(DigitalRiverError):
            await first  # the lookup before the resend fails: nothing sent again
        emu.clear_faults()
        again = await b.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
    await emu.commit_pending()
    assert [f["id"] for f in emu.fulfillments] == [again.id]


async def test_fetching_what_another_worker_created_keeps_to_the_callers_deadline(
    emu: Emulator, redis_url: str
) -> None:
    # Found by the simulation (a create ran 20 s against a 15 s deadline): after waiting
    # for another worker's claim, the GET of the fulfillment it recorded had a deadline of
    # its own, counted from its own start.
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    emu.add_fault("POST", "/fulfillments", latency=1.0)  # A holds the claim for a second
    loop = asyncio.get_running_loop()
    async with worker(emu, redis_url, settle=0.05) as a, worker(emu, redis_url, settle=0.05) as b:
        first = asyncio.ensure_future(
            a.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
        )
        await until(lambda: any(r.method == "POST" for r in emu.requests))
        emu.add_fault("GET", "/fulfillments/*", status=503, latency=0.2, times=None)
        began = loop.time()
        with pytest.raises(DigitalRiverError):
            await b.with_options(deadline=1.5).fulfillments.create(
                order_id=order_id, items=ITEMS, key="message-1"
            )
        took = loop.time() - began
        await first
    assert took < 1.5 + 0.3  # not the claim's wait plus a deadline of the GET's own
