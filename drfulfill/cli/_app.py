"""The click commands. Global options come before the sub-command:
``drfulfill --api-key K --base-url U upload FILE``."""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .._constants import DEFAULT_BULK_CONCURRENCY, DEFAULT_IDEMPOTENCY_FIELD, VERSION
from .._convert import has_utc_offset, parse_datetime
from ..errors import AuthenticationError, PermissionDeniedError, ValidationError
from ..models import CreatedTime
from ._context import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandError,
    Connection,
    Settings,
    connect,
    run,
)
from ._output import FULFILLMENT_COLUMNS, OUTPUT_FORMATS, RETURN_COLUMNS, emit_all, emit_one
from ._records import FORMATS, FileFormatError, detect_format
from ._upload import Outputs

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


# --- parameter types ---------------------------------------------------------------------


class AwareDateTime(click.ParamType):
    """An ISO 8601 date-time with ``Z`` or an offset; a naive one is refused."""

    name = "DATETIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            parsed = parse_datetime(text)
        except (ValueError, OverflowError):
            self.fail(f"{value!r} is not an ISO 8601 date-time such as 2024-05-01T00:00:00Z")
        # parse_datetime reads a zone-less time as UTC (DR's rule for its own output); on the
        # command line that guess is refused, since people usually mean their local time.
        if not has_utc_offset(text):
            self.fail(
                f"{value!r} has no time zone: add Z for UTC or an offset such as +02:00 "
                "(e.g. 2024-05-01T00:00:00Z)"
            )
        return parsed


class KeyValue(click.ParamType):
    """``NAME=VALUE`` (metadata)."""

    name = "KEY=VALUE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        name, sep, text = str(value).partition("=")
        if not sep or not name:
            self.fail(f"{value!r} is not KEY=VALUE")
        return name, text


class ItemQuantity(click.ParamType):
    """``ITEM_ID:QUANTITY`` (a return line)."""

    name = "ITEM:QTY"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        item, sep, quantity = str(value).rpartition(":")
        if not sep or not item or not quantity.isdigit() or int(quantity) < 1:
            self.fail(f"{value!r} is not ITEM_ID:QUANTITY with a quantity >= 1")
        return item, int(quantity)


# --- the group and its global options ----------------------------------------------------


@click.group(context_settings=CONTEXT)
@click.option(
    "--api-key",
    envvar="DR_API_KEY",
    metavar="KEY",
    help="Secret key (sk_test_… or sk_…). Default: $DR_API_KEY. Never printed.",
)
@click.option(
    "--base-url",
    envvar="DR_BASE_URL",
    metavar="URL",
    help="API root. Default: $DR_BASE_URL or https://api.digitalriver.com.",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Run the command against a fresh in-process emulator with sample data "
    "(ignores --api-key and --base-url).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log the SDK's requests and retries to stderr.")
@click.version_option(VERSION, prog_name="drfulfill")
@click.pass_context
def cli(
    ctx: click.Context, api_key: str | None, base_url: str | None, sandbox: bool, verbose: bool
) -> None:
    """Digital River fulfillments from the command line.

    \b
    drfulfill demo                          see it all work against an emulator
    drfulfill upload shipments.csv          bulk-create fulfillments from a file
    drfulfill fulfillments list --order-id X
    drfulfill returns get RETURN_ID --format table
    drfulfill emulator                      serve the emulator for your own code

    Exit codes: 0 ok, 1 the API refused something (or some rows failed, or an upload stopped),
    2 bad usage or input, 130 interrupted (Ctrl-C).
    """
    ctx.obj = Settings(api_key=api_key or None, base_url=base_url, sandbox=sandbox, verbose=verbose)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.find_object(Settings)  # type: ignore[assignment]
    return settings or Settings()


def _run_with_client(ctx: click.Context, body: Callable[[Connection], Any]) -> Any:
    settings = _settings(ctx)

    async def main() -> Any:
        async with connect(settings) as connection:
            return await body(connection)

    return run(settings, main())


# --- shared options --------------------------------------------------------------------------


def _output_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format",
        "output",
        type=click.Choice(OUTPUT_FORMATS),
        default="jsonl",
        show_default=True,
        help="jsonl: one wire-shaped JSON object per line (for jq); table: for people.",
    )(function)


def _list_options(*, allow_eq: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option("--ids", multiple=True, metavar="ID", help="Only these ids (repeat)."),
            *(
                click.option(
                    f"--created-{bound}",
                    f"created_{bound}",
                    type=AwareDateTime(),
                    help=f"createdTime[{bound}]: ISO 8601 with Z or an offset.",
                )
                for bound in (("eq",) if allow_eq else ()) + ("gt", "gte", "lt", "lte")
            ),
            click.option(
                "--limit", type=click.IntRange(1, 100), help="Page size, 1-100 (DR default 10)."
            ),
            click.option(
                "--max-items", type=click.IntRange(min=0), help="Stop after this many items."
            ),
            click.option("--starting-after", metavar="ID", help="Cursor: items after this id."),
            click.option("--ending-before", metavar="ID", help="Cursor: items before this id."),
            _output_option,
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _created_time(options: dict[str, Any]) -> CreatedTime | None:
    bounds = {
        name.removeprefix("created_"): options.pop(name)
        for name in list(options)
        if name.startswith("created_")
    }
    given = {name: value for name, value in bounds.items() if value is not None}
    return CreatedTime(**given) if given else None


def _list_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """Click's options as ``list()`` keyword arguments (empty repeatables left out)."""
    created_time = _created_time(options)
    arguments = {
        name: (list(value) if isinstance(value, tuple) else value)
        for name, value in options.items()
        if value not in (None, ())
    }
    if created_time is not None:
        arguments["created_time"] = created_time
    return arguments


# --- fulfillments --------------------------------------------------------------------------


@cli.group(context_settings=CONTEXT)
def fulfillments() -> None:
    """List, get and update fulfillments."""


@fulfillments.command("list")
@click.option("--order-id", metavar="ID", help="Fulfillments of this order.")
@click.option("--sku-id", metavar="ID", help="Fulfillments with this SKU.")
@click.option("--tracking-company", metavar="NAME")
@click.option("--tracking-number", metavar="NUMBER")
@_list_options(allow_eq=False)
@click.pass_context
def fulfillments_list(ctx: click.Context, output: str, **options: Any) -> None:
    """Fulfillments, newest first, every page streamed (--max-items caps the total)."""
    arguments = _list_arguments(options)

    async def body(connection: Connection) -> None:
        pager = connection.client.fulfillments.list(**arguments)
        await emit_all(pager, output, FULFILLMENT_COLUMNS, "Fulfillments")

    _run_with_client(ctx, body)


@fulfillments.command("get")
@click.argument("fulfillment_id")
@_output_option
@click.pass_context
def fulfillments_get(ctx: click.Context, fulfillment_id: str, output: str) -> None:
    """One fulfillment (with orderDetails)."""

    async def body(connection: Connection) -> None:
        emit_one(
            await connection.client.fulfillments.retrieve(fulfillment_id), output, "Fulfillment"
        )

    _run_with_client(ctx, body)


@fulfillments.command("update")
@click.argument("fulfillment_id")
@click.option("--tracking-company", metavar="NAME")
@click.option("--tracking-number", metavar="NUMBER")
@click.option("--tracking-url", metavar="URL")
@click.option(
    "--metadata",
    multiple=True,
    type=KeyValue(),
    help="KEY=VALUE to merge into metadata (repeat; values are strings).",
)
@_output_option
@click.pass_context
def fulfillments_update(
    ctx: click.Context,
    fulfillment_id: str,
    tracking_company: str | None,
    tracking_number: str | None,
    tracking_url: str | None,
    metadata: tuple[tuple[str, str], ...],
    output: str,
) -> None:
    """Set tracking data and merge metadata of a fulfillment."""

    async def body(connection: Connection) -> None:
        updated = await connection.client.fulfillments.update(
            fulfillment_id,
            tracking_company=tracking_company,
            tracking_number=tracking_number,
            tracking_url=tracking_url,
            metadata=dict(metadata) or None,
        )
        emit_one(updated, output, "Fulfillment")

    _run_with_client(ctx, body)


# --- returns ---------------------------------------------------------------------------------


@cli.group(context_settings=CONTEXT)
def returns() -> None:
    """List, get and create fulfillment returns."""


@returns.command("list")
@click.option("--state", metavar="STATE", help="created, pending, accepted or rejected.")
@click.option("--fulfillment-order-id", metavar="ID")
@click.option("--inventory-item-id", metavar="ID")
@click.option("--upstream-ids", multiple=True, metavar="ID", help="Upstream ids (repeat).")
@_list_options(allow_eq=True)
@click.pass_context
def returns_list(ctx: click.Context, output: str, **options: Any) -> None:
    """Fulfillment returns, newest first, every page streamed (--max-items caps the total)."""
    arguments = _list_arguments(options)

    async def body(connection: Connection) -> None:
        pager = connection.client.fulfillment_returns.list(**arguments)
        await emit_all(pager, output, RETURN_COLUMNS, "Fulfillment returns")

    _run_with_client(ctx, body)


@returns.command("get")
@click.argument("return_id")
@_output_option
@click.pass_context
def returns_get(ctx: click.Context, return_id: str, output: str) -> None:
    """One fulfillment return."""

    async def body(connection: Connection) -> None:
        emit_one(
            await connection.client.fulfillment_returns.retrieve(return_id),
            output,
            "Fulfillment return",
        )

    _run_with_client(ctx, body)


@returns.command("create")
@click.option("--fulfillment-order-id", required=True, metavar="ID")
@click.option(
    "--item",
    "items",
    required=True,
    multiple=True,
    type=ItemQuantity(),
    help="FULFILLMENT_ORDER_ITEM_ID:QUANTITY to return (repeat).",
)
@click.option("--upstream-id", metavar="ID", help="Usually the Digital River order id.")
@click.option("--reason", help="Free text, e.g. requested_by_customer.")
@_output_option
@click.pass_context
def returns_create(
    ctx: click.Context,
    fulfillment_order_id: str,
    items: tuple[tuple[str, int], ...],
    upstream_id: str | None,
    reason: str | None,
    output: str,
) -> None:
    """Ask the fulfiller to take items back. Not retried after an ambiguous failure
    (returns have no idempotency key): check `returns list` before running it again."""

    async def body(connection: Connection) -> None:
        created = await connection.client.fulfillment_returns.create(
            fulfillment_order_id=fulfillment_order_id,
            upstream_id=upstream_id,
            reason=reason,
            items=[
                {"fulfillment_order_item_id": item, "quantity": quantity}
                for item, quantity in items
            ],
        )
        emit_one(created, output, "Fulfillment return")

    _run_with_client(ctx, body)


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
without creating anything twice. A wrong key, missing permissions or an unreachable API
stop the run at once (exit 1).

\b
Exit codes:
  0    every fulfillment created (or already done)
  1    some fulfillments failed, or the run stopped (key, permissions, network)
  2    bad usage or an invalid file; nothing was sent
  130  interrupted (Ctrl-C); run the same command again to resume
"""


class Encoding(click.ParamType):
    """A text encoding Python knows (utf-8, cp1252, latin-1, utf-16, ...)."""

    name = "ENCODING"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            codecs.lookup(str(value))
        except LookupError:
            self.fail(f"{value!r} is not a known text encoding (e.g. utf-8, cp1252, latin-1)")
        return str(value)


class Delimiter(click.ParamType):
    """One character; ``tab`` or ``\\t`` for a tab."""

    name = "CHAR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = {"tab": "\t", "\\t": "\t"}.get(str(value), str(value))
        if len(text) != 1 or text in '"\r\n':
            self.fail(f"{value!r} is not one character (e.g. ';', ',', '|' or tab)")
        return text


@cli.command(help=UPLOAD_HELP)
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
    progress_interval: float,
) -> None:
    from ._records import ReadOptions
    from ._upload import dry_run_line, valid_groups, validate

    settings = _settings(ctx)
    console = _stderr()
    if journal is not None and no_journal:
        raise click.UsageError("--journal and --no-journal exclude each other")
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
        progress=_progress(console, progress_interval),
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
) -> None:
    from ..bulk import claim_journal
    from ._upload import UploadReport, UploadStopped, upload

    console = _stderr()
    journal_is_new = journal_path is not None and not Path(journal_path).exists()
    report = UploadReport()

    async def body(connection: Connection) -> Any:
        if journal_path is not None:
            # Before the results file is truncated and the sandbox seeded: a journal of
            # another API is a usage error (exit 2), like a journal that cannot be opened.
            try:
                claim_journal(journal_path, connection.client.fulfillments)
            except ValidationError as error:
                raise CommandError(journal_refused(str(error)), EXIT_USAGE) from None
        if connection.emulator is not None:
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
        )

    try:
        _run_with_client(ctx, body)
    except KeyboardInterrupt:
        resume = "run the same command again to resume" if journal_path else "no journal kept"
        console.print(f"Interrupted; {resume}.")
        ctx.exit(EXIT_INTERRUPTED)
    except UploadStopped as stop:
        if journal_is_new and journal_path is not None:
            _discard_unused_journal(journal_path, stop.report)
        _report_upload(console, stop.report, journal_path, outputs)
        raise CommandError(_settings(ctx).redact(stopped_message(stop)), EXIT_FAILED) from None
    if journal_is_new and journal_path is not None:
        _discard_unused_journal(journal_path, report)
    _report_upload(console, report, journal_path, outputs)
    if not report.ok:
        ctx.exit(EXIT_FAILED)


def journal_refused(reason: str) -> str:
    """The exit-2 message for a journal that cannot be used for this run."""
    return (
        f"{reason}. Pass --journal PATH to keep another journal for this run, or --no-journal "
        "to keep none. Deleting the file is safe: a journal only lets a re-run skip what it "
        "recorded as done, and the fulfillments themselves are at Digital River."
    )


def stopped_message(stop: Any) -> str:
    """One message for an upload stopped by an error that is not about a row."""
    error = stop.error
    if isinstance(error, AuthenticationError):
        why = "the API key was refused (401): check --api-key / DR_API_KEY"
    elif isinstance(error, PermissionDeniedError):
        why = "the API key may not create fulfillments (403): check its permissions"
    else:
        why = "cannot reach the API: check --base-url / DR_BASE_URL and the network"
    return (
        f"stopped: {why} ({type(error).__name__}: {error}). No further row was sent; "
        "run the same command again once it is fixed."
    )


def _progress(console: Any, interval: float) -> Any:
    from ._progress import LogProgress, RichProgress

    if console.is_terminal:
        return RichProgress(console)
    return LogProgress(sys.stderr, interval=interval)


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


def _discard_unused_journal(path: str, report: Any) -> None:
    """Remove a journal this run created when the run changed nothing at Digital River:
    nothing created or resumed, and every failure a definite refusal. Such a journal holds
    nothing worth keeping, and keeping it would bind it to this API (see ``bulk_create``)
    although the run, e.g. one with a wrong key, did nothing there."""
    if report.created or report.resumed or report.retryable:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


def _add_sandbox_orders(connection: Connection, file: Path, fmt: str, options: Any) -> None:
    """--sandbox: create the orders the file ships, so the upload can go through."""
    from ._upload import sandbox_orders

    assert connection.emulator is not None
    for order_id, items in sandbox_orders(file, fmt, options).items():
        if order_id not in connection.emulator.orders:
            connection.emulator.add_order(
                order_id, [{"item_id": item, "quantity": units} for item, units in items.items()]
            )


def _line(console: Any, text: str) -> None:
    """One line that is never wrapped (greppable, whatever the width)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


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
        f"in {report.elapsed:.1f} s ({rate:,.0f} created/s).",
        soft_wrap=True,
    )
    for label, path in (("Results", outputs.results), ("Failed rows", outputs.failed)):
        if path is not None:
            console.print(f"{label}: {path}", soft_wrap=True)
    if report.permanent:
        again = (
            f"fix them (e.g. in {outputs.failed}) and upload that"
            if outputs.failed
            else ("fix those rows (--failed FILE writes them out)")
        )
        console.print(
            f"{report.permanent:,} permanent failure(s): Digital River refused the request "
            f"(4xx); sending it again fails again: {again}.",
            soft_wrap=True,
        )
    if report.retryable:
        again = "run the same command again" if journal is not None else "upload them again"
        console.print(
            f"{report.retryable:,} retryable failure(s) (5xx, timeouts, 429): {again}; "
            "done ones are skipped.",
            soft_wrap=True,
        )


# --- demo --------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--rows", type=click.IntRange(1, 100_000), default=500, show_default=True, help="CSV rows."
)
@click.option(
    "--faults",
    type=click.FloatRange(0, 0.5),
    default=0.0,
    show_default=True,
    help="Chance of an injected fault per request (5xx, 429, dropped connection, "
    "create applied but response lost).",
)
@click.pass_context
def demo(ctx: click.Context, rows: int, faults: float) -> None:
    """Upload a sample CSV to an in-process emulator, read it back, walk a return.

    No account and no network (127.0.0.1 only). Try --faults 0.1 to watch retries and
    exactly-once creates at work.
    """
    from ._demo import DemoError, print_summary, run_demo
    from ._progress import RichProgress

    console = _stderr()
    console.print(
        f"Starting an in-process Digital River emulator; uploading {rows:,} CSV rows"
        + (f" with {faults:.0%} injected faults" if faults else "")
        + "…"
    )
    try:
        summary = run(_settings(ctx), run_demo(rows, faults, progress=RichProgress(console)))
    except DemoError as error:
        raise CommandError(f"demo check failed: {error}") from None
    from rich.console import Console

    print_summary(summary, Console())


# --- emulator ------------------------------------------------------------------------------


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Serve the Digital River emulator until Ctrl-C (--help: its options).

    The same launcher as `python -m drfulfill.testing`: --host, --port (8787), --seed-orders,
    --seed, --latency-ms, --fault-rate, --rate-limit N|off|dr. It holds the README's sample
    orders and prints the export line for DR_BASE_URL and DR_API_KEY.
    """
    from ..testing._launcher import main

    main(ctx.args, prog="drfulfill emulator")
