"""Per-request and per-page cost of drfulfill against raw aiohttp and a generated peer.

A minimal aiohttp.web server in its own process (pinned to CPU 0; this process to CPU 1
when there are two) answers canned DR-shaped bodies. Every client does the same work in
the same run, in rotating order, several rounds; the table shows, per workload, each
client's speed relative to raw aiohttp + ``json`` (median time of the rounds; higher is
faster). Clients:

- raw aiohttp + ``json`` / + ``orjson`` (untyped dicts; the orjson row needs orjson);
- ``openapi-python-client`` (httpx + attrs), generated now from the spec extract (see _peer);
- drfulfill, with whichever JSON codec it uses (``drfulfill._json`` when present: orjson if
  installed unless ``DRFULFILL_JSON=stdlib``; otherwise the stdlib). Run the script twice,
  with and without ``DRFULFILL_JSON=stdlib``, to compare both.

    python -m benchmarks.bench_requests [--calls 1000] [--pages 100] [--rounds 5] [--no-peer]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import aiohttp

import drfulfill
from drfulfill import Client

from . import _peer
from ._servers import KEY, serving

ORDER = {"orderId": "231388420336", "items": [{"itemId": "158140150336", "quantity": 2}]}
Call = Callable[[int], Awaitable[object]]


def sdk_codec() -> str:
    """The codec drfulfill decodes with, as far as can be told from outside."""
    if importlib.util.find_spec("drfulfill._json") is None:
        return "stdlib json"
    if os.environ.get("DRFULFILL_JSON") == "stdlib" or importlib.util.find_spec("orjson") is None:
        return "stdlib json"
    return "orjson"


class Raw:
    """aiohttp with a JSON codec and nothing else: untyped dicts."""

    def __init__(self, url: str, loads: Callable[[bytes], Any], dumps: Callable[[Any], bytes]):
        self.url, self.loads, self.dumps = url, loads, dumps
        self.headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    async def __aenter__(self) -> Raw:
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def retrieve(self, n: int) -> object:
        async with self.session.get(f"{self.url}/fulfillments/ful_{n}", headers=self.headers) as r:
            return self.loads(await r.read())

    async def create(self, n: int) -> object:
        body = self.dumps(ORDER)
        async with self.session.post(
            f"{self.url}/fulfillments", data=body, headers=self.headers
        ) as r:
            return self.loads(await r.read())

    async def page(self, n: int) -> object:
        async with self.session.get(
            f"{self.url}/fulfillments", params={"limit": "100"}, headers=self.headers
        ) as r:
            return self.loads(await r.read())["data"]


class Sdk:
    def __init__(self, url: str):
        self.client = Client(KEY, base_url=url, rate_limit=None)
        self.items = [{"item_id": "158140150336", "quantity": 2}]

    async def __aenter__(self) -> Sdk:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__(None, None, None)

    async def retrieve(self, n: int) -> object:
        return await self.client.fulfillments.retrieve(f"ful_{n}")

    async def create(self, n: int) -> object:
        return await self.client.fulfillments.create(order_id="231388420336", items=self.items)

    async def page(self, n: int) -> object:
        return [f async for f in self.client.fulfillments.list(limit=100)]


class Peer:
    """The openapi-python-client package: its own async functions and attrs models."""

    def __init__(self, url: str, package: ModuleType):
        from drpeer.api.fulfillments import (  # type: ignore[import-not-found]
            create_fulfillments,
            list_fulfillments,
            retrieve_fulfillments,
        )
        from drpeer.models import (  # type: ignore[import-not-found]
            FulfillmentRequest,
            FulfillmentRequestItem,
        )

        self.api = (retrieve_fulfillments, create_fulfillments, list_fulfillments)
        self.request = lambda: FulfillmentRequest(
            order_id="231388420336",
            items=[FulfillmentRequestItem(item_id="158140150336", quantity=2)],
        )
        self.client = package.AuthenticatedClient(base_url=url, token=KEY)

    async def __aenter__(self) -> Peer:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__(None, None, None)

    async def retrieve(self, n: int) -> object:
        return await self.api[0].asyncio(f"ful_{n}", client=self.client)

    async def create(self, n: int) -> object:
        return await self.api[1].asyncio(client=self.client, body=self.request())

    async def page(self, n: int) -> object:
        return (await self.api[2].asyncio(client=self.client, limit=100)).data


async def timed(count: int, concurrency: int, call: Call) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with semaphore:
            await call(n)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started


async def run(url: str, calls: int, pages: int, rounds: int, peer: ModuleType | None) -> None:
    clients: dict[str, Any] = {
        "raw aiohttp + json": Raw(url, json.loads, lambda o: json.dumps(o).encode())
    }
    if importlib.util.find_spec("orjson") is not None:
        import orjson

        clients["raw aiohttp + orjson"] = Raw(url, orjson.loads, orjson.dumps)
    if peer is not None:
        clients["openapi-python-client"] = Peer(url, peer)
    clients[f"drfulfill {drfulfill.__version__} ({sdk_codec()})"] = Sdk(url)
    workloads = [
        ("retrieve c=16", "retrieve", calls, 16),
        ("create c=16", "create", calls, 16),
        ("100-item pages, sequential", "page", pages, 1),
        ("100-item pages, c=8", "page", pages, 8),
    ]
    for client in clients.values():
        await client.__aenter__()
    try:
        times: dict[tuple[str, str], list[float]] = {}
        names = list(clients)
        for label, method, count, concurrency in workloads:
            for name in names:  # warm up connections and code paths
                await timed(min(count, 50), concurrency, getattr(clients[name], method))
            for round_no in range(rounds):
                rotated = names[round_no % len(names) :] + names[: round_no % len(names)]
                for name in rotated:
                    elapsed = await timed(count, concurrency, getattr(clients[name], method))
                    times.setdefault((label, name), []).append(elapsed)
    finally:
        for client in clients.values():
            await client.__aexit__(None, None, None)
    labels = [w[0] for w in workloads]
    print(f"\nspeed relative to raw aiohttp + json (median of {rounds} rounds; higher is faster)")
    print("| client | " + " | ".join(labels) + " |")
    print("|---|" + "--:|" * len(labels))
    base = {label: statistics.median(times[(label, names[0])]) for label in labels}
    for name in names:
        cells = [
            f"{base[label] / statistics.median(times[(label, name)]):.2f}x" for label in labels
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nextra wall time per call (or page) over raw aiohttp + json, microseconds")
    print("| client | " + " | ".join(labels) + " |")
    print("|---|" + "--:|" * len(labels))
    for name in names[1:]:
        cells = [
            f"{(statistics.median(times[(label, name)]) - base[label]) / count * 1e6:+.0f}"
            for label, _, count, _ in workloads
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nmedian calls (or pages) per second")
    print("| client | " + " | ".join(labels) + " |")
    print("|---|" + "--:|" * len(labels))
    for name in names:
        cells = [
            f"{count / statistics.median(times[(label, name)]):.0f}"
            for label, _, count, _ in workloads
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="retrieves/creates per round")
    parser.add_argument("--pages", type=int, default=100, help="100-item pages per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="skip openapi-python-client")
    args = parser.parse_args()
    peer = None
    if not args.no_peer:
        peer, note = _peer.generate()
        print(f"openapi-python-client peer: {note}")
    print(
        f"calls={args.calls} pages={args.pages} rounds={args.rounds} "
        f"python={platform.python_version()} aiohttp={aiohttp.__version__} cpus={os.cpu_count()}"
    )
    with serving("canned") as url:
        asyncio.run(run(url, args.calls, args.pages, args.rounds, peer))


if __name__ == "__main__":
    main()
