"""Review fixes: a resume token's check digits detect damage, not forgery, so what a token
says is validated: an edited (and re-checksummed) token can only resume its own listing."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from drfulfill import CreatedTime, ValidationError
from drfulfill._datetimes import format_datetime, parse_datetime
from drfulfill._resume import _check
from drfulfill._shards import time_windows
from drfulfill.pagination import AsyncPager

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
FILTERS = [("orderId", "ord_mine")]


class FakeList:
    """A list endpoint over ``n`` objects, newest first, one a second from T0; it records
    every query it is sent."""

    def __init__(self, n: int) -> None:
        self.rows = [(f"o{i:03d}", T0 + timedelta(seconds=n - i)) for i in range(n)]
        self.queries: list[list[tuple[str, str]]] = []

    async def __call__(self, query):
        self.queries.append(list(query))
        params = dict(query)
        rows = [row for row in self.rows if self._within(row[1], query)]
        ids = [object_id for object_id, _ in rows]
        limit = int(params["limit"])
        if "endingBefore" in params:
            end = ids.index(params["endingBefore"])
            page = rows[max(0, end - limit) : end]
            more = end - limit > 0
        else:
            start = ids.index(params["startingAfter"]) + 1 if "startingAfter" in params else 0
            page = rows[start : start + limit]
            more = start + limit < len(rows)
        return {
            "hasMore": more,
            "data": [{"id": i, "createdTime": format_datetime(t)} for i, t in page],
        }

    @staticmethod
    def _within(moment, query):
        checks = {
            "createdTime[gte]": lambda bound: moment >= bound,
            "createdTime[gt]": lambda bound: moment > bound,
            "createdTime[lt]": lambda bound: moment < bound,
            "createdTime[lte]": lambda bound: moment <= bound,
        }
        return all(checks[name](parse_datetime(value)) for name, value in query if name in checks)


def pager(fetch, **kwargs):
    return AsyncPager(fetch, lambda raw: raw["id"], FILTERS, scope="fulfillments", **kwargs)


WINDOW = CreatedTime(gte=T0 + timedelta(seconds=1), lte=T0 + timedelta(seconds=40))


def sharded(fetch, **kwargs):
    _, windows = time_windows(WINDOW, 4)
    return pager(fetch, windows=windows, **kwargs)


def body_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def forge(body):
    """A token of ``body`` with a correct check: what anyone can make."""
    text = json.dumps(body, separators=(",", ":")).encode("ascii")
    payload = base64.urlsafe_b64encode(text).decode("ascii").rstrip("=")
    return f"drf1.{payload}.{_check(payload)}"


async def items(listing):
    return [item async for item in listing]


async def first_token(listing):
    page = await listing
    assert page.resume_token is not None
    return page.resume_token


# --- a genuine token still resumes ------------------------------------------------------


@pytest.mark.parametrize("backward", [False, True])
async def test_a_genuine_token_resumes_exactly_after_its_page(backward):
    fetch = FakeList(9)
    kwargs = {"ending_before": "o008"} if backward else {}
    every = await items(pager(fetch, limit=100, **kwargs))
    token = await first_token(pager(fetch, limit=3, **kwargs))
    assert forge(body_of(token)) == token  # forge() writes what encode_token writes
    assert await items(pager(fetch, limit=3, resume_token=token)) == every[3:]


async def test_every_genuine_token_of_a_sharded_listing_is_taken():
    fetch = FakeList(50)
    every = set(await items(sharded(fetch, limit=100)))
    pages = [page async for page in sharded(fetch, limit=3).pages()]
    tokens = [page.resume_token for page in pages if page.resume_token is not None]
    assert len(tokens) > 4
    for token in tokens:
        rest = await items(sharded(fetch, limit=3, resume_token=token))
        assert set(rest) <= every and len(rest) == len(set(rest))


# --- an edited token, its check computed again, is refused before any request ------------


async def test_an_extra_order_id_pair_in_an_unsharded_token_is_refused_before_any_request():
    fetch = FakeList(9)
    body = body_of(await first_token(pager(fetch, limit=3)))
    sent = len(fetch.queries)
    body["w"][0][0] = [["orderId", "ord_someone_elses"]]
    with pytest.raises(ValidationError, match="not a resume token of this listing"):
        pager(fetch, limit=3, resume_token=forge(body))
    assert len(fetch.queries) == sent


async def test_an_extra_order_id_pair_in_a_sharded_token_is_refused_before_any_request():
    fetch = FakeList(50)
    body = body_of(await first_token(sharded(fetch, limit=3)))
    sent = len(fetch.queries)
    body["w"][0][0].append(["orderId", "ord_someone_elses"])
    with pytest.raises(ValidationError, match="not a resume token of this listing"):
        sharded(fetch, limit=3, resume_token=forge(body))
    assert len(fetch.queries) == sent


async def test_an_empty_walk_list_is_a_validation_error_not_an_index_error():
    fetch = FakeList(9)
    body = body_of(await first_token(pager(fetch, limit=3)))
    body["w"] = []
    with pytest.raises(ValidationError):
        await items(pager(fetch, limit=3, resume_token=forge(body)))


def shifted(text, seconds):
    return format_datetime(parse_datetime(text) + timedelta(seconds=seconds))


def edits_of_a_sharded_token():
    """Edits of a sharded token's body, each of which this listing could not have written."""

    def widen(body):  # list before the listing's own window
        body["w"][0][0][0] = ["createdTime[gte]", format_datetime(T0 - timedelta(days=365))]

    def overlap(body):  # two walks over the same times: objects listed twice
        body["w"].append([[list(pair) for pair in body["w"][0][0]], None])

    def not_a_bound(body):
        body["w"][0][0][1] = ["createdTime[eq]", body["w"][0][0][1][1]]

    def smuggled(body):  # a value that is no time: more query in the value
        body["w"][0][0][1][1] += "&orderId=x"

    def other_form(body):  # a time, but not in the form the SDK writes
        body["w"][0][0][1][1] = body["w"][0][0][1][1].replace("Z", "+00:00")

    def upside_down(body):
        low, up = body["w"][0][0]
        body["w"][0][0] = [[low[0], up[1]], [up[0], low[1]]]

    def three_pairs(body):
        body["w"][0][0].append(["createdTime[lt]", shifted(body["w"][0][0][1][1], -1)])

    def no_window(body):
        body["w"][0][0] = []

    def backward(body):
        body["b"] = True

    def empty_cursor(body):
        body["w"][0][1] = ""

    def numeric_cursor(body):
        body["w"][0][1] = 7

    def extra_key(body):
        body["x"] = 1

    def no_walks(body):
        body["w"] = []

    return [
        widen,
        overlap,
        not_a_bound,
        smuggled,
        other_form,
        upside_down,
        three_pairs,
        no_window,
        backward,
        empty_cursor,
        numeric_cursor,
        extra_key,
        no_walks,
    ]


@pytest.mark.parametrize("edit", edits_of_a_sharded_token(), ids=lambda edit: edit.__name__)
async def test_an_edited_sharded_token_is_refused_before_any_request(edit):
    fetch = FakeList(50)
    body = body_of(await first_token(sharded(fetch, limit=3)))
    sent = len(fetch.queries)
    edit(body)
    with pytest.raises(ValidationError):
        await items(sharded(fetch, limit=3, resume_token=forge(body)))
    assert len(fetch.queries) == sent


def edits_of_an_unsharded_token():
    def a_window(body):  # a createdTime window the listing does not have (e.g. wider)
        body["w"][0][0] = [["createdTime[gte]", format_datetime(T0)]]

    def two_walks(body):
        body["w"].append([[], None])

    def empty_cursor(body):
        body["w"][0][1] = ""

    def list_cursor(body):
        body["w"][0][1] = ["o001"]

    def direction_text(body):
        body["b"] = "yes"

    return [a_window, two_walks, empty_cursor, list_cursor, direction_text]


@pytest.mark.parametrize("edit", edits_of_an_unsharded_token(), ids=lambda edit: edit.__name__)
async def test_an_edited_unsharded_token_is_refused_before_any_request(edit):
    fetch = FakeList(9)
    body = body_of(await first_token(pager(fetch, limit=3)))
    sent = len(fetch.queries)
    edit(body)
    with pytest.raises(ValidationError):
        await items(pager(fetch, limit=3, resume_token=forge(body)))
    assert len(fetch.queries) == sent


@pytest.mark.parametrize("payload", [[], "text", 1, None, {"l": "x", "b": False}])
def test_a_payload_that_is_not_a_token_body_is_refused(payload):
    with pytest.raises(ValidationError):
        pager(FakeList(1), resume_token=forge(payload))
