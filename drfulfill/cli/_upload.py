"""``drfulfill upload``: validate a shipments file, then send it through ``bulk_create``.

Two streaming passes over the file (see ``_rows`` for the columns and the grouping rule):
the first validates everything and counts, so that nothing is sent from a file with a bad
row; the second builds the requests lazily while ``bulk_create`` sends them.
"""

from __future__ import annotations

import contextlib
import csv
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from .._constants import DEFAULT_IDEMPOTENCY_FIELD
from .._convert import unstructure
from ..models import BulkResult, FulfillmentRequest
from ._rows import Group, iter_groups

if TYPE_CHECKING:
    from rich.console import Console

    from .. import Client

MAX_ERRORS_KEPT = 1000  # invalid lines remembered for the report; the rest are only counted


@dataclass
class Validation:
    """What the first pass found."""

    rows: int = 0
    fulfillments: int = 0  # valid groups, i.e. requests to send
    invalid_rows: int = 0
    invalid_fulfillments: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), first ones

    @property
    def ok(self) -> bool:
        return self.invalid_rows == 0


def validate(path: str | Path, fmt: str) -> Validation:
    """First pass: validate every row; memory: one group plus the adjacency digests."""
    report = Validation()
    for group in iter_groups(path, fmt):
        report.rows += len(group.lines)
        if group.ok:
            report.fulfillments += 1
            continue
        report.invalid_fulfillments += 1
        report.invalid_rows += len(group.lines)
        room = MAX_ERRORS_KEPT - len(report.errors)
        report.errors.extend(group.errors[: max(room, 0)])
    report.errors.sort()
    return report


def stamped(group: Group, idempotency_field: str) -> FulfillmentRequest:
    """The group's request with its safe-create key in ``metadata``, as it will be sent."""
    assert group.request is not None
    return attrs.evolve(group.request, metadata={idempotency_field: group.key})


def valid_groups(path: str | Path, fmt: str) -> Iterator[Group]:
    """Second pass: the groups to send, lazily (invalid ones skipped)."""
    return (group for group in iter_groups(path, fmt) if group.ok)


# --- results ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """One line of ``--results``: one fulfillment."""

    key: str
    lines: list[int]
    status: str  # created | resumed | failed | invalid
    fulfillment_id: str | None = None
    error: str | None = None


class ResultsWriter:
    """``--results out.jsonl`` or ``out.csv``: one line per fulfillment, as they finish."""

    FIELDS = ("key", "lines", "status", "fulfillment_id", "error")

    def __init__(self, file: IO[str], fmt: str) -> None:
        self._file = file
        self._csv = csv.writer(file) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(self.FIELDS)

    @staticmethod
    def format_for(path: str | Path) -> str:
        return "csv" if Path(path).suffix.lower() == ".csv" else "jsonl"

    def write(self, outcome: Outcome) -> None:
        if self._csv is not None:
            lines = " ".join(map(str, outcome.lines))
            self._csv.writerow(
                [
                    outcome.key,
                    lines,
                    outcome.status,
                    outcome.fulfillment_id or "",
                    outcome.error or "",
                ]
            )
        else:
            record = {name: getattr(outcome, name) for name in self.FIELDS}
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")


# --- sending -------------------------------------------------------------------------------


@dataclass
class UploadReport:
    """What a send did. ``created + resumed + failed`` is the number of fulfillments sent."""

    fulfillments: int = 0
    created: int = 0
    resumed: int = 0
    failed: int = 0
    elapsed: float = 0.0
    failures: list[Outcome] = field(default_factory=list)  # the first ones, for the report

    @property
    def ok(self) -> bool:
        return self.failed == 0


class Progress:
    """Progress display of a send; the base class shows nothing."""

    def start(self, total: int, description: str = "Uploading") -> None:
        pass

    def advance(self, outcome: Outcome) -> None:
        pass

    def stop(self) -> None:
        pass


class RichProgress(Progress):
    """A rich progress bar on stderr: done/total, rate, ETA, failures."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failed]}"),
            console=console,
            transient=False,
        )
        self._task: Any = None
        self._failed = 0

    def start(self, total: int, description: str = "Uploading") -> None:
        self._bar.start()
        self._failed = 0
        self._task = self._bar.add_task(description, total=total, rate="", failed="")

    def advance(self, outcome: Outcome) -> None:
        if outcome.status == "failed":
            self._failed += 1
        speed = self._bar.tasks[-1].speed
        self._bar.update(
            self._task,
            advance=1,
            rate=f"{speed:,.0f}/s" if speed else "",
            failed=f"[red]{self._failed} failed" if self._failed else "",
        )

    def stop(self) -> None:
        self._bar.stop()


def outcome_of(result: BulkResult, key: str, lines: list[int]) -> Outcome:
    if result.ok:
        fulfillment_id = result.fulfillment.id if result.fulfillment is not None else None
        return Outcome(key, lines, "resumed" if result.resumed else "created", fulfillment_id)
    return Outcome(key, lines, "failed", error=str(result.error))


async def send(
    client: Client,
    groups: Iterator[Group],
    *,
    total: int,
    concurrency: int | None = None,
    journal: str | None = None,
    results: ResultsWriter | None = None,
    progress: Progress | None = None,
    description: str = "Uploading",
    on_outcome: Callable[[Outcome], None] | None = None,
    max_failures_kept: int = 20,
) -> UploadReport:
    """Create one fulfillment per group with ``bulk_create``; memory stays O(concurrency).

    Each request carries its group's deterministic key, so with a ``journal`` a re-run
    skips what is done, and without one the safe-create protocol still guards retries.
    """
    idempotency_field = client.idempotency_field or DEFAULT_IDEMPOTENCY_FIELD
    in_flight: dict[int, tuple[str, list[int]]] = {}  # input index -> (key, lines)

    def requests() -> Iterator[FulfillmentRequest]:
        for index, group in enumerate(groups):
            in_flight[index] = (group.key, group.lines)
            yield stamped(group, idempotency_field)

    def key_of(request: FulfillmentRequest) -> str:
        assert request.metadata is not None
        return str(request.metadata[idempotency_field])

    progress = progress or Progress()
    report = UploadReport(fulfillments=total)
    started = time.perf_counter()
    progress.start(total, description)
    try:
        results_iter = client.fulfillments.bulk_create(
            requests(), concurrency=concurrency, key=key_of, journal=journal
        )
        # aclosing: an exception here must close the run (and its journal) now, not at GC.
        async with contextlib.aclosing(results_iter):
            async for result in results_iter:
                key, lines = in_flight.pop(result.index)
                outcome = outcome_of(result, key, lines)
                if outcome.status == "created":
                    report.created += 1
                elif outcome.status == "resumed":
                    report.resumed += 1
                else:
                    report.failed += 1
                    if len(report.failures) < max_failures_kept:
                        report.failures.append(outcome)
                if results is not None:
                    results.write(outcome)
                progress.advance(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
    finally:
        progress.stop()
        report.elapsed = time.perf_counter() - started
    return report


async def upload(
    client: Client,
    path: str | Path,
    fmt: str,
    *,
    total: int,
    concurrency: int | None = None,
    journal: str | None = None,
    results_path: str | Path | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    description: str = "Uploading",
    on_outcome: Callable[[Outcome], None] | None = None,
) -> UploadReport:
    """The send pass of ``drfulfill upload`` (and of the demo): the file's valid groups
    through ``bulk_create``, with ``--results`` written as fulfillments finish."""
    with contextlib.ExitStack() as stack:
        results = None
        if results_path is not None:
            file = stack.enter_context(open(results_path, "w", newline="", encoding="utf-8"))  # noqa: ASYNC230 - a local file
            results = ResultsWriter(file, ResultsWriter.format_for(results_path))
            if skip_invalid:
                for outcome in invalid_outcomes(path, fmt):
                    results.write(outcome)
        return await send(
            client,
            valid_groups(path, fmt),
            total=total,
            concurrency=concurrency,
            journal=journal,
            results=results,
            progress=progress,
            description=description,
            on_outcome=on_outcome,
        )


def invalid_outcomes(path: str | Path, fmt: str) -> Iterator[Outcome]:
    """``--results`` lines for the fulfillments ``--skip-invalid`` left out."""
    for group in iter_groups(path, fmt):
        if not group.ok:
            reasons = "; ".join(f"line {line}: {reason}" for line, reason in group.errors)
            yield Outcome(group.key, group.lines, "invalid", error=reasons)


def dry_run_line(group: Group, idempotency_field: str) -> str:
    """What ``--dry-run`` prints for a group: key, lines and the wire body to be sent."""
    body = unstructure(stamped(group, idempotency_field))
    return json.dumps({"key": group.key, "lines": group.lines, "request": body})


def sandbox_orders(path: str | Path, fmt: str) -> dict[str, dict[str, int]]:
    """``{order_id: {item_id: units}}`` that the file's valid rows need (for ``--sandbox``)."""
    orders: dict[str, dict[str, int]] = {}
    for group in valid_groups(path, fmt):
        assert group.request is not None
        items = orders.setdefault(group.request.order_id, {})
        for item in group.request.items:
            units = (item.quantity or 0) + (item.cancel_quantity or 0)
            items[item.item_id] = items.get(item.item_id, 0) + units
    return orders
