"""Requests per keyed create in a fleet: 4 worker processes, one Redis, the emulator.

    python -m benchmarks.bench_fleet_creates [--keys 400] [--workers 4]

Every worker process runs one ``Client`` creating fulfillments with a caller's key (a queue
message id), 8 at a time. The emulator runs in this process and counts the requests it
answers; a redis-server is started on a free loopback port (or pass ``--redis URL``).
Side by side:

- without a coordinator (the baseline): a keyed create is looked up before it is sent;
- with ``RedisCoordinator``: the key's claim says whether the fleet ever sent it;
- the same keys delivered again, each to another worker (a queue's redelivery);
- ``FLUSHALL``, then the same keys from fresh worker processes (Redis lost its records).

It prints, per phase, POSTs, lookups (list requests), GETs by id, requests per create and
fulfillments created twice.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
from collections import Counter
from typing import Any

from redis.asyncio import Redis

from benchmarks.bench_fleet import start_redis
from drfulfill import Client
from drfulfill.redis import RedisCoordinator
from drfulfill.testing import Emulator

KEY = "sk_live_bench_fleet_creates"
CONCURRENCY = 8

Row = tuple[str, str]  # (key, order id)


async def create_rows(redis_url: str | None, base_url: str, rows: list[Row]) -> None:
    coordinator = None if redis_url is None else RedisCoordinator(redis_url)
    try:
        async with Client(
            KEY,
            base_url=base_url,
            coordinator=coordinator,
            rate_limit=None,
            settle=0.5,
            timeout=5,  # a fresh Redis's memory load waits out the timeout and settle
        ) as client:
            queue = list(reversed(rows))

            async def task() -> None:
                while queue:
                    key, order_id = queue.pop()
                    await client.fulfillments.create(
                        order_id=order_id, items=[{"item_id": "i1", "quantity": 1}], key=key
                    )

            await asyncio.gather(*(task() for _ in range(CONCURRENCY)))
    finally:
        if coordinator is not None:
            await coordinator.close()


def worker(redis_url: str | None, base_url: str, rows: list[Row], done: Any) -> None:
    asyncio.run(create_rows(redis_url, base_url, rows))
    done.put(len(rows))


async def run_fleet(
    redis_url: str | None, base_url: str, rows: list[Row], workers: int, shift: int
) -> None:
    """Each row to one of ``workers`` fresh processes (``shift`` moves every row to
    another worker than the last phase's)."""
    context = multiprocessing.get_context("spawn")
    done = context.Queue()
    shares: list[list[Row]] = [[] for _ in range(workers)]
    for n, row in enumerate(rows):
        shares[(n + shift) % workers].append(row)
    processes = [
        context.Process(target=worker, args=(redis_url, base_url, share, done)) for share in shares
    ]
    for process in processes:
        process.start()
    for _ in processes:
        await asyncio.to_thread(done.get)
    for process in processes:
        await asyncio.to_thread(process.join)


def count(emulator: Emulator) -> Counter[str]:
    return Counter(
        "POST" if r.method == "POST" else "GET by id" if r.path.count("/") == 2 else "list"
        for r in emulator.requests
    )


def report(label: str, requests: Counter[str], creates: int, emulator: Emulator) -> None:
    keys = Counter(f["metadata"]["drfulfillKey"] for f in emulator.fulfillments)
    twice = sum(1 for n in keys.values() if n > 1)
    total = sum(requests.values())
    print(
        f"  {label:38} POST {requests['POST']:4d}  lookups {requests['list']:4d}  "
        f"GET by id {requests['GET by id']:4d}  requests/create {total / creates:5.3f}  "
        f"created twice {twice}"
    )


async def main_async(options: argparse.Namespace, redis_url: str) -> None:
    async with Emulator(rate_limit=None, log_limit=None) as emulator:

        def rows(prefix: str) -> list[Row]:
            return [
                (f"{prefix}-{n:04d}", emulator.add_order(items=[{"item_id": "i1", "quantity": 5}]))
                for n in range(options.keys)
            ]

        async def phase(label: str, url: str | None, batch: list[Row], shift: int) -> None:
            emulator.clear_log()
            await run_fleet(url, emulator.url, batch, options.workers, shift)
            report(label, count(emulator), len(batch), emulator)

        print(f"keys={options.keys} workers={options.workers} concurrency={CONCURRENCY} each")
        await phase("without a coordinator (baseline)", None, rows("baseline"), 0)
        fleet = rows("message")
        await phase("RedisCoordinator, new keys", redis_url, fleet, 0)
        await phase("the same keys redelivered", redis_url, fleet, 1)
        async with Redis.from_url(redis_url) as raw:
            await raw.flushall()
        await phase("FLUSHALL, fresh processes, same keys", redis_url, fleet, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=400)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--redis", help="a Redis URL (default: start a redis-server)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = None
        redis_url = options.redis
        if redis_url is None:
            server, redis_url = start_redis(directory)
        try:
            asyncio.run(main_async(options, redis_url))
        finally:
            if server is not None:
                server.terminate()
                server.wait()


if __name__ == "__main__":
    main()
