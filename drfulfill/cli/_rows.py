"""Shipment files (CSV or JSON Lines) -> validated fulfillment requests, one pass, streaming.

Pure: no click, no rich, no I/O besides reading the file.

**Columns** (CSV header, or JSON Lines object keys; only ``order_id`` and ``item_id`` are
required, empty cells and JSON ``null`` mean "not given"):

============================  ============================================================
``order_id``, ``item_id``     the order and its line item (required)
``quantity``                  units to fulfil (capture), integer >= 0
``cancel_quantity``           units to cancel, integer >= 0; one of the two is required
``tracking_company``,         tracking of the fulfillment
``tracking_number``,
``tracking_url``
``shipment_id``               the fulfillment's shipment id
``shipment_item_id``,         per-item identifiers (distributed model)
``subfulfiller_id``
``distributor_cost``,         per-item money, decimal >= 0; needs ``currency`` on the row
``shipping_cost``
``currency``                  ISO 4217 code of the fulfillment
``key``                       your own grouping key (see below)
============================  ============================================================

A CSV cell that starts with ``'`` followed by ``=``, ``+``, ``-``, ``@``, a tab, CR, LF or
NUL is read without that ``'``: the ``--results`` and ``--failed`` CSV files put one there so
that a spreadsheet does not run the cell as a formula. A row that cannot be read (a JSON
Lines row nested too deeply or holding a lone surrogate escape, a CSV field over 131,072
characters) is a bad row of its own line.

**Grouping.** Rows of one order become ONE fulfillment with several items when they share
a grouping value: the explicit ``key`` if the row has one, else its ``tracking_number``,
else its ``shipment_id``. A row with none of the three is a fulfillment of its own.
Fulfillment-level fields (``tracking_*``, ``shipment_id``, ``currency``) must agree within
a group (an empty cell agrees with anything), and an item may appear once per group.

**Adjacency.** The rows of one group must be adjacent in the file (sort it by order, then
by the grouping value; exports usually are). This keeps both passes streaming: memory is
one group plus an 8-byte digest per fulfillment already seen (to report a group that
reappears further down, or an ungrouped row that ships exactly what an earlier one does),
about 60 MB for a million fulfillments.

**Safe-create keys** come from what a fulfillment is, never from where it is in the file.
A grouped fulfillment is its shipment: ``ORDER:KIND:VALUE`` (``k`` key, ``t`` tracking
number, ``s`` shipment id). An ungrouped row is what it ships: ``ORDER:DIGEST``, where the
digest covers the order and every ``(item, quantity, cancel quantity)``. The same shipment
gets the same key in a renamed, copied or re-sorted file, so a re-run cannot create it
twice; a new day's file with another item on the same line gets another key. A shipment
whose lines changed since it was created (say it gained an item) keeps its key, so the SDK
refuses it with ``KeyReuseError`` instead of capturing its items a second time. Two
ungrouped rows that ship the same are refused (they would be one fulfillment): give them
different ``key`` values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..models import FulfillmentRequest, FulfillmentRequestItem
from ._records import (
    COLUMNS,
    DEFAULT_OPTIONS,
    REQUIRED_COLUMNS,
    ReadOptions,
    Record,
    read_records,
)

COUNT_COLUMNS = ("quantity", "cancel_quantity")
MONEY_COLUMNS = ("distributor_cost", "shipping_cost")
#: Fields of the fulfillment, not of the item: rows of one group must agree on them.
GROUP_FIELDS = ("tracking_company", "tracking_number", "tracking_url", "shipment_id", "currency")
ITEM_FIELDS = (
    "item_id",
    "quantity",
    "cancel_quantity",
    "shipment_item_id",
    "subfulfiller_id",
    "distributor_cost",
    "shipping_cost",
)
_MAX_KEY_LENGTH = 200  # longer keys are replaced by a digest
_WHOLE_NUMBER = re.compile(r"[+]?\d+")
_CURRENCY = re.compile(r"[A-Za-z]{3}")  # as the request model checks it


# --- one row -------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One valid line: the item it ships and the fulfillment-level fields it states."""

    line: int
    order_id: str
    item: FulfillmentRequestItem
    fulfillment: dict[str, str]  # GROUP_FIELDS that are given


def _text(name: str, value: Any, errors: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors.append(f"{name} must be a string, got {json.dumps(value, default=str)}")
        return None
    return str(value).strip() or None


def _count(name: str, value: Any, errors: list[str]) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        number = int(value)
    elif isinstance(value, str) and value.strip().startswith("-"):
        errors.append(f"{name} must be >= 0, got {value.strip()!r}")
        return None
    else:
        errors.append(f"{name} must be a whole number >= 0, got {_shown(value)}")
        return None
    if number < 0:
        errors.append(f"{name} must be >= 0, got {number}")
        return None
    return number


def _money(name: str, value: Any, errors: list[str]) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    amount: Decimal | None = None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite():
        errors.append(f"{name} must be a decimal number, got {_shown(value)}")
        return None
    if amount < 0:
        errors.append(f"{name} must be >= 0, got {value!s}")
        return None
    return amount


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value.strip())
    return str(value) if isinstance(value, Decimal) else json.dumps(value, default=str)


def parse_row(line: int, values: Mapping[str, Any]) -> tuple[Row | None, list[str]]:
    """A Row, or None and the reasons it is invalid (every reason found, not only the first)."""
    errors: list[str] = []
    texts = {
        name: _text(name, values.get(name), errors)
        for name in COLUMNS
        if name not in COUNT_COLUMNS and name not in MONEY_COLUMNS
    }
    counts = {name: _count(name, values.get(name), errors) for name in COUNT_COLUMNS}
    money = {name: _money(name, values.get(name), errors) for name in MONEY_COLUMNS}
    for name in REQUIRED_COLUMNS:
        if texts[name] is None and not any(error.startswith(f"{name} ") for error in errors):
            errors.append(f"{name} is required")
    count_errors = any(error.startswith(COUNT_COLUMNS) for error in errors)
    if not count_errors:
        if counts["quantity"] is None and counts["cancel_quantity"] is None:
            errors.append("quantity or cancel_quantity is required")
        elif not (counts["quantity"] or counts["cancel_quantity"]):
            errors.append("quantity or cancel_quantity must be > 0")
    if any(amount is not None for amount in money.values()) and texts["currency"] is None:
        given = [name for name, amount in money.items() if amount is not None]
        errors.append(f"{' and '.join(given)} need{'s' if len(given) == 1 else ''} currency")
    currency = texts["currency"]
    if currency is not None and not _CURRENCY.fullmatch(currency):
        errors.append(f"currency must be a 3-letter ISO 4217 code, got {currency!r}")
    if errors:
        return None, errors
    try:
        item = FulfillmentRequestItem(
            item_id=texts["item_id"],  # type: ignore[arg-type]
            quantity=counts["quantity"],
            cancel_quantity=counts["cancel_quantity"],
            shipment_item_id=texts["shipment_item_id"],
            subfulfiller_id=texts["subfulfiller_id"],
            distributor_cost=money["distributor_cost"],
            shipping_cost=money["shipping_cost"],
        )
    except ValidationError as error:
        return None, [str(error)]
    fulfillment = {name: texts[name] for name in GROUP_FIELDS if texts[name] is not None}
    return Row(line, texts["order_id"], item, fulfillment), []  # type: ignore[arg-type]


def group_identity(line: int, values: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``(order_id, kind, value)`` of the row's fulfillment; None without an order id.

    kind: ``k`` explicit key, ``t`` tracking number, ``s`` shipment id, ``line`` ungrouped.
    Read from the raw values, so an invalid row still invalidates the group it belongs to.
    """
    order_id = _plain(values.get("order_id"))
    if order_id is None:
        return None
    for column, kind in (("key", "k"), ("tracking_number", "t"), ("shipment_id", "s")):
        value = _plain(values.get(column))
        if value is not None:
            return order_id, kind, value
    return order_id, "line", str(line)


def _plain(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value).strip() or None


def safe_create_key(identity: tuple[str, str, str], request: FulfillmentRequest) -> str:
    """The safe-create key of a valid group, never from where it is in the file.

    A grouped fulfillment: its order and grouping value (its shipment), so that changed
    lines meet ``KeyReuseError`` rather than a second capture. An ungrouped row: its order
    and a digest of its sorted ``(item, quantity, cancel quantity)`` lines. A SHA-256 digest
    of the whole when it would be long.
    """
    order_id, kind, value = identity
    if kind == "line":
        items = sorted(
            (item.item_id, item.quantity or 0, item.cancel_quantity or 0) for item in request.items
        )
        content = json.dumps([order_id, items], separators=(",", ":"))
        key = f"{order_id}:{hashlib.sha256(content.encode()).hexdigest()[:16]}"
    else:
        key = ":".join([order_id, kind, value])
    if len(key) <= _MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _label(identity: tuple[str, str, str]) -> str:
    """Names a group that is not sent (an invalid one) in reports and ``--results``."""
    return ":".join(identity)


def _describe(identity: tuple[str, str, str]) -> str:
    order_id, kind, value = identity
    what = {"k": "key", "t": "tracking_number", "s": "shipment_id"}.get(kind, kind)
    return f"order {order_id}, {what} {value}"


# --- groups ----------------------------------------------------------------------------


@dataclass(slots=True)
class Group:
    """One fulfillment to create: its lines, its request (None when invalid) and problems.

    ``family`` is a digest shared by every group that would be the same fulfillment (the
    same grouping value, or for ungrouped rows the same content): ``--skip-invalid`` skips
    a valid group whose family also has an invalid group. ``raw`` holds the records as they
    are in the file (for ``--failed``).
    """

    key: str
    lines: list[int]
    family: int = 0
    request: FulfillmentRequest | None = None
    errors: list[tuple[int, str]] = field(default_factory=list)
    raw: list[Any] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    values: dict[str, tuple[str, int]] = field(default_factory=dict)  # field -> (value, line)

    @property
    def ok(self) -> bool:
        return self.request is not None


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class _Tracker:
    """The digests of fulfillments already finished, to report one that appears twice."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def first_time(self, family: int) -> bool:
        if family in self.seen:
            return False
        self.seen.add(family)
        return True


def iter_groups(
    path: str | Path, fmt: str, options: ReadOptions = DEFAULT_OPTIONS
) -> Iterator[Group]:
    """The file's fulfillments in file order, each validated; one group in memory at a time.

    An unreadable line or a row without an order id is a group of its own, with errors.
    Raises FileFormatError when the file cannot be read as a shipments file at all.
    """
    tracker = _Tracker()
    current: Group | None = None
    current_identity: tuple[str, str, str] | None = None
    # Lines that belong to no group (unreadable, no order id), yielded after the open group
    # so that groups come out in the order of their first line.
    orphans: list[Group] = []
    for record in read_records(path, fmt, options):
        line, values = record.line, record.values
        if isinstance(values, str):
            orphans.append(_orphan(record, [values]))
            continue
        identity = group_identity(line, values)
        if identity is None:
            orphans.append(_orphan(record, parse_row(line, values)[1]))
            continue
        if identity != current_identity:
            if current is not None and current_identity is not None:
                yield _finish(current, current_identity, tracker)
            yield from orphans
            orphans.clear()
            current, current_identity = Group(key=_label(identity), lines=[]), identity
            if identity[1] != "line":
                current.family = _digest("\0".join(identity))
                if not tracker.first_time(current.family):
                    current.errors.append(
                        (
                            line,
                            f"rows of one fulfillment must be adjacent: {_describe(identity)} "
                            "already appeared further up (sort the file by order and key)",
                        )
                    )
        assert current is not None
        current.raw.append(record.raw)
        _add_row(current, line, values)
    if current is not None and current_identity is not None:
        yield _finish(current, current_identity, tracker)
    yield from orphans


def _orphan(record: Record, errors: list[str]) -> Group:
    line = record.line
    return Group(
        key=f"line:{line}",
        lines=[line],
        family=_digest(f"line:{line}"),
        errors=[(line, error) for error in errors],
        raw=[record.raw],
    )


def _add_row(group: Group, line: int, values: Mapping[str, Any]) -> None:
    group.lines.append(line)
    row, errors = parse_row(line, values)
    if row is None:
        group.errors.extend((line, error) for error in errors)
        return
    for name, value in row.fulfillment.items():
        stated = group.values.setdefault(name, (value, line))
        if stated[0] != value:
            group.errors.append(
                (
                    line,
                    f"{name} {value!r} conflicts with {stated[0]!r} on line {stated[1]} "
                    "of the same fulfillment",
                )
            )
    for other in group.rows:
        if other.item.item_id == row.item.item_id:
            group.errors.append(
                (
                    line,
                    f"item {row.item.item_id} is already in this fulfillment (line {other.line})",
                )
            )
    group.rows.append(row)


def _finish(group: Group, identity: tuple[str, str, str], tracker: _Tracker) -> Group:
    if not group.errors:
        fields = {name: value for name, (value, _line) in group.values.items()}
        try:
            request = FulfillmentRequest(
                order_id=group.rows[0].order_id, items=[row.item for row in group.rows], **fields
            )
        except ValidationError as error:
            group.errors.append((group.lines[0], str(error)))
        else:
            key = safe_create_key(identity, request)
            if identity[1] == "line":
                group.family = _digest(key)
                if not tracker.first_time(group.family):
                    group.errors.append(
                        (
                            group.lines[0],
                            f"ships the same as an earlier row of order {identity[0]} (same "
                            "item and quantities, no key, tracking_number or shipment_id): it "
                            "would be the same fulfillment; give the rows different `key` "
                            "values to ship both",
                        )
                    )
            if not group.errors:
                group.key, group.request = key, request
    elif identity[1] == "line":
        group.family = _digest(_label(identity))
    group.rows = []  # the request has what is needed; keep memory to one group
    group.values = {}
    return group
