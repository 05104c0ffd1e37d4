"""Time-sharded listing: split one ``createdTime`` window into sub-windows (pure, no I/O).

The sub-windows partition the window: every instant in it falls in exactly one of them,
because each inner boundary is the ``lt`` of one sub-window and the ``gte`` of the next.
That holds whatever precision the server compares times at (DR stores whole seconds),
so a listing over all sub-windows yields every object of the window exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from ._constants import MAX_SHARDS
from ._convert import format_datetime, parse_datetime
from .errors import ValidationError
from .models import CreatedTime

Query = Sequence[tuple[str, str]]
_SECOND = 1_000_000  # microseconds
_LOWER = frozenset({"createdTime[gte]", "createdTime[gt]"})
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def check_shards(shards: object) -> int | None:
    """``shards`` as given to ``list()``: None (no sharding) or an int from 1 to
    ``MAX_SHARDS``."""
    if shards is None:
        return None
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise ValidationError(f"shards must be an int >= 1 and <= {MAX_SHARDS}, got {shards!r}")
    return shards


def shard_windows(created_time: CreatedTime | None, shards: int) -> list[Query]:
    """The ``createdTime[...]`` query pairs of each of ``shards`` sub-windows, oldest first.

    ``created_time`` needs one lower bound (``gte`` or ``gt``) and one upper bound (``lt`` or
    ``lte``), lower before upper, and no ``eq``. The outer sub-windows keep the caller's
    operators; inner boundaries are ``gte``/``lt``. Inner boundaries fall on whole seconds
    when the window is at least ``shards`` seconds long; fewer sub-windows are made when the
    window is too short to give each a distinct microsecond.
    """
    if not isinstance(created_time, CreatedTime):
        raise ValidationError("shards needs created_time=CreatedTime(gte=..., lt=...)")
    if created_time.eq is not None:
        raise ValidationError("shards cannot split created_time.eq; give a window instead")
    lower = _one_bound(created_time, "gte", "gt", "a lower bound (gte or gt)")
    upper = _one_bound(created_time, "lt", "lte", "an upper bound (lt or lte)")
    start, end = lower[1], upper[1]
    if start >= end:
        raise ValidationError("shards needs created_time's lower bound before its upper bound")
    cuts = _inner_cuts(start, end, shards)
    bounds = [lower, *(("gte", cut) for cut in cuts)]
    uppers = [*(("lt", cut) for cut in cuts), upper]
    return [
        [
            (f"createdTime[{low_op}]", format_datetime(low)),
            (f"createdTime[{up_op}]", format_datetime(up)),
        ]
        for (low_op, low), (up_op, up) in zip(bounds, uppers, strict=True)
    ]


def _one_bound(
    created_time: CreatedTime, first: str, second: str, what: str
) -> tuple[str, datetime]:
    given = [
        (name, value)
        for name in (first, second)
        if (value := getattr(created_time, name)) is not None
    ]
    if len(given) != 1:
        raise ValidationError(f"shards needs exactly one {what} in created_time")
    return given[0]


def _inner_cuts(start: datetime, end: datetime, shards: int) -> list[datetime]:
    """Up to ``shards - 1`` boundaries, strictly increasing, strictly inside (start, end)."""
    span = (end - start) // timedelta(microseconds=1)
    shards = min(shards, span)
    cuts: list[datetime] = []
    for index in range(1, shards):
        offset = span * index // shards
        if span >= shards * _SECOND:
            # Whole-second boundaries: stored times are whole seconds, and plain UTC strings
            # are what DR documents. Rounding keeps the cuts increasing: they are >= 1 s apart.
            absolute = _epoch_micros(start) + offset
            offset = absolute - absolute % _SECOND - _epoch_micros(start)
        cut = start + timedelta(microseconds=offset)
        if start < cut < end and (not cuts or cuts[-1] < cut):
            cuts.append(cut)
    return cuts


def _epoch_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def time_windows(
    created_time: CreatedTime | None, shards: object
) -> tuple[CreatedTime | None, list[Query] | None]:
    """What ``list()`` filters on: ``(created_time, None)`` unsharded, else ``(None, windows)``."""
    count = check_shards(shards)
    if count is None:
        return created_time, None
    return None, shard_windows(created_time, count)


def split_window(window: Query, frontier: datetime) -> tuple[list[tuple[str, str]], Query] | None:
    """Split a dense shard mid-walk: ``(older, rest)`` where ``older`` = [lower bound, m) is
    a new sub-window and ``rest`` = [m, upper bound) is what the running walk keeps; ``m`` is
    a whole second with lower < m <= ``frontier`` (the oldest time the walk has yielded, so
    ``rest`` holds all it yielded). None when less than two seconds are left to split."""
    lower = [(name, value) for name, value in window if name in _LOWER]
    upper = [(name, value) for name, value in window if name not in _LOWER]
    if len(lower) != 1:
        return None
    low = parse_datetime(lower[0][1])
    if frontier - low < timedelta(seconds=2):
        return None
    middle = (_epoch_micros(low) + _epoch_micros(frontier)) // 2
    cut = _EPOCH + timedelta(microseconds=middle - middle % _SECOND)
    if not low < cut <= frontier:
        return None
    cut_text = format_datetime(cut)
    return [lower[0], ("createdTime[lt]", cut_text)], [("createdTime[gte]", cut_text), *upper]
