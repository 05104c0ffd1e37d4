"""Four worker processes sharing one live key: with the Redis coordinator, and without it.

    python -m benchmarks.bench_fleet [--seconds 20] [--workers 4] [--rate 250]

The emulator runs in its own process, limiting every key to ``--rate`` requests per second
(its bucket holds one second's worth; over it, a 429 with ``Retry-After`` whole seconds).
A redis-server is started on a free loopback port (or pass ``--redis URL``). Each worker
process runs one ``Client`` (``rate_limit=--rate``) with ``--concurrency`` tasks
retrieving a fulfillment for ``--seconds``, all started together:

- coordinated: ``Client(coordinator=RedisCoordinator(url))``: one schedule and one 429
  pause for the fleet;
- local: a plain ``Client``, pacing itself at the key's rate as a lone process does.

It prints each mode's combined rate of answered requests (not 429) over the run (until the
last worker's last response) against ``--rate``, and the 429 count (``client.stats``).
It ends with what the coordinator keeps in Redis, measured with ``MEMORY USAGE``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from redis.asyncio import Redis

from drfulfill import Client
from drfulfill.errors import NotFoundError
from drfulfill.redis import RedisCoordinator

KEY = "sk_live_bench_fleet"


def start_emulator(rate: float) -> tuple[subprocess.Popen[str], str]:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "drfulfill.testing", "--port", "0", "--rate-limit", str(rate)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulator.stdout is not None
    match = re.search(r"(http://\S+)", emulator.stdout.readline())
    assert match, "the emulator did not announce its URL"
    return emulator, match.group(1)


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server), or pass --redis")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(500):  # readiness: the port answers once redis-server listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.01)
    return server, f"redis://127.0.0.1:{port}/0"


async def run_client(
    coordinator: RedisCoordinator | None,
    base_url: str,
    rate: float,
    concurrency: int,
    seconds: float,
    ready: Any,
) -> dict[str, int]:
    """``concurrency`` tasks retrieving through one Client for ``seconds``."""
    async with Client(KEY, base_url=base_url, rate_limit=rate, coordinator=coordinator) as client:
        ready.wait()
        start = time.time()

        async def task() -> None:
            while time.time() < start + seconds:
                try:
                    await client.fulfillments.retrieve("ful_missing")
                except NotFoundError:
                    pass

        await asyncio.gather(*(task() for _ in range(concurrency)))
        stats = client.stats
        return {
            "answered": stats.requests - stats.rate_limited,
            "rate_limited": stats.rate_limited,
            "elapsed_ms": round((time.time() - start) * 1000),
        }


async def work(
    redis_url: str | None,
    base_url: str,
    rate: float,
    concurrency: int,
    seconds: float,
    ready: Any,
) -> dict[str, int]:
    coordinator = None if redis_url is None else RedisCoordinator(redis_url)
    try:
        return await run_client(coordinator, base_url, rate, concurrency, seconds, ready)
    finally:
        if coordinator is not None:
            await coordinator.close()


# redis URL (None: local limiters), emulator URL, rate, concurrency, seconds
WorkArgs = tuple[str | None, str, float, int, float]


def worker(args: WorkArgs, ready: Any, results: Any) -> None:
    # Without a coordinator every 429 logs a retry warning: hundreds of lines per run.
    logging.getLogger("drfulfill").setLevel(logging.ERROR)
    results.put(asyncio.run(work(*args, ready)))


def run_mode(redis_url: str | None, base_url: str, options: argparse.Namespace) -> dict[str, int]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    # The workers start together, once every one has imported and connected.
    ready = context.Barrier(options.workers)
    args: WorkArgs = (redis_url, base_url, options.rate, options.concurrency, options.seconds)
    processes = [
        context.Process(target=worker, args=(args, ready, results)) for _ in range(options.workers)
    ]
    for process in processes:
        process.start()
    totals = {"answered": 0, "rate_limited": 0, "elapsed_ms": 0}
    for _ in processes:
        result = results.get()
        totals["answered"] += result["answered"]
        totals["rate_limited"] += result["rate_limited"]
        # Requests a worker started before --seconds was up may end after it.
        totals["elapsed_ms"] = max(totals["elapsed_ms"], result["elapsed_ms"])
    for process in processes:
        process.join()
    return totals


async def measure_memory(redis_url: str) -> list[str]:
    """Bytes Redis holds for one limiter, one held claim and one done record."""
    async with RedisCoordinator(redis_url) as coordinator, Redis.from_url(redis_url) as raw:
        await raw.flushall()
        api_key = "sk_live_memory"
        limiter = coordinator.limiter(api_key, 250)
        for _ in range(60):  # past the burst, so some slots are in the future
            await limiter.acquire(max_wait=1)
        await limiter.pause(30)
        claims = coordinator.claims(api_key)
        held = await claims.acquire("order-123456789012:key-0001", max_wait=None)
        await held.fence(60.0)  # a send is out: its claim and its "may land from" marker
        done = await claims.acquire("order-123456789012:key-0002", max_wait=None)
        await done.release("ful_0123456789abcdef0123456789abcdef")
        lines = []
        prefix = coordinator.prefix(api_key)
        for label, pattern in (
            ("limiter (tat + pause)", f"{prefix}:rate:*"),
            ("held claim (claim + started)", f"{prefix}:[cs]*:*0001"),
            ("done record", f"{prefix}:done:*"),
        ):
            keys = [key async for key in raw.scan_iter(match=pattern)]
            used = sum([await raw.memory_usage(key) or 0 for key in keys])
            lines.append(f"  {label:30} {len(keys)} key(s) {used:5d} bytes")
        await held.release(None)
        before = int((await raw.info("memory"))["used_memory"])
        count = 10_000
        for n in range(count):
            claim = await claims.acquire(f"order-{n:012d}:key-{n:04d}", max_wait=None)
            await claim.release(f"ful_{n:032x}")
        after = int((await raw.info("memory"))["used_memory"])
        lines.append(f"  {count:,} done records: {(after - before) / count:.0f} bytes each (INFO)")
        return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16, help="tasks per worker")
    parser.add_argument("--rate", type=float, default=250)
    parser.add_argument("--redis", help="a Redis URL (default: start a redis-server)")
    parser.add_argument("--skip-local", action="store_true", help="only the coordinated run")
    options = parser.parse_args()
    print(
        f"workers={options.workers} concurrency={options.concurrency} rate={options.rate:g}/s "
        f"seconds={options.seconds:g}"
    )
    with tempfile.TemporaryDirectory() as directory:
        emulator, base_url = start_emulator(options.rate)
        redis_server = None
        redis_url = options.redis
        if redis_url is None:
            redis_server, redis_url = start_redis(directory)
        try:
            modes = [("coordinated", redis_url)]
            if not options.skip_local:
                modes.append(("local", None))
            for label, url in modes:
                totals = run_mode(url, base_url, options)
                achieved = totals["answered"] / (totals["elapsed_ms"] / 1000)
                print(
                    f"  {label:12} answered {achieved:7.1f} req/s = "
                    f"{achieved / options.rate:5.1%} of {options.rate:g}   "
                    f"429s {totals['rate_limited']:6d}"
                )
                time.sleep(2)  # the emulator's 429 block (whole seconds) ends between modes
            print("Redis memory:")
            for line in asyncio.run(measure_memory(redis_url)):
                print(line)
        finally:
            emulator.terminate()
            emulator.wait()
            if redis_server is not None:
                redis_server.terminate()
                redis_server.wait()


if __name__ == "__main__":
    main()
