"""Where a call's time goes, layer by layer, against raw aiohttp in the same run.

Against the canned server of ``bench_requests`` (its own process), each round times:

- retrieve and create, c=16: raw aiohttp + ``json``, drfulfill's request funnel alone
  (``Transport.request``: limiter off, retries, telemetry, the JSON codec; no model), and
  the resource method (``retrieve``: + decoding; ``create``: + the request model, its
  validation and the safe-create loop);
- 100-item pages, sequential: raw aiohttp + ``json``, the funnel alone, and ``list()``, with
  the time spent in the pager's checks (``CursorWalk.read``) and in decoding
  (``CursorWalk.page``) measured inside the ``list()`` run.

Prints the median per call or page over the rounds, in microseconds.

    python -m benchmarks.bench_layers [--calls 2000] [--pages 200] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from drfulfill import _walk

from ._servers import serving
from .bench_requests import ORDER, Raw, Sdk, timed

_spent = {"read": 0.0, "page": 0.0}


def _clocked(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            _spent[name] += time.perf_counter() - started

    return run


async def run(url: str, calls: int, pages: int, rounds: int) -> None:
    _walk.CursorWalk.read = _clocked("read", _walk.CursorWalk.read)  # type: ignore[method-assign]
    _walk.CursorWalk.page = _clocked("page", _walk.CursorWalk.page)  # type: ignore[method-assign]
    raw = Raw(url, json.loads, lambda o: json.dumps(o).encode())
    sdk = Sdk(url)
    await raw.__aenter__()
    await sdk.__aenter__()
    transport = sdk.client._transport  # the funnel alone, which no public name exposes

    async def funnel_get(n: int) -> object:
        return await transport.request("GET", f"/fulfillments/ful_{n}")

    async def funnel_post(n: int) -> object:
        return await transport.request("POST", "/fulfillments", body=ORDER)

    async def funnel_page(n: int) -> object:
        return (await transport.request("GET", "/fulfillments", query=[("limit", "100")]))["data"]

    cases: list[tuple[str, Callable[[int], Any], int, int]] = [
        ("retrieve: raw aiohttp + json", raw.retrieve, calls, 16),
        ("retrieve: funnel only", funnel_get, calls, 16),
        ("retrieve: fulfillments.retrieve", sdk.retrieve, calls, 16),
        ("create: raw aiohttp + json", raw.create, calls, 16),
        ("create: funnel only", funnel_post, calls, 16),
        ("create: fulfillments.create", sdk.create, calls, 16),
        ("page: raw aiohttp + json", raw.page, pages, 1),
        ("page: funnel only", funnel_page, pages, 1),
        ("page: list()", sdk.page, pages, 1),
    ]
    times: dict[str, list[float]] = {name: [] for name, *_ in cases}
    inside: dict[str, list[float]] = {"read": [], "page": []}
    try:
        for _name, call, count, concurrency in cases:  # warm-up
            await timed(min(count, 50), concurrency, call)
        for _ in range(rounds):
            for name, call, count, concurrency in cases:
                _spent.update(read=0.0, page=0.0)
                times[name].append(await timed(count, concurrency, call) / count)
                if name == "page: list()":
                    for part in inside:
                        inside[part].append(_spent[part] / count)
    finally:
        await raw.__aexit__()
        await sdk.__aexit__()
    print(f"median of {rounds} rounds, microseconds per call or page")
    for name, values in times.items():
        print(f"  {name:36} {statistics.median(values) * 1e6:7.0f}")
    print(
        f"  {'  of it, CursorWalk.read (checks)':36} {statistics.median(inside['read']) * 1e6:7.0f}"
    )
    print(
        f"  {'  of it, CursorWalk.page (decode)':36} {statistics.median(inside['page']) * 1e6:7.0f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with serving("canned") as base_url:
        asyncio.run(run(base_url, args.calls, args.pages, args.rounds))
