"""The pager against an in-memory list with DR's cursor rules (newest first)."""

import pytest

from drfulfill import DecodeError, PaginationError, ValidationError
from drfulfill.pagination import AsyncPager

IDS = [f"ful_{n:02d}" for n in range(25, 0, -1)]  # newest first: ful_25 … ful_01


class FakeList:
    """DR list semantics over IDS; records every query it is sent."""

    def __init__(self, ids=IDS):
        self.ids = list(ids)
        self.queries = []

    async def __call__(self, query):
        self.queries.append(list(query))
        params = dict(query)
        limit = int(params["limit"])
        if "endingBefore" in params:
            end = self.ids.index(params["endingBefore"])
            start = max(0, end - limit)
            page, has_more = self.ids[start:end], start > 0
        else:
            start = self.ids.index(params["startingAfter"]) + 1 if "startingAfter" in params else 0
            page = self.ids[start : start + limit]
            has_more = start + limit < len(self.ids)
        return {"hasMore": has_more, "data": [{"id": i} for i in page]}


def pager(fetch, **kwargs):
    return AsyncPager(fetch, lambda raw: raw.get("id"), [("orderId", "o1")], **kwargs)


async def collect(p):
    return [item async for item in p]


async def test_forward_over_several_pages_in_exact_order():
    fetch = FakeList()
    assert await collect(pager(fetch, limit=10)) == IDS
    assert [dict(q).get("startingAfter") for q in fetch.queries] == [None, "ful_16", "ful_06"]


async def test_every_filter_and_the_limit_go_with_every_page():
    fetch = FakeList()
    await collect(pager(fetch, limit=7))
    assert len(fetch.queries) == 4
    for query in fetch.queries:
        assert ("orderId", "o1") in query and ("limit", "7") in query


async def test_nothing_is_requested_until_iteration_starts():
    fetch = FakeList()
    p = pager(fetch)
    assert fetch.queries == []
    assert await collect(p) == IDS
    assert await collect(p) == IDS  # each iteration starts afresh


async def test_backward_pages_move_away_from_the_cursor():
    fetch = FakeList()
    pages = [page async for page in pager(fetch, limit=4, ending_before="ful_10").pages()]
    assert [page.data for page in pages] == [
        ["ful_11", "ful_12", "ful_13", "ful_14"],
        ["ful_15", "ful_16", "ful_17", "ful_18"],
        ["ful_19", "ful_20", "ful_21", "ful_22"],
        ["ful_23", "ful_24", "ful_25"],
    ]
    assert [dict(q)["endingBefore"] for q in fetch.queries] == [
        "ful_10",
        "ful_14",
        "ful_18",
        "ful_22",
    ]
    assert [page.has_more for page in pages] == [True, True, True, False]


async def test_forward_from_a_cursor():
    items = await collect(pager(FakeList(), limit=10, starting_after="ful_05"))
    assert items == ["ful_04", "ful_03", "ful_02", "ful_01"]


async def test_max_items_cuts_mid_page():
    fetch = FakeList()
    p = pager(fetch, limit=10, max_items=13)
    pages = [page async for page in p.pages()]
    assert [len(page.data) for page in pages] == [10, 3]
    assert pages[-1].has_more is True
    assert len(fetch.queries) == 2
    assert await collect(pager(FakeList(), limit=10, max_items=13)) == IDS[:13]


async def test_pages_cut_by_max_items_report_has_more_as_documented():
    # A server that ignores the smaller last limit: the page is cut to the cap, and
    # has_more is True since something was left over.
    class IgnoresLimit(FakeList):
        async def __call__(self, query):
            return await super().__call__([(k, "10" if k == "limit" else v) for k, v in query])

    pages = [page async for page in pager(IgnoresLimit(), limit=10, max_items=13).pages()]
    assert [len(page.data) for page in pages] == [10, 3] and pages[-1].has_more is True
    # A cap that ends exactly where the listing ends: nothing was left over.
    pages = [page async for page in pager(FakeList(), limit=10, max_items=25).pages()]
    assert [len(page.data) for page in pages] == [10, 10, 5] and pages[-1].has_more is False
    # A cap that ends on a page boundary with more beyond: has_more stays DR's True.
    pages = [page async for page in pager(FakeList(), limit=10, max_items=20).pages()]
    assert [len(page.data) for page in pages] == [10, 10] and pages[-1].has_more is True


async def test_max_items_zero_requests_nothing():
    fetch = FakeList()
    assert await collect(pager(fetch, max_items=0)) == []
    assert fetch.queries == []


async def test_an_empty_page_ends_the_iteration_even_if_has_more_lied():
    responses = [
        {"hasMore": True, "data": [{"id": "a"}, {"id": "b"}]},
        {"hasMore": True, "data": []},
    ]

    async def fetch(query):
        return responses.pop(0)

    assert await collect(pager(fetch, limit=2)) == ["a", "b"]
    assert responses == []


async def test_an_empty_list_gives_one_empty_page():
    pages = [page async for page in pager(FakeList([])).pages()]
    assert len(pages) == 1 and pages[0].data == [] and pages[0].has_more is False


async def test_a_repeated_cursor_raises_instead_of_looping():
    async def fetch(query):
        return {"hasMore": True, "data": [{"id": "same"}]}

    with pytest.raises(PaginationError):
        await collect(pager(fetch))


async def test_a_cursor_back_to_the_start_raises():
    async def fetch(query):
        return {"hasMore": True, "data": [{"id": "x"}, {"id": "start"}]}

    with pytest.raises(PaginationError):
        await collect(pager(fetch, starting_after="start"))


@pytest.mark.parametrize(
    "body",
    [{"data": "nope"}, {"data": [1, 2]}, {"hasMore": True, "data": [{"name": "no id"}]}],
)
async def test_malformed_envelopes_raise_decode_error(body):
    async def fetch(query):
        return body

    with pytest.raises(DecodeError):
        await collect(pager(fetch))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "10"},
        {"limit": True},
        {"max_items": -1},
        {"starting_after": ""},
        {"ending_before": ""},
        {"starting_after": "a", "ending_before": "b"},
    ],
)
def test_bad_arguments_are_rejected_before_any_request(kwargs):
    fetch = FakeList()
    with pytest.raises(ValidationError):
        pager(fetch, **kwargs)
    assert fetch.queries == []


async def test_limit_bounds_are_accepted():
    assert len(await collect(pager(FakeList(), limit=1, max_items=3))) == 3
    assert await collect(pager(FakeList(), limit=100)) == IDS


# --- hardening: tolerant hasMore, never an object twice -------------------------------


def scripted(*bodies):
    """A fetch answering each request with the next body; records the queries."""
    queue = list(bodies)

    async def fetch(query):
        fetch.queries.append(dict(query))
        return queue.pop(0)

    fetch.queries = []
    return fetch


def body(ids, has_more):
    return {"hasMore": has_more, "data": [{"id": i} for i in ids]}


@pytest.mark.parametrize("flag", ["true", "True", " TRUE ", "1", 1])
async def test_a_truthy_has_more_that_is_not_a_json_boolean_keeps_paging(flag):
    fetch = scripted(body(["a", "b"], flag), body(["c"], False))
    assert await collect(pager(fetch, limit=2)) == ["a", "b", "c"]


@pytest.mark.parametrize("flag", ["false", "False", "0", 0, False])
async def test_a_falsy_has_more_ends_the_listing(flag):
    fetch = scripted(body(["a", "b"], flag))
    assert await collect(pager(fetch, limit=2)) == ["a", "b"]


@pytest.mark.parametrize("flag", ["yes", "maybe", "", 2, -1, 1.0, None, [], {}])
async def test_an_unreadable_has_more_raises_instead_of_ending_silently(flag):
    fetch = scripted(body(["a", "b"], flag), body(["c"], False))
    with pytest.raises(DecodeError, match="hasMore"):
        await collect(pager(fetch, limit=2))


async def test_a_missing_has_more_on_a_full_page_raises():
    fetch = scripted({"data": [{"id": "a"}, {"id": "b"}]}, body(["c"], False))
    with pytest.raises(DecodeError, match="hasMore"):
        await collect(pager(fetch, limit=2))


async def yielded_until_error(p):
    got = []
    with pytest.raises(PaginationError):
        async for item in p:
            got.append(item)
    return got


async def test_a_cursor_cycle_never_yields_an_object_twice():
    # start -> ...A, A -> ...B, B -> ...A again (the first page once more).
    fetch = scripted(
        body(["1", "2", "A"], True), body(["3", "4", "B"], True), body(["1", "2", "A"], True)
    )
    got = await yielded_until_error(pager(fetch, limit=3))
    assert got == ["1", "2", "A", "3", "4", "B"]


async def test_an_overlapping_page_with_a_new_last_id_is_refused_before_the_repeat():
    fetch = scripted(body(["1", "2", "A"], True), body(["2", "3", "B"], True))
    assert await yielded_until_error(pager(fetch, limit=3)) == ["1", "2", "A"]


async def test_a_page_holding_one_object_twice_is_refused():
    fetch = scripted(body(["1", "1"], False))
    assert await yielded_until_error(pager(fetch, limit=2)) == []


async def test_a_page_with_an_id_less_object_anywhere_raises_decode_error():
    fetch = scripted({"hasMore": False, "data": [{"name": "x"}, {"id": "b"}]})
    with pytest.raises(DecodeError):
        await collect(pager(fetch, limit=2))


async def test_the_last_page_asks_only_for_what_max_items_allows():
    fetch = FakeList()
    assert await collect(pager(fetch, limit=10, max_items=13)) == IDS[:13]
    assert [dict(q)["limit"] for q in fetch.queries] == ["10", "3"]


async def test_pages_is_an_async_generator_with_aclose():
    fetch = FakeList()
    pages = pager(fetch, limit=10).pages()
    first = await anext(pages)
    assert first.data == IDS[:10]
    await pages.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(pages)
    assert len(fetch.queries) == 1
