"""One cursor walk of a list, as decisions without I/O: which query comes next, what a
response means, when to stop, and what to refuse (``pagination.AsyncPager`` drives walks)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Generic, NamedTuple, TypeVar

from ._convert import parse_datetime
from ._resume import WalkPosition
from ._wire import Query
from .errors import DecodeError
from .models import Page

T = TypeVar("T")


class RawPage(NamedTuple):
    """A page as ``CursorWalk.read`` returns it: its objects before decoding (in travel
    order), its ``hasMore``, and the id of its last object (where a resume continues)."""

    objects: Sequence[Mapping[str, Any]]
    has_more: bool
    last_id: str


_DR_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)
# hasMore readings accepted besides JSON booleans (proxies and hand-written fakes send these).
_TRUE_TEXT = frozenset({"true", "1"})
_FALSE_TEXT = frozenset({"false", "0"})


class PaginationError(DecodeError):
    """The server's pages do not advance: an object came back, the order went back in time,
    or an object lies outside the requested ``createdTime`` window."""


def read_has_more(value: object) -> bool:
    """DR's ``hasMore``, read tolerantly: a JSON boolean, the integers 0 and 1, or the
    strings ``true``/``false``/``1``/``0`` (any case, surrounding spaces ignored).

    Anything else, a missing ``hasMore`` included, raises DecodeError rather than guess
    that the listing ended.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_TEXT or text in _FALSE_TEXT:
            return text in _TRUE_TEXT
    raise DecodeError(f"a list response's hasMore is not a boolean: {value!r}", text=repr(value))


def read_envelope(body: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], bool]:
    """``(data, hasMore)`` of a list response; ``hasMore`` is only read when data is not empty."""
    data = body.get("data")
    if not isinstance(data, list) or not all(
        item.__class__ is dict or isinstance(item, Mapping) for item in data
    ):
        raise DecodeError("a list response's data is not a list of objects", text=str(body))
    if not data:
        return data, False
    return data, read_has_more(body.get("hasMore"))


def id_of(raw: Mapping[str, Any]) -> str:
    """A listed object's id: the next cursor, and how repeats are recognised."""
    object_id = raw.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise DecodeError("a listed object has no id to page from", text=str(raw))
    return object_id


def time_key(value: object) -> str | None:
    """A ``createdTime`` as a string that sorts in time order (UTC, microseconds), or None
    when it is not a readable time."""
    if not isinstance(value, str):
        return None
    if _DR_TIME.fullmatch(value):
        return value[:19] + ".000000"  # DR's own form, without parsing it
    try:
        moment = parse_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


_BOUND_CHECKS: dict[str, Callable[[str, str], bool]] = {
    "createdTime[gt]": lambda key, bound: key > bound,
    "createdTime[gte]": lambda key, bound: key >= bound,
    "createdTime[lt]": lambda key, bound: key < bound,
    "createdTime[lte]": lambda key, bound: key <= bound,
}


def time_bounds(filters: Query) -> list[tuple[Callable[[str, str], bool], str]]:
    """The ``createdTime[gt|gte|lt|lte]`` filters as checks on ``time_key`` values."""
    bounds = []
    for name, value in filters:
        check, key = _BOUND_CHECKS.get(name), time_key(value)
        if check is not None and key is not None:
            bounds.append((check, key))
    return bounds


def _repeat(object_id: str) -> PaginationError:
    return PaginationError(
        f"the server listed {object_id!r} again; stopping instead of yielding it twice", text=""
    )


class CursorWalk(Generic[T]):
    """One cursor walk through a list, as decisions without I/O.

    Call ``next_query()``, fetch it, give the body to ``read()`` and its result to
    ``page()``; repeat until ``next_query()`` returns None.

    No object is yielded twice, in bounded memory, by DR's order: lists are newest first
    (oldest first when paging backward), so a walk's ``createdTime`` never moves back. The
    walk keeps only the ids at its frontier (the oldest ``createdTime`` yielded so far) and
    raises PaginationError, before anything of the page is yielded, for an object newer than
    the frontier (the server went back, as in a cursor cycle A->B->A), an id repeated at the
    frontier, or an object outside ``window`` (a time shard's ``createdTime[...]`` pairs,
    sent with ``filters``; checking them means shards cannot overlap). Objects without a
    readable ``createdTime`` cannot be placed: their ids go to ``unkeyed``, shared by the
    walks of one listing, and are all kept.
    """

    def __init__(
        self,
        decode: Callable[[Mapping[str, Any]], T],
        filters: Query,
        *,
        limit: int,
        max_items: int | None,
        cursor: str | None,
        backward: bool,
        unkeyed: set[str],
        window: Query = (),
    ) -> None:
        self._decode = decode
        self._base_filters = list(filters)
        self._window = list(window)
        self._filters = [*filters, *window]
        self._limit = limit
        self._remaining = max_items
        self._cursor = cursor
        self._cursor_param = "endingBefore" if backward else "startingAfter"
        self._backward = backward
        self._bounds = time_bounds(window)
        self._frontier: str | None = None
        self._at_frontier: set[str] = set()
        self._unkeyed = unkeyed
        if cursor is not None:
            unkeyed.add(cursor)  # the object paged from must not come back either
        self._done = max_items == 0
        # Where a resume continues, as of the last page handed out by page(): a fetch may
        # already have gone past it. None once the walk's last page was handed out.
        self._resume_cursor = cursor
        self._finished = False

    @property
    def window(self) -> list[tuple[str, str]]:
        """The ``createdTime[...]`` pairs this walk is confined to (empty: none)."""
        return list(self._window)

    @property
    def frontier_time(self) -> datetime | None:
        """The oldest ``createdTime`` yielded so far, if any object had one."""
        if self._frontier is None:
            return None
        return datetime.fromisoformat(self._frontier).replace(tzinfo=timezone.utc)

    def narrow(self, window: Query) -> None:
        """Confine the rest of the walk to ``window``, which must hold every object already
        yielded. Call it only between ``read()`` and the next fetch."""
        self._window = list(window)
        self._filters = [*self._base_filters, *self._window]
        self._bounds = time_bounds(self._window)

    @property
    def position(self) -> WalkPosition | None:
        """Where this walk resumes after the pages ``page()`` has handed out: its window
        and cursor; None when the last of them ended the walk."""
        if self._finished:
            return None
        return WalkPosition(tuple(self._window), self._resume_cursor)

    @property
    def tracked_ids(self) -> int:
        """How many ids the walk holds to refuse repeats (its memory, for checking the bound)."""
        return len(self._at_frontier) + len(self._unkeyed)

    def next_query(self) -> list[tuple[str, str]] | None:
        """The query of the next page, or None when the walk is over.

        The last page asks for no more than ``max_items`` still allows.
        """
        if self._done:
            return None
        limit = self._limit if self._remaining is None else min(self._limit, self._remaining)
        query = [*self._filters, ("limit", str(limit))]
        if self._cursor is not None:
            query.append((self._cursor_param, self._cursor))
        return query

    def read(self, body: Mapping[str, Any]) -> RawPage | None:
        """Advance past ``body`` (the answer to ``next_query()``): its objects still to be
        decoded with ``page()``, or None if it is empty.

        Only ids are read here, so the next page can be requested before this one is
        decoded. Raises DecodeError for a malformed envelope and PaginationError, before
        anything of the page is yielded, when it holds an object already yielded or leads
        to a cursor already sent.
        """
        raw_items, has_more = read_envelope(body)
        if not raw_items:
            self._done = True
            return None
        ordered = raw_items[::-1] if self._backward else raw_items
        if self._remaining is not None and len(ordered) > self._remaining:
            ordered, has_more = ordered[: self._remaining], True
        ids = [self._admit(raw) for raw in ordered]
        if self._remaining is not None:
            self._remaining -= len(ids)
        if not has_more or self._remaining == 0:
            self._done = True
        else:
            # Moving away from the cursor: the last id in travel order is the next cursor.
            self._cursor = ids[-1]
        return RawPage(ordered, has_more, ids[-1])

    def _admit(self, raw: Mapping[str, Any]) -> str:
        """The id of ``raw``, once it is known not to repeat an object already yielded."""
        # This runs for every listed object: DR's own forms are read inline.
        object_id = raw.get("id")
        if object_id.__class__ is not str or not object_id:
            object_id = id_of(raw)
        if object_id in self._unkeyed:
            raise _repeat(object_id)
        created = raw.get("createdTime")
        if created.__class__ is str and len(created) == 20 and _DR_TIME.fullmatch(created):
            key: str | None = created[:19] + ".000000"
        else:
            key = time_key(created)
        if key is None:
            self._unkeyed.add(object_id)
            return object_id
        for check, bound in self._bounds:  # a plain loop: this runs for every object
            if not check(key, bound):
                raise PaginationError(
                    f"the server listed {object_id!r}, created outside the requested "
                    "createdTime window; stopping instead of risking a repeat",
                    text="",
                )
        frontier = self._frontier
        if frontier is None or (key > frontier if self._backward else key < frontier):
            self._frontier, self._at_frontier = key, {object_id}
        elif key == frontier:
            if object_id in self._at_frontier:
                raise _repeat(object_id)
            self._at_frontier.add(object_id)
        else:
            raise PaginationError(
                f"the server went back to {object_id!r}, created after objects it had already "
                "listed (a cursor cycle?); stopping instead of yielding anything twice",
                text="",
            )
        return object_id

    def page(self, raw: RawPage) -> Page[T]:
        """Decode what ``read()`` returned, as it is handed out (``position`` moves past it)."""
        self._resume_cursor, self._finished = raw.last_id, not raw.has_more
        return Page(data=[self._decode(item) for item in raw.objects], has_more=raw.has_more)
