"""The click commands. Global options come before the sub-command:
``drfulfill --api-key K --base-url U upload FILE``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .._constants import DEFAULT_SETTLE, DEFAULT_TIMEOUT, VERSION
from ..models import CreatedTime
from ._context import (
    AwareDateTime,
    CommandError,
    Connection,
    ParamType,
    Settings,
    run,
    run_with_client,
    settings_of,
    stderr_console,
)
from ._output import FULFILLMENT_COLUMNS, OUTPUT_FORMATS, RETURN_COLUMNS, emit_all, emit_one
from ._upload_command import upload

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# --- parameter types ---------------------------------------------------------------------


class KeyValue(ParamType):
    """``NAME=VALUE`` (metadata)."""

    name = "KEY=VALUE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        name, sep, text = str(value).partition("=")
        if not sep or not name:
            self.fail(f"{value!r} is not KEY=VALUE")
        return name, text


class ItemQuantity(ParamType):
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
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=DEFAULT_SETTLE,
    show_default=True,
    metavar="SECONDS",
    help="How long a create that failed ambiguously is given to appear before it is re-sent.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Seconds for one request, connect to last byte (at least DR's gateway timeout).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log the SDK's requests and retries to stderr.")
@click.version_option(VERSION, prog_name="drfulfill")
@click.pass_context
def cli(
    ctx: click.Context,
    api_key: str | None,
    base_url: str | None,
    sandbox: bool,
    settle: float,
    timeout: float,
    verbose: bool,
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
    ctx.obj = Settings(
        api_key=api_key or None,
        base_url=base_url,
        sandbox=sandbox,
        verbose=verbose,
        settle=settle,
        timeout=timeout,
    )


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
        options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
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
def fulfillments_list(ctx: click.Context, /, output: str, **options: Any) -> None:
    """Fulfillments, newest first, every page streamed (--max-items caps the total)."""
    arguments = _list_arguments(options)

    async def body(connection: Connection) -> None:
        pager = connection.client.fulfillments.list(**arguments)
        await emit_all(pager, output, FULFILLMENT_COLUMNS, "Fulfillments")

    run_with_client(ctx, body)


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

    run_with_client(ctx, body)


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

    run_with_client(ctx, body)


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
def returns_list(ctx: click.Context, /, output: str, **options: Any) -> None:
    """Fulfillment returns, newest first, every page streamed (--max-items caps the total)."""
    arguments = _list_arguments(options)

    async def body(connection: Connection) -> None:
        pager = connection.client.fulfillment_returns.list(**arguments)
        await emit_all(pager, output, RETURN_COLUMNS, "Fulfillment returns")

    run_with_client(ctx, body)


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

    run_with_client(ctx, body)


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

    run_with_client(ctx, body)


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
    from ._progress import progress_for

    console = stderr_console()
    console.print(
        f"Starting an in-process Digital River emulator; uploading {rows:,} CSV rows"
        + (f" with {faults:.0%} injected faults" if faults else "")
        + "…"
    )
    try:
        summary = run(settings_of(ctx), run_demo(rows, faults, progress=progress_for(console)))
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


cli.add_command(upload)
