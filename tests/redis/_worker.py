"""A separate process for the fleet tests: ``python -m tests.redis._worker MODE ...``.

``limit URL API_KEY RATE COUNT``: print "ready", wait for a line on stdin, take COUNT
slots of the shared limiter and print their wall-clock times as JSON.
``claim URL API_KEY LEASE``: claim "k1", print "claimed" and hold it until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from drfulfill.redis import RedisCoordinator


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
        await coordinator.claims(api_key).acquire("k1", max_wait=None)
        print("claimed", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    mode, url, api_key, *rest = sys.argv[1:]
    if mode == "limit":
        asyncio.run(limit(url, api_key, float(rest[0]), int(rest[1])))
    else:
        asyncio.run(claim(url, api_key, float(rest[0])))
