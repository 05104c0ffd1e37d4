"""Memory while streaming 100,000 fulfillments: drfulfill's pager against raw aiohttp + json.

A local server in its own process makes 100-item pages on the fly from the cursor (it holds
nothing). Each client runs in a fresh child process, consumes every item and keeps none;
the child reports its RSS after the first page and at every 10% (``VmRSS``), and its peak
RSS (``ru_maxrss``) minus the RSS after the first page ("peak growth"). Linux only.

To refuse an object it already yielded, the pager keeps only the ids that share the oldest
``createdTime`` so far (DR lists newest first), and holds one page (two with prefetch).

    python -m benchmarks.bench_memory [--items 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp

from drfulfill import Client

from ._servers import KEY, serving

CLIENTS = ["raw aiohttp + json", "drfulfill", "drfulfill prefetch=True"]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def raw_items(url: str) -> AsyncIterator[object]:
    headers = {"Authorization": f"Bearer {KEY}"}
    params = {"limit": "100"}
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{url}/fulfillments", params=params, headers=headers) as r:
                body = json.loads(await r.read())
            for item in body["data"]:
                yield item
            if not body["hasMore"]:
                return
            params["startingAfter"] = body["data"][-1]["id"]


async def sdk_items(url: str, prefetch: bool) -> AsyncIterator[object]:
    async with Client(KEY, base_url=url, rate_limit=None) as client:
        async for item in client.fulfillments.list(limit=100, prefetch=prefetch):
            yield item


async def child(name: str, url: str, items: int) -> None:
    stream = raw_items(url) if name.startswith("raw") else sdk_items(url, "prefetch" in name)
    count, start, samples = 0, 0.0, []
    async for _ in stream:
        count += 1
        if count == 100:
            start = rss_mb()
        if count % (items // 10) == 0:
            samples.append(rss_mb())
    print(json.dumps({"count": count, "start": start, "samples": samples, "peak": peak_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.url, args.items))
        return
    print(
        f"items={args.items:,} python={platform.python_version()} "
        f"aiohttp={aiohttp.__version__} cpus={os.cpu_count()}"
    )
    print("| client | RSS after 1st page | at 10% | at 50% | at 100% | growth | peak growth |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    child_command = [sys.executable, "-m", "benchmarks.bench_memory", "--child"]
    with serving("streaming", count=args.items) as url:
        for name in CLIENTS:
            out = subprocess.run(
                [*child_command, name, "--url", url, "--items", str(args.items)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            report = json.loads(out.strip().splitlines()[-1])
            if report["count"] != args.items:
                raise SystemExit(f"{name}: streamed {report['count']} items")
            s, start = report["samples"], report["start"]
            print(
                f"| {name} | {start:.1f} MB | {s[0]:.1f} | {s[4]:.1f} | {s[-1]:.1f} "
                f"| {s[-1] - start:+.1f} MB | {report['peak'] - start:+.1f} MB |"
            )


if __name__ == "__main__":
    main()
