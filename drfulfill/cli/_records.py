"""Reading a shipments file: format, encoding, delimiter, header -> numbered raw records.

Pure: no click, no rich, no I/O besides reading the file. ``_rows`` turns the records into
validated fulfillment requests.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

COLUMNS = (
    "order_id",
    "item_id",
    "quantity",
    "cancel_quantity",
    "tracking_company",
    "tracking_number",
    "tracking_url",
    "shipment_id",
    "shipment_item_id",
    "subfulfiller_id",
    "distributor_cost",
    "shipping_cost",
    "currency",
    "key",
)
REQUIRED_COLUMNS = ("order_id", "item_id")
#: The column ``--failed`` adds; ignored on input, so a failed-rows file can be sent again.
REASON_COLUMN = "failure_reason"
FORMATS = ("csv", "jsonl")
DELIMITERS = (",", ";", "\t", "|")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class FileFormatError(Exception):
    """The file cannot be read as a shipments file at all (not a row problem)."""


@dataclass(frozen=True)
class ReadOptions:
    """How to read the file: ``--encoding``, ``--delimiter``, ``--ignore-unknown-columns``."""

    encoding: str = "utf-8"
    delimiter: str | None = None  # None: sniffed from the header line
    ignore_unknown_columns: bool = False

    @property
    def codec(self) -> str:
        # A UTF-8 byte-order mark (Excel writes one) is not part of the first column's name.
        return "utf-8-sig" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding


DEFAULT_OPTIONS = ReadOptions()


@dataclass(frozen=True)
class Record:
    """One record: the number of its first line, its known fields (or why it is unreadable),
    and the record as it is in the file (for ``--failed``)."""

    line: int
    values: dict[str, Any] | str
    raw: Sequence[str] | dict[str, Any]


@dataclass(frozen=True)
class Layout:
    """What ``--failed`` needs to write records back in the input's own shape."""

    fmt: str
    header: list[str]  # CSV only: the header as in the file
    delimiter: str


def detect_format(path: str | Path, given: str | None = None) -> str:
    """``csv`` or ``jsonl``, from ``given`` or else the file's extension."""
    if given is not None:
        return given
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise FileFormatError(
            f"cannot tell the format of {Path(path).name!r} from its extension; "
            "use .csv, .jsonl or .ndjson, or pass --format csv|jsonl"
        )
    return _EXTENSIONS[suffix]


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV header: the candidate that occurs most (a comma on a tie)."""
    counts = [(header_line.count(candidate), candidate) for candidate in DELIMITERS]
    best = max(counts, key=lambda pair: pair[0])
    return best[1] if best[0] > header_line.count(",") else ","


def decoded_lines(path: Path, options: ReadOptions) -> Iterator[str]:
    """The file's lines, decoded; a decoding error names its line instead of a byte offset."""
    decoder = codecs.getincrementaldecoder(options.codec)()
    line = 1
    with path.open("rb") as file:
        for chunk in file:  # binary lines end at b"\n", which keeps CRLF and quoted newlines
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as error:
                raise FileFormatError(
                    f"line {line}: not valid {options.encoding} ({error.reason}: byte "
                    f"0x{chunk[error.start]:02x}); pass the file's encoding, e.g. "
                    "--encoding cp1252"
                ) from None
            line += text.count("\n")
            yield text
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise FileFormatError(
                f"line {line}: not valid {options.encoding} ({error.reason} at the end)"
            ) from None
        if tail:
            yield tail


def layout(path: str | Path, fmt: str, options: ReadOptions = DEFAULT_OPTIONS) -> Layout:
    """The file's header and delimiter (reads the first line only)."""
    if fmt != "csv":
        return Layout(fmt, [], ",")
    first = next(decoded_lines(Path(path), options), "")
    delimiter = options.delimiter or sniff_delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter), [])
    return Layout(fmt, [name.strip() for name in header], delimiter)


def read_records(
    path: str | Path, fmt: str, options: ReadOptions = DEFAULT_OPTIONS
) -> Iterator[Record]:
    """Each record of the file with the number of its first line (a CSV header is line 1)."""
    if fmt == "csv":
        yield from _read_csv(Path(path), options)
    else:
        yield from _read_jsonl(Path(path), options)


def _read_csv(path: Path, options: ReadOptions) -> Iterator[Record]:
    lines = decoded_lines(path, options)
    first = next(lines, None)
    if first is None:
        raise FileFormatError(f"{path.name} is empty; line 1 must be a header")
    delimiter = options.delimiter or sniff_delimiter(first)
    reader = csv.reader(_chain(first, lines), delimiter=delimiter)
    header = next(reader)
    columns = _check_header([name.strip() for name in header], options)
    previous_end = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # the reader goes on with the next line
            line, previous_end = previous_end + 1, reader.line_num
            yield Record(line, _csv_problem(error), [])
            continue
        line, previous_end = previous_end + 1, reader.line_num
        if not any(value.strip() for value in values):
            continue  # a blank line
        values = [_unneutralised(value) for value in values]
        if len(values) > len(columns):
            yield Record(
                line, f"has {len(values)} fields but the header has {len(columns)}", values
            )
            continue
        known = {name: value for name, value in zip(columns, values, strict=False) if name}
        yield Record(line, known, values)


def _csv_problem(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return f"a field is longer than {csv.field_size_limit()} characters"
    return f"cannot be read as CSV ({error})"


#: A cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def is_neutralised(value: str) -> bool:
    """Whether a cell is a formula behind the ``'`` that ``_results.neutralise`` puts in
    front of one (``'=1``, or ``''=1`` for a cell that was ``'=1``)."""
    return value.startswith("'") and value.lstrip("'").startswith(FORMULA_STARTS)


def _unneutralised(value: str) -> str:
    return value[1:] if is_neutralised(value) else value


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _check_header(columns: list[str], options: ReadOptions) -> list[str]:
    """The header with every column drfulfill does not read replaced by ``""``."""
    unknown = [name for name in columns if name not in COLUMNS and name != REASON_COLUMN]
    if len(columns) == 1 and unknown and options.delimiter is None:
        raise FileFormatError(
            f"line 1: the header {columns[0]!r} is one unknown column; if the file uses a "
            f"delimiter other than {', '.join(map(repr, DELIMITERS))}, pass --delimiter"
        )
    if unknown and not options.ignore_unknown_columns:
        raise FileFormatError(
            f"line 1: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"the columns are {', '.join(COLUMNS)} (or pass --ignore-unknown-columns)"
        )
    duplicated = sorted({name for name in columns if name in COLUMNS and columns.count(name) > 1})
    if duplicated:
        raise FileFormatError(f"line 1: duplicated column(s) {', '.join(duplicated)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise FileFormatError(f"line 1: missing required column(s) {', '.join(missing)}")
    return [name if name in COLUMNS else "" for name in columns]


def _read_jsonl(path: Path, options: ReadOptions) -> Iterator[Record]:
    line = 0
    for text in decoded_lines(path, options):
        line += 1
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_float=Decimal)
        except ValueError as error:
            yield Record(line, f"is not valid JSON ({error})", {})
            continue
        except RecursionError:
            yield Record(line, "is nested too deeply to be a shipment row", {})
            continue
        if not isinstance(value, dict):
            yield Record(line, f"must be a JSON object, got {type(value).__name__}", {})
            continue
        if "\\u" in text and _has_lone_surrogate(value):
            yield Record(
                line,
                "holds a lone surrogate (a \\ud800-\\udfff escape that is not half of a pair),"
                " which no text can hold",
                value,
            )
            continue
        unknown = [name for name in value if name not in COLUMNS and name != REASON_COLUMN]
        if unknown and not options.ignore_unknown_columns:
            fields = ", ".join(map(repr, unknown))
            yield Record(
                line,
                f"unknown field(s) {fields}; the fields are {', '.join(COLUMNS)} "
                "(or pass --ignore-unknown-columns)",
                value,
            )
            continue
        yield Record(line, {name: value[name] for name in value if name in COLUMNS}, value)


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a lone surrogate (from an escape: UTF-8 has none)."""
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except RecursionError:  # parsed, but too deep to write again
        return False
    return False
