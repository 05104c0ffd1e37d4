"""The one pager behind every ``list()``: lazy, cursor-driven, in either direction.

``AsyncPager`` drives one or more ``CursorWalk``s (the decisions, in ``_walk``): sequentially,
one page ahead (``prefetch``), or over concurrent time shards.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import aclosing
from typing import Any, Generic, TypeVar

from ._constants import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MIN_PAGE_SIZE
from ._resume import ListingPosition, WalkPosition, decode_token, encode_token, fingerprint
from ._shards import split_window
from ._walk import CursorWalk, PaginationError, RawPage
from ._wire import Query
from .errors import ValidationError
from .models import Page

__all__ = ["AsyncPager", "CursorWalk", "FetchPage", "PaginationError", "Query"]

T = TypeVar("T")
FetchPage = Callable[[Query], Awaitable[Mapping[str, Any]]]


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
    move away from the cursor. Every filter is sent with every page; ``max_items`` caps the
    total, and no page is requested once it is reached. Each page is read whole before it is
    yielded, so no response stays open across a ``yield``. An object is never yielded twice:
    a server that sends one again raises PaginationError.

    ``prefetch=True`` requests the next page while the current one is consumed (at most one
    page ahead). ``windows`` (from ``list(shards=K)``) are extra query pairs, one set per
    time shard: the shards are paged concurrently, each one page ahead, and their pages are
    yielded as they arrive, so order across shards is not guaranteed. When shards finish,
    a dense one is split again, keeping up to as many requests in flight as there were
    windows, never more.

    Stopping early (``break`` inside ``contextlib.aclosing(...)``, or ``aclose()`` on the
    iterator from ``pages()`` or ``aiter(pager)``) cancels any page still being fetched.

    ``await pager`` gives its first ``Page`` (an empty one when there is none). Each page
    carries ``resume_token`` while the listing has more: a pager built with the same
    filters (and shards) and ``resume_token=`` yields exactly the objects after that page,
    in the same direction; ``limit`` and ``max_items`` apply to the resumed listing.

    Iterating raises ``PaginationError`` when the server's pages do not advance (an
    object listed again, the order going back in time, an object outside a shard's
    window), ``DecodeError`` for a list response that is malformed (no ``data`` list, an
    unreadable ``hasMore`` on a non-empty page, an object without an id), and whatever
    ``fetch_page`` raises (the client's ``APIError``, ``APIConnectionError``, ...).

    You get pagers from ``list()``; building one yourself is rarely needed.

    :param fetch_page: sends one page's query, returns the decoded JSON body.
    :param decode: builds an item from one raw object of ``data``.
    :param filters: query pairs sent with every page.
    :param limit: page size, 1..100; None for 10.
    :param max_items: the most items to yield in all (an int >= 0); None for no cap.
    :param starting_after: page forward from after this id.
    :param ending_before: page backward from before this id.
    :param prefetch: request the next page while the current one is consumed.
    :param windows: one set of extra query pairs per time shard (from ``list(shards=K)``).
    :param resume_token: a ``Page.resume_token`` of a listing with these filters and windows.
    :param scope: the listing's resource, so a token of another resource is refused.
    :raises ValidationError: for an invalid ``limit``, ``max_items``, cursor or ``prefetch``,
        both cursors at once, ``windows`` with a cursor or with ``max_items``, or a
        ``resume_token`` that is damaged, belongs to other filters, or comes with a cursor.
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
        resume_token: str | None = None,
        scope: str = "",
    ) -> None:
        if starting_after is not None and ending_before is not None:
            raise ValidationError("give starting_after or ending_before, not both")
        if resume_token is not None and (starting_after is not None or ending_before is not None):
            raise ValidationError(
                "a resume_token holds its own cursor: no starting_after or ending_before"
            )
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
        self._prefetch = prefetch
        self._sharded = windows is not None
        shard_windows = (
            None if windows is None else [[(name, value) for name, value in w] for w in windows]
        )
        self._listing = fingerprint(scope, self._filters, shard_windows)
        # Requests kept in flight by a sharded listing, a resumed one included.
        self._shard_count = 0 if shard_windows is None else len(shard_windows)
        if resume_token is not None:
            resumed = decode_token(resume_token, self._listing)
            self._backward = resumed.backward
            self._starts = list(resumed.walks)
        else:
            self._backward = check_cursor("ending_before", ending_before) is not None
            cursor = (
                ending_before if self._backward else check_cursor("starting_after", starting_after)
            )
            self._starts = (
                [WalkPosition((), cursor)]
                if shard_windows is None
                else [WalkPosition(tuple(window), None) for window in shard_windows]
            )

    def __await__(self) -> Generator[Any, None, Page[T]]:
        """``await pager``: its first page."""
        return self._first_page().__await__()

    async def _first_page(self) -> Page[T]:
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                return page
        return Page(data=[], has_more=False)  # max_items=0 lists nothing

    def __aiter__(self) -> AsyncGenerator[T, None]:
        return self._items()

    async def _items(self) -> AsyncGenerator[T, None]:
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                for item in page.data:
                    yield item

    def pages(self) -> AsyncGenerator[Page[T], None]:
        """Yield each page in turn (``page.data``, ``page.has_more``).

        An empty listing gives one empty page (none when ``max_items=0``). In a sharded
        listing ``has_more`` is the flag of the page's own shard, and empty shards give no
        page (one empty page when every shard is empty). With ``max_items``, the last page
        is cut to the cap and its ``has_more`` is True when anything was left over.

        :returns: an async generator of ``Page``; each call starts afresh.
        :raises PaginationError: while iterating, as for the items (see the class).
        :raises DecodeError: while iterating, for a malformed list response.
        """
        if self._sharded:
            return self._sharded_pages()
        if self._prefetch:
            return self._prefetched_pages()
        return self._sequential_pages()

    def _walk(self, start: WalkPosition, unkeyed: set[str] | None = None) -> CursorWalk[T]:
        return CursorWalk(
            self._decode,
            self._filters,
            window=start.window,
            limit=self._limit,
            max_items=self._max_items,
            cursor=start.cursor,
            backward=self._backward,
            unkeyed=set() if unkeyed is None else unkeyed,
        )

    def _with_token(self, page: Page[T], walks: Iterable[CursorWalk[T]]) -> Page[T]:
        """``page`` with the token of where the listing stands once it is handed out."""
        positions = tuple(p for walk in walks if (p := walk.position) is not None)
        if not positions:
            return page
        token = encode_token(ListingPosition(self._listing, self._backward, positions))
        return Page(data=page.data, has_more=page.has_more, resume_token=token)

    async def _sequential_pages(self) -> AsyncGenerator[Page[T], None]:
        walk = self._walk(self._starts[0])
        first = True
        while (query := walk.next_query()) is not None:
            raw = walk.read(await self._fetch_page(query))
            if raw is None:
                break
            first = False
            yield self._with_token(walk.page(raw), (walk,))
        if first and self._max_items != 0:
            yield Page(data=[], has_more=False)

    async def _prefetched_pages(self) -> AsyncGenerator[Page[T], None]:
        walk = self._walk(self._starts[0])
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
                    ahead = self._start_fetch(query)
                    await let_run()  # the fetch starts before this page is decoded
                yield self._with_token(walk.page(raw), (walk,))
        finally:
            if ahead is not None:
                await discard([ahead])
        if first and self._max_items != 0:
            yield Page(data=[], has_more=False)

    async def _sharded_pages(self) -> AsyncGenerator[Page[T], None]:
        unkeyed: set[str] = set()
        target = self._shard_count
        pending: dict[asyncio.Future[Mapping[str, Any]], CursorWalk[T]] = {}
        walks: list[CursorWalk[T]] = []  # every walk not ended by a page handed out
        for start in self._starts:
            walk = self._walk(start, unkeyed)
            walks.append(walk)
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
                    if walk.next_query() is not None:
                        # Shards that finished leave room: split a dense one to refill it.
                        older = self._split(walk, unkeyed) if len(pending) + 1 < target else None
                        if older is not None:
                            walks.append(older)
                        for each in (walk, older):  # every next request before any decoding
                            query = None if each is None else each.next_query()
                            if each is not None and query is not None:
                                pending[self._start_fetch(query)] = each
                    if raw is not None:
                        ready.append((walk, raw))
                await let_run()  # the fetches start before these pages are decoded
                for walk, raw in ready:
                    yielded = True
                    page = walk.page(raw)
                    if walk.position is None:
                        walks.remove(walk)
                    yield self._with_token(page, walks)
        finally:
            await discard(pending)
        if not yielded:
            yield Page(data=[], has_more=False)

    def _split(self, walk: CursorWalk[T], unkeyed: set[str]) -> CursorWalk[T] | None:
        """A new walk over the older half of ``walk``'s remaining window, ``walk`` narrowed
        to the rest; None if too little is left to split."""
        frontier = walk.frontier_time
        halves = None if frontier is None else split_window(walk.window, frontier)
        if halves is None:
            return None
        older, rest = halves
        walk.narrow(rest)
        return self._walk(WalkPosition(tuple(older), None), unkeyed)

    def _start_fetch(self, query: Query) -> asyncio.Future[Mapping[str, Any]]:
        return asyncio.ensure_future(self._fetch_page(query))


async def let_run() -> None:
    """Let tasks just started run up to their first real wait (a fetch: its request sent,
    unless it first waits for the rate limiter or a connection).

    A bare ``sleep(0)`` yields to the event loop once, without any wall-clock wait."""
    await asyncio.sleep(0)


async def discard(fetches: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel fetches nobody will read and wait for them to end. Their outcomes are
    retrieved, so asyncio reports no pending task or unretrieved exception, and are not
    re-raised: the caller is already leaving with its own outcome."""
    waiting = list(fetches)
    if not waiting:
        return
    for fetch in waiting:
        fetch.cancel()
    await asyncio.wait(waiting)
    for fetch in waiting:
        if not fetch.cancelled():
            fetch.exception()  # explicit: cancel() of a done task silencing it is undocumented
