"""``drfulfill upload``: the command, its options and its reports (the work is in ``_upload``)."""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .._constants import DEFAULT_BULK_CONCURRENCY, DEFAULT_IDEMPOTENCY_FIELD
from ..errors import (
    AuthenticationError,
    CoordinationError,
    PermissionDeniedError,
    ValidationError,
)
from ._context import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    REDIS_URL_ENV,
    AwareDateTime,
    CommandError,
    Connection,
    ConnectOptions,
    ParamType,
    Settings,
    run_with_client,
    settings_of,
    stderr_console,
)
from ._progress import progress_for
from ._records import FORMATS, FileFormatError, detect_format
from ._upload import Outputs

# --- upload ----------------------------------------------------------------------------------

UPLOAD_HELP = """Create fulfillments from a CSV or JSON Lines file of shipment lines.

\b
Columns (CSV header / JSON keys; only order_id and item_id are required):
  order_id, item_id, quantity, cancel_quantity, tracking_company,
  tracking_number, tracking_url, shipment_id, shipment_item_id,
  subfulfiller_id, distributor_cost, shipping_cost, currency, key

Rows of one order that share a grouping value - their `key`, else their tracking_number,
else their shipment_id - become ONE fulfillment with several items; a row with none of them
is a fulfillment of its own. Rows of one group must be adjacent (sort by order, then key).
Each fulfillment's safe-create key comes from what it ships (order, grouping value, items
and quantities), so a renamed or copied file maps to the same keys.

The whole file is checked before anything is sent: bad rows are reported as FILE:LINE: reason
(the CSV header is line 1) and nothing is sent, unless --skip-invalid. A journal next to
the file (FILE.journal.db) records what is done, so running the same command again resumes
without creating anything twice; a journal that holds a create in doubt is always kept. A
wrong key, missing permissions, an unreachable API or a failing fleet Redis stop the run at
once (exit 1).

\b
Exit codes:
  0    every fulfillment created (or already done)
  1    some fulfillments failed, or the run stopped (key, permissions, network)
  2    bad usage or an invalid file; nothing was sent
  130  interrupted (Ctrl-C); run the same command again to resume
"""


class Encoding(ParamType):
    """A text encoding Python knows (utf-8, cp1252, latin-1, utf-16, ...)."""

    name = "ENCODING"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            codecs.lookup(str(value))
        except LookupError:
            self.fail(f"{value!r} is not a known text encoding (e.g. utf-8, cp1252, latin-1)")
        return str(value)


class Delimiter(ParamType):
    """One character; ``tab`` or ``\\t`` for a tab."""

    name = "CHAR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = {"tab": "\t", "\\t": "\t"}.get(str(value), str(value))
        if len(text) != 1 or text in '"\r\n':
            self.fail(f"{value!r} is not one character (e.g. ';', ',', '|' or tab)")
        return text


@click.command(help=UPLOAD_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(FORMATS),
    help="File format. Default: from the extension (.csv, .jsonl, .ndjson).",
)
@click.option(
    "--encoding",
    type=Encoding(),
    default="utf-8",
    show_default=True,
    help="Text encoding of the file (a UTF-8 byte-order mark is skipped), e.g. cp1252.",
)
@click.option(
    "--delimiter",
    type=Delimiter(),
    help="CSV delimiter. Default: guessed from the header (, ; tab |).",
)
@click.option(
    "--ignore-unknown-columns",
    is_flag=True,
    help="Ignore columns (JSON fields) drfulfill does not know instead of refusing the file.",
)
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), help="Journal path.")
@click.option("--no-journal", is_flag=True, help="Do not keep a journal (no resuming).")
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one line per fulfillment (key, lines, status, id or error); .csv or .jsonl.",
)
@click.option(
    "--failed",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rows of every fulfillment not created (failed, or skipped as invalid) in "
    "the input's format and columns, plus failure_reason: fix it and upload it as it is.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=DEFAULT_BULK_CONCURRENCY,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option("--skip-invalid", is_flag=True, help="Send the valid fulfillments, skip the rest.")
@click.option(
    "--dry-run", is_flag=True, help="Validate and print the requests (JSON Lines); send nothing."
)
@click.option(
    "--since",
    type=AwareDateTime(),
    help="The earliest time an earlier run of this file could have started (ISO 8601 with Z "
    "or an offset): one sweep of the fulfillments created since then verifies every row, "
    "about one request per fulfillment, instead of a lookup per order.",
)
@click.option(
    "--redis",
    "redis_url",
    envvar=REDIS_URL_ENV,
    metavar="URL",
    help=f"Join a fleet (default ${REDIS_URL_ENV}): share the key's rate limit, 429 pauses "
    "and exactly-once claims with every process using this Redis, as bulk traffic (their "
    "interactive calls go first). Never printed.",
)
@click.option(
    "--auto-orders",
    is_flag=True,
    help="With --sandbox, a rehearsal aid: each order comes into being when its first "
    "fulfillment is created, holding what the file ships (no pass to seed them first).",
)
@click.option(
    "--faults",
    type=click.FloatRange(0, 0.5),
    default=0.0,
    help="With --sandbox: chance of an injected fault per request (5xx, 429, dropped "
    "connection, create applied but response lost), to rehearse retries and resumes.",
)
@click.option(
    "--progress-interval",
    type=click.FloatRange(min=0),
    default=5.0,
    hidden=True,
    help="Seconds between progress lines when stderr is not a terminal.",
)
@click.pass_context
def upload(
    ctx: click.Context,
    file: Path,
    file_format: str | None,
    encoding: str,
    delimiter: str | None,
    ignore_unknown_columns: bool,
    journal: Path | None,
    no_journal: bool,
    results: Path | None,
    failed: Path | None,
    concurrency: int,
    skip_invalid: bool,
    dry_run: bool,
    since: datetime | None,
    redis_url: str | None,
    auto_orders: bool,
    faults: float,
    progress_interval: float,
) -> None:
    from ._records import ReadOptions
    from ._upload import dry_run_line, valid_groups, validate

    settings = settings_of(ctx)
    console = stderr_console()
    if journal is not None and no_journal:
        raise click.UsageError("--journal and --no-journal exclude each other")
    if (auto_orders or faults) and not settings.sandbox:
        raise click.UsageError(
            "--auto-orders and --faults rehearse against the emulator: they need --sandbox "
            "(drfulfill --sandbox upload FILE ...)"
        )
    connect_options = ConnectOptions(redis_url or None, auto_orders, faults)
    journal_path = None if dry_run else _journal_path(file, journal, no_journal, settings)
    _refuse_overwrites(file, journal_path, results=results, failed=failed)
    options = ReadOptions(encoding, delimiter, ignore_unknown_columns)
    try:
        fmt = detect_format(file, file_format)
        with console.status(f"Validating {file.name}…"):
            validation = validate(file, fmt, options)
    except FileFormatError as error:
        raise CommandError(f"{file}: {error}", EXIT_USAGE) from None
    except OSError as error:
        raise CommandError(f"cannot read {file}: {error}", EXIT_USAGE) from None
    except KeyboardInterrupt:
        console.print("Interrupted while validating; nothing was sent.")
        ctx.exit(EXIT_INTERRUPTED)
    _report_validation(console, file, validation, skip_invalid)
    if not validation.ok and not skip_invalid:
        ctx.exit(EXIT_USAGE)
    if dry_run:
        for group in valid_groups(file, fmt, options, validation):
            sys.stdout.write(dry_run_line(group, DEFAULT_IDEMPOTENCY_FIELD) + "\n")
        console.print(
            f"Dry run: {validation.fulfillments:,} fulfillment(s) would be created; nothing sent."
        )
        return
    for output in (results, failed):
        if output is not None:
            _check_writable(output)
    _send_upload(
        ctx,
        file,
        fmt,
        options,
        validation,
        journal_path,
        Outputs(results, failed),
        concurrency=concurrency,
        progress=progress_for(console, interval=progress_interval),
        since=since,
        connect_options=connect_options,
    )


def _send_upload(
    ctx: click.Context,
    file: Path,
    fmt: str,
    options: Any,
    validation: Any,
    journal_path: str | None,
    outputs: Outputs,
    *,
    concurrency: int,
    progress: Any,
    since: datetime | None,
    connect_options: ConnectOptions,
) -> None:
    from ..bulk import claim_journal
    from ._upload import UploadReport, UploadStopped, upload

    console = stderr_console()
    journal_is_new = journal_path is not None and not Path(journal_path).exists()
    report = UploadReport()

    async def body(connection: Connection) -> Any:
        if journal_path is not None:
            # Before the results file is truncated and the sandbox seeded: a journal of
            # another API is a usage error (exit 2), like a journal that cannot be opened.
            try:
                claim_journal(journal_path, connection.client.target)
            except ValidationError as error:
                in_doubt = None if journal_is_new else _in_doubt_or_unknown(journal_path)
                message = journal_refused(str(error), in_doubt=in_doubt)
                raise CommandError(message, EXIT_USAGE) from None
        if connection.emulator is not None and not connect_options.auto_orders:
            _add_sandbox_orders(connection, file, fmt, options)
        return await upload(
            connection.client,
            file,
            fmt,
            total=validation.fulfillments,
            options=options,
            validation=validation,
            concurrency=concurrency,
            journal=journal_path,
            outputs=outputs,
            progress=progress,
            report=report,
            since=since,
        )

    try:
        run_with_client(ctx, body, connect_options)
    except KeyboardInterrupt:
        resume = "run the same command again to resume" if journal_path else "no journal kept"
        console.print(f"Interrupted; {resume}.")
        ctx.exit(EXIT_INTERRUPTED)
    except UploadStopped as stop:
        if journal_is_new and journal_path is not None:
            _discard_unused_journal(journal_path, stop.report)
        _report_upload(console, stop.report, journal_path, outputs)
        raise CommandError(settings_of(ctx).redact(stopped_message(stop)), EXIT_FAILED) from None
    if journal_is_new and journal_path is not None:
        _discard_unused_journal(journal_path, report)
    _report_upload(console, report, journal_path, outputs)
    if not report.ok:
        ctx.exit(EXIT_FAILED)


def journal_refused(reason: str, *, in_doubt: int | None) -> str:
    """The exit-2 message for a journal that cannot be used for this run; ``in_doubt``: how
    many creates the existing journal holds in doubt (None for a new journal)."""
    message = (
        f"{reason}. Pass --journal PATH to keep another journal for this run, or --no-journal "
        "to keep none."
    )
    if in_doubt:
        message += (
            f" Do not delete it: it holds {in_doubt:,} create(s) in doubt, the only record "
            "that they may still land there; run against the API it names first, so they "
            "are settled."
        )
    elif in_doubt is not None:
        message += (
            " It holds no create in doubt, so deleting it is safe: a journal only lets a "
            "re-run skip what it recorded as done, and the fulfillments are at Digital River."
        )
    return message


def stopped_message(stop: Any) -> str:
    """One message for an upload stopped by an error that is not about a row."""
    error = stop.error
    if isinstance(error, AuthenticationError):
        why = "the API key was refused (401): check --api-key / DR_API_KEY"
    elif isinstance(error, PermissionDeniedError):
        why = "the API key may not create fulfillments (403): check its permissions"
    elif isinstance(error, CoordinationError):
        why = "the fleet's Redis failed: no row is sent without its claim"
    else:
        why = "cannot reach the API: check --base-url / DR_BASE_URL and the network"
    return (
        f"stopped: {why} ({type(error).__name__}: {error}). No further row was sent; "
        "run the same command again once it is fixed."
    )


def _journal_path(
    file: Path, journal: Path | None, no_journal: bool, settings: Settings
) -> str | None:
    if no_journal:
        return None
    if journal is not None:
        return str(journal)
    if settings.sandbox:
        return None  # a sandbox run must never mark rows done for a real run
    return str(file.with_name(file.name + ".journal.db"))


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _refuse_overwrites(
    file: Path, journal: str | None, *, results: Path | None, failed: Path | None
) -> None:
    """--results or --failed naming the input, the journal or each other: exit 2, nothing
    touched (the output would be truncated before anything is read or sent)."""
    inputs = {"the input file": file}
    if journal is not None:
        inputs["the journal"] = Path(journal)
    outputs = {"--results": results, "--failed": failed}
    for option, output in outputs.items():
        if output is None:
            continue
        for what, path in inputs.items():
            if _same_file(output, path):
                raise CommandError(f"{option} {output} is {what}: choose another path", EXIT_USAGE)
    if results is not None and failed is not None and _same_file(results, failed):
        raise CommandError("--results and --failed name the same file", EXIT_USAGE)


def _check_writable(path: Path) -> None:
    """Refuse an unwritable --results file before anything is sent."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}", EXIT_USAGE) from None


def _in_doubt_or_unknown(path: str) -> int | None:
    from ..bulk import journal_in_doubt

    try:
        return journal_in_doubt(path)
    except ValidationError:
        return None  # not readable as a journal: the reason already says so


def _discard_unused_journal(path: str, report: Any) -> None:
    """Remove a journal this run created when the run changed nothing at Digital River:
    nothing created or resumed, every failure a definite refusal, and no create left in
    doubt. Such a journal holds nothing worth keeping. A journal holding a create in doubt
    ('started') is never removed: it is the only record that the create may still land."""
    if report.created or report.resumed or report.retryable:
        return
    if _in_doubt_or_unknown(path) != 0:  # in doubt, or unreadable now: kept, to be safe
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def _add_sandbox_orders(connection: Connection, file: Path, fmt: str, options: Any) -> None:
    """--sandbox: create the orders the file ships, so the upload can go through."""
    from ._upload import sandbox_orders

    assert connection.emulator is not None
    for order_id, items in sandbox_orders(file, fmt, options).items():
        if connection.emulator.orders.get(order_id) is None:
            connection.emulator.add_order(
                order_id, [{"item_id": item, "quantity": units} for item, units in items.items()]
            )


def _line(console: Any, text: str) -> None:
    """One line as it is: no markup, no highlighting (the console never wraps)."""
    console.print(text, markup=False, highlight=False)


def _report_validation(console: Any, file: Path, validation: Any, skip_invalid: bool) -> None:
    if validation.ok:
        console.print(
            f"{file.name}: {validation.rows:,} row(s) valid → "
            f"{validation.fulfillments:,} fulfillment(s)."
        )
        return
    shown = validation.errors[:50]
    for line, reason in shown:
        _line(console, f"{file.name}:{line}: {reason}")
    if len(validation.errors) > len(shown):
        console.print("… more problems not shown (fix these first, or use --dry-run to recheck).")
    verdict = (
        f"skipping them; sending {validation.fulfillments:,} fulfillment(s)"
        if skip_invalid
        else "nothing was sent (fix them, or pass --skip-invalid)"
    )
    console.print(
        f"[red]{validation.invalid_rows:,} of {validation.rows:,} row(s) invalid[/red]; {verdict}."
    )


def _report_upload(console: Any, report: Any, journal: str | None, outputs: Outputs) -> None:
    for failure in report.failures:
        lines = ",".join(map(str, failure.lines))
        _line(console, f"line(s) {lines} ({failure.key}): {failure.error}")
    if report.failed > len(report.failures):
        console.print(f"… and {report.failed - len(report.failures):,} more failure(s).")
    rate = report.created / report.elapsed if report.elapsed else 0.0
    failed = f"{report.failed:,} failed"
    if report.failed:
        failed += f" ({report.permanent:,} permanent, {report.retryable:,} retryable)"
    console.print(
        f"{report.created:,} created, {report.resumed:,} already done (journal), "
        f"[{'red' if report.failed else 'green'}]{failed}[/] "
        f"in {report.elapsed:.1f} s ({rate:,.0f} created/s)."
    )
    for label, path in (("Results", outputs.results), ("Failed rows", outputs.failed)):
        if path is not None:
            console.print(f"{label}: {path}")
    if report.permanent:
        again = (
            f"fix them (e.g. in {outputs.failed}) and upload that"
            if outputs.failed
            else ("fix those rows (--failed FILE writes them out)")
        )
        console.print(
            f"{report.permanent:,} permanent failure(s): Digital River refused the request "
            f"(4xx); sending it again fails again: {again}."
        )
    if report.retryable:
        again = "run the same command again" if journal is not None else "upload them again"
        console.print(
            f"{report.retryable:,} retryable failure(s) (5xx, timeouts, 429): {again}; "
            "done ones are skipped."
        )
