"""Issue 10: errors that pickle, redaction in the error factory, and a limiter bounded in time."""

import asyncio
import pickle

import pytest

from drfulfill import (
    APIConnectionError,
    APITimeoutError,
    Client,
    ConflictError,
    CoordinationError,
    DecodeError,
    DigitalRiverError,
    ErrorDetail,
    KeyReuseError,
    RateLimitError,
    ValidationError,
)
from drfulfill._ratelimit import RateLimiter
from drfulfill.errors import error_from_response, redact, redact_body
from drfulfill.pagination import PaginationError

from .conftest import BASE, KEY, FakeTime, sent, url_pattern

FULFILLMENT = {"id": "ful_1", "orderId": "o1", "createdTime": "2026-01-01T00:00:00Z", "items": []}


# --- pickling --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        DigitalRiverError("plain"),
        ValidationError("limit must be > 0"),
        CoordinationError("redis down"),
        APIConnectionError("reset", sent=False),
        APITimeoutError("slow", sent=True),
        DecodeError("not JSON", text="<html>", request_id="r1"),
        PaginationError("cursor came back", text="{}", request_id="r2"),
        KeyReuseError("other content", key="k", fulfillment_id="ful_9"),
        ConflictError(
            409,
            type="conflict",
            errors=(ErrorDetail(code="order_fulfilled", message="done"),),
            request_id="r3",
            body={"type": "conflict"},
        ),
        RateLimitError(429, retry_after=2.5),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_error_pickles_with_its_attributes(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error) and copy.args == error.args
    assert vars(copy) == vars(error)


# --- redaction -------------------------------------------------------------------------


def test_redact_removes_secrets_and_credentials():
    text = f"key {KEY}; Authorization: Bearer abc.def; proxy: basic dXNlcg== ok"
    assert redact(text, [KEY]) == (
        "key [redacted]; Authorization: Bearer [redacted] proxy: basic [redacted] ok"
    )
    assert redact("nothing here", [KEY, ""]) == "nothing here"


def test_redact_body_walks_keys_and_values():
    body = {KEY: [1, None, {"a": f"x{KEY}"}], "n": 2.5}
    assert redact_body(body, [KEY]) == {"[redacted]": [1, None, {"a": "x[redacted]"}], "n": 2.5}


@pytest.mark.parametrize("status", [400, 429, 500])
def test_a_deeply_nested_error_body_is_kept_as_text(status):
    text = "[" * 50_000 + "]" * 50_000
    error = error_from_response(status, {}, text)
    assert error.body == text and error.errors == ()


def test_an_error_body_json_can_decode_but_too_deep_to_redact_is_kept_as_text():
    # json.loads manages 600 levels; walking them again to redact takes two frames a level.
    text = "[" * 600 + "]" * 600
    error = error_from_response(500, {}, text)
    assert error.body == text and error.errors == ()


def test_the_request_id_header_is_redacted():
    error = error_from_response(500, {"x-dr-requestid": f"id {KEY}"}, "", secrets=[KEY])
    assert error.request_id == "id [redacted]" and KEY not in str(error)


# --- the limiter: bounded by max_wait, cancellation gives slots back -----------------------


async def test_acquire_past_max_wait_raises_at_once_and_gives_the_slot_back():
    t = FakeTime()
    limiter = RateLimiter(10, burst=1, clock=t.clock, sleep=t.sleep)
    for _ in range(30):
        limiter.reserve()  # the next free slot is 3 s away
    with pytest.raises(APITimeoutError) as caught:
        await limiter.acquire(max_wait=1.0)
    assert caught.value.sent is False and t.slept == []
    assert limiter.reserve() == pytest.approx(1003.0)  # the given-back slot, not 3.1 s


async def test_acquire_within_max_wait_sleeps_for_its_slot():
    t = FakeTime()
    limiter = RateLimiter(10, burst=1, clock=t.clock, sleep=t.sleep)
    limiter.reserve()
    await limiter.acquire(max_wait=0.15)
    assert t.slept == [pytest.approx(0.1)]


async def test_a_pause_longer_than_max_wait_raises():
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    await limiter.pause(5)
    with pytest.raises(APITimeoutError):
        await limiter.acquire(max_wait=4.9)
    assert t.slept == []


async def test_cancelled_waiters_give_their_slots_back():
    # 0.1.0: after 500 cancelled waiters the next call waited 19.6 s.
    t = FakeTime()
    hang = asyncio.Event()
    cancelling = [True]

    async def sleep(seconds):
        if cancelling[0]:
            await hang.wait()  # until cancelled
        else:
            await t.sleep(seconds)

    limiter = RateLimiter(25, clock=t.clock, sleep=sleep)
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(500)]
    await asyncio.sleep(0)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    cancelling[0] = False
    await limiter.acquire()
    assert sum(t.slept) < 0.25


async def test_the_funnel_passes_what_is_left_of_the_deadline(mock):
    mock.get(url_pattern("/fulfillments/ful_1"), payload=FULFILLMENT, repeat=True)
    t = FakeTime()
    async with Client(KEY, base_url=BASE, rate_limit=10, deadline=2) as dr:
        limiter = RateLimiter(10, burst=1, clock=t.clock, sleep=t.sleep)
        dr._transport.limiter = limiter
        dr._transport.clock = t.clock
        dr._transport.sleep = t.sleep
        for _ in range(15):
            limiter.reserve()  # 1.5 s of queue: within the deadline
        await dr.fulfillments.retrieve("ful_1")
        assert t.slept == [pytest.approx(1.5)]
        for _ in range(30):
            limiter.reserve()  # 3 s of queue: past it
        with pytest.raises(APITimeoutError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert caught.value.sent is False
    # Not retried either: a retry's wait only brings the deadline closer, not the slot.
    assert len(sent(mock)) == 1 and t.slept == [pytest.approx(1.5)] and dr.stats.retries == 0


async def test_a_key_echoed_in_a_list_page_is_not_in_the_pagers_decode_error(mock):
    # The pager and the converter build DecodeErrors from 2xx bodies without the funnel's
    # secrets at hand: the client's key is redacted there too.
    import re as _re

    from drfulfill import Client, DecodeError

    key = "sk_test_echoed_in_a_page_77"
    mock.get(
        _re.compile(r"^https://api\.test/fulfillments(\?.*)?$"),
        payload={"hasMore": True, "data": [{"echo": f"Bearer {key}", "raw": key}]},
    )
    async with Client(key, base_url="https://api.test", rate_limit=None) as dr:
        with pytest.raises(DecodeError) as caught:
            [f async for f in dr.fulfillments.list()]
    error = caught.value
    assert key not in str(error) and key not in error.text and key not in repr(error)
