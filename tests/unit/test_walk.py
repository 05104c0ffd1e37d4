"""CursorWalk without I/O: DR's newest-first order lets it refuse repeats in bounded memory."""

from datetime import datetime, timedelta, timezone

import pytest

from drfulfill import PaginationError
from drfulfill._walk import CursorWalk, time_key

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def stamp(seconds):
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def obj(n, seconds):
    return {"id": f"o{n}", "createdTime": stamp(seconds)}


def walk(window=(), backward=False, limit=10, unkeyed=None):
    return CursorWalk(
        lambda raw: raw["id"],
        [("orderId", "o1")],
        window=list(window),
        limit=limit,
        max_items=None,
        cursor=None,
        backward=backward,
        unkeyed=set() if unkeyed is None else unkeyed,
    )


def feed(w, *pages):
    """Read each page (a list of objects, newest first, hasMore true) and decode it."""
    out = []
    for objects in pages:
        assert w.next_query() is not None
        raw = w.read({"hasMore": True, "data": objects})
        out.extend(w.page(raw).data)
    return out


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000000"),
        ("2024-01-01T00:00:00.25Z", "2024-01-01T00:00:00.250000"),
        ("2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00.000000"),
        ("2023-12-31T19:00:00-05:00", "2024-01-01T00:00:00.000000"),
        ("not a time", None),
        (None, None),
        (1704067200, None),
    ],
)
def test_time_keys_sort_in_time_order_whatever_the_form(text, key):
    assert time_key(text) == key


def test_only_the_ids_at_the_frontier_are_kept():
    w = walk()
    # 50 pages of 10, three objects a second, newest first.
    n = 0
    for _ in range(50):
        objects = []
        for _ in range(10):
            objects.append(obj(n, 100_000 - n // 3))
            n += 1
        feed(w, objects)
        assert w.tracked_ids <= 3  # ids sharing the oldest second so far, never the listing


def test_objects_without_a_readable_created_time_are_all_kept():
    w = walk()
    feed(w, [{"id": f"x{n}"} for n in range(10)], [{"id": f"y{n}"} for n in range(10)])
    assert w.tracked_ids == 20
    with pytest.raises(PaginationError):
        feed(w, [{"id": "x3"}])


def test_a_page_that_goes_back_in_time_is_refused_before_anything_of_it_is_yielded():
    w = walk()
    feed(w, [obj(1, 30), obj(2, 20)])
    with pytest.raises(PaginationError, match="went back"):
        feed(w, [obj(9, 19), obj(1, 30)])  # a cursor cycle back to the first page


def test_a_repeat_at_the_frontier_second_is_refused():
    w = walk()
    feed(w, [obj(1, 30), obj(2, 20), obj(3, 20)])
    with pytest.raises(PaginationError, match="again"):
        feed(w, [obj(3, 20), obj(4, 10)])


def test_ties_at_the_frontier_from_several_pages_are_fine():
    w = walk()
    assert feed(w, [obj(1, 20), obj(2, 20)], [obj(3, 20), obj(4, 20)], [obj(5, 10)]) == [
        "o1",
        "o2",
        "o3",
        "o4",
        "o5",
    ]


def test_backward_walks_expect_oldest_first():
    w = walk(backward=True)
    # read() reverses a backward page (DR sends it newest first), so travel is oldest first.
    feed(w, [obj(2, 20), obj(1, 10)], [obj(4, 40), obj(3, 30)])
    with pytest.raises(PaginationError):
        feed(w, [obj(5, 5)])


@pytest.mark.parametrize(
    ("window", "seconds"),
    [
        ([("createdTime[gte]", stamp(10))], 9),
        ([("createdTime[gt]", stamp(10))], 10),
        ([("createdTime[lt]", stamp(10))], 10),
        ([("createdTime[lte]", stamp(10))], 11),
        ([("createdTime[gte]", "2024-01-01T00:00:10.5Z")], 10),
    ],
)
def test_an_object_outside_the_shard_window_is_refused(window, seconds):
    with pytest.raises(PaginationError, match="outside"):
        feed(walk(window), [obj(1, seconds)])


def test_objects_inside_the_window_pass_and_the_window_is_sent():
    window = [("createdTime[gte]", stamp(10)), ("createdTime[lt]", stamp(20))]
    w = walk(window)
    assert w.next_query() == [("orderId", "o1"), *window, ("limit", "10")]
    assert feed(w, [obj(1, 19), obj(2, 10)]) == ["o1", "o2"]


def test_walks_of_one_listing_share_the_unkeyed_ids():
    shared = set()
    feed(walk(unkeyed=shared), [{"id": "a"}])
    with pytest.raises(PaginationError):
        feed(walk(unkeyed=shared), [{"id": "a"}])
