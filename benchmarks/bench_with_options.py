"""Cost of ``client.with_options(...)`` against building a new ``Client``, side by side.

    python -m benchmarks.bench_with_options

Prints microseconds per view and per client, their ratio, and the bytes a view keeps
alive (tracemalloc), and checks that views share the client's session pool.
"""

from __future__ import annotations

import time
import tracemalloc

from drfulfill import Client

N = 20_000
KEY = "sk_test_bench"


def per_call(make: object, n: int = N) -> float:
    assert callable(make)
    started = time.perf_counter()
    for _ in range(n):
        make()
    return (time.perf_counter() - started) / n * 1e6


def bytes_per(make: object, n: int = 2_000) -> float:
    assert callable(make)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = [make() for _ in range(n)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(kept) == n
    return grown / n


def main() -> None:
    client = Client(KEY, rate_limit=None)
    view = client.with_options(timeout=2, max_retries=0)
    assert view._transport._pool is client._transport._pool  # no new connection pool
    rounds = []
    for _ in range(3):
        rounds.append(
            (
                per_call(lambda: client.with_options(timeout=2, max_retries=0)),
                per_call(lambda: Client(KEY, rate_limit=None, timeout=2, max_retries=0)),
            )
        )
    view_us, client_us = sorted(rounds)[1]
    print(f"views={N} rounds=3 (median)")
    view_bytes = bytes_per(lambda: client.with_options(timeout=2))
    print(f"with_options view    {view_us:8.2f} us  {view_bytes:8.0f} B")
    print(
        f"new Client           {client_us:8.2f} us  "
        f"{bytes_per(lambda: Client(KEY, rate_limit=None, timeout=2)):8.0f} B"
    )
    print(f"view/client time     {view_us / client_us:8.2f}")


if __name__ == "__main__":
    main()
