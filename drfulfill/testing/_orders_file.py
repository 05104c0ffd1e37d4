"""Orders for the emulator from a file of your own (``Emulator.add_orders_from``,
``drfulfill emulator --orders FILE``): rehearse an upload on your own order and item ids.

A comma-separated CSV file (with a header) or JSON Lines (one object per line,
``.jsonl``/``.ndjson``) with ``order_id``, ``item_id`` and ``quantity`` per line, and
optionally ``cancel_quantity``: a line holds ``quantity + cancel_quantity`` units (empty
counts 0; at least 1 in all). Other columns are ignored, so a comma-separated shipments file
serves as it is. An item listed twice for one order holds the sum (two parcels of one order
line). Pure: reading and checking only.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REQUIRED = ("order_id", "item_id", "quantity")
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


def read_orders(path: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """``{order_id: {item_id: units}}``, in the file's order.

    :param path: a ``.csv`` file, or ``.jsonl``/``.ndjson``.
    :returns: the orders and the units of each of their items.
    :raises ValueError: ``FILE:LINE: reason`` for a missing column, an empty id, a quantity
        or cancel_quantity that is not an integer >= 0, or a line of no unit;
        ``FILE: reason`` for a file that is neither CSV nor JSON Lines, or holds no order.
    :raises OSError: when the file cannot be read.
    """
    file = Path(path)
    orders: dict[str, dict[str, int]] = {}
    for line, row in _rows(file):
        order_id, item_id, units = _parse(file, line, row)
        items = orders.setdefault(order_id, {})
        items[item_id] = items.get(item_id, 0) + units
    if not orders:
        raise ValueError(f"{file}: no orders (expected columns {', '.join(REQUIRED)})")
    return orders


def _rows(file: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with file.open(newline="", encoding="utf-8-sig") as stream:
        if file.suffix.lower() in JSON_LINES_SUFFIXES:
            for number, text in enumerate(stream, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except ValueError:
                    raise ValueError(f"{file}:{number}: not a JSON object") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{file}:{number}: not a JSON object")
                yield number, row
        elif file.suffix.lower() == ".csv":
            reader = csv.DictReader(stream)
            missing = [name for name in REQUIRED if name not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"{file}:1: no column {', '.join(missing)}")
            for row in reader:
                yield reader.line_num, row
        else:
            raise ValueError(f"{file}: expected a .csv, .jsonl or .ndjson file")


def _parse(file: Path, line: int, row: Mapping[str, Any]) -> tuple[str, str, int]:
    order_id, item_id = _text(row.get("order_id")), _text(row.get("item_id"))
    for name, text in (("order_id", order_id), ("item_id", item_id)):
        if not text:
            raise ValueError(f"{file}:{line}: {name} is missing or empty")
    units = 0
    for name in ("quantity", "cancel_quantity"):
        value = row.get(name)
        count = _units(value)
        if count is None:
            raise ValueError(f"{file}:{line}: {name} must be an integer >= 0, got {value!r}")
        units += count
    if units < 1:
        raise ValueError(f"{file}:{line}: quantity plus cancel_quantity must be at least 1")
    return order_id, item_id, units


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return ""
    return str(value).strip()


def _units(value: Any) -> int | None:
    """A count of units (None and an empty text: 0), or None when it is not one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip()):
        return int(value)
    return None
