"""What bulk_create's memory of its run costs: ``RunKeys`` over a million distinct keys.

    python -m benchmarks.bench_run_keys [--keys 1000000]

Prints the bytes of its two arrays, the memory Python allocated for it (``tracemalloc``,
now and at the peak, which includes the moment the table doubles), and the time per
``put`` and per ``get`` (without tracing), next to a plain ``dict`` of the same keys
(key string -> int) as the baseline.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from drfulfill._keymemory import RunKey, RunKeys


def keys(count: int) -> list[str]:
    return [f"ORDER{n:012d}:t:TRACK{n:012d}" for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    options = parser.parse_args()
    names = keys(options.keys)
    per_million = 1_000_000 / options.keys

    tracemalloc.start()
    memory = RunKeys()
    for n, key in enumerate(names):
        memory.put(key, n, RunKey.EXISTS)
    now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"RunKeys, {options.keys:,} keys: arrays {memory.nbytes / 1e6:.1f} MB; traced "
        f"{now / 1e6:.1f} MB now, {peak / 1e6:.1f} MB at the peak "
        f"({now / 1e6 * per_million:.1f} MB per million keys)"
    )

    tracemalloc.start()
    plain = {key: n for n, key in enumerate(names)}
    now, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"dict of the key strings (baseline): {now / 1e6:.1f} MB, not counting the strings")
    del plain

    timed = RunKeys()
    began = time.perf_counter()
    for n, key in enumerate(names):
        timed.put(key, n, RunKey.EXISTS)
    put = time.perf_counter() - began
    began = time.perf_counter()
    for key in names:
        timed.get(key)
    get = time.perf_counter() - began
    print(f"per key: put {put / options.keys * 1e6:.2f} us, get {get / options.keys * 1e6:.2f} us")


if __name__ == "__main__":
    main()
