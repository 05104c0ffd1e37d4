"""Time-sharded listing: the window split (pure) and the concurrent pager over a fake API."""

import asyncio
import itertools
import random
from contextlib import aclosing
from datetime import datetime, timedelta, timezone

import pytest

from drfulfill import CreatedTime, PaginationError, ServerError, ValidationError
from drfulfill._convert import parse_datetime
from drfulfill._shards import shard_windows, split_window, time_windows
from drfulfill.pagination import AsyncPager

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


class TimedList:
    """DR list semantics over objects with a createdTime (newest first); honours
    ``createdTime[gt|gte|lt|lte]`` and ``startingAfter``. Counts requests in flight."""

    def __init__(self, times, ignore_time=False, fail_on=None):
        # Several objects per second, like DR's whole-second createdTime.
        self.rows = sorted(
            ((t, f"obj_{n:05d}") for n, t in enumerate(times)), key=lambda r: (-r[0], r[1])
        )
        self.ignore_time = ignore_time
        self.fail_on = fail_on
        self.queries = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, query):
        self.queries.append(list(query))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let the other shards start: a yield, not a wait
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        params = dict(query)
        if self.fail_on is not None and self.fail_on(params):
            raise ServerError(503)
        rows = self.rows if self.ignore_time else [r for r in self.rows if self._in(r[0], params)]
        start = 0
        if "startingAfter" in params:
            start = [r[1] for r in rows].index(params["startingAfter"]) + 1
        limit = int(params["limit"])
        page = rows[start : start + limit]
        return {
            "hasMore": start + limit < len(rows),
            "data": [{"id": i, "createdTime": self.time_text(t)} for t, i in page],
        }

    @staticmethod
    def time_text(seconds):
        return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def _in(seconds, params):
        moment = at(seconds)
        checks = {
            "gte": lambda b: moment >= b,
            "gt": lambda b: moment > b,
            "lt": lambda b: moment < b,
            "lte": lambda b: moment <= b,
        }
        for op, check in checks.items():
            raw = params.get(f"createdTime[{op}]")
            if raw is not None and not check(parse_datetime(raw)):
                return False
        return True


def sharded(fetch, created_time, shards, **kwargs):
    _, windows = time_windows(created_time, shards)
    return AsyncPager(fetch, lambda raw: raw["id"], [], windows=windows, **kwargs)


def times_with_clusters(n, span, seed=0):
    rng = random.Random(seed)
    return [rng.randrange(span) for _ in range(n)]


# --- the split ----------------------------------------------------------------------------


def bounds(window):
    return {key: parse_datetime(value) for key, value in window}


@pytest.mark.parametrize("shards", [1, 2, 3, 7, 8, 64])
@pytest.mark.parametrize("span", [1, 5, 3600, 86_400 * 30 + 17])
def test_sub_windows_partition_the_window(shards, span):
    windows = shard_windows(CreatedTime(gte=at(0), lt=at(span)), shards)
    assert 1 <= len(windows) <= shards
    assert bounds(windows[0])["createdTime[gte]"] == at(0)
    assert bounds(windows[-1])["createdTime[lt]"] == at(span)
    for before, after in itertools.pairwise(windows):
        cut = bounds(before)["createdTime[lt]"]
        assert bounds(after)["createdTime[gte]"] == cut  # no gap, no overlap
        assert at(0) < cut < at(span)
        if span >= shards:
            assert cut.microsecond == 0  # whole seconds when the window allows
    cuts = [bounds(w)["createdTime[lt]"] for w in windows]
    assert cuts == sorted(set(cuts))


def test_the_outer_operators_are_the_callers():
    windows = shard_windows(CreatedTime(gt=at(0), lte=at(100)), 4)
    assert [key for key, _ in windows[0]] == ["createdTime[gt]", "createdTime[lt]"]
    assert [key for key, _ in windows[-1]] == ["createdTime[gte]", "createdTime[lte]"]
    assert [len(w) for w in windows] == [2, 2, 2, 2]


def test_a_window_shorter_than_the_shards_gets_fewer_distinct_sub_windows():
    windows = shard_windows(CreatedTime(gte=at(0), lt=at(0) + timedelta(microseconds=3)), 8)
    assert len(windows) == 3


@pytest.mark.parametrize(
    "created_time",
    [
        None,
        CreatedTime(gte=at(0)),
        CreatedTime(lt=at(10)),
        CreatedTime(gte=at(0), gt=at(1), lt=at(10)),
        CreatedTime(gte=at(0), lt=at(10), lte=at(9)),
        CreatedTime(eq=at(0)),
        CreatedTime(gte=at(10), lt=at(10)),
        CreatedTime(gte=at(11), lt=at(10)),
    ],
)
def test_shards_need_one_lower_and_one_upper_bound_in_order(created_time):
    with pytest.raises(ValidationError):
        time_windows(created_time, 4)


@pytest.mark.parametrize("shards", [0, -1, True, 2.0, "4"])
def test_shards_must_be_a_positive_int(shards):
    with pytest.raises(ValidationError):
        time_windows(CreatedTime(gte=at(0), lt=at(10)), shards)


@pytest.mark.parametrize(
    "kwargs", [{"starting_after": "x"}, {"ending_before": "x"}, {"max_items": 10}]
)
def test_shards_refuse_cursors_and_max_items(kwargs):
    fetch = TimedList([])
    with pytest.raises(ValidationError):
        sharded(fetch, CreatedTime(gte=at(0), lt=at(10)), 4, **kwargs)
    assert fetch.queries == []


# --- the concurrent pager -------------------------------------------------------------------


@pytest.mark.parametrize("shards", [1, 2, 8])
async def test_every_object_exactly_once(shards):
    times = times_with_clusters(500, 1000)  # clusters of objects in one second
    fetch = TimedList(times)
    window = CreatedTime(gte=at(0), lt=at(1000))
    got = [item async for item in sharded(fetch, window, shards, limit=7)]
    assert len(got) == len(set(got)) == 500
    assert set(got) == {i for _, i in fetch.rows}


async def test_objects_outside_the_window_are_not_listed():
    fetch = TimedList(list(range(100)))
    got = [item async for item in sharded(fetch, CreatedTime(gt=at(10), lte=at(20)), 3, limit=4)]
    expected = {i for t, i in fetch.rows if 10 < t <= 20}
    assert len(got) == len(expected) and set(got) == expected


async def test_shards_are_paged_concurrently():
    fetch = TimedList(times_with_clusters(200, 100))
    await collect(sharded(fetch, CreatedTime(gte=at(0), lt=at(100)), 8, limit=10))
    assert fetch.max_in_flight == 8
    first_queries = fetch.queries[:8]
    assert len({tuple(q) for q in first_queries}) == 8 and all(
        ("startingAfter" not in dict(q)) for q in first_queries
    )


async def test_a_server_ignoring_the_windows_raises_instead_of_yielding_twice():
    fetch = TimedList(list(range(30)), ignore_time=True)
    got = []
    with pytest.raises(PaginationError):
        async for item in sharded(fetch, CreatedTime(gte=at(0), lt=at(30)), 3, limit=10):
            got.append(item)
    assert len(got) == len(set(got))


async def test_break_cancels_every_pending_shard():
    fetch = TimedList(times_with_clusters(200, 100))
    async with aclosing(aiter(sharded(fetch, CreatedTime(gte=at(0), lt=at(100)), 4))) as items:
        async for _ in items:
            fetch.release.clear()  # the shards' next pages now hang
            for _ in range(10):
                await asyncio.sleep(0)
            break
    assert fetch.in_flight == 0 and fetch.cancelled >= 1
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_failing_shard_raises_and_the_others_are_cancelled():
    fetch = TimedList(
        times_with_clusters(200, 100),
        fail_on=lambda params: (
            params.get("createdTime[gte]") != "2024-01-01T00:00:00Z" and "startingAfter" in params
        ),
    )
    with pytest.raises(ServerError):
        await collect(sharded(fetch, CreatedTime(gte=at(0), lt=at(100)), 4, limit=5))
    assert fetch.in_flight == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_an_empty_sharded_listing_gives_one_empty_page():
    pages = [p async for p in sharded(TimedList([]), CreatedTime(gte=at(0), lt=at(9)), 3).pages()]
    assert len(pages) == 1 and pages[0].data == [] and pages[0].has_more is False


async def collect(p):
    return [item async for item in p]


async def test_every_shards_next_request_is_running_before_a_page_is_decoded():
    fetch = TimedList(times_with_clusters(400, 100))
    requests_when_decoding = []

    def decode(raw):
        requests_when_decoding.append(len(fetch.queries))
        return raw["id"]

    _, windows = time_windows(CreatedTime(gte=at(0), lt=at(100)), 4)
    pager = AsyncPager(fetch, decode, [], windows=windows, limit=10)
    await collect(pager)
    # The first 4 pages arrive together: their 4 follow-up requests run before any decoding.
    assert requests_when_decoding[0] == 8


# --- a dense shard splits again --------------------------------------------------------------


def test_split_window_halves_what_is_left_at_a_whole_second():
    window = [("createdTime[gte]", stamp_text(0)), ("createdTime[lt]", stamp_text(100))]
    older, rest = split_window(window, at(61))  # objects down to t=61 already listed
    assert older == [("createdTime[gte]", stamp_text(0)), ("createdTime[lt]", stamp_text(30))]
    assert rest == [("createdTime[gte]", stamp_text(30)), ("createdTime[lt]", stamp_text(100))]


def test_split_window_keeps_the_callers_operators_and_refuses_tiny_remainders():
    window = [("createdTime[gt]", stamp_text(0)), ("createdTime[lte]", stamp_text(100))]
    older, rest = split_window(window, at(10))
    assert older[0] == ("createdTime[gt]", stamp_text(0)) and rest[-1] == window[-1]
    assert split_window(window, at(1)) is None
    assert split_window([("createdTime[lt]", stamp_text(5))], at(3)) is None


def stamp_text(seconds):
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_dense_shard_splits_when_others_finish_and_still_yields_each_object_once():
    # Every object in the newest eighth of the window: 7 of 8 shards are empty at once.
    rng = random.Random(1)
    fetch = TimedList([rng.randrange(875, 1000) for _ in range(600)])
    got = await collect(sharded(fetch, CreatedTime(gte=at(0), lt=at(1000)), 8, limit=10))
    assert len(got) == len(set(got)) == 600
    windows = {tuple((k, v) for k, v in q if k.startswith("createdTime")) for q in fetch.queries}
    assert len(windows) > 8  # the dense shard was split
    assert fetch.max_in_flight <= 8  # never more requests at once than shards
    later = fetch.queries[8:]
    assert sum("startingAfter" not in dict(q) for q in later) > 0  # new sub-windows started
