"""The one standalone emulator launcher: ``python -m drfulfill.testing`` and
``drfulfill emulator`` both run ``main`` (same options, same defaults, same banner).

Besides ``--seed-orders`` random-looking orders, every launched emulator holds the fixed
``QUICKSTART`` data that the README's samples use, so they run as written against it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ._emulator import DEFAULT, Emulator, serve

TEST_KEY = "sk_test_emulator"
DEFAULT_PORT = 8787
DEFAULT_SEED_ORDERS = 10
SHOWN = 5  # orders listed in the banner
QUICKSTART_UNITS = 100  # per order line: enough for the samples to be run many times over

#: The README's ids: orders (line item ids) and a fulfillment order (id, upstream order,
#: its line item ids, shipped units each).
QUICKSTART_ORDERS = {
    "231388420336": ("158140150336", "158140160336"),
    "231388430336": ("158140170336",),
}
QUICKSTART_FULFILLMENT_ORDER = ("6645940010", "231388420336", ("99341140336",), 5)


def add_quickstart_data(emulator: Emulator) -> None:
    """Add the README's orders and fulfillment order (ids above) to ``emulator``."""
    for order_id, items in QUICKSTART_ORDERS.items():
        emulator.add_order(
            order_id, [{"item_id": item, "quantity": QUICKSTART_UNITS} for item in items]
        )
    fulfillment_order_id, upstream_id, items, shipped = QUICKSTART_FULFILLMENT_ORDER
    emulator.add_fulfillment_order(
        fulfillment_order_id,
        upstream_id,
        [{"id": item, "shipped_quantity": shipped} for item in items],
    )


def quickstart_summary() -> str:
    orders = ", ".join(
        f"order {order_id} (items {', '.join(items)})"
        for order_id, items in QUICKSTART_ORDERS.items()
    )
    fulfillment_order_id, upstream_id, items, _ = QUICKSTART_FULFILLMENT_ORDER
    return (
        f"README data: {orders}; fulfillment order {fulfillment_order_id} of order "
        f"{upstream_id} (items {', '.join(items)})"
    )


def _rate_limit(value: str) -> Any:
    if value == "off":
        return None
    if value == "dr":
        return DEFAULT
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, 'off' or 'dr': {value!r}")
    return rate


def _fault_rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1: {value!r}")
    return rate


def _non_negative(kind: type[int] | type[float]) -> Any:
    def parse(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            number = -1
        if number < 0:
            raise argparse.ArgumentTypeError(f"expected a number >= 0: {value!r}")
        return number

    return parse


def parser(prog: str = "python -m drfulfill.testing") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a stateful Digital River Fulfillments / Fulfillment Returns emulator "
        "until Ctrl-C, with the README's sample data.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_non_negative(int),
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 = any free port)",
    )
    parser.add_argument(
        "--seed-orders",
        type=_non_negative(int),
        default=DEFAULT_SEED_ORDERS,
        metavar="N",
        help=f"also create N orders (2 lines of 5 units each) and N fulfillment orders "
        f"(default {DEFAULT_SEED_ORDERS})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for the seeded ids and random faults"
    )
    parser.add_argument(
        "--latency-ms",
        type=_non_negative(float),
        default=0.0,
        metavar="X",
        help="delay every request by X milliseconds",
    )
    parser.add_argument(
        "--fault-rate",
        "--faults",
        type=_fault_rate,
        default=0.0,
        metavar="R",
        help="chance (0..1) of a random fault per request",
    )
    parser.add_argument(
        "--orders",
        metavar="FILE",
        help="also hold the orders of FILE: CSV or JSON Lines of order_id,item_id,quantity "
        "(and cancel_quantity; other columns ignored: a comma-separated shipments file "
        "serves as it is)",
    )
    parser.add_argument(
        "--auto-orders",
        action="store_true",
        help="a rehearsal aid (off by default): an unknown order in a create comes into "
        "being holding what the create asks for",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default="dr",  # argparse passes string defaults through `type` too
        metavar="R|off|dr",
        help="requests/s per key; 'off'; or 'dr' for DR's 25 test / 250 live (default)",
    )
    return parser


def build(args: argparse.Namespace) -> tuple[Emulator, list[str]]:
    """The emulator the options describe, seeded, and the banner lines about its data."""
    emulator = Emulator(
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
        fault_rate=args.fault_rate,
        seed=args.seed,
        rate_limit=args.rate_limit,
        auto_orders=args.auto_orders,
    )
    add_quickstart_data(emulator)
    seeded = emulator.seed(
        orders=args.seed_orders, fulfillment_orders=args.seed_orders, seed=args.seed
    )
    lines = []
    if seeded.orders:
        more = " …" if len(seeded.orders) > SHOWN else ""
        lines.append(f"{len(seeded.orders)} orders: " + ", ".join(seeded.orders[:SHOWN]) + more)
        lines.append(items_line(emulator, seeded.orders))
        lines.append(
            f"{len(seeded.fulfillment_orders)} fulfillment orders: "
            + ", ".join(seeded.fulfillment_orders[:SHOWN])
            + more
        )
    if args.orders:
        added = emulator.add_orders_from(args.orders)
        more = " …" if len(added) > SHOWN else ""
        lines.append(f"{len(added)} orders from {args.orders}: " + ", ".join(added[:SHOWN]) + more)
        lines.append(items_line(emulator, added))
    lines.append(quickstart_summary())
    if args.auto_orders:
        lines.append(
            "auto-orders: on (a rehearsal aid: an unknown order in a create comes into being)"
        )
    return emulator, lines


def items_line(emulator: Emulator, order_ids: Sequence[str]) -> str:
    """The item ids (and open units) of the first orders shown, so a create can be made."""
    shown = []
    for order_id in order_ids[:SHOWN]:
        items = emulator.orders[order_id]["items"]
        listed = ", ".join(f"{item['id']} x{item['openQuantity']}" for item in items)
        shown.append(f"{order_id}: {listed}")
    return "items (id x units): " + "; ".join(shown) + (" …" if len(order_ids) > SHOWN else "")


def banner(url: str, data_lines: Sequence[str]) -> list[str]:
    return [
        f"Digital River emulator on {url}",
        f"API key: {TEST_KEY}",
        *data_lines,
        f"export DR_BASE_URL={url} DR_API_KEY={TEST_KEY}",
        "Ctrl-C to stop.",
    ]


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "python -m drfulfill.testing",
    out: TextIO | None = None,
) -> None:
    """Parse ``argv``, serve until Ctrl-C, print the banner once listening. An address
    that cannot be listened on (a port in use) is one line on stderr and exit status 1; an
    ``--orders`` file that cannot be read is one line and exit status 2."""
    options = parser(prog)
    args = options.parse_args(argv)
    try:
        emulator, data_lines = build(args)
    except (ValueError, OSError) as error:  # --orders FILE: one line, exit 2
        options.error(str(error))

    def announce(running: Emulator) -> None:
        print("\n".join(banner(running.url, data_lines)), file=out, flush=True)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(emulator, announce))
    except OSError as error:  # only listening can fail so: one line, not a traceback
        reason = os.strerror(error.errno).lower() if error.errno else str(error)
        print(
            f"{prog}: cannot listen on {args.host}:{args.port}: {reason}"
            " (--port 0 takes any free port)",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
