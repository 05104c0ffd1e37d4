"""The one pager behind every ``list()``: lazy, cursor-driven, in either direction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from ._constants import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MIN_PAGE_SIZE
from .errors import DecodeError, ValidationError
from .models import Page

T = TypeVar("T")
Query = Sequence[tuple[str, str]]
FetchPage = Callable[[Query], Awaitable[Mapping[str, Any]]]


class PaginationError(DecodeError):
    """The server's pages do not advance (a cursor came back twice)."""


def check_page_size(limit: int | None) -> int:
    """The page size to request, validated against DR's 1..100."""
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValidationError(f"limit must be an int, got {limit!r}")
    if not MIN_PAGE_SIZE <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"limit must be between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}, got {limit}"
        )
    return limit


def check_max_items(max_items: int | None) -> int | None:
    if max_items is None:
        return None
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0:
        raise ValidationError(f"max_items must be an int >= 0, got {max_items!r}")
    return max_items


def check_cursor(name: str, value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
    return value


class AsyncPager(Generic[T]):
    """What ``list()`` returns. ``async for`` yields items; ``.pages()`` yields ``Page``s.

    Nothing is requested until iteration starts, and each iteration starts afresh.
    Forward (the default, or ``starting_after``): ``startingAfter`` = the last id of each page,
    until ``hasMore`` is false or a page is empty. Backward (``ending_before``):
    ``endingBefore`` = the first id of each page, and each page is yielded reversed, so items
    move away from the cursor. Every filter is sent with every page; ``max_items`` caps the total.
    Each page is read whole before it is yielded, so no response stays open across a ``yield``.
    """

    def __init__(
        self,
        fetch_page: FetchPage,
        decode: Callable[[Mapping[str, Any]], T],
        filters: Query,
        *,
        limit: int | None = None,
        max_items: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> None:
        if starting_after is not None and ending_before is not None:
            raise ValidationError("give starting_after or ending_before, not both")
        self._fetch_page = fetch_page
        self._decode = decode
        self._filters = list(filters)
        self._limit = check_page_size(limit)
        self._max_items = check_max_items(max_items)
        self._backward = check_cursor("ending_before", ending_before) is not None
        self._start_cursor = (
            ending_before if self._backward else (check_cursor("starting_after", starting_after))
        )

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.data:
                yield item

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield each page in turn (``page.data``, ``page.has_more``)."""
        cursor_param = "endingBefore" if self._backward else "startingAfter"
        cursor = self._start_cursor
        cursors_sent = {cursor}
        remaining = self._max_items
        first = True
        while remaining is None or remaining > 0:
            query = [*self._filters, ("limit", str(self._limit))]
            if cursor is not None:
                query.append((cursor_param, cursor))
            raw_items, has_more = _read_envelope(await self._fetch_page(query))
            if not raw_items:
                if first:
                    yield Page(data=[], has_more=False)
                return
            first = False
            last_in_travel = raw_items[0] if self._backward else raw_items[-1]
            ordered = reversed(raw_items) if self._backward else raw_items
            items = [self._decode(raw) for raw in ordered]
            if remaining is not None:
                cut = len(items) > remaining
                items = items[:remaining]
                remaining -= len(items)
                has_more = has_more or cut
            yield Page(data=items, has_more=has_more)
            if not has_more or remaining == 0:
                return
            next_cursor = _cursor_of(last_in_travel)
            if next_cursor in cursors_sent:
                raise PaginationError(
                    f"the server repeated cursor {next_cursor!r}; stopping instead of looping",
                    text="",
                )
            cursors_sent.add(next_cursor)
            cursor = next_cursor


def _read_envelope(body: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], bool]:
    data = body.get("data", [])
    if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
        raise DecodeError("a list response's data is not a list of objects", text=str(body))
    return data, body.get("hasMore") is True


def _cursor_of(raw: Mapping[str, Any]) -> str:
    cursor = raw.get("id")
    if not isinstance(cursor, str) or not cursor:
        raise DecodeError("a listed object has no id to page from", text=str(raw))
    return cursor
