"""Exactly-once claims against a real redis-server."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from redis.asyncio import Redis

from drfulfill.errors import APITimeoutError, CoordinationError
from drfulfill.redis import RedisCoordinator

from ._fleet import COUNTS, handle_all

KEY = "sk_live_fleet_claims"
FAST = {"lease": 0.2, "poll": (0.005, 0.02)}


@pytest.fixture
async def stores(redis_url):
    made = [RedisCoordinator(redis_url, **FAST) for _ in range(2)]
    yield [c.claims(KEY) for c in made]
    for coordinator in made:
        await coordinator.close()


async def test_a_claim_is_exclusive(stores):
    first, second = stores
    claim = await first.acquire("k1", max_wait=None)
    assert claim.held and claim.done_id is None and not claim.taken_over
    with pytest.raises(APITimeoutError) as caught:
        await second.acquire("k1", max_wait=0.05)
    assert caught.value.sent is False
    other = await second.acquire("k2", max_wait=0)  # another key is free
    await other.release(None)
    await claim.release(None)


async def test_a_waiter_gets_the_done_id_once_the_holder_releases(stores, raw):
    first, second = stores
    claim = await first.acquire("k1", max_wait=None)
    waiter = asyncio.create_task(second.acquire("k1", max_wait=5))
    await asyncio.sleep(0.02)  # the waiter is polling
    assert not waiter.done()
    await claim.release("ful_1")
    seen = await waiter
    assert seen.done_id == "ful_1" and not seen.held
    await seen.release(None)  # a done claim needs no release; it is harmless
    done_key = first.keys_for("k1")[2]
    assert 0 < await raw.pttl(done_key) <= 7 * 24 * 3600 * 1000
    assert await raw.exists(*first.keys_for("k1")[:2]) == 0
    again = await first.acquire("k1", max_wait=0)
    assert again.done_id == "ful_1"


async def test_the_holder_renews_its_lease_while_it_works(redis_url, stores):
    async with RedisCoordinator(redis_url, lease=0.1) as coordinator:
        claim = await coordinator.claims(KEY).acquire("k1", max_wait=None)
        await asyncio.sleep(0.25)  # more than twice the lease
        with pytest.raises(APITimeoutError):
            await stores[1].acquire("k1", max_wait=0)
        assert claim.held
        await claim.release(None)


async def test_a_holder_that_lost_its_claim_stops_renewing_and_says_so(stores, raw, caplog):
    caplog.set_level(logging.WARNING, logger="drfulfill")
    claim = await stores[0].acquire("k1", max_wait=None)
    await raw.set(stores[0].keys_for("k1")[0], "someone-else", px=1000)  # as after a stall

    # The next renewal (a third of the 0.2 s lease) finds out; bounded, so a renewal that
    # never notices fails the test instead of hanging it.
    async def until_released() -> None:
        while claim.held:  # noqa: ASYNC110 (polling a property, there is no event to wait on)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(until_released(), timeout=5)
    assert "lost the claim" in caplog.text
    await claim.release("ful_1")  # not the holder: records nothing
    assert await raw.exists(stores[0].keys_for("k1")[2]) == 0


async def test_a_dead_holders_claim_is_taken_over(stores, raw):
    first, second = stores
    claim_key, started_key, _ = first.keys_for("k1")
    # What a holder leaves behind when it dies: a claim with a lease, and its marker.
    await raw.set(claim_key, "dead-token", px=50)
    await raw.set(started_key, "dead-token")
    taken = await second.acquire("k1", max_wait=2)
    assert taken.taken_over and taken.held and taken.done_id is None
    await taken.release("ful_9")
    assert (await first.acquire("k1", max_wait=0)).done_id == "ful_9"


async def test_a_claim_released_without_id_is_not_taken_over(stores):
    first, second = stores
    await (await first.acquire("k1", max_wait=None)).release(None)
    claim = await second.acquire("k1", max_wait=0)
    assert not claim.taken_over and claim.done_id is None
    await claim.release(None)


async def test_release_with_the_wrong_token_does_nothing(stores, raw):
    first, second = stores
    claim = await first.acquire("k1", max_wait=None)
    await second.release("k1", "not-the-token", "ful_x")
    claim_key, _, done_key = first.keys_for("k1")
    assert await raw.get(claim_key) == claim.token.encode()
    assert await raw.exists(done_key) == 0
    with pytest.raises(APITimeoutError):
        await second.acquire("k1", max_wait=0)
    await claim.release(None)


async def test_a_taken_over_claim_cannot_be_released_by_its_old_holder(stores, raw, caplog):
    first, second = stores
    claim_key, started_key, done_key = first.keys_for("k1")
    await raw.set(claim_key, "old-token", px=30)
    await raw.set(started_key, "old-token")
    taken = await second.acquire("k1", max_wait=2)
    await first.release("k1", "old-token", "ful_old")
    assert await raw.exists(done_key) == 0
    assert await raw.get(claim_key) is not None
    await taken.release(None)


async def test_a_lapsed_claim_nobody_took_is_still_released_by_its_holder(stores, raw):
    first, _ = stores
    _, started_key, done_key = first.keys_for("k1")
    await raw.set(started_key, "my-token")  # the claim key itself expired
    await first.release("k1", "my-token", "ful_2")
    assert await raw.get(done_key) == b"ful_2"
    assert await raw.exists(started_key) == 0


async def test_a_client_with_decoded_responses(redis_url):
    async with Redis.from_url(redis_url, decode_responses=True) as client:
        store = RedisCoordinator(client, **FAST).claims(KEY)
        await (await store.acquire("k1", max_wait=None)).release("ful_3")
        assert (await store.acquire("k1", max_wait=0)).done_id == "ful_3"


async def test_redis_down_is_a_coordination_error_never_a_pass(own_redis_server, caplog):
    coordinator = RedisCoordinator(own_redis_server.url, **FAST)
    store = coordinator.claims(KEY)
    try:
        claim = await store.acquire("k1", max_wait=None)
        own_redis_server.stop()
        with pytest.raises(CoordinationError, match="nothing was sent"):
            await store.acquire("k2", max_wait=1)
        caplog.set_level(logging.WARNING, logger="drfulfill")
        await claim.release("ful_1")  # logged: the lease expires, the next holder looks up
        assert "could not release" in caplog.text
        own_redis_server.start()  # an empty server: nothing was persisted
        fresh = await store.acquire("k1", max_wait=None)
        assert fresh.done_id is None
        await fresh.release(None)
    finally:
        await coordinator.close()


async def test_four_processes_given_the_same_keys_create_each_once(redis_url, raw):
    count = 200
    # A lease of 1 s: every round trip is bounded by the lease, and 32 tasks of 4
    # coordinators in one process on a loaded 2-core machine can take more than 0.2 s.
    coordinators = [RedisCoordinator(redis_url, lease=1, poll=FAST["poll"]) for _ in range(4)]
    try:
        orders = [random.Random(seed).sample(range(count), count) for seed in range(4)]
        runs = await asyncio.gather(
            *(
                handle_all(c.claims(KEY), raw, [f"k{n}" for n in order])
                for c, order in zip(coordinators, orders, strict=True)
            )
        )
    finally:
        for coordinator in coordinators:
            await coordinator.close()
    assert_created_once(count, runs, await raw.hgetall(COUNTS))


def assert_created_once(count, runs, counts, *, lost_reports=False):
    """Every key created exactly once, reported by one process and found by the others
    (``lost_reports``: a killed process's reports are gone, its creates are counted)."""
    assert len(counts) == count and set(counts.values()) == {b"1"}
    created = [key for run in runs for key in run["created"]]
    assert len(created) == len(set(created))
    assert len(created) < count if lost_reports else len(created) == count
    for run in runs:
        assert len(run["created"]) + len(run["found"]) == count


async def test_release_ends_the_renewal_even_when_it_is_cancelled_mid_command(redis_url):
    # redis-py can swallow a cancellation that lands while a command is in flight; a
    # renewal that swallowed it would renew (and release would wait) for ever.
    async with RedisCoordinator(redis_url, lease=0.003) as coordinator:
        store = coordinator.claims(KEY)
        for n in range(300):
            claim = await store.acquire(f"k{n}", max_wait=None)
            await asyncio.sleep(random.random() * 0.002)  # land anywhere in a renewal
            release = asyncio.create_task(claim.release(None))
            done, _ = await asyncio.wait({release}, timeout=2)
            assert done, f"release {n} hung"
            assert not claim.held


async def test_after_a_redis_crash_with_its_data_held_keys_are_taken_over(
    persistent_redis_server,
):
    async with RedisCoordinator(persistent_redis_server.url, **FAST) as coordinator:
        store = coordinator.claims(KEY)
        await (await store.acquire("k-done", max_wait=None)).release("ful_1")
        claim_key, started_key, _ = store.keys_for("k-held")
        # A process mid-create, that dies with Redis: its claim and marker are on disk.
        await coordinator.redis.set(claim_key, "dead-token", px=100)
        await coordinator.redis.set(started_key, "dead-token")
        persistent_redis_server.stop()  # SIGKILL
        with pytest.raises(CoordinationError):
            await store.acquire("k-new", max_wait=0)
        persistent_redis_server.start()
        assert (await store.acquire("k-done", max_wait=0)).done_id == "ful_1"
        taken = await store.acquire("k-held", max_wait=2)  # once the lease has run out
        assert taken.taken_over
        await taken.release(None)
        fresh = await store.acquire("k-new", max_wait=0)
        assert not fresh.taken_over
        await fresh.release(None)
