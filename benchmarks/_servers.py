"""Minimal local DR-shaped servers for the benchmarks, each run in its own process.

With two or more CPUs the server is pinned to CPU 0 and the benchmark (the client) to CPU 1,
so the figures measure the client's cost, not the server competing with it for a core.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import multiprocessing
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

KEY = "sk_test_bench"
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def fulfillment(n: int, created: str = "2022-07-01T17:55:58Z") -> dict[str, Any]:
    """A fulfillment as DR lists it: two items, tracking, metadata."""
    return {
        "id": f"ful_{n:08d}-d0ff-4f11-974f-17b0f2830ea2",
        "createdTime": created,
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


def _json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def canned_app() -> web.Application:
    """GET one, POST one, GET a page of 100 (hasMore false): the same bytes every time."""
    one = json.dumps(fulfillment(1)).encode()
    page = json.dumps({"hasMore": False, "data": [fulfillment(n) for n in range(100)]}).encode()

    async def get_one(request: web.Request) -> web.Response:
        return _json_response(one)

    async def get_page(request: web.Request) -> web.Response:
        return _json_response(page)

    async def create(request: web.Request) -> web.Response:
        await request.read()
        return _json_response(one, 201)

    app = web.Application()
    app.router.add_get("/fulfillments/{id}", get_one)
    app.router.add_get("/fulfillments", get_page)
    app.router.add_post("/fulfillments", create)
    return app


def _utc_text(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def listing_app(count: int, latency: float, span: int) -> web.Application:
    """``count`` fulfillments, createdTime spread evenly over ``span`` seconds from T0 (whole
    seconds, so several share a second), newest first, with DR's ``limit``, ``startingAfter``
    and ``createdTime[gt|gte|lt|lte]``; every answer waits ``latency`` seconds first.
    ``GET /ids`` answers every id (for checking the clients' id sets)."""
    epochs = [int(T0.timestamp()) + n * span // count for n in range(count)]
    order = sorted(range(count), key=lambda n: (-epochs[n], n))
    keys = [-epochs[n] for n in order]
    rows = [json.dumps(fulfillment(n, _utc_text(epochs[n]))).encode() for n in order]
    ids = [fulfillment(n)["id"] for n in order]
    position = {object_id: i for i, object_id in enumerate(ids)}

    def window(query: Any) -> tuple[int, int]:
        first, end = 0, count
        if "createdTime[lt]" in query:
            first = max(first, bisect.bisect_right(keys, -_parse_time(query["createdTime[lt]"])))
        if "createdTime[lte]" in query:
            first = max(first, bisect.bisect_left(keys, -_parse_time(query["createdTime[lte]"])))
        if "createdTime[gte]" in query:
            end = min(end, bisect.bisect_right(keys, -_parse_time(query["createdTime[gte]"])))
        if "createdTime[gt]" in query:
            end = min(end, bisect.bisect_left(keys, -_parse_time(query["createdTime[gt]"])))
        return first, end

    async def get_page(request: web.Request) -> web.Response:
        if latency:
            await asyncio.sleep(latency)
        query = request.query
        first, end = window(query)
        if "startingAfter" in query:
            first = max(first, position[query["startingAfter"]] + 1)
        stop = min(end, first + int(query.get("limit", "10")))
        has_more = b"true" if stop < end else b"false"
        chunk = b",".join(rows[first:stop]) if first < stop else b""
        return _json_response(b'{"hasMore":' + has_more + b',"data":[' + chunk + b"]}")

    async def get_ids(request: web.Request) -> web.Response:
        return _json_response(json.dumps(ids).encode())

    app = web.Application()
    app.router.add_get("/fulfillments", get_page)
    app.router.add_get("/ids", get_ids)
    return app


def streaming_app(count: int) -> web.Application:
    """``count`` fulfillments made on the fly from the cursor, so the server holds none;
    newest first, three created per second (DR's order, with ties)."""
    newest = int(T0.timestamp()) + count

    async def get_page(request: web.Request) -> web.Response:
        query = request.query
        first = int(query["startingAfter"][4:12]) + 1 if "startingAfter" in query else 0
        stop = min(count, first + int(query.get("limit", "10")))
        data = [fulfillment(n, _utc_text(newest - n // 3)) for n in range(first, stop)]
        body = {"hasMore": stop < count, "data": data}
        return _json_response(json.dumps(body).encode())

    app = web.Application()
    app.router.add_get("/fulfillments", get_page)
    return app


APPS = {"canned": canned_app, "listing": listing_app, "streaming": streaming_app}


def _serve(kind: str, options: dict[str, Any], port_out: Any) -> None:
    _pin(0)

    async def main() -> None:
        runner = web.AppRunner(APPS[kind](**options), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


@contextlib.contextmanager
def serving(kind: str, **options: Any) -> Iterator[str]:
    """Run a server in a child process; yields its base URL. Pins this process to CPU 1."""
    context = multiprocessing.get_context("spawn")
    port_out = context.Queue()
    process = context.Process(target=_serve, args=(kind, options, port_out), daemon=True)
    process.start()
    try:
        port = port_out.get(timeout=60)
        _pin(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join()
