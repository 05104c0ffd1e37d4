"""bulk_create throughput and memory over a lazy generator of many rows.

    python benchmarks/bench_bulk.py --rows 200000 --concurrency 64

The server is a minimal aiohttp server in a separate process (a canned 201 for every create,
an empty page for every list), so the figures measure the SDK, not the emulator, and the
memory figures are the client process's alone. Memory is sampled at 10%, 50% and 100% of
the rows: flat figures mean memory does not grow with the input.

The baseline is raw aiohttp: ``concurrency`` workers POSTing a JSON body to the same server.
``--trace`` also prints the peak of the memory Python allocated (``tracemalloc``) during the
bulk run: what the SDK holds, without the interpreter's and libraries' baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from aiohttp import web

from drfulfill import Client

CANNED_FULFILLMENT = {
    "createdTime": "2024-05-01T12:00:00Z",
    "orderId": "ord",
    "items": [{"itemId": "1", "skuId": "sku", "quantity": 1}],
    "liveMode": False,
}
EMPTY_PAGE = b'{"hasMore":false,"data":[]}'


def serve(port_queue: multiprocessing.Queue) -> None:
    """Run the canned server until the parent kills this process."""

    async def main() -> None:
        counter = itertools.count()

        async def handle(request: web.BaseRequest) -> web.Response:
            await request.read()
            if request.method == "POST":
                body = dict(CANNED_FULFILLMENT, id=f"ful_{next(counter)}")
                return web.Response(status=201, body=json.dumps(body).encode(), headers=_JSON)
            return web.Response(status=200, body=EMPTY_PAGE, headers=_JSON)

        server = web.Server(handle, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


_JSON = {"Content-Type": "application/json"}


def requests(rows: int) -> Iterator[dict[str, object]]:
    """Distinct rows, made one at a time: the input is never held in memory."""
    for i in range(rows):
        yield {
            "order_id": f"{100000000 + i // 5}",
            "items": [{"item_id": f"{i}", "quantity": 1}],
            "tracking_company": "Fedex",
            "tracking_number": f"1Z{i:012d}",
        }


def memory_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        current = float("nan")
    return current, peak


async def baseline(url: str, rows: int, concurrency: int) -> float:
    """Rows per second of raw aiohttp POSTs, ``concurrency`` at a time."""
    remaining = requests(rows)
    headers = {"Authorization": "Bearer sk_test_bench", "Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        for row in remaining:
            body = json.dumps(row, separators=(",", ":")).encode()
            async with session.post(url + "/fulfillments", data=body, headers=headers) as r:
                await r.read()
                assert r.status == 201

    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return rows / (time.perf_counter() - started)


async def bulk(url: str, rows: int, concurrency: int, journal: Path | None) -> float:
    """Rows per second of bulk_create; prints memory at checkpoints."""
    checkpoints = {max(1, rows // 10), max(1, rows // 2), rows}
    async with Client("sk_test_bench", base_url=url, rate_limit=None) as dr:
        started = time.perf_counter()
        done = 0
        async for result in dr.fulfillments.bulk_create(
            requests(rows), concurrency=concurrency, journal=journal
        ):
            if not result.ok:
                raise SystemExit(f"row {result.index} failed: {result.error}")
            done += 1
            if done in checkpoints:
                elapsed = time.perf_counter() - started
                current, peak = memory_mb()
                traced = ""
                if tracemalloc.is_tracing():
                    traced = f"  peak traced {tracemalloc.get_traced_memory()[1] / 2**20:6.1f} MB"
                print(
                    f"  bulk  {done:>8,} rows  {elapsed:7.1f} s  {done / elapsed:7.0f} rows/s  "
                    f"RSS {current:6.1f} MB  peak RSS {peak:6.1f} MB{traced}",
                    flush=True,
                )
        return rows / (time.perf_counter() - started)


async def main(args: argparse.Namespace) -> None:
    context = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue = context.Queue()
    server = context.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=30)}"
        print(
            f"rows={args.rows:,} concurrency={args.concurrency} journal={not args.no_journal} "
            f"python={sys.version.split()[0]} aiohttp={aiohttp.__version__} cpus={os.cpu_count()}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            journal = None if args.no_journal else Path(tmp) / "bench.db"
            if args.trace:
                tracemalloc.start()
            bulk_rate = await bulk(url, args.rows, args.concurrency, journal)
            tracemalloc.stop()
            if journal is not None:
                print(f"  journal file: {journal.stat().st_size / 2**20:.1f} MB")
        raw_rate = await baseline(url, args.baseline_rows, args.concurrency)
        print(f"  raw aiohttp POSTs ({args.baseline_rows:,} rows): {raw_rate:7.0f} rows/s")
        print(f"bulk_create: {bulk_rate:.0f} rows/s = {bulk_rate / raw_rate:.2f} x raw aiohttp")
    finally:
        server.kill()
        server.join()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--baseline-rows", type=int, default=50_000)
    parser.add_argument("--trace", action="store_true", help="also print peak traced memory")
    parser.add_argument(
        "--no-journal",
        action="store_true",
        help="no SQLite journal: every row is checked with a GET before its create",
    )
    asyncio.run(main(parser.parse_args()))
