"""What exactly-once costs a bulk upload: requests per row and creates/s at DR's 250 req/s.

    python -m benchmarks.bench_exactly_once --rows 10000

Against the emulator limiting a live key to 250 req/s (the client's limiter at the same
rate), a file whose orders have one fulfillment each is uploaded:

* fresh journal, with ``since`` (one sweep of what was created since then verifies all rows);
* fresh journal, without ``since`` (one lookup per order);
* the same rows again with the complete journal (must send nothing);
* the same rows again with no journal, with and without ``since`` (must create nothing).

Each line prints requests per row, creates, achieved creates/s, the share of the rate limit
spent on creates, and the 429s the emulator answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from drfulfill import Client, FulfillmentRequest
from drfulfill.testing import Emulator

KEY = "sk_live_bench_exactly_once"
RATE = 250.0


def rows_for(emu: Emulator, count: int) -> list[FulfillmentRequest]:
    rows = []
    for _ in range(count):
        order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
        rows.append(FulfillmentRequest(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]))
    return rows


async def upload(
    emu: Emulator, rows: list[FulfillmentRequest], label: str, **options: Any
) -> dict[str, Any]:
    before_fulfillments = len(emu.fulfillments)
    before_429 = emu.rate_limited
    async with Client(KEY, base_url=emu.url, settle=2.0) as dr:
        started = time.perf_counter()
        async with contextlib.aclosing(
            dr.fulfillments.bulk_create(rows, concurrency=64, **options)
        ) as results:
            outcomes = [r async for r in results]
        elapsed = time.perf_counter() - started
        requests = dr.stats.requests
    failed = sum(not r.ok for r in outcomes)
    creates = len(emu.fulfillments) - before_fulfillments
    line = {
        "run": label,
        "rows": len(rows),
        "requests/row": requests / len(rows),
        "creates": creates,
        "creates/s": creates / elapsed if elapsed else 0.0,
        "limit on creates": creates / elapsed / RATE if elapsed else 0.0,
        "seconds": elapsed,
        "429s": emu.rate_limited - before_429,
        "failed": failed,
    }
    print(
        f"{label:<44} {line['requests/row']:6.3f} req/row  {creates:6d} creates  "
        f"{line['creates/s']:7.1f} creates/s  {line['limit on creates']:6.1%} of the limit  "
        f"{line['seconds']:6.1f} s  {line['429s']} 429s  {failed} failed",
        flush=True,
    )
    return line


async def main(count: int) -> None:
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    with tempfile.TemporaryDirectory() as folder:
        async with Emulator(rate_limit=RATE, seed=1) as emu:
            rows = rows_for(emu, count)
            journal = str(Path(folder) / "with-since.db")
            await upload(emu, rows, "fresh journal, since given", journal=journal, since=since)
            await upload(emu, rows, "re-run, complete journal", journal=journal)
            await upload(emu, rows, "re-run, no journal, since given", since=since)
            await upload(emu, rows, "re-run, no journal, no since (order lookups)")
        async with Emulator(rate_limit=RATE, seed=2) as emu:
            rows = rows_for(emu, count)
            journal = str(Path(folder) / "no-since.db")
            await upload(emu, rows, "fresh journal, no since (order lookups)", journal=journal)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().rows))
