"""The one pager behind every ``list()``: lazy, cursor-driven, in either direction.

``CursorWalk`` holds the decisions (which query next, what a response means, when to stop,
what to refuse) without I/O; ``AsyncPager`` drives one or more walks sequentially, one page
ahead (``prefetch``) or over concurrent time shards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any, Generic, TypeVar

from ._constants import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MIN_PAGE_SIZE
from .errors import DecodeError, ValidationError
from .models import Page

T = TypeVar("T")
Query = Sequence[tuple[str, str]]
FetchPage = Callable[[Query], Awaitable[Mapping[str, Any]]]
RawPage = tuple[Sequence[Mapping[str, Any]], bool]  # a page's objects before decoding, hasMore

# hasMore readings accepted besides JSON booleans (proxies and hand-written fakes send these).
_TRUE_TEXT = frozenset({"true", "1"})
_FALSE_TEXT = frozenset({"false", "0"})


class PaginationError(DecodeError):
    """The server's pages do not advance: a cursor or an object came back twice."""


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
    if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
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


class CursorWalk(Generic[T]):
    """One cursor walk through a list, as decisions without I/O.

    Call ``next_query()``, fetch it, give the body to ``read()`` and its result to
    ``page()``; repeat until ``next_query()`` returns None. ``seen`` holds the id of every
    object yielded so far; walks of one listing share it, so a server that sends an object
    again (a cursor cycle, or shards whose windows the server ignored) gets a
    PaginationError before the repeat is yielded. It costs one id string per object yielded.
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
        seen: set[str],
    ) -> None:
        self._decode = decode
        self._filters = list(filters)
        self._limit = limit
        self._remaining = max_items
        self._cursor = cursor
        self._cursor_param = "endingBefore" if backward else "startingAfter"
        self._backward = backward
        self._cursors_sent = {cursor}
        self._seen = seen
        self._done = max_items == 0

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
        ids = [id_of(raw) for raw in ordered]
        if len(set(ids)) != len(ids) or not self._seen.isdisjoint(ids):
            raise PaginationError(
                "the server sent an object it had already listed; stopping instead of "
                "yielding it twice",
                text="",
            )
        if self._remaining is not None:
            self._remaining -= len(ids)
        if not has_more or self._remaining == 0:
            self._done = True
        else:
            # Moving away from the cursor: the last id in travel order is the next cursor.
            next_cursor = ids[-1]
            if next_cursor in self._cursors_sent:
                raise PaginationError(
                    f"the server repeated cursor {next_cursor!r}; stopping instead of looping",
                    text="",
                )
            self._cursors_sent.add(next_cursor)
            self._cursor = next_cursor
        self._seen.update(ids)
        return ordered, has_more

    def page(self, raw: RawPage) -> Page[T]:
        """Decode what ``read()`` returned."""
        objects, has_more = raw
        return Page(data=[self._decode(item) for item in objects], has_more=has_more)


class AsyncPager(Generic[T]):
    """What ``list()`` returns. ``async for`` yields items; ``.pages()`` yields ``Page``s.

    Nothing is requested until iteration starts, and each iteration starts afresh.
    Forward (the default, or ``starting_after``): ``startingAfter`` = the last id of each page,
    until ``hasMore`` is false or a page is empty. Backward (``ending_before``):
    ``endingBefore`` = the first id of each page, and each page is yielded reversed, so items
    move away from the cursor. Every filter is sent with every page; ``max_items`` caps the
    total, and no page is requested once it is reached. Each page is read whole before it is
    yielded, so no response stays open across a ``yield``. An object is never yielded twice:
    a server that sends one again raises PaginationError.

    ``prefetch=True`` requests the next page while the current one is consumed (at most one
    page ahead). ``windows`` (from ``list(shards=K)``) are extra query pairs, one set per
    time shard: the shards are paged concurrently, each one page ahead, and their pages are
    yielded as they arrive, so order across shards is not guaranteed.

    Stopping early (``break`` inside ``contextlib.aclosing(...)``, or ``aclose()`` on the
    iterator from ``pages()`` or ``aiter(pager)``) cancels any page still being fetched.
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
        prefetch: bool = False,
        windows: Sequence[Query] | None = None,
    ) -> None:
        if starting_after is not None and ending_before is not None:
            raise ValidationError("give starting_after or ending_before, not both")
        if not isinstance(prefetch, bool):
            raise ValidationError(f"prefetch must be True or False, got {prefetch!r}")
        if windows is not None:
            if starting_after is not None or ending_before is not None:
                raise ValidationError("shards cannot start from a cursor")
            if max_items is not None:
                # Shards arrive in no set order, so a cap would keep an arbitrary subset.
                raise ValidationError("shards and max_items cannot be combined")
        self._fetch_page = fetch_page
        self._decode = decode
        self._filters = list(filters)
        self._limit = check_page_size(limit)
        self._max_items = check_max_items(max_items)
        self._backward = check_cursor("ending_before", ending_before) is not None
        self._start_cursor = (
            ending_before if self._backward else (check_cursor("starting_after", starting_after))
        )
        self._prefetch = prefetch
        self._windows = None if windows is None else [list(window) for window in windows]

    def __aiter__(self) -> AsyncGenerator[T, None]:
        return self._items()

    async def _items(self) -> AsyncGenerator[T, None]:
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                for item in page.data:
                    yield item

    def pages(self) -> AsyncGenerator[Page[T], None]:
        """Yield each page in turn (``page.data``, ``page.has_more``).

        An empty listing gives one empty page. In a sharded listing ``has_more`` is the
        flag of the page's own shard, and empty shards give no page.
        """
        if self._windows is not None:
            return self._sharded_pages(self._windows)
        if self._prefetch:
            return self._prefetched_pages()
        return self._sequential_pages()

    def _walk(self, extra: Query = (), seen: set[str] | None = None) -> CursorWalk[T]:
        return CursorWalk(
            self._decode,
            [*self._filters, *extra],
            limit=self._limit,
            max_items=self._max_items,
            cursor=self._start_cursor,
            backward=self._backward,
            seen=set() if seen is None else seen,
        )

    async def _sequential_pages(self) -> AsyncGenerator[Page[T], None]:
        walk = self._walk()
        first = True
        while (query := walk.next_query()) is not None:
            raw = walk.read(await self._fetch_page(query))
            if raw is None:
                break
            first = False
            yield walk.page(raw)
        if first and self._max_items != 0:
            yield Page(data=[], has_more=False)

    async def _prefetched_pages(self) -> AsyncGenerator[Page[T], None]:
        walk = self._walk()
        query = walk.next_query()
        ahead = None if query is None else self._start_fetch(query)
        first = True
        try:
            while ahead is not None:
                body = await ahead
                ahead = None
                raw = walk.read(body)
                if raw is None:
                    break
                first = False
                query = walk.next_query()
                if query is not None:
                    ahead = self._start_fetch(query)  # before decoding: overlap the two
                yield walk.page(raw)
        finally:
            if ahead is not None:
                await discard(ahead)
        if first and self._max_items != 0:
            yield Page(data=[], has_more=False)

    async def _sharded_pages(
        self, windows: list[list[tuple[str, str]]]
    ) -> AsyncGenerator[Page[T], None]:
        seen: set[str] = set()
        pending: dict[asyncio.Future[Mapping[str, Any]], CursorWalk[T]] = {}
        for window in windows:
            walk = self._walk(window, seen)
            query = walk.next_query()
            if query is not None:  # always, as shards have no max_items
                pending[self._start_fetch(query)] = walk
        yielded = False
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                ready: list[tuple[CursorWalk[T], RawPage]] = []
                for fetch in done:
                    walk = pending.pop(fetch)
                    raw = walk.read(fetch.result())
                    query = walk.next_query()
                    if query is not None:  # every shard's next request before any decoding
                        pending[self._start_fetch(query)] = walk
                    if raw is not None:
                        ready.append((walk, raw))
                for walk, raw in ready:
                    yielded = True
                    yield walk.page(raw)
        finally:
            for fetch in pending:
                await discard(fetch)
        if not yielded:
            yield Page(data=[], has_more=False)

    def _start_fetch(self, query: Query) -> asyncio.Future[Mapping[str, Any]]:
        return asyncio.ensure_future(self._fetch_page(query))


async def discard(fetch: asyncio.Future[Any]) -> None:
    """Cancel a fetch nobody will read and wait for it to end. Its outcome is retrieved, so
    asyncio reports no pending task or unretrieved exception, and it is not re-raised: the
    caller is already leaving with its own outcome."""
    fetch.cancel()
    await asyncio.wait([fetch])
    if not fetch.cancelled():
        fetch.exception()  # explicit: cancel() of a done task silencing it is undocumented
