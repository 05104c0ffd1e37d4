"""Issue 19, input: client options validated as numbers, CreatedTime at the ends of time,
a bounded shard count, and a status line of 000 that is not a success."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from drfulfill import APIError, Client, CreatedTime, ValidationError
from tests.hostile._server import HostileServer

from .conftest import BASE, KEY

NAN, INF = math.nan, math.inf
MAX_SHARDS = 100  # drfulfill._constants.MAX_SHARDS


# --- Client options: numbers, finite, in range; a string (from the environment) too -----

BAD_OPTIONS = [
    ("timeout", "30"),
    ("timeout", NAN),
    ("timeout", INF),
    ("timeout", 0),
    ("timeout", True),
    ("connect_timeout", "5"),
    ("connect_timeout", NAN),
    ("deadline", NAN),
    ("deadline", INF),
    ("deadline", "120"),
    ("deadline", 0),
    ("deadline", -1),
    ("max_retries", "4"),
    ("max_retries", 2.0),
    ("max_retries", -1),
    ("max_retries", True),
    ("backoff_base", "0.5"),
    ("backoff_base", NAN),
    ("backoff_base", -0.5),
    ("backoff_cap", INF),
    ("backoff_cap", "8"),
    ("max_retry_after", NAN),
    ("max_retry_after", INF),
    ("max_retry_after", "60"),
    ("max_retry_after", -1),
    ("rate_limit", "25"),
    ("rate_limit", NAN),
    ("rate_limit", INF),
    ("rate_limit", 0),
    ("connection_limit", "100"),
    ("connection_limit", 0),
    ("connection_limit", 1.5),
    ("settle", "10"),
    ("settle", INF),
    ("settle", NAN),
    ("max_response_bytes", "1024"),
]


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS, ids=lambda v: repr(v))
def test_a_bad_client_option_is_a_validation_error_naming_it(name, value):
    with pytest.raises(ValidationError, match=name):
        Client(KEY, base_url=BASE, **{name: value})


VIEW_OPTIONS = [
    (name, value)
    for name, value in BAD_OPTIONS
    if name in ("timeout", "connect_timeout", "deadline", "max_retries", "settle")
]


@pytest.mark.parametrize(("name", "value"), VIEW_OPTIONS, ids=lambda v: repr(v))
def test_a_bad_with_options_value_is_a_validation_error_naming_it(name, value):
    dr = Client(KEY, base_url=BASE)
    with pytest.raises(ValidationError, match=name):
        dr.with_options(**{name: value})


def test_good_options_are_still_accepted():
    dr = Client(
        KEY,
        base_url=BASE,
        timeout=None,
        connect_timeout=1,
        deadline=None,
        max_retries=0,
        backoff_base=0,
        backoff_cap=0,
        max_retry_after=0,
        rate_limit=None,
        connection_limit=1,
        settle=0,
    )
    view = dr.with_options(timeout=2.5, deadline=None, max_retries=10, settle=1)
    assert view.retry_policy.max_retries == 10 and view.settle == 1.0
    assert Client(KEY, base_url=BASE, rate_limit=0.5).rate_limit == 0.5


# --- CreatedTime at the ends of datetime's range -----------------------------------------


@pytest.mark.parametrize(
    "bound",
    [
        {"gte": datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))},
        {"gt": datetime.min.replace(tzinfo=timezone(timedelta(minutes=1)))},
        {"lt": datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))},
        {"lte": datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))},
        {"eq": datetime.max.replace(tzinfo=timezone(timedelta(seconds=-1)))},
    ],
    ids=lambda bound: next(iter(bound)),
)
def test_a_bound_outside_utcs_range_is_a_validation_error(bound):
    (name,) = bound
    with pytest.raises(ValidationError, match=f"created_time.{name}"):
        CreatedTime(**bound)


def test_the_ends_of_time_in_utc_itself_are_fine():
    window = CreatedTime(
        gte=datetime.min.replace(tzinfo=timezone.utc),
        lt=datetime.max.replace(tzinfo=timezone(timedelta(hours=5))),
    )
    assert window.to_query()[0] == ("createdTime[gte]", "0001-01-01T00:00:00Z")


async def test_list_with_the_ends_of_time_sends_a_request(mock):
    import re

    mock.get(re.compile(r"^https://api\.test/fulfillments\?.*$"), payload={"data": []}, repeat=True)
    window = CreatedTime(
        gte=datetime.min.replace(tzinfo=timezone.utc), lt=datetime.max.replace(tzinfo=timezone.utc)
    )
    async with Client(KEY, base_url=BASE, rate_limit=None) as dr:
        assert [f async for f in dr.fulfillments.list(created_time=window)] == []
        assert [f async for f in dr.fulfillments.list(created_time=window, shards=4)] == []


# --- shards is bounded ---------------------------------------------------------------------


@pytest.mark.parametrize("shards", [MAX_SHARDS + 1, 10**6])
def test_too_many_shards_is_refused_before_anything_is_computed(shards):
    dr = Client(KEY, base_url=BASE)
    window = CreatedTime(
        gte=datetime(2020, 1, 1, tzinfo=timezone.utc), lt=datetime.now(timezone.utc)
    )
    with pytest.raises(ValidationError, match=f"shards must be .* <= {MAX_SHARDS}"):
        dr.fulfillments.list(created_time=window, shards=shards)


def test_max_shards_is_accepted():
    dr = Client(KEY, base_url=BASE)
    window = CreatedTime(
        gte=datetime(2020, 1, 1, tzinfo=timezone.utc), lt=datetime.now(timezone.utc)
    )
    dr.fulfillments.list(created_time=window, shards=MAX_SHARDS)


# --- a status line of 000 is not a success ---------------------------------------------------


@pytest.mark.parametrize("status", [0, 99])
async def test_a_status_below_100_is_an_api_error(status):
    body = b'{"id": "ful_1", "orderId": "o1", "createdTime": "2026-01-01T00:00:00Z", "items": []}'

    async def respond(request, writer):
        head = f"HTTP/1.1 {status:03d} X\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)

    async with HostileServer(respond) as server:
        async with Client(KEY, base_url=server.url, rate_limit=None, max_retries=0) as dr:
            with pytest.raises(APIError) as caught:
                await dr.fulfillments.retrieve("ful_1")
    assert caught.value.status == status
