"""Listing 10,000 fulfillments at 20 ms server latency: sequential, prefetch=True, shards=8.

A local listing server in its own process holds ``--items`` fulfillments spread over 30
days (several per second), answers DR's cursor and ``createdTime`` filters, and waits
``--latency`` seconds before every answer. Each way of listing the whole window runs in
the same round, in rotating order; the table shows the median time and the speed relative
to sequential paging, and every way is checked to yield exactly the server's id set.

- "consumer works 20 ms/page": the loop body awaits one round trip's worth per page, the
  case prefetch is for (it overlaps that work with the next request).
- "shards=8 at 250 req/s": the client's limiter set to DR's live rate limit.

The client's rate limiter is off elsewhere (``rate_limit=None``): the server is local.

    python -m benchmarks.bench_listing [--items 10000] [--latency 0.02] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import os
import platform
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiohttp

from drfulfill import Client, CreatedTime

from ._servers import KEY, T0, serving

SPAN = 30 * 86_400
WINDOW = CreatedTime(gte=T0, lt=T0 + timedelta(seconds=SPAN + 1))


async def listing(
    client: Client, *, work: float = 0.0, prefetch: bool = False, shards: int | None = None
) -> list[str]:
    ids: list[str] = []
    pager = client.fulfillments.list(
        limit=100, created_time=WINDOW, prefetch=prefetch, shards=shards
    )
    async for page in pager.pages():
        ids.extend(f.id for f in page.data)
        if work:
            await asyncio.sleep(work)  # the consumer's own I/O per page
    return ids


async def raw_listing(session: aiohttp.ClientSession, url: str, windows: int) -> list[str]:
    """Raw aiohttp + json, untyped: ``windows`` equal time windows walked concurrently."""
    cuts = [T0 + timedelta(seconds=(SPAN + 1) * i / windows) for i in range(windows + 1)]
    headers = {"Authorization": f"Bearer {KEY}"}

    async def walk(low: str, high: str) -> list[str]:
        ids: list[str] = []
        params = {"limit": "100", "createdTime[gte]": low, "createdTime[lt]": high}
        while True:
            async with session.get(f"{url}/fulfillments", params=params, headers=headers) as r:
                body = json.loads(await r.read())
            ids.extend(item["id"] for item in body["data"])
            if not body["hasMore"] or not body["data"]:
                return ids
            params["startingAfter"] = ids[-1]

    texts = [cut.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for cut in cuts]
    found = await asyncio.gather(*(walk(a, b) for a, b in itertools.pairwise(texts)))
    return [object_id for ids in found for object_id in ids]


async def run(url: str, latency: float, rounds: int) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/ids") as reply:
        expected = json.loads(await reply.read())
    async with (
        Client(KEY, base_url=url, rate_limit=None) as free,
        Client(KEY, base_url=url, rate_limit=250) as limited,
        aiohttp.ClientSession() as session,
    ):
        ways: dict[str, Callable[[], Awaitable[list[str]]]] = {
            "raw aiohttp + json, sequential": lambda: raw_listing(session, url, 1),
            "raw aiohttp + json, 8 windows": lambda: raw_listing(session, url, 8),
            "sequential": lambda: listing(free),
            "prefetch=True": lambda: listing(free, prefetch=True),
            "shards=8": lambda: listing(free, shards=8),
            "shards=8 at 250 req/s": lambda: listing(limited, shards=8),
            "sequential, consumer works 20 ms/page": lambda: listing(free, work=latency),
            "prefetch=True, consumer works 20 ms/page": lambda: listing(
                free, work=latency, prefetch=True
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        names = list(ways)
        for round_no in range(rounds):
            for name in names[round_no % len(names) :] + names[: round_no % len(names)]:
                started = time.perf_counter()
                ids = await ways[name]()
                times[name].append(time.perf_counter() - started)
                if len(ids) != len(expected) or set(ids) != set(expected):
                    raise SystemExit(f"{name}: {len(ids)} ids, not the server's {len(expected)}")
    base = statistics.median(times["sequential"])
    work_base = statistics.median(times["sequential, consumer works 20 ms/page"])
    print(f"\nevery way yielded the server's {len(expected):,} ids exactly once")
    print("| listing | median s | speed vs drfulfill sequential |")
    print("|---|--:|--:|")
    for name in names:
        median = statistics.median(times[name])
        reference = work_base if "consumer" in name else base  # drfulfill sequential
        print(f"| {name} | {median:.2f} | {reference / median:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--profile", action="store_true", help="profile one shards=8 listing (cProfile) instead"
    )
    args = parser.parse_args()
    print(
        f"items={args.items:,} latency={args.latency * 1000:.0f} ms rounds={args.rounds} "
        f"python={platform.python_version()} aiohttp={aiohttp.__version__} cpus={os.cpu_count()}"
    )
    with serving("listing", count=args.items, latency=args.latency, span=SPAN) as url:
        asyncio.run(profile(url) if args.profile else run(url, args.latency, args.rounds))


async def profile(url: str) -> None:
    """Where a sharded listing's client time goes: CPU per page, by function."""
    async with Client(KEY, base_url=url, rate_limit=None) as client:
        await listing(client, shards=8)  # warm up
        profiler = cProfile.Profile()
        started, cpu = time.perf_counter(), time.process_time()
        profiler.enable()
        await listing(client, shards=8)
        profiler.disable()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"shards=8: {wall:.2f} s wall, {cpu:.2f} s client CPU (profiled, so inflated)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
