"""Interactive calls while a bulk upload saturates one 25 req/s key, with and without lanes.

    python -m benchmarks.bench_traffic [--seconds 20] [--concurrency 16]

An emulator (its own process, ``--auto-orders``, every key limited to 25 req/s, a 429 with
``Retry-After`` over it) stands in for Digital River. In each scenario a bulk upload
(``bulk_create`` of endless distinct rows, ``--concurrency`` requests in flight, ``since=``
so that nearly every request is a create) keeps the key busy while an interactive caller
retrieves a fulfillment every 0.5 s, for ``--seconds`` after a 2 s warm-up:

- one process: one ``Client`` for both (its local limiter);
- fleet: the bulk upload and the interactive caller in two processes, each with
  ``Client(coordinator=RedisCoordinator(url))`` on a real redis-server (started on a free
  loopback port);

each "with lanes" (this code: bulk traffic in the bulk lane) and "without lanes" (every
request in the interactive lane, as before: the limiter is wrapped so that it ignores the
lane; nothing else differs). Then bulk alone, with lanes: one process, and two bulk processes
sharing the key through Redis.

Printed per scenario: the interactive call's limiter wait and latency (p50 / p95 / max, ms),
the bulk requests per second against the key's 25, and the 429s both clients received.
Targets (issue 21): interactive p95 latency <= 120 ms under bulk load, bulk alone >= 95% of
the limit, 0 x 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

from benchmarks.bench_fleet import start_redis
from drfulfill import Client
from drfulfill._ratelimit import RateLimiter

KEY = "sk_test_bench_traffic"
RATE = 25.0
EVERY = 0.5  # seconds between interactive calls
WARM_UP = 2.0


class Measured:
    """A ``Limiter`` around another that records each interactive wait; with
    ``lanes=False`` it puts every request in the interactive lane (the code before lanes)."""

    def __init__(self, inner: Any, lanes: bool) -> None:
        self.inner = inner
        self.lanes = lanes
        self.waits: list[float] = []

    @property
    def rate(self) -> float:
        return float(self.inner.rate)

    async def acquire(self, max_wait: float | None = None, *, priority: str = "interactive"):
        started = time.perf_counter()
        await self.inner.acquire(max_wait, priority=priority if self.lanes else "interactive")
        if priority == "interactive":
            self.waits.append(time.perf_counter() - started)

    async def pause(self, seconds: float) -> None:
        await self.inner.pause(seconds)

    async def paused_for(self) -> float:
        return float(await self.inner.paused_for())


class BenchCoordinator:
    """The ``Coordinator`` seam: a measured limiter around the local one, or around a
    ``RedisCoordinator``'s (whose claims it passes on)."""

    def __init__(self, lanes: bool, redis: Any = None) -> None:
        self.lanes = lanes
        self.redis = redis
        self.measured: Measured | None = None

    def limiter(self, api_key: str, rate: float) -> Measured:
        inner = RateLimiter(rate) if self.redis is None else self.redis.limiter(api_key, rate)
        self.measured = Measured(inner, self.lanes)
        return self.measured

    def claims(self, api_key: str) -> Any:
        return None if self.redis is None else self.redis.claims(api_key)


def rows(prefix: str) -> Iterator[dict[str, Any]]:
    for n in itertools.count():
        yield {"order_id": f"{prefix}-{n}", "items": [{"item_id": "i", "quantity": 1}]}


async def bulk(client: Client, seconds: float, concurrency: int, prefix: str) -> dict[str, Any]:
    """Upload until ``seconds`` after the warm-up; the bulk request rate over that window."""
    since = datetime.now(timezone.utc)
    stats = client.stats

    async def upload() -> None:
        async for _ in client.fulfillments.bulk_create(
            rows(prefix), concurrency=concurrency, since=since
        ):
            pass

    task = asyncio.create_task(upload())
    await asyncio.sleep(WARM_UP)
    first, started = stats.requests, time.perf_counter()
    await asyncio.sleep(seconds)
    sent, elapsed = stats.requests - first, time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return {"bulk_rate": sent / elapsed, "bulk_429": stats.rate_limited}


async def interactive(client: Client, seconds: float, measured: Measured) -> dict[str, Any]:
    """A retrieve every 0.5 s (on a fixed schedule) from the warm-up's end for ``seconds``."""
    created = await client.fulfillments.create(
        order_id=f"web-{time.time_ns()}", items=[{"item_id": "w", "quantity": 1}]
    )
    await asyncio.sleep(WARM_UP)
    measured.waits.clear()
    latencies = []
    start = time.perf_counter()
    for tick in itertools.count():
        at = start + tick * EVERY
        if at > start + seconds:
            break
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        began = time.perf_counter()
        await client.fulfillments.retrieve(str(created.id))
        latencies.append(time.perf_counter() - began)
    return {
        "latency": latencies,
        "wait": list(measured.waits),
        "interactive_429": client.stats.rate_limited,
    }


def client_for(base_url: str, coordinator: BenchCoordinator) -> Client:
    # The emulator here never fails a create, so no doubt is ever waited out; a short
    # settle and timeout keep the one-time waits short: a bulk run with no journal and no
    # fleet verifies nothing for a settle window, and a fresh Redis's memory load waits
    # out the timeout and the window.
    return Client(
        KEY,
        base_url=base_url,
        coordinator=coordinator,  # type: ignore[arg-type]
        settle=0.5,
        timeout=5,
    )


async def one_process(base_url: str, args: argparse.Namespace, lanes: bool, web: bool) -> dict:
    coordinator = BenchCoordinator(lanes)
    async with client_for(base_url, coordinator) as client:
        assert coordinator.measured is not None
        jobs = [bulk(client, args.seconds, args.concurrency, f"one-{lanes}-{time.time_ns()}")]
        if web:
            jobs.append(interactive(client, args.seconds, coordinator.measured))
        results = await asyncio.gather(*jobs)
    merged: dict[str, Any] = {}
    for result in results:
        merged.update(result)
    # One client sends both: its request count holds the interactive calls too.
    merged["bulk_rate"] -= len(merged.get("latency", ())) / args.seconds
    merged["bulk_429"], merged["interactive_429"] = client.stats.rate_limited, 0
    return merged


# --- fleet: one process per role, started together -----------------------------------------


async def role(args: argparse.Namespace) -> None:
    """A fleet member (``--role bulk|interactive``): prints "ready", waits for a line on
    stdin, runs, prints its result as JSON."""
    from drfulfill.redis import RedisCoordinator

    async with RedisCoordinator(args.redis) as redis:
        coordinator = BenchCoordinator(args.lanes == "on", redis)
        async with client_for(args.base_url, coordinator) as client:
            assert coordinator.measured is not None
            # Earn the fleet's memory of keys (one keyed create) before the clock starts.
            await client.fulfillments.create(
                order_id=f"{args.prefix}-warm",
                items=[{"item_id": "i", "quantity": 1}],
                key=f"{args.prefix}-warm",
            )
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            if args.role == "bulk":
                result = await bulk(client, args.seconds, args.concurrency, args.prefix)
            else:
                result = await interactive(client, args.seconds, coordinator.measured)
    print(json.dumps(result), flush=True)


async def fleet(
    base_url: str, redis_url: str, args: argparse.Namespace, lanes: bool, roles: list[str]
) -> dict:
    processes = []
    for number, name in enumerate(roles):
        command = [
            sys.executable, "-m", "benchmarks.bench_traffic", "--role", name,
            "--base-url", base_url, "--redis", redis_url, "--lanes", "on" if lanes else "off",
            "--seconds", str(args.seconds), "--concurrency", str(args.concurrency),
            "--prefix", f"fleet-{lanes}-{number}-{time.time_ns()}",
        ]  # fmt: skip
        processes.append(
            await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
        )
    for process in processes:
        assert process.stdout is not None
        assert (await process.stdout.readline()).strip() == b"ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    merged: dict[str, Any] = {"bulk_rate": 0.0, "bulk_429": 0, "interactive_429": 0}
    for name, process in zip(roles, processes, strict=True):
        output, _ = await process.communicate()
        result = json.loads(output.decode().strip().splitlines()[-1])
        if name == "bulk":
            merged["bulk_rate"] += result["bulk_rate"]
            merged["bulk_429"] += result["bulk_429"]
        else:
            merged.update(result)
    return merged


# --- servers ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def emulator() -> AsyncIterator[str]:
    command = [sys.executable, "-m", "drfulfill.testing", "--port", "0", "--seed-orders", "0"]
    process = await asyncio.create_subprocess_exec(
        *command, "--auto-orders", "--rate-limit", str(RATE), stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    match = re.search(r"(http://\S+)", (await process.stdout.readline()).decode())
    assert match, "the emulator did not announce its URL"
    try:
        yield match.group(1)
    finally:
        process.terminate()
        await process.wait()


# --- report ----------------------------------------------------------------------------------


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:6.1f} {p95 * 1000:7.1f} {ordered[-1] * 1000:7.1f}"


def print_row(name: str, result: dict[str, Any]) -> None:
    wait = summary(result.get("wait", []))
    latency = summary(result.get("latency", []))
    rate = result["bulk_rate"]
    total = rate + len(result.get("latency", ())) / result["seconds"]
    errors = result["bulk_429"] + result.get("interactive_429", 0)
    print(
        f"{name:36} {wait:>22} {latency:>22} {rate:6.2f} {total:6.2f} ({total / RATE:6.1%}) "
        f"{errors:4d}",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    print(
        f"key limit {RATE:g} req/s; an interactive retrieve every {EVERY} s for {args.seconds:g} s"
        f" after a {WARM_UP:g} s warm-up; bulk concurrency {args.concurrency}",
        flush=True,
    )
    header = "interactive wait ms", "interactive latency ms", "req/s: bulk, all (of limit)"
    print(f"{'scenario':36} {header[0]:>22} {header[1]:>22} {header[2]:>29} 429s")
    print(f"{'':36} {'p50     p95     max':>22} {'p50     p95     max':>22}")
    with tempfile.TemporaryDirectory() as directory:
        redis, redis_url = start_redis(directory)
        try:
            scenarios: list[tuple[str, Any]] = [
                ("one process, without lanes", lambda u: one_process(u, args, False, True)),
                ("one process, with lanes", lambda u: one_process(u, args, True, True)),
                (
                    "fleet (2 processes), without lanes",
                    lambda u: fleet(u, redis_url, args, False, ["bulk", "interactive"]),
                ),
                (
                    "fleet (2 processes), with lanes",
                    lambda u: fleet(u, redis_url, args, True, ["bulk", "interactive"]),
                ),
                ("bulk alone, one process", lambda u: one_process(u, args, True, False)),
                (
                    "bulk alone, fleet (2 bulk processes)",
                    lambda u: fleet(u, redis_url, args, True, ["bulk", "bulk"]),
                ),
            ]
            for name, run in scenarios:
                async with emulator() as base_url:  # a fresh emulator per scenario
                    result = await run(base_url)
                print_row(name, {**result, "seconds": args.seconds})
        finally:
            redis.terminate()
            redis.wait()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--role", choices=("bulk", "interactive"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--lanes", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="bulk", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    asyncio.run(role(arguments) if arguments.role else main(arguments))
