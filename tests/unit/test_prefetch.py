"""``prefetch=True``: one page ahead, never past max_items, and a clean stop."""

import asyncio
import gc
from contextlib import aclosing

import pytest

from drfulfill import ServerError
from drfulfill.pagination import AsyncPager

from .test_pagination import IDS, FakeList, collect, pager


class GatedList(FakeList):
    """FakeList whose n-th answer waits for ``open(n)`` unless n < ``open_first``."""

    def __init__(self, open_first=100, fail_at=None):
        super().__init__()
        self.gates = {}
        self.open_first = open_first
        self.fail_at = fail_at
        self.calls = 0
        self.cancelled = 0

    def gate(self, n):
        if n not in self.gates:
            self.gates[n] = asyncio.Event()
            if n < self.open_first:
                self.gates[n].set()
        return self.gates[n]

    def open(self, n):
        self.gate(n).set()

    async def __call__(self, query):
        n = self.calls
        self.calls += 1
        try:
            await self.gate(n).wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if n == self.fail_at:
            raise ServerError(503)
        return await super().__call__(query)


async def settle():
    """Let every runnable task run until it blocks (no wall-clock wait)."""
    for _ in range(10):
        await asyncio.sleep(0)


def only_this_task_left():
    return asyncio.all_tasks() == {asyncio.current_task()}


async def test_the_next_page_is_requested_while_the_current_one_is_consumed():
    fetch = GatedList()
    items = aiter(pager(fetch, limit=10, prefetch=True))
    assert await anext(items) == IDS[0]
    await settle()
    assert fetch.calls == 2  # page 2 asked for while page 1 is being consumed
    assert [item async for item in items] == IDS[1:]
    assert fetch.calls == 3


async def test_without_prefetch_the_next_page_waits_for_the_consumer():
    fetch = GatedList()
    items = aiter(pager(fetch, limit=10))
    await anext(items)
    await settle()
    assert fetch.calls == 1
    await items.aclose()


async def test_at_most_one_page_ahead():
    fetch = GatedList()
    pages = pager(fetch, limit=5, prefetch=True).pages()
    await anext(pages)
    await settle()
    assert fetch.calls == 2
    await anext(pages)
    await settle()
    assert fetch.calls == 3
    await pages.aclose()


@pytest.mark.parametrize(
    ("max_items", "calls", "limits"),
    [(10, 1, ["10"]), (20, 2, ["10", "10"]), (13, 2, ["10", "3"]), (0, 0, [])],
)
async def test_prefetch_never_fetches_beyond_max_items(max_items, calls, limits):
    fetch = GatedList()
    got = await collect(pager(fetch, limit=10, max_items=max_items, prefetch=True))
    await settle()
    assert got == IDS[:max_items]
    assert fetch.calls == calls
    assert [dict(q)["limit"] for q in fetch.queries] == limits


async def test_break_inside_aclosing_cancels_the_pending_fetch():
    fetch = GatedList(open_first=1)  # page 2 never answers
    async with aclosing(aiter(pager(fetch, limit=10, prefetch=True))) as items:
        async for item in items:
            assert item == IDS[0]
            await settle()  # page 2's request is now in flight
            break
    assert fetch.calls == 2 and fetch.cancelled == 1
    assert only_this_task_left()


async def test_break_right_after_the_first_item_cancels_the_running_prefetch():
    fetch = GatedList(open_first=1)
    async with aclosing(aiter(pager(fetch, limit=10, prefetch=True))) as items:
        async for _ in items:
            break
    assert fetch.calls == 2 and fetch.cancelled == 1  # it was sent, then cancelled
    assert only_this_task_left()


async def test_aclose_on_pages_cancels_the_pending_fetch():
    fetch = GatedList(open_first=1)
    pages = pager(fetch, limit=10, prefetch=True).pages()
    async with aclosing(pages):
        page = await anext(pages)
        assert page.data == IDS[:10]
        await settle()
    assert fetch.cancelled == 1
    assert only_this_task_left()


async def test_a_failed_prefetch_nobody_reads_is_not_reported_as_unretrieved():
    reported = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: reported.append(context))
    try:
        fetch = GatedList(fail_at=1)
        pages = pager(fetch, limit=10, prefetch=True).pages()
        await anext(pages)
        await settle()  # the prefetch of page 2 has failed by now
        await pages.aclose()
        del pages
        gc.collect()
        await settle()
    finally:
        loop.set_exception_handler(None)
    assert fetch.calls == 2 and reported == []


async def test_a_failed_prefetch_is_raised_when_the_consumer_reaches_it():
    fetch = GatedList(fail_at=1)
    got = []
    with pytest.raises(ServerError):
        async for item in pager(fetch, limit=10, prefetch=True):
            got.append(item)
    assert got == IDS[:10]


async def test_cancelling_the_consumer_cancels_the_fetch_it_waits_for():
    fetch = GatedList(open_first=1)
    started = asyncio.Event()

    async def consume():
        async with aclosing(aiter(pager(fetch, limit=10, prefetch=True))) as items:
            async for _ in items:
                started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fetch.cancelled == 1
    assert only_this_task_left()


@pytest.mark.parametrize("kwargs", [{}, {"ending_before": "ful_10"}, {"starting_after": "ful_20"}])
async def test_prefetch_yields_what_sequential_paging_yields(kwargs):
    plain = [page.data async for page in pager(FakeList(), limit=4, **kwargs).pages()]
    ahead_pager = pager(FakeList(), limit=4, prefetch=True, **kwargs)
    ahead = [page.data async for page in ahead_pager.pages()]
    assert ahead == plain


async def test_an_empty_listing_with_prefetch_gives_one_empty_page():
    pages = [page async for page in pager(FakeList([]), prefetch=True).pages()]
    assert len(pages) == 1 and pages[0].data == [] and pages[0].has_more is False


def test_prefetch_must_be_a_bool():
    from drfulfill import ValidationError

    with pytest.raises(ValidationError):
        pager(FakeList(), prefetch="yes")


async def test_the_next_request_is_sent_before_the_current_page_is_decoded():
    fetch = GatedList()  # counts a request when its coroutine starts running
    running_when_decoding = []

    def decode(raw):
        running_when_decoding.append(fetch.calls)
        return raw["id"]

    p = AsyncPager(fetch, decode, [], limit=10, prefetch=True)
    assert [item async for item in p] == IDS
    assert running_when_decoding[:10] == [2] * 10  # page 2 was running before page 1's decode
