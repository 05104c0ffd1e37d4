"""A fleet when Redis loses its data mid-load or mid-send, or answers slowly, and a key Redis
cannot carry: cases an adversarial review found (each failed on the code it reviewed).
Each is a fleet of ``Client``s with a ``RedisCoordinator`` of its own, against the emulator
and a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from redis.asyncio import Redis

from drfulfill import DigitalRiverError, ValidationError
from drfulfill.testing import Emulator

from ._proxy import CuttableProxy
from ._workers import ITEMS, created_per_key, until, worker
from .conftest import RedisServer


async def test_redis_flushed_during_a_memory_load_is_not_vouched_for(
    redis_url: str, raw: Redis
) -> None:
    # Redis loses its data (FLUSHALL, a restart without persistence) while a worker is
    # loading the fleet's memory, after the load's first sweep recorded the fleet's keys
    # and before it writes the marker. The load's second sweep reads only what was
    # created since the load began; the load used to write the marker over records that
    # were gone, so the store vouched for a key the fleet created and the next worker sent
    # it again with no lookup. The marker is now written only while the load still holds
    # its loading key (the flush took it too), else the load starts again. message-1 was
    # created an hour ago (inside the 7-day horizon, outside the second sweep's margin).
    ago = [timedelta(hours=1)]

    def clock() -> datetime:  # DR's createdTime stamps
        return datetime.now(timezone.utc) - ago[0]

    async with Emulator(rate_limit=None, clock=clock) as emu:
        await _flushed_during_load(emu, redis_url, raw, ago)


async def _flushed_during_load(
    emu: Emulator, redis_url: str, raw: Redis, ago: list[timedelta]
) -> None:
    order_1 = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    order_2 = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    async with worker(emu, redis_url, settle=0.05) as first:
        made = await first.fulfillments.create(order_id=order_1, items=ITEMS, key="message-1")
    ago[0] = timedelta(0)
    await raw.flushall()  # an hour later, Redis loses everything once: the marker notices

    async def done_records() -> int:
        return len(await raw.keys("*:done:*"))

    async with worker(emu, redis_url, settle=0.5) as second:
        loading = asyncio.ensure_future(
            second.fulfillments.create(order_id=order_2, items=ITEMS, key="message-2")
        )
        await until(done_records)  # the first sweep recorded message-1 as done
        await raw.flushall()  # ... and Redis loses it again, before the marker is written
        await loading
    assert await raw.exists(*[k for k in await raw.keys("*:memory")]) == 1  # loaded again

    async with worker(emu, redis_url, settle=0.05) as third:  # message-1 redelivered
        again = await third.fulfillments.create(order_id=order_1, items=ITEMS, key="message-1")
    await emu.commit_pending()
    assert again.id == made.id, f"message-1 created twice: {made.id} and {again.id}"
    assert created_per_key(emu)["message-1"] == 1


async def test_a_send_in_flight_when_redis_loses_its_data_is_waited_out(
    emu: Emulator, redis_server: RedisServer, redis_url: str, raw: Redis
) -> None:
    # Worker A fenced and sent its create (its fence recorded that the send may land for
    # its whole timeout); DR takes 1.5 s to answer 504, and commits just after. Meanwhile
    # A is cut off from Redis (or crashed: nobody can take its claim back) and Redis
    # loses its data. Worker B's memory load used to wait only max(settle, lease/3) from
    # its start, find nothing, vouch for the key, and let B send at once. A's create lands
    # 0.1 s after A saw its failure: well inside the settle window, so within the promise.
    # A load now waits out the longest send (the timeout) and the window before its second
    # sweep, which finds A's create.
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    warm = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    async with worker(emu, redis_url, settle=0.3) as b0:  # the fleet's memory is earned
        await b0.fulfillments.create(order_id=warm, items=ITEMS, key="message-0")
    late = emu.add_fault(
        "POST", "/fulfillments", action="respond_then_commit", latency=1.5, commit_after=1.6
    )
    async with CuttableProxy(redis_server.port) as proxy:
        async with (
            worker(emu, proxy.url, settle=0.3, timeout=5) as a,
            worker(emu, redis_url, settle=0.3, timeout=5) as b,
        ):
            task_a = asyncio.ensure_future(
                a.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
            )
            await until(lambda: late.hits == 1)  # A's create is out
            proxy.cut()  # A is cut off from Redis (the same as a crash, for the fleet)
            await raw.flushall()  # Redis loses its data
            again = await b.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
            with contextlib.suppress(DigitalRiverError):
                await task_a
    await emu.commit_pending()
    assert created_per_key(emu)["message-1"] == 1, (
        f"message-1 created twice (B's is {again.id}): "
        f"{[f['id'] for f in emu.fulfillments if f['metadata']['drfulfillKey'] == 'message-1']}"
    )


async def test_a_slow_fence_does_not_run_the_create_past_its_deadline(
    emu: Emulator, redis_server: RedisServer, redis_url: str
) -> None:
    # Every reply of Redis takes 0.6 s (each within a lease: nothing fails), so the claim
    # takes 0.6 s and the fence 0.6 s. The send's timeout was cut to what was left of the
    # deadline *before* the fence's round trip and then given whole after it: a create
    # with deadline=2 against a DR that does not answer returned after about 2.7 s. It is
    # now cut again after the fence ("nothing waits past a call's deadline").
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    warm = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    deadline = 2.0
    async with CuttableProxy(redis_server.port) as link:
        async with worker(emu, link.url, lease=3, settle=0.3, deadline=deadline) as a:
            # Connections made, scripts loaded, the fleet's memory earned (its load waits
            # out the longest send and the settle window: longer than this deadline).
            warming = a.with_options(deadline=10)
            await warming.fulfillments.create(order_id=warm, items=ITEMS, key="message-0")
            link.reply_delay = 0.6
            emu.add_fault("POST", "/fulfillments", latency=30)  # DR does not answer in time
            began = asyncio.get_running_loop().time()
            with pytest.raises(DigitalRiverError):
                await a.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
            took = asyncio.get_running_loop().time() - began
    assert took <= deadline + 0.2, f"the create took {took:.2f}s, its deadline is {deadline}s"


async def test_a_fence_answered_late_does_not_let_the_send_outlast_its_record(
    emu: Emulator, redis_server: RedisServer, redis_url: str, raw: Redis
) -> None:
    # The same slow link (0.4 s a reply), now for exactly once. Worker A's fence records
    # in Redis that its send may land until (fence + the attempt's timeout); the send
    # starts only when the fence's answer arrives, 0.4 s later. Were it then given the
    # whole timeout, it would outlast its record by the fence's latency: the next holder,
    # whose window counts from the record, would look the key up and send before a create
    # landing within the settle window of A's failure (seen on the old code: A's send
    # timed out 0.4 s after its record, DR committed 0.8 s after that, inside settle=1,
    # and B created the key again). A's send must end by its record.
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    warm = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    failed_at: list[float] = []  # wall clock (Redis's TIME is this host's clock too)

    async def on_exception(*_: object) -> None:
        failed_at.append(time.time())

    trace = aiohttp.TraceConfig()
    trace.on_request_exception.append(on_exception)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        CuttableProxy(redis_server.port) as link,
    ):
        async with (
            worker(emu, link.url, lease=1, settle=1, deadline=1.5, session=session) as a,
            worker(emu, redis_url, lease=1, settle=1) as b,
        ):
            warming = a.with_options(deadline=10)  # the memory load outlasts 1.5 s
            await warming.fulfillments.create(order_id=warm, items=ITEMS, key="message-0")
            link.reply_delay = 0.4
            late = emu.add_fault(
                "POST", "/fulfillments", action="respond_then_commit", latency=30, commit_after=1.9
            )
            task_a = asyncio.ensure_future(
                a.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
            )
            await until(lambda: late.hits == 1)  # A's create is out
            (started_key,) = await raw.keys("*:started:message-1")
            recorded = int(await raw.get(started_key)) / 1e6  # the send may land from then
            await b.fulfillments.create(order_id=order_id, items=ITEMS, key="message-1")
            with contextlib.suppress(DigitalRiverError):
                await task_a
    assert failed_at, "A's send did not time out"
    # The old code overran by the fence's latency (0.4 s); allow a busy event loop 0.2 s.
    assert failed_at[0] <= recorded + 0.2, (
        f"A's send ended {failed_at[0] - recorded:.2f}s after the fence's record of it"
    )


async def test_a_key_redis_cannot_encode_fails_as_a_validationerror(
    emu: Emulator, redis_url: str
) -> None:
    # A key with a lone surrogate can be neither a JSON body nor a Redis key: the key check
    # refuses it with a ValidationError before the claim, so redis-py's UnicodeEncodeError
    # never escapes ("every failure is a DigitalRiverError subclass") and nothing is sent.
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    async with worker(emu, redis_url, settle=0.05) as a:
        with pytest.raises(ValidationError):
            await a.fulfillments.create(order_id=order_id, items=ITEMS, key="x\ud800y")
    assert len(emu.fulfillments) == 0
