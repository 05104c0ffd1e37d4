"""Fleet members for tests against the emulator and a real redis-server: each ``worker`` is a
``Client`` with a ``RedisCoordinator`` of its own (its own connections), so what one process
knows in memory, the other does not."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.asyncio import Redis

from drfulfill import Client
from drfulfill.redis import RedisCoordinator
from drfulfill.testing import Emulator

ITEMS = [{"item_id": "i1", "quantity": 1}]
API_KEY = "sk_test_fleet"  # each test has an emulator of its own and an emptied Redis


@contextlib.asynccontextmanager
async def worker(
    emu: Emulator, redis: str | Redis, *, api_key: str = API_KEY, **options: object
) -> AsyncIterator[Client]:
    """One fleet member; ``lease`` (default 0.3) goes to its coordinator, the rest to its
    client (no rate limit, no backoff and a 2 s timeout unless given: a fresh Redis's
    memory load waits out the timeout and the settle window)."""
    lease = float(options.pop("lease", 0.3))  # type: ignore[arg-type]
    options.setdefault("rate_limit", None)
    options.setdefault("backoff_base", 0)
    options.setdefault("timeout", 2)
    async with (
        RedisCoordinator(redis, lease=lease, poll=(0.005, 0.02)) as coordinator,
        Client(api_key, base_url=emu.url, coordinator=coordinator, **options) as client,  # type: ignore[arg-type]
    ):
        yield client


def created_per_key(emu: Emulator) -> Counter[str]:
    return Counter(f["metadata"]["drfulfillKey"] for f in emu.fulfillments)


async def until(condition: Callable[[], object | Awaitable[object]], timeout: float = 5.0) -> None:
    """Poll ``condition`` (a function, or one returning an awaitable) until it is true."""

    async def truth() -> bool:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        return bool(value)

    async def wait() -> None:
        while not await truth():  # noqa: ASYNC110 (polling a counter)
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), timeout)
