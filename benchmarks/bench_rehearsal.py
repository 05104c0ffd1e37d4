"""A rehearsal of a 50,000-row shipments file on ``--auto-orders --faults 0.1``, interrupted
with Ctrl-C and resumed: every fulfillment exactly once.

    python -m benchmarks.bench_rehearsal [--rows 50000] [--interrupt-at 0.4] [--settle 1]

Writes a shipments CSV of orders the emulator has never heard of (1-3 items each, two
parcels for every fifth order, some cancelled units), serves ``drfulfill emulator
--auto-orders --faults 0.1`` (its own process; a live-mode key, so 250 req/s), and runs
``drfulfill upload FILE --since START`` as an operator would, in a process of its own. Once
``--interrupt-at`` of the fulfillments are done (read from the progress lines it writes every
5 s when stderr is not a terminal) it gets SIGINT, as Ctrl-C would; then the same command
runs again (and again while it reports retryable failures, as its summary tells the
operator). Prints each run's summary as the command printed it, then the emulator's state:
fulfillments per safe-create key (exactly one each), units fulfilled and cancelled per order
line against the file.

``--settle 1``: the emulator commits at once and its lists never lag, so a short settle window
keeps the injected 5xx faults from costing 10 s of lookups each (the default is for DR).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from drfulfill import Client

KEY = "sk_live_rehearsal"  # a live-mode key: DR's 250 req/s, on the emulator too
HEADER = ["order_id", "item_id", "quantity", "cancel_quantity", "tracking_company",
          "tracking_number"]  # fmt: skip


def write_shipments(path: Path, rows: int) -> tuple[int, Counter[tuple[str, str, str]]]:
    """``rows`` lines; returns the number of fulfillments and the units per (order, item,
    'quantity' | 'cancel')."""
    units: Counter[tuple[str, str, str]] = Counter()
    fulfillments = written = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        order = 0
        while written < rows:
            order_id = f"R{order:07d}"
            items = 1 + order % 3
            split = order % 5 == 4
            for position in range(items):
                if written == rows:
                    break
                tracking = f"1ZREH{order:07d}{min(position, 1) if split else ''}"
                quantity = 1 + (order + position) % 3
                cancel = 1 if written % 7 == 6 else 0
                item_id = f"{order_id}-{position}"
                writer.writerow([order_id, item_id, quantity, cancel or "", "UPS", tracking])
                units[order_id, item_id, "quantity"] += quantity
                units[order_id, item_id, "cancel"] += cancel
                fulfillments += 1 if position == 0 or (split and position == 1) else 0
                written += 1
            order += 1
    return fulfillments, units


async def start_emulator() -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drfulfill.testing", "--port", "0", "--seed-orders", "0",
        "--auto-orders", "--faults", "0.1", "--seed", "21",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    match = re.search(r"(http://\S+)", (await process.stdout.readline()).decode())
    assert match, "the emulator did not announce its URL"
    return process, match.group(1)


async def upload(
    command: list[str], interrupt_at: float | None, env: dict[str, str]
) -> tuple[int, list[str], float]:
    """Run the command; SIGINT once ``interrupt_at`` of the fulfillments are done."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env
    )
    assert process.stderr is not None
    lines = []
    interrupted = False
    while line := (await process.stderr.readline()).decode():
        lines.append(line.rstrip("\n"))
        done = re.match(r"progress: ([\d,]+)/([\d,]+) done", line)
        if interrupt_at is not None and done and not interrupted:
            finished, total = (int(group.replace(",", "")) for group in done.groups())
            if finished >= interrupt_at * total:
                process.send_signal(signal.SIGINT)
                interrupted = True
    return await process.wait(), lines, time.perf_counter() - started


async def verify(base_url: str, fulfillments: int, units: Counter[tuple[str, str, str]]) -> None:
    keys: Counter[str] = Counter()
    held: Counter[tuple[str, str, str]] = Counter()
    logging.getLogger("drfulfill").setLevel(logging.ERROR)  # retries of injected faults
    async with Client(KEY, base_url=base_url, max_retries=10) as dr:
        async for fulfillment in dr.fulfillments.list(limit=100):
            keys[str((fulfillment.metadata or {}).get("drfulfillKey"))] += 1
            for item in fulfillment.items:
                held[fulfillment.order_id, item.item_id, "quantity"] += item.quantity or 0
                held[fulfillment.order_id, item.item_id, "cancel"] += item.cancel_quantity or 0
    twice = sum(1 for count in keys.values() if count > 1)
    print(
        f"emulator: {sum(keys.values()):,} fulfillments, {len(keys):,} distinct keys "
        f"(file: {fulfillments:,} fulfillments); keys created more than once: {twice}"
    )
    wrong = sum(1 for line, count in units.items() if held[line] != count)
    print(
        f"units: {sum(held[k] for k in held if k[2] == 'quantity'):,} fulfilled and "
        f"{sum(held[k] for k in held if k[2] == 'cancel'):,} cancelled (file: "
        f"{sum(v for k, v in units.items() if k[2] == 'quantity'):,} and "
        f"{sum(v for k, v in units.items() if k[2] == 'cancel'):,}); "
        f"order lines that differ: {wrong}"
    )
    once = twice == 0 and len(keys) == fulfillments == sum(keys.values()) and wrong == 0
    print("exactly once:", "yes" if once else "NO")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="drfulfill-rehearsal-") as directory:
        shipments = Path(directory) / "shipments.csv"
        fulfillments, units = write_shipments(shipments, args.rows)
        print(f"{args.rows:,} rows -> {fulfillments:,} fulfillments in {shipments.name}")
        emulator, base_url = await start_emulator()
        since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        command = [
            sys.executable, "-m", "drfulfill.cli", "--api-key", KEY, "--base-url", base_url,
            "--settle", str(args.settle), "upload", str(shipments), "--since", since,
        ]  # fmt: skip
        env = {**os.environ, "COLUMNS": "200"}
        print("$ drfulfill --api-key sk_live_… --base-url", base_url, "--settle", args.settle,
              "upload shipments.csv --since", since)  # fmt: skip
        try:
            runs = 0
            code = None
            while code is None or (code == 1 and runs < 5) or code == 130:
                runs += 1
                interrupt = args.interrupt_at if runs == 1 else None
                code, lines, seconds = await upload(command, interrupt, env)
                shown = [line for line in lines if not line.startswith("progress:")]
                print(f"--- run {runs}: exit {code} after {seconds:.1f} s")
                for line in shown[-8:]:
                    print("   ", line)
            await verify(base_url, fulfillments, units)
        finally:
            emulator.terminate()
            await emulator.wait()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--interrupt-at", type=float, default=0.4)
    parser.add_argument("--settle", type=float, default=1.0)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
