"""A worker process of a fleet, on a real ``Client(coordinator=...)``:
``python -m tests.redis._client_worker MODE BASE_URL REDIS_URL ROWS_JSON SEED [SHARD/OF]``.

ROWS_JSON is a file of ``[key, order_id, item_id]`` rows. ``creates``: create every row
(caller keys) in an order shuffled by SEED through ``safe_create.create_or_find``, printing
"created KEY" or "found KEY" as each ends, then "done {created, found}". ``bulk``:
``bulk_create`` the rows of shard SHARD of OF (every OF-th row), keyed by their key, then
"done {ok, failed}". Each prints "ready" once its Client is open and starts on a line on
stdin, so a fleet starts together. A failure prints "error TYPE MESSAGE" and exits 1.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

from drfulfill import Client, FulfillmentRequest
from drfulfill.errors import DigitalRiverError
from drfulfill.redis import RedisCoordinator

API_KEY = "sk_live_fleet_clients"
CONCURRENCY = 8
# The fleet's shared limit; above DR's 250/s live so the tests are not paced by it
# (benchmarks/bench_fleet.py measures the pacing).
RATE = 1000.0


def request_of(row: list[str]) -> FulfillmentRequest:
    key, order_id, item_id = row
    return FulfillmentRequest(
        order_id=order_id, items=[{"item_id": item_id, "quantity": 1}], shipment_id=key
    )


async def start_together() -> None:
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)


def client(base_url: str, coordinator: RedisCoordinator) -> Client:
    # settle 0: the emulator lists a create at once, so one lookup settles a doubt.
    # timeout 2: a fenced send is in doubt until its timeout, when its holder vanishes.
    return Client(
        API_KEY,
        base_url=base_url,
        coordinator=coordinator,
        settle=0,
        timeout=2,
        rate_limit=RATE,
    )


async def creates(base_url: str, redis_url: str, rows: list[list[str]], seed: int) -> None:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    counts = {"created": 0, "found": 0}
    async with RedisCoordinator(redis_url, lease=0.5, poll=(0.005, 0.05)) as coordinator:
        async with client(base_url, coordinator) as drf:
            creator = drf.fulfillments.safe_create
            assert creator is not None
            await start_together()

            async def task() -> None:
                while rows:
                    row = rows.pop()
                    outcome = await creator.create_or_find(request_of(row), row[0])
                    kind = "found" if outcome.found else "created"
                    counts[kind] += 1
                    print(kind, row[0], flush=True)

            await asyncio.gather(*(task() for _ in range(CONCURRENCY)))
    print("done", json.dumps(counts), flush=True)


async def bulk(base_url: str, redis_url: str, rows: list[list[str]], shard: int, of: int) -> None:
    mine = rows[shard::of]
    counts = {"ok": 0, "failed": 0}
    async with RedisCoordinator(redis_url, lease=0.5, poll=(0.005, 0.05)) as coordinator:
        async with client(base_url, coordinator) as drf:
            requests = [request_of(row) for row in mine]
            await start_together()
            async for result in drf.fulfillments.bulk_create(requests, key="shipment_id"):
                counts["ok" if result.ok else "failed"] += 1
                if result.error is not None:
                    print("row-error", type(result.error).__name__, result.error, flush=True)
    print("done", json.dumps(counts), flush=True)


def main() -> None:
    mode, base_url, redis_url, rows_path, seed, *rest = sys.argv[1:]
    with open(rows_path) as file:
        rows = json.load(file)
    try:
        if mode == "creates":
            asyncio.run(creates(base_url, redis_url, rows, int(seed)))
        else:
            shard, of = (int(part) for part in rest[0].split("/"))
            asyncio.run(bulk(base_url, redis_url, rows, shard, of))
    except DigitalRiverError as error:
        print("error", type(error).__name__, error, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
