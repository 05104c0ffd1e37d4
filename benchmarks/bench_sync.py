"""What ``SyncClient`` costs over the async ``Client``, side by side in one run.

    python -m benchmarks.bench_sync [--calls 2000] [--threads 8] [--per-thread 1000] [--rounds 5]

Against the canned local server (its own process, pinned to CPU 0; this one to CPU 1):

1. *Added time per call*: sequential ``retrieve`` calls, async (awaited in one loop) and
   sync (a SyncClient from the main thread); the difference of the medians is what a sync
   call adds. The portal's own round trip (a coroutine that does nothing, run with
   ``portal().call``, against awaiting it) is printed too. Target: under 50 us.
2. *Throughput*: ``--threads`` threads x ``--per-thread`` retrieves on one SyncClient,
   against the async client with as many concurrent workers doing the same. Target: the
   sync client at >= 0.8x the async one's calls per second.

Rounds alternate async and sync; medians are printed, with the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from drfulfill import Client, SyncClient
from drfulfill._portal import portal

from ._servers import KEY, serving

ID = "ful_00000001-d0ff-4f11-974f-17b0f2830ea2"


async def _nothing() -> None:
    return None


def portal_round_trip_us(n: int) -> tuple[float, float]:
    """Microseconds per ``portal().call(nothing)`` and per ``await nothing()``."""
    here = portal()
    started = time.perf_counter()
    for _ in range(n):
        here.call(_nothing)
    sync = (time.perf_counter() - started) / n * 1e6

    async def awaited() -> float:
        started = time.perf_counter()
        for _ in range(n):
            await _nothing()
        return (time.perf_counter() - started) / n * 1e6

    return sync, asyncio.run(awaited())


def async_sequential_us(url: str, n: int) -> float:
    async def run() -> float:
        async with Client(KEY, base_url=url, rate_limit=None) as dr:
            await dr.fulfillments.retrieve(ID)  # connect first
            started = time.perf_counter()
            for _ in range(n):
                await dr.fulfillments.retrieve(ID)
            return (time.perf_counter() - started) / n * 1e6

    return asyncio.run(run())


def sync_sequential_us(url: str, n: int) -> float:
    with SyncClient(KEY, base_url=url, rate_limit=None) as dr:
        dr.fulfillments.retrieve(ID)
        started = time.perf_counter()
        for _ in range(n):
            dr.fulfillments.retrieve(ID)
        return (time.perf_counter() - started) / n * 1e6


def async_throughput(url: str, workers: int, each: int) -> float:
    async def run() -> float:
        async with Client(KEY, base_url=url, rate_limit=None) as dr:
            await asyncio.gather(*(dr.fulfillments.retrieve(ID) for _ in range(workers)))

            async def worker() -> None:
                for _ in range(each):
                    await dr.fulfillments.retrieve(ID)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(workers)))
            return workers * each / (time.perf_counter() - started)

    return asyncio.run(run())


def sync_throughput(url: str, threads: int, each: int) -> float:
    with SyncClient(KEY, base_url=url, rate_limit=None) as dr, ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: dr.fulfillments.retrieve(ID), range(threads)))

        def worker(_: int) -> None:
            for _ in range(each):
                dr.fulfillments.retrieve(ID)

        started = time.perf_counter()
        list(pool.map(worker, range(threads)))
        return threads * each / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--per-thread", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with serving("canned") as url:
        trips, awaits, asyncs, syncs, async_rates, sync_rates = [], [], [], [], [], []
        for _ in range(args.rounds):
            trip, awaited = portal_round_trip_us(args.calls * 5)
            trips.append(trip)
            awaits.append(awaited)
            asyncs.append(async_sequential_us(url, args.calls))
            syncs.append(sync_sequential_us(url, args.calls))
            async_rates.append(async_throughput(url, args.threads, args.per_thread))
            sync_rates.append(sync_throughput(url, args.threads, args.per_thread))
    med = statistics.median
    print(f"portal round trip:  {med(trips):7.1f} us  (awaiting the same: {med(awaits):.2f} us)")
    print(f"retrieve, async:    {med(asyncs):7.1f} us per call (sequential)")
    print(f"retrieve, sync:     {med(syncs):7.1f} us per call (sequential)")
    print(f"added by sync:      {med(syncs) - med(asyncs):7.1f} us per call (target < 50)")
    ratio = med(sync_rates) / med(async_rates)
    print(
        f"throughput: async {args.threads} workers {med(async_rates):8.0f}/s, sync "
        f"{args.threads} threads {med(sync_rates):8.0f}/s: {ratio:.2f}x (target >= 0.8)"
    )


if __name__ == "__main__":
    main()
