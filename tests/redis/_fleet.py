"""A stand-in for a worker's safe create, on claims: "creating" writes the key's id to a
Redis hash (standing in for Digital River) and counts how often each key was created."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from redis.asyncio import Redis

from drfulfill.redis import RedisClaimStore

CREATED = "test:dr:created"  # key -> fulfillment id, what "DR" holds
COUNTS = "test:dr:counts"  # key -> how many creates were sent


async def handle(store: RedisClaimStore, dr: Redis, key: str) -> str:
    """Create the key's fulfillment once: 'created' or 'found'."""
    claim = await store.acquire(key, max_wait=30)
    if claim.done_id is not None:
        return "found"
    if claim.taken_over:  # the last holder may have created it: look it up first
        existing = await dr.hget(CREATED, key)
        if existing is not None:
            await claim.release(existing.decode())
            return "found"
    await claim.fence(1.0)  # every send is fenced: the claim is confirmed just before it
    async with dr.pipeline(transaction=True) as create:  # one atomic create, as DR's is
        create.hincrby(COUNTS, key, 1).hset(CREATED, key, f"ful_{key}")
        await create.execute()
    await claim.release(f"ful_{key}")
    return "created"


async def handle_all(
    store: RedisClaimStore,
    dr: Redis,
    keys: Sequence[str],
    *,
    concurrency: int = 8,
    on_created: Callable[[str], None] = lambda key: None,
) -> dict[str, list[str]]:
    outcomes: dict[str, list[str]] = {"created": [], "found": []}
    queue = list(reversed(keys))

    async def task() -> None:
        while queue:
            key = queue.pop()
            outcome = await handle(store, dr, key)
            outcomes[outcome].append(key)
            if outcome == "created":
                on_created(key)

    await asyncio.gather(*(task() for _ in range(concurrency)))
    return outcomes
