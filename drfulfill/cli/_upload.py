"""``drfulfill upload``: validate a shipments file, then send it through ``bulk_create``.

Two streaming passes over the file (see ``_rows`` for the columns and the grouping rule):
the first validates everything and counts, so that nothing is sent from a file with a bad
row; the second builds the requests lazily while ``bulk_create`` sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from .._constants import DEFAULT_IDEMPOTENCY_FIELD
from .._convert import unstructure
from ..bulk import is_fatal
from ..errors import (
    APIConnectionError,
    AuthenticationError,
    CoordinationError,
    KeyReuseError,
    PermissionDeniedError,
)
from ..models import BulkResult, FulfillmentRequest
from ._progress import Progress
from ._records import DEFAULT_OPTIONS, ReadOptions, layout
from ._results import FailedWriter, Outcome, ResultsWriter, is_permanent
from ._rows import Group, iter_groups

if TYPE_CHECKING:
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
    #: ``Group.family`` of every invalid group: ``--skip-invalid`` skips valid groups of
    #: these families too, so no fulfillment is reported both invalid and created.
    invalid_families: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return self.invalid_rows == 0


def validate(path: str | Path, fmt: str, options: ReadOptions = DEFAULT_OPTIONS) -> Validation:
    """First pass: validate every row; memory: one group plus the adjacency digests."""
    report = Validation()
    for group in iter_groups(path, fmt, options):
        report.rows += len(group.lines)
        if group.ok:
            report.fulfillments += 1
            continue
        report.invalid_fulfillments += 1
        report.invalid_rows += len(group.lines)
        report.invalid_families.add(group.family)
        room = MAX_ERRORS_KEPT - len(report.errors)
        report.errors.extend(group.errors[: max(room, 0)])
    if report.invalid_families:
        # Valid groups that share a family with an invalid one are not sent either.
        report.fulfillments = sum(1 for _ in valid_groups(path, fmt, options, report))
    report.errors.sort()
    return report


def stamped(group: Group, idempotency_field: str) -> FulfillmentRequest:
    """The group's request with its safe-create key in ``metadata``, as it will be sent."""
    assert group.request is not None
    return attrs.evolve(group.request, metadata={idempotency_field: group.key})


def valid_groups(
    path: str | Path,
    fmt: str,
    options: ReadOptions = DEFAULT_OPTIONS,
    validation: Validation | None = None,
) -> Iterator[Group]:
    """Second pass: the groups to send, lazily (invalid ones, and valid ones of a family
    with an invalid group, skipped)."""
    skipped = validation.invalid_families if validation is not None else set()
    return (
        group
        for group in iter_groups(path, fmt, options)
        if group.ok and group.family not in skipped
    )


def invalid_outcomes(
    path: str | Path, fmt: str, options: ReadOptions, validation: Validation
) -> Iterator[Outcome]:
    """``--results``/``--failed`` lines for the fulfillments ``--skip-invalid`` left out."""
    for group in iter_groups(path, fmt, options):
        if not group.ok:
            reasons = "; ".join(f"line {line}: {reason}" for line, reason in group.errors)
        elif group.family in validation.invalid_families:
            reasons = "another part of this fulfillment is invalid"
        else:
            continue
        yield Outcome(
            group.key, group.lines, "invalid", error=reasons, permanent=True, raw=group.raw
        )


# --- sending -------------------------------------------------------------------------------


@dataclass
class UploadReport:
    """What a send did. ``created + resumed + failed`` is the number of fulfillments that
    finished (all of them, unless the upload stopped)."""

    fulfillments: int = 0
    created: int = 0
    resumed: int = 0
    failed: int = 0
    permanent: int = 0  # failures that a re-run would meet again (4xx)
    elapsed: float = 0.0
    failures: list[Outcome] = field(default_factory=list)  # the first ones, for the report

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def retryable(self) -> int:
        return self.failed - self.permanent


def stops_the_run(error: BaseException | None) -> bool:
    """An error that is about the API key, its permissions, the network or the fleet's
    Redis, not the row: every other row would meet it too. The rule of ``bulk_create``
    (``drfulfill.bulk.is_fatal``), so the command and the library stop on the same."""
    return error is not None and is_fatal(error)


class UploadStopped(Exception):
    """The upload stopped at an error that is not about a row (see ``stops_the_run``).
    Rows whose create was out were let finish, the others stopped; ``report`` counts the
    rows that finished."""

    def __init__(self, error: BaseException, report: UploadReport) -> None:
        super().__init__(str(error))
        self.error = error
        self.report = report


def outcome_of(result: BulkResult, group: Group) -> Outcome:
    if result.ok:
        fulfillment_id = result.fulfillment.id if result.fulfillment is not None else None
        status = "resumed" if result.resumed else "created"
        return Outcome(group.key, group.lines, status, fulfillment_id, raw=group.raw)
    return Outcome(
        group.key,
        group.lines,
        "failed",
        error=failure_text(result.error),
        permanent=is_permanent(result.error),
        raw=group.raw,
    )


KEY_REUSE_ADVICE = (
    " - a fulfillment's key is its order and its key, tracking_number or shipment_id "
    "column, so these lines ship something else under a key already used (say a new day's "
    "file adds an item to a tracking number uploaded before). A new shipment: give these "
    "rows a `key` column with a value not used before. A correction of an earlier line: "
    "nothing more can be captured under that key."
)


def failure_text(error: BaseException | None) -> str:
    """A failed fulfillment's error as reported, with what to do about a reused key."""
    text = str(error)
    if isinstance(error, KeyReuseError):
        text += KEY_REUSE_ADVICE
    return text


async def send(
    client: Client,
    groups: Iterator[Group],
    *,
    total: int,
    concurrency: int | None = None,
    journal: str | None = None,
    progress: Progress | None = None,
    description: str = "Uploading",
    on_outcome: Callable[[Outcome], None] | None = None,
    max_failures_kept: int = 20,
    report: UploadReport | None = None,
    since: datetime | None = None,
) -> UploadReport:
    """Create one fulfillment per group with ``bulk_create``; memory stays O(concurrency).

    Each request carries its group's key, derived from its content, so with a ``journal``
    a re-run skips what is done, and without one the safe-create protocol still guards
    retries. At the first error that is not about a row (``stops_the_run``), bulk_create
    sends no further row and lets the rows whose create is out finish; then
    ``UploadStopped`` is raised.
    """
    idempotency_field = client.idempotency_field or DEFAULT_IDEMPOTENCY_FIELD
    in_flight: dict[int, Group] = {}  # input index -> group
    stopped: list[BaseException] = []  # the error that stopped the run, once there is one

    def requests() -> Iterator[FulfillmentRequest]:
        for index, group in enumerate(groups):
            in_flight[index] = group
            yield stamped(group, idempotency_field)

    def key_of(request: FulfillmentRequest) -> str:
        assert request.metadata is not None
        return str(request.metadata[idempotency_field])

    progress = progress or Progress()
    report = report if report is not None else UploadReport()
    report.fulfillments = total
    started = time.perf_counter()
    progress.start(total, description)
    heartbeat = asyncio.create_task(progress.heartbeat())
    try:
        results = client.fulfillments.bulk_create(
            requests(), concurrency=concurrency, key=key_of, journal=journal, since=since
        )
        # An async generator: closing it cancels the rows in flight if this loop is left early.
        async with contextlib.aclosing(results):
            async for result in results:
                # A row failed by an error about the run (stops_the_run) is never yielded:
                # bulk_create raises that error once the rows in flight are done.
                group = in_flight.pop(result.index)
                outcome = outcome_of(result, group)
                _count(report, outcome, max_failures_kept)
                progress.advance(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
    except (
        AuthenticationError,
        PermissionDeniedError,
        APIConnectionError,
        CoordinationError,
    ) as error:
        stopped.append(error)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        progress.stop()
        report.elapsed = time.perf_counter() - started
    if stopped:
        raise UploadStopped(stopped[0], report)
    return report


def _count(report: UploadReport, outcome: Outcome, max_failures_kept: int) -> None:
    if outcome.status == "created":
        report.created += 1
    elif outcome.status == "resumed":
        report.resumed += 1
    else:
        report.failed += 1
        report.permanent += outcome.permanent
        if len(report.failures) < max_failures_kept:
            report.failures.append(outcome)


@dataclass(frozen=True)
class Outputs:
    """The files an upload writes as fulfillments finish (``--results``, ``--failed``)."""

    results: Path | None = None
    failed: Path | None = None


async def upload(
    client: Client,
    path: str | Path,
    fmt: str,
    *,
    total: int,
    options: ReadOptions = DEFAULT_OPTIONS,
    validation: Validation | None = None,
    concurrency: int | None = None,
    journal: str | None = None,
    outputs: Outputs = Outputs(),
    progress: Progress | None = None,
    description: str = "Uploading",
    on_outcome: Callable[[Outcome], None] | None = None,
    report: UploadReport | None = None,
    since: datetime | None = None,
) -> UploadReport:
    """The send pass of ``drfulfill upload`` (and of the demo): the file's valid groups
    through ``bulk_create``, with ``--results`` and ``--failed`` written as fulfillments
    finish. With a ``validation`` that found invalid groups, those are written first (the
    command only gets here with them under ``--skip-invalid``)."""
    writers: list[Callable[[Outcome], None]] = []
    with contextlib.ExitStack() as stack:
        if outputs.results is not None:
            file = stack.enter_context(open(outputs.results, "w", newline="", encoding="utf-8"))  # noqa: ASYNC230 - a local file
            writers.append(ResultsWriter(file, ResultsWriter.format_for(outputs.results)).write)
        if outputs.failed is not None:
            failed_file = stack.enter_context(
                open(outputs.failed, "w", newline="", encoding=options.encoding)  # noqa: ASYNC230 - a local file
            )
            writers.append(FailedWriter(failed_file, layout(path, fmt, options)).write)
        if validation is not None and not validation.ok:
            for outcome in invalid_outcomes(path, fmt, options, validation):
                for write in writers:
                    write(outcome)

        def finished(outcome: Outcome) -> None:
            for write in writers:
                write(outcome)
            if on_outcome is not None:
                on_outcome(outcome)

        return await send(
            client,
            valid_groups(path, fmt, options, validation),
            total=total,
            concurrency=concurrency,
            journal=journal,
            progress=progress,
            description=description,
            on_outcome=finished,
            report=report,
            since=since,
        )


def dry_run_line(group: Group, idempotency_field: str) -> str:
    """What ``--dry-run`` prints for a group: key, lines and the wire body to be sent."""
    body = unstructure(stamped(group, idempotency_field))
    return json.dumps({"key": group.key, "lines": group.lines, "request": body})


def sandbox_orders(
    path: str | Path, fmt: str, options: ReadOptions = DEFAULT_OPTIONS
) -> dict[str, dict[str, int]]:
    """``{order_id: {item_id: units}}`` that the file's valid rows need (for ``--sandbox``)."""
    orders: dict[str, dict[str, int]] = {}
    for group in valid_groups(path, fmt, options):
        assert group.request is not None
        items = orders.setdefault(group.request.order_id, {})
        for item in group.request.items:
            units = (item.quantity or 0) + (item.cancel_quantity or 0)
            items[item.item_id] = items.get(item.item_id, 0) + units
    return orders
