"""Property-based: whatever a list response holds, the page reader raises only drfulfill
errors, and an honest listing is yielded whole, each object once, however it is paged."""

import pytest

from drfulfill import DigitalRiverError
from drfulfill._walk import CursorWalk

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
given, settings = hypothesis.given, hypothesis.settings

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
objects = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(min_size=1, max_size=6), json_values),
        "createdTime": st.one_of(
            st.text(max_size=25),
            st.sampled_from(
                ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2023-12-31T23:59:59.5Z"]
            ),
            json_values,
        ),
    },
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "hasMore": st.one_of(st.booleans(), json_values),
        "data": st.one_of(st.lists(objects, max_size=6), json_values),
    },
)


def walk(backward=False, window=()):
    return CursorWalk(
        lambda raw: raw,
        [],
        window=list(window),
        limit=5,
        max_items=None,
        cursor=None,
        backward=backward,
        unkeyed=set(),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(bodies, min_size=1, max_size=4), st.booleans())
def test_only_drfulfill_errors_escape_the_page_reader(pages, backward):
    w = walk(backward, [("createdTime[gte]", "2024-01-01T00:00:00Z")])
    try:
        for body in pages:
            if w.next_query() is None:
                break
            raw = w.read(body)
            if raw is not None:
                w.page(raw)
    except DigitalRiverError:
        pass


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=20), min_size=0, max_size=60),
    st.integers(min_value=1, max_value=7),
)
def test_an_honest_listing_is_yielded_whole_and_once(seconds, limit):
    # Newest first, ties broken by id, as DR and the emulator order them.
    rows = sorted(
        (
            {"id": f"o{n}", "createdTime": f"2024-01-01T00:00:{s:02d}Z"}
            for n, s in enumerate(seconds)
        ),
        key=lambda r: (r["createdTime"], r["id"]),
        reverse=True,
    )
    ids = [r["id"] for r in rows]
    w = CursorWalk(
        lambda raw: raw["id"],
        [],
        limit=limit,
        max_items=None,
        cursor=None,
        backward=False,
        unkeyed=set(),
    )
    got = []
    while (query := w.next_query()) is not None:
        after = dict(query).get("startingAfter")
        start = ids.index(after) + 1 if after else 0
        page = rows[start : start + limit]
        raw = w.read({"hasMore": start + limit < len(rows), "data": page})
        if raw is None:
            break
        got.extend(w.page(raw).data)
    assert got == ids
