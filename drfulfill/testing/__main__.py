"""``python -m drfulfill.testing``: run the emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence

from ._emulator import DEFAULT, Emulator, _DefaultRateLimit, serve

TEST_KEY = "sk_test_emulator"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m drfulfill.testing",
        description="Serve a stateful Digital River Fulfillments / Fulfillment Returns emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 = any free)")
    parser.add_argument(
        "--seed-orders",
        type=int,
        default=0,
        metavar="N",
        help="create N orders (2 lines of 5 each) and N fulfillment orders",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for ids and random faults")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="X",
        help="delay every request by X milliseconds",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="chance (0..1) of a random fault per request",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default="dr",  # argparse passes string defaults through `type` too
        metavar="R|off|dr",
        help="requests/s per key; 'off'; or 'dr' for DR's 25 test / 250 live (default)",
    )
    return parser.parse_args(argv)


def _rate_limit(value: str) -> float | _DefaultRateLimit | None:
    if value == "off":
        return None
    if value == "dr":
        return DEFAULT
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, 'off' or 'dr': {value!r}")
    return rate


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    emulator = Emulator(
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
        fault_rate=args.fault_rate,
        seed=args.seed,
        rate_limit=args.rate_limit,
    )
    seeded = emulator.seed(
        orders=args.seed_orders, fulfillment_orders=args.seed_orders, seed=args.seed
    )

    def announce(running: Emulator) -> None:
        print(f"Digital River emulator on {running.url}")
        print(f"API key: {TEST_KEY}")
        if seeded.orders:
            shown = ", ".join(seeded.orders[:5]) + (" …" if len(seeded.orders) > 5 else "")
            print(f"{len(seeded.orders)} orders: {shown}")
            print(
                f"{len(seeded.fulfillment_orders)} fulfillment orders: "
                + ", ".join(seeded.fulfillment_orders[:5])
            )
        print("Ctrl-C to stop.", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(emulator, announce))


if __name__ == "__main__":
    main()
