"""A separate process for the fleet tests: ``python -m tests.redis._worker MODE ...``.

``limit URL API_KEY RATE COUNT``: print "ready", wait for a line on stdin, take COUNT
slots of the shared limiter and print their wall-clock times as JSON.
``claim URL API_KEY LEASE``: claim "k1", fence a send of 0.1 s, print "claimed" and hold it
until killed (a holder that dies while it may be sending).
``claims URL API_KEY LEASE SEED COUNT``: handle keys k0..k<COUNT-1> in an order shuffled by
SEED (``_fleet.handle``), print "created <key>" for each created, then "done <json>".
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

from redis.asyncio import Redis

from drfulfill.redis import RedisCoordinator

from ._fleet import handle_all


async def limit(url: str, api_key: str, rate: float, count: int) -> None:
    async with RedisCoordinator(url) as coordinator:
        limiter = coordinator.limiter(api_key, rate)
        await coordinator.redis.ping()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        times = []
        for _ in range(count):
            await limiter.acquire()
            times.append(time.time())
        print(json.dumps(times), flush=True)


async def claim(url: str, api_key: str, lease: float) -> None:
    async with RedisCoordinator(url, lease=lease) as coordinator:
        held = await coordinator.claims(api_key).acquire("k1", max_wait=None)
        await held.fence(0.1)
        print("claimed", flush=True)
        await asyncio.Event().wait()


async def claims(url: str, api_key: str, lease: float, seed: int, count: int) -> None:
    keys = [f"k{n}" for n in range(count)]
    random.Random(seed).shuffle(keys)
    async with RedisCoordinator(url, lease=lease, poll=(0.005, 0.05)) as coordinator:
        async with Redis.from_url(url) as dr:
            outcomes = await handle_all(
                coordinator.claims(api_key),
                dr,
                keys,
                on_created=lambda key: print("created", key, flush=True),
            )
    print("done", json.dumps(outcomes), flush=True)


if __name__ == "__main__":
    mode, url, api_key, *rest = sys.argv[1:]
    if mode == "limit":
        asyncio.run(limit(url, api_key, float(rest[0]), int(rest[1])))
    elif mode == "claim":
        asyncio.run(claim(url, api_key, float(rest[0])))
    else:
        asyncio.run(claims(url, api_key, float(rest[0]), int(rest[1]), int(rest[2])))
