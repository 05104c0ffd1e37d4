"""Printing models: JSON Lines (wire-shaped camelCase, one object per line) or rich tables."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterable, Callable, Sequence
from typing import Any

from .._convert import unstructure
from ..models import Fulfillment, FulfillmentReturn

OUTPUT_FORMATS = ("jsonl", "table")


def json_line(model: Any) -> str:
    """One model as a compact JSON object, exactly as the API spells it."""
    return json.dumps(unstructure(model), ensure_ascii=False, default=str)


def _tracking(model: Fulfillment) -> str:
    return " ".join(part for part in (model.tracking_company, model.tracking_number) if part)


def _fulfillment_items(model: Fulfillment) -> str:
    parts = []
    for item in model.items:
        counts = [f"x{item.quantity}"] if item.quantity else []
        if item.cancel_quantity:
            counts.append(f"cancel {item.cancel_quantity}")
        parts.append(f"{item.item_id} {' '.join(counts)}")
    return ", ".join(parts)


def _return_items(model: FulfillmentReturn) -> str:
    return ", ".join(
        f"{item.fulfillment_order_item_id} x{item.quantity} {_text(item.state)}"
        for item in model.items
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _created(model: Any) -> str:
    return model.created_time.strftime("%Y-%m-%d %H:%M:%SZ") if model.created_time else ""


Columns = Sequence[tuple[str, Callable[[Any], str]]]

FULFILLMENT_COLUMNS: Columns = (
    ("ID", lambda f: f.id or ""),
    ("Created", _created),
    ("Order", lambda f: f.order_id or ""),
    ("Items", _fulfillment_items),
    ("Tracking", _tracking),
    ("Shipment", lambda f: f.shipment_id or ""),
)

RETURN_COLUMNS: Columns = (
    ("ID", lambda r: r.id or ""),
    ("Created", _created),
    ("State", lambda r: _text(r.state)),
    ("Type", lambda r: _text(r.type)),
    ("Fulfillment order", lambda r: r.fulfillment_order_id or ""),
    ("Upstream", lambda r: r.upstream_id or ""),
    ("Items", _return_items),
)


def columns_for(model: Any) -> Columns:
    return RETURN_COLUMNS if isinstance(model, FulfillmentReturn) else FULFILLMENT_COLUMNS


def print_table(models: Sequence[Any], columns: Columns, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name, _get in columns:
        table.add_column(name, overflow="fold", no_wrap=name in ("ID", "Created"))
    for model in models:
        table.add_row(*(get(model) for _name, get in columns))
    # A pipe or file gets a wide table rather than rich's default of 80 columns.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


async def emit_all(models: AsyncIterable[Any], output: str, columns: Columns, title: str) -> int:
    """Print what ``models`` yields; JSON Lines stream as they come, a table at the end."""
    count = 0
    if output == "table":
        rows = [model async for model in models]
        print_table(rows, columns, f"{title} ({len(rows)})")
        return len(rows)
    async for model in models:
        sys.stdout.write(json_line(model) + "\n")
        sys.stdout.flush()
        count += 1
    return count


def emit_one(model: Any, output: str, title: str) -> None:
    if output == "table":
        print_table([model], columns_for(model), title)
    else:
        sys.stdout.write(json_line(model) + "\n")
