"""What the SDK costs per call, against raw aiohttp doing the same requests, in one process.

A minimal aiohttp.web server on 127.0.0.1 answers canned DR-shaped bodies, so the figures
measure client-side overhead (funnel, retry loop, limiter, decoding), not a server.
Each scenario runs the SDK and the raw-aiohttp baseline alternately, several rounds, and
prints the median of each and their ratio (SDK time / raw time; lower is better).

    python benchmarks/bench_requests.py [--calls 3000] [--concurrency 32] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from drfulfill import Client

KEY = "sk_test_bench"


def fulfillment(n: int) -> dict:
    return {
        "id": f"ful_{n:08d}-d0ff-4f11-974f-17b0f2830ea2",
        "createdTime": "2022-07-01T17:55:58Z",
        "orderId": "231388420336",
        "liveMode": False,
        "trackingCompany": "Fedex",
        "trackingNumber": f"1Z{n}",
        "metadata": {"drfulfillKey": f"k{n}"},
        "items": [
            {"itemId": "158140150336", "skuId": "b0fd7334", "quantity": 2, "cancelQuantity": 0},
            {"itemId": "158140150337", "skuId": "b0fd7335", "quantity": 1, "cancelQuantity": 0},
        ],
    }


ONE = json.dumps(fulfillment(1)).encode()
PAGE = json.dumps({"hasMore": False, "data": [fulfillment(n) for n in range(100)]}).encode()


async def start_server() -> tuple[web.AppRunner, str]:
    async def one(request: web.Request) -> web.Response:
        return web.Response(body=ONE, content_type="application/json")

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="application/json")

    async def create(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=ONE, status=201, content_type="application/json")

    app = web.Application()
    app.router.add_get("/fulfillments/{id}", one)
    app.router.add_get("/fulfillments", page)
    app.router.add_post("/fulfillments", create)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def timed(calls: int, concurrency: int, call: Callable[[int], Awaitable[object]]) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with semaphore:
            await call(n)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(calls)))
    return time.perf_counter() - started


async def main(calls: int, concurrency: int, rounds: int) -> None:
    runner, url = await start_server()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    body = json.dumps(
        {"orderId": "231388420336", "items": [{"itemId": "158140150336", "quantity": 2}]}
    ).encode()
    try:
        async with (
            aiohttp.ClientSession() as raw,
            Client(KEY, base_url=url, rate_limit=None) as sdk,
        ):

            async def raw_retrieve(n: int) -> object:
                async with raw.get(f"{url}/fulfillments/ful_{n}", headers=headers) as r:
                    return json.loads(await r.read())

            async def raw_create(n: int) -> object:
                async with raw.post(f"{url}/fulfillments", data=body, headers=headers) as r:
                    return json.loads(await r.read())

            async def raw_list_page(n: int) -> object:
                async with raw.get(f"{url}/fulfillments?limit=100", headers=headers) as r:
                    return json.loads(await r.read())

            async def sdk_list_page(n: int) -> object:
                return [f async for f in sdk.fulfillments.list(limit=100)]

            items = [{"item_id": "158140150336", "quantity": 2}]
            scenarios = {
                "retrieve (GET one)": (
                    raw_retrieve,
                    lambda n: sdk.fulfillments.retrieve(f"ful_{n}"),
                    calls,
                ),
                "create (POST, safe-create key)": (
                    raw_create,
                    lambda n: sdk.fulfillments.create(order_id="231388420336", items=items),
                    calls,
                ),
                "list page of 100 (decode)": (raw_list_page, sdk_list_page, calls // 10),
            }
            print(f"calls={calls} concurrency={concurrency} rounds={rounds} (median of rounds)")
            print(f"{'scenario':34} {'raw calls/s':>12} {'sdk calls/s':>12} {'sdk/raw time':>13}")
            for name, (raw_call, sdk_call, count) in scenarios.items():
                await timed(min(count, 200), concurrency, raw_call)  # warm up both
                await timed(min(count, 200), concurrency, sdk_call)
                raw_times, sdk_times = [], []
                for _ in range(rounds):
                    raw_times.append(await timed(count, concurrency, raw_call))
                    sdk_times.append(await timed(count, concurrency, sdk_call))
                raw_t, sdk_t = statistics.median(raw_times), statistics.median(sdk_times)
                print(
                    f"{name:34} {count / raw_t:12.0f} {count / sdk_t:12.0f} {sdk_t / raw_t:13.2f}"
                )
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency, args.rounds))
