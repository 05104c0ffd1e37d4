"""prefetch and time-sharded listing of both resources against the emulator over loopback."""

import asyncio
from contextlib import aclosing
from datetime import datetime, timedelta, timezone

import pytest

from drfulfill import CreatedTime, ValidationError
from drfulfill.testing import Emulator

from .conftest import make_client

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class SteppingClock:
    """createdTime one second apart, every 3 objects sharing a second (ties at the cuts)."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return T0 + timedelta(seconds=self.calls // 3)


async def seed_fulfillments(emu, dr, count):
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": count}])
    for _ in range(count):
        await dr.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])


async def seed_returns(emu, dr, count):
    fo_id = emu.add_fulfillment_order(
        upstream_id="up",
        items=[{"id": "foi", "inventory_item_id": "inv", "shipped_quantity": count}],
    )
    for _ in range(count):
        await dr.fulfillment_returns.create(
            fulfillment_order_id=fo_id, items=[{"fulfillment_order_item_id": "foi", "quantity": 1}]
        )


@pytest.mark.parametrize(
    ("resource", "seed"),
    [("fulfillments", seed_fulfillments), ("fulfillment_returns", seed_returns)],
)
async def test_sharded_and_prefetched_listings_yield_the_sequential_id_set(resource, seed):
    clock = SteppingClock()
    async with Emulator(rate_limit=None, clock=clock) as emu, make_client(emu) as dr:
        await seed(emu, dr, 90)
        listing = getattr(dr, resource)
        # The emulator stamps orders too, so read the window from what was created.
        window = CreatedTime(gte=T0 + timedelta(seconds=1), lte=T0 + timedelta(seconds=29))
        sequential = [x.id async for x in listing.list(limit=7, created_time=window)]
        assert len(sequential) > 60 and len(set(sequential)) == len(sequential)

        emu.clear_log()
        sharded = [x.id async for x in listing.list(limit=7, created_time=window, shards=5)]
        assert len(sharded) == len(sequential) and set(sharded) == set(sequential)
        first_windows = {
            tuple(sorted((k, v) for k, v in r.query if k.startswith("createdTime")))
            for r in emu.requests
            if not any(k == "startingAfter" for k, _ in r.query)
        }
        assert len(first_windows) == 5

        ahead = [x.id async for x in listing.list(limit=7, created_time=window, prefetch=True)]
        assert ahead == sequential


async def test_shards_without_both_bounds_are_refused_before_any_request(emu, dr):
    emu.clear_log()
    for resource in (dr.fulfillments, dr.fulfillment_returns):
        with pytest.raises(ValidationError):
            resource.list(created_time=CreatedTime(gte=T0), shards=4)
        with pytest.raises(ValidationError):
            resource.list(shards=4)
    assert emu.requests == []


def client_tasks():
    """Tasks left besides this test's, leaving out the emulator's own (same loop)."""
    return [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task() and "aiohttp/web_" not in repr(task)
    ]


async def test_break_out_of_a_prefetched_and_a_sharded_listing_cancels_cleanly():
    # A short real latency, so the prefetched requests are in flight on real sockets when
    # the loop is left.
    async with Emulator(rate_limit=None, clock=SteppingClock(), latency=0.05) as emu:
        async with make_client(emu) as dr:
            await seed_fulfillments(emu, dr, 30)
            window = CreatedTime(gte=T0, lt=T0 + timedelta(seconds=60))
            for options in ({"prefetch": True}, {"shards": 4, "created_time": window}):
                async with aclosing(aiter(dr.fulfillments.list(limit=5, **options))) as items:
                    async for _ in items:
                        break
                assert client_tasks() == []
            # The client still works after the cancelled requests.
            assert len([f async for f in dr.fulfillments.list(limit=100)]) == 30
