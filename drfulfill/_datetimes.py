"""Digital River timestamps: read any ISO-8601 form DR (or its older docs) sends, write UTC ``Z``.

``parse_fast_utc`` reads the one form DR's servers send (``2024-01-01T00:00:00Z``, with an
optional 3- or 6-digit fraction) without a regular expression; ``parse_datetime`` reads the
rest. Both give the same instant for every string the fast reader accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ValidationError

__all__ = ["format_datetime", "has_utc_offset", "parse_datetime", "parse_fast_utc"]


_ISO_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(?:(?P<zulu>[Zz])|(?P<sign>[+-])(\d{2}):?(\d{2})?)?",
    re.ASCII,
)


def parse_datetime(value: Any) -> datetime:
    """Read a Digital River timestamp as an aware datetime in UTC.

    Accepts ISO-8601 with ``Z`` or a ``±hh:mm`` offset and a fraction of any length
    (digits past microseconds are truncated), and the serialised Java ``OffsetDateTime``
    object that older DR reference pages show. A string without an offset is taken as UTC,
    DR's documented time zone. Anything else raises TypeError, ValueError or (for a date
    out of datetime's range) OverflowError.
    """
    if isinstance(value, str):
        return _parse_iso(value)
    if isinstance(value, Mapping):
        return _parse_java_offset_datetime(value)
    raise TypeError(f"expected an ISO-8601 string, got {type(value).__name__}")


def has_utc_offset(text: str) -> bool:
    """Whether an ISO-8601 date-time names its zone (``Z`` or an offset)."""
    match = _ISO_DATETIME.fullmatch(text.strip())
    return match is not None and (match["zulu"] is not None or match["sign"] is not None)


def _parse_iso(text: str) -> datetime:
    match = _ISO_DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 datetime: {text!r}")
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    parsed = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        micros,
        tzinfo=timezone.utc,
    )
    if sign is None:
        return parsed
    hours, minutes = int(off_h), int(off_m or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"not a UTC offset in {text!r}")
    offset = timedelta(hours=hours, minutes=minutes)
    # The fields were read as UTC; shift by the offset to get the same instant in UTC.
    return parsed - offset if sign == "+" else parsed + offset


def _parse_java_offset_datetime(obj: Mapping[str, Any]) -> datetime:
    missing = [key for key in ("year", "monthValue", "dayOfMonth") if key not in obj]
    if missing:
        raise ValueError(f"not a date-time object, missing {', '.join(missing)}")
    offset = obj.get("offset")
    offset_seconds = offset.get("totalSeconds", 0) if isinstance(offset, Mapping) else 0
    local = datetime(
        int(obj["year"]),
        int(obj["monthValue"]),
        int(obj["dayOfMonth"]),
        int(obj.get("hour", 0)),
        int(obj.get("minute", 0)),
        int(obj.get("second", 0)),
        int(obj.get("nano", 0)) // 1000,
        tzinfo=timezone(timedelta(seconds=int(offset_seconds))),
    )
    return local.astimezone(timezone.utc)


def format_datetime(value: datetime) -> str:
    """An aware datetime as DR's UTC form: ``2024-01-01T00:00:00Z``.

    Fractional seconds appear only when present: milliseconds when that is exact,
    otherwise microseconds. A naive datetime raises ValidationError (its instant is unknown),
    so encoding a model never lets a plain ValueError out.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"datetime must be timezone-aware, got naive {value.isoformat()}")
    utc = value.astimezone(timezone.utc)
    text = utc.replace(tzinfo=None, microsecond=0).isoformat()
    if utc.microsecond:
        fraction = f"{utc.microsecond:06d}"
        text += "." + (fraction[:3] if fraction.endswith("000") else fraction)
    return text + "Z"


_FAST_LENGTHS = frozenset((20, 24, 27))  # ...:SSZ, ...:SS.fffZ, ...:SS.ffffffZ


def parse_fast_utc(value: Any) -> datetime:
    """Read ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z``; anything else raises ValueError/TypeError.

    ``datetime.fromisoformat`` (C) reads this extended form identically on Python 3.10 and
    3.11 once the ``Z`` is spelled ``+00:00`` (its tzinfo is then ``timezone.utc`` itself,
    and this costs a sixth of ``.replace(tzinfo=...)``); the shape checks keep out every
    other form it might accept.
    """
    if (
        value.__class__ is str
        and len(value) in _FAST_LENGTHS
        and value[-1] == "Z"
        and value[10] == "T"
        and value[4] == value[7] == "-"
        and value[13] == value[16] == ":"
        and (len(value) == 20 or value[19] == ".")
        and value.isascii()
    ):
        return datetime.fromisoformat(value[:-1] + "+00:00")
    raise ValueError(f"not DR's UTC form: {value!r}")
