"""What an upload writes besides its summary: ``--results`` (one line per fulfillment) and
``--failed`` (the rows not created, in the input's own shape, ready to be sent again)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import APIError, KeyReuseError, ValidationError
from ._records import FORMULA_STARTS, REASON_COLUMN, Layout, is_neutralised


@dataclass
class Outcome:
    """One line of ``--results``: one fulfillment."""

    key: str
    lines: list[int]
    status: str  # created | resumed | failed | invalid
    fulfillment_id: str | None = None
    error: str | None = None
    permanent: bool = False  # a failure that the same request will meet again
    raw: list[Any] = field(default_factory=list, repr=False)  # the file's records


def is_permanent(error: BaseException | None) -> bool:
    """A failure that sending the same row again cannot fix: a 4xx other than 408 and 429,
    a row drfulfill refused, a key used for other content. The rest (5xx, timeouts,
    connection errors, 408, 429) may pass on a re-run."""
    if isinstance(error, (ValidationError, KeyReuseError)):
        return True
    return (
        isinstance(error, APIError)
        and 400 <= error.status < 500
        and error.status
        not in (
            408,
            429,
        )
    )


def neutralise(cell: str) -> str:
    """A CSV cell no spreadsheet runs as a formula, as OWASP advises ("CSV Injection"): one
    that starts with ``=``, ``+``, ``-``, ``@``, a tab, CR, LF or NUL gets a ``'`` in front.
    So does one that would read back as such a cell (``'=1`` becomes ``''=1``): the reader
    of shipment files takes exactly one ``'`` off, and a ``--failed`` file reads back as the
    rows that were written."""
    if cell.startswith(FORMULA_STARTS) or is_neutralised(cell):
        return "'" + cell
    return cell


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
            cells = [
                outcome.key,
                lines,
                outcome.status,
                outcome.fulfillment_id or "",
                outcome.error or "",
            ]
            self._csv.writerow([neutralise(cell) for cell in cells])
        else:
            record = {name: getattr(outcome, name) for name in self.FIELDS}
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")


class FailedWriter:
    """``--failed FILE``: every row of a fulfillment that failed or was skipped as invalid,
    with the input's columns (or JSON fields) as they were plus ``failure_reason``. The
    reader ignores that column, so the file can be fixed and uploaded as it is."""

    def __init__(self, file: IO[str], layout: Layout) -> None:
        self._file = file
        self._header = list(layout.header)
        self._csv = None
        if layout.fmt == "csv":
            if REASON_COLUMN not in self._header:
                self._header.append(REASON_COLUMN)
            self._csv = csv.writer(file, delimiter=layout.delimiter)
            self._csv.writerow(self._header)

    def write(self, outcome: Outcome) -> None:
        """Write the rows of ``outcome`` if it failed or was invalid (else nothing)."""
        if outcome.status not in ("failed", "invalid"):
            return
        reason = outcome.error or outcome.status
        for raw in outcome.raw:
            if self._csv is not None:
                self._csv.writerow(self._csv_row(raw, reason))
            else:
                record = dict(raw) if isinstance(raw, dict) else {}
                record[REASON_COLUMN] = reason
                self._file.write(self._json_line(record))

    def _json_line(self, record: dict[str, Any]) -> str:
        """The record as a line of JSON: as it is where the file's encoding can hold it,
        else with \\u escapes (which read back the same, a lone surrogate included)."""
        text = json.dumps(record, ensure_ascii=False, default=str)
        try:
            text.encode(getattr(self._file, "encoding", None) or "utf-8")
        except UnicodeEncodeError:
            text = json.dumps(record, default=str)
        return text + "\n"

    def _csv_row(self, raw: Sequence[str] | dict[str, Any], reason: str) -> list[str]:
        values = list(raw) if not isinstance(raw, dict) else []
        values += [""] * (len(self._header) - len(values))
        values[self._header.index(REASON_COLUMN)] = reason
        return [neutralise(value) for value in values]
