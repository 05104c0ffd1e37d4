"""What redaction costs as clients pile up (issue 19: "keys belong to their clients").

A multi-tenant service makes a ``Client`` per merchant. Before issue 19 every key ever used
went into a process-wide registry that each redaction walked: a 1 MiB error page with 20,000
keys registered took 1.7 s of event loop, and 40,000 keys stayed pinned (5.6 MB). Now a
client redacts its own key only. This script measures, in one run:

- the error factory on a 1 MiB error page (``error_from_response`` with the client's key)
  with 1 client alive and with N clients alive: the ratio should be ~1.0x;
- beside it, the old scheme (one ``str.replace`` per registered key, N keys) on the same
  page, as the baseline the change removed;
- memory still held after N clients were made and closed (tracemalloc), which should be ~0.

    python -m benchmarks.bench_redact [--clients 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc

from drfulfill import Client
from drfulfill.errors import error_from_response

PAGE = ("<html><body>" + "gateway error, please retry later. " * 30_000 + "</body></html>")[
    : 1 << 20
]


def best_of(rounds: int, work) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def make_clients(count: int, tenant: str) -> list[Client]:
    return [
        Client(f"sk_test_{tenant}_{n:08d}", base_url="https://api.test", rate_limit=None)
        for n in range(count)
    ]


async def main(count: int) -> None:
    key = "sk_test_the_calling_client"
    one = best_of(5, lambda: error_from_response(502, {}, PAGE, secrets=[key]))
    clients = await make_clients(count, "tenant")
    many = best_of(5, lambda: error_from_response(502, {}, PAGE, secrets=[key]))
    keys = [f"sk_test_tenant_{n:08d}" for n in range(count)]

    def old_scheme() -> None:  # one replace per registered key, as the registry did
        text = PAGE
        for secret in keys:
            text = text.replace(secret, "[redacted]")

    old = best_of(1, old_scheme)
    for client in clients:
        await client.close()
    del clients
    gc.collect()

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    clients = await make_clients(count, "other")  # keys not seen before
    for client in clients:
        await client.close()
    del clients
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    print("1 MiB error page, error_from_response, median of 5:")
    print(f"  1 client alive:            {one * 1000:8.2f} ms")
    print(f"  {count:,} clients alive:    {many * 1000:8.2f} ms   ({many / one:.2f}x the above)")
    print(f"  old registry ({count:,} keys): {old * 1000:8.2f} ms   ({old / one:.0f}x)")
    print(f"memory held after {count:,} clients made and closed: {retained / 1e6:.2f} MB")


if __name__ == "__main__":
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--clients", type=int, default=20_000)
    asyncio.run(main(options.parse_args().clients))
