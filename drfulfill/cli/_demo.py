"""``drfulfill demo``: the whole SDK at work against an in-process emulator, in seconds.

``run_demo()`` is the testable part: it returns a ``DemoSummary`` and raises ``DemoError``
if the emulator's state disagrees with what the client reports (exactly-once is checked,
not assumed).
"""

from __future__ import annotations

import contextlib
import csv
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import Client
from .._constants import DEFAULT_IDEMPOTENCY_FIELD
from ..errors import APIConnectionError, ServerError
from ..models import FulfillmentReturn
from ._context import EMULATOR_KEY
from ._progress import Progress
from ._upload import upload, validate

if TYPE_CHECKING:
    from rich.console import Console

    from ..testing import Emulator

ITEMS_PER_ORDER = 2
UNITS_PER_ITEM = 5
MAX_RUNS = 3
CARRIERS = ("FedEx", "UPS", "DHL")
HEADER = (
    "order_id",
    "item_id",
    "quantity",
    "cancel_quantity",
    "tracking_company",
    "tracking_number",
    "tracking_url",
    "distributor_cost",
    "currency",
)


class DemoError(RuntimeError):
    """The emulator's state does not match what the client reported."""


@dataclass
class DemoSummary:
    rows: int
    fulfillments: int  # fulfillments in the CSV
    created: int
    failed: int
    emulator_fulfillments: int
    listed: int  # streamed back with auto-pagination
    units_in_file: int
    units_fulfilled: int  # according to the emulator's orders
    requests: int
    retries: int
    rate_limited: int
    reconciled: int
    recreated: int
    faults_injected: int
    return_id: str
    runs: int = 1  # upload runs: more than one when a run left rows failed
    duplicates: int = 0  # fulfillments in the emulator sharing a safe-create key
    return_states: list[str] = field(default_factory=list)
    upload_seconds: float = 0.0  # every upload run together
    elapsed: float = 0.0
    sent: int = 0  # fulfillments this demo created, over every upload run (none resumed)

    @property
    def throughput(self) -> float:
        """Fulfillments this demo created per second of upload: rows a re-run resumed from
        the journal cost no request and are not counted, and every run's time is."""
        return self.sent / self.upload_seconds if self.upload_seconds else 0.0

    @property
    def exactly_once(self) -> bool:
        return (
            self.created == self.emulator_fulfillments == self.listed == self.fulfillments
            and self.units_fulfilled == self.units_in_file
            and self.duplicates == 0
        )


def write_sample_csv(path: Path, emulator: Emulator, rows: int) -> tuple[int, int]:
    """Seed orders and write ``rows`` shipment lines for them; return (fulfillments, units).

    Most orders ship both lines in one parcel (two rows, one tracking number: one fulfillment
    of two items); every fourth ships them apart; every third line cancels a unit too.
    """
    orders = emulator.seed(
        orders=-(-rows // ITEMS_PER_ORDER),
        items_per_order=ITEMS_PER_ORDER,
        quantity=UNITS_PER_ITEM,
        fulfillment_orders=1,
    ).orders
    fulfillments = units = written = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for number, order_id in enumerate(orders):
            split = number % 4 == 3
            carrier = CARRIERS[number % len(CARRIERS)]
            priced = number % 3 == 0
            for position, item in enumerate(emulator.orders[order_id]["items"]):
                if written == rows:
                    break
                tracking = f"1ZDEMO{number:06d}{position if split else ''}"
                quantity = 1 + (number + position) % UNITS_PER_ITEM
                cancel = 1 if (written % 3 == 2 and quantity < UNITS_PER_ITEM) else ""
                writer.writerow(
                    (
                        order_id,
                        item["id"],
                        quantity,
                        cancel,
                        carrier,
                        tracking,
                        f"https://track.example/{tracking}",
                        f"{quantity * 12.5:.2f}" if priced else "",
                        "USD" if priced else "",
                    )
                )
                written += 1
                units += quantity
                fulfillments += 1 if split or position == 0 else 0
    return fulfillments, units


def _keys(emulator: Emulator) -> set[str]:
    """The distinct safe-create keys of the emulator's fulfillments."""
    return {
        str((fulfillment.get("metadata") or {}).get(DEFAULT_IDEMPOTENCY_FIELD))
        for fulfillment in emulator.fulfillments
    }


async def _create_return(client: Client, emulator: Emulator) -> FulfillmentReturn:
    """Create a return for the seeded fulfillment order, exactly once even under faults.

    A return request has no metadata, so the SDK cannot reconcile an ambiguous failure
    itself; the recipe is to look for the return before sending it again.
    """
    fulfillment_order = emulator.fulfillment_orders[0]
    item = fulfillment_order["items"][0]
    for _attempt in range(5):
        try:
            return await client.fulfillment_returns.create(
                fulfillment_order_id=fulfillment_order["id"],
                upstream_id=fulfillment_order["upstreamId"],
                items=[{"fulfillment_order_item_id": item["id"], "quantity": 1}],
                reason="requested_by_customer",
            )
        except (ServerError, APIConnectionError):
            async for existing in client.fulfillment_returns.list(
                fulfillment_order_id=fulfillment_order["id"]
            ):
                return existing
    raise DemoError("could not create the fulfillment return")


async def run_demo(
    rows: int = 500,
    faults: float = 0.0,
    *,
    progress: Progress | None = None,
    seed: int = 0,
    emulator: Emulator | None = None,
) -> DemoSummary:
    """Upload a sample CSV to a fresh emulator, read it back, walk a return; check it all.

    ``emulator``: a started, empty one to use instead (for tests; ``faults`` is then unused).
    """
    from ..testing import Emulator

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="drfulfill-demo-") as temporary:
        folder = Path(temporary)
        async with contextlib.AsyncExitStack() as stack:
            if emulator is None:
                emulator = await stack.enter_async_context(
                    Emulator(rate_limit=None, fault_rate=faults, seed=seed)
                )
            csv_path = folder / "shipments.csv"
            fulfillments, units = write_sample_csv(csv_path, emulator, rows)
            validation = validate(csv_path, "csv")
            if not validation.ok:  # the sample is valid by construction
                raise DemoError(f"the sample CSV is invalid: {validation.errors[:3]}")
            # The emulator answers in microseconds and commits at once: short backoffs and a
            # short settle window keep a faulty run brisk.
            async with Client(
                EMULATOR_KEY,
                base_url=emulator.url,
                rate_limit=None,
                backoff_base=0.02,
                settle=0.2,
            ) as client:
                report, runs, sent, upload_seconds = None, 0, 0, 0.0
                # A create whose response was lost and whose check failed too is reported
                # failed (it may or may not exist). Running the upload again, as a user
                # would, settles it: the journal sends the check again, never a blind create.
                while runs < MAX_RUNS and (report is None or report.failed):
                    runs += 1
                    report = await upload(
                        client,
                        csv_path,
                        "csv",
                        total=validation.fulfillments,
                        journal=str(folder / "shipments.csv.journal.db"),
                        progress=progress,
                        description="Uploading" if runs == 1 else "Re-running",
                    )
                    sent += report.created
                    upload_seconds += report.elapsed
                assert report is not None
                listed = [f.id async for f in client.fulfillments.list(limit=100)]
                created_return = await _create_return(client, emulator)
                states = [str(getattr(created_return.state, "value", created_return.state))]
                for state in ("pending", "accepted"):
                    emulator.advance_return(str(created_return.id), state)
                    current = await client.fulfillment_returns.retrieve(str(created_return.id))
                    states.append(str(getattr(current.state, "value", current.state)))
                stats = client.stats
            units_fulfilled = sum(
                item["fulfilledQuantity"] for order in emulator.orders for item in order["items"]
            )
            summary = DemoSummary(
                rows=validation.rows,
                fulfillments=fulfillments,
                created=report.created + report.resumed,
                failed=report.failed,
                emulator_fulfillments=len(emulator.fulfillments),
                listed=len(listed),
                units_in_file=units,
                units_fulfilled=units_fulfilled,
                requests=stats.requests,
                retries=stats.retries,
                rate_limited=stats.rate_limited,
                reconciled=stats.reconciled,
                recreated=stats.recreated,
                faults_injected=emulator.faults_injected,
                runs=runs,
                duplicates=len(emulator.fulfillments) - len(_keys(emulator)),
                return_id=str(created_return.id),
                return_states=states,
                upload_seconds=upload_seconds,
                sent=sent,
                elapsed=time.perf_counter() - started,
            )
    if summary.created + summary.failed != summary.fulfillments:
        raise DemoError(f"{summary.fulfillments} fulfillments sent, results for fewer: {summary}")
    if summary.duplicates:
        raise DemoError(f"{summary.duplicates} fulfillment(s) were created twice")
    if summary.created != summary.emulator_fulfillments:
        raise DemoError(
            f"the client reports {summary.created} fulfillments created but the emulator "
            f"holds {summary.emulator_fulfillments}"
        )
    if len(set(listed)) != len(listed):
        raise DemoError(f"listing streamed {len(listed) - len(set(listed))} fulfillment(s) twice")
    if summary.listed != summary.emulator_fulfillments:
        raise DemoError(
            f"listing streamed {summary.listed} fulfillments; the emulator holds "
            f"{summary.emulator_fulfillments}"
        )
    return summary


def print_summary(summary: DemoSummary, console: Console) -> None:
    from rich.table import Table

    table = Table(title="drfulfill demo", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    once = "[green]yes[/green]" if summary.exactly_once else "[red]NO[/red]"
    rows = [
        ("CSV rows", f"{summary.rows:,}"),
        ("fulfillments in the CSV", f"{summary.fulfillments:,}"),
        ("fulfillments created", f"{summary.created:,}"),
        ("failed", f"{summary.failed:,}"),
        ("held by the emulator", f"{summary.emulator_fulfillments:,}"),
        ("streamed back (auto-pagination)", f"{summary.listed:,}"),
        (
            "units fulfilled / in the CSV",
            f"{summary.units_fulfilled:,} / {summary.units_in_file:,}",
        ),
        ("exactly once", once),
        ("HTTP requests", f"{summary.requests:,}"),
        ("faults injected by the emulator", f"{summary.faults_injected:,}"),
        ("retries", f"{summary.retries:,}"),
        ("reconciled creates (response lost)", f"{summary.reconciled:,}"),
        ("creates re-sent after a check", f"{summary.recreated:,}"),
        ("upload runs (journal resumes)", f"{summary.runs}"),
        ("fulfillment return", summary.return_id),
        ("return states (re-retrieved)", " → ".join(summary.return_states)),
        ("upload time (every run)", f"{summary.upload_seconds:.2f} s"),
        ("throughput (created by this demo)", f"{summary.throughput:,.0f} fulfillments/s"),
        ("total time", f"{summary.elapsed:.2f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
