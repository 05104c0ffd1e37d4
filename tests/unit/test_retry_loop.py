"""The funnel's retry loop and the safe-create protocol, driven by aioresponses."""

import asyncio
import json
import logging

import aiohttp
import pytest

from drfulfill import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    Client,
    ConflictError,
    DecodeError,
    NotFoundError,
    RateLimitError,
    ServerError,
)

from .conftest import BASE, KEY, sent, url_pattern
from .test_client_wire import FULFILLMENT

GET_URL = BASE + "/fulfillments/ful_1"
CREATE_URL = BASE + "/fulfillments"
ITEMS = [{"item_id": "158140150336", "quantity": 2}]


def error_body(kind, code):
    return {"type": kind, "errors": [{"code": code, "message": f"{code} happened"}]}


async def test_a_503_then_200_on_get_is_retried(dr, mock, sleeps):
    mock.get(GET_URL, status=503, payload=error_body("service_unavailable", "x"))
    mock.get(GET_URL, payload=FULFILLMENT)
    f = await dr.fulfillments.retrieve("ful_1")
    assert f.id == FULFILLMENT["id"]
    assert len(sent(mock)) == 2
    assert dr.stats.retries == 1
    assert sleeps == [0.25]  # base 0.5 * jitter 0.5


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
async def test_get_retries_each_transient_status(dr, mock, status):
    mock.get(GET_URL, status=status)
    mock.get(GET_URL, payload=FULFILLMENT)
    await dr.fulfillments.retrieve("ful_1")
    assert len(sent(mock)) == 2


async def test_retry_after_is_honoured_exactly(dr, mock, sleeps):
    mock.get(
        GET_URL,
        status=429,
        headers={"Retry-After": "3"},
        payload=error_body("too_many_requests", "x"),
    )
    mock.get(GET_URL, payload=FULFILLMENT)
    await dr.fulfillments.retrieve("ful_1")
    assert sleeps == [3.0]
    assert dr.stats.rate_limited == 1


async def test_retry_after_beyond_the_cap_is_raised_at_once(mock, sleeps):
    mock.get(GET_URL, status=429, headers={"Retry-After": "120"})
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, max_retry_after=60) as dr:
        dr._transport.sleep = sleeps
        with pytest.raises(RateLimitError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert caught.value.retry_after == 120
    assert sleeps == [] and len(sent(mock)) == 1


async def test_a_429_pauses_the_shared_limiter(mock, sleeps):
    mock.get(GET_URL, status=429, headers={"Retry-After": "2"})
    mock.get(GET_URL, payload=FULFILLMENT)
    async with Client(KEY, base_url=BASE, rate_limit=1000) as dr:
        dr._transport.sleep = sleeps
        limiter = dr._transport.limiter
        paused = []

        async def pause(seconds):
            paused.append(seconds)

        limiter.pause = pause
        await dr.fulfillments.retrieve("ful_1")
    assert paused == [2.0]


async def test_retries_stop_after_max_retries(mock, sleeps):
    for _ in range(5):
        mock.get(GET_URL, status=503)
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, max_retries=2) as dr:
        dr._transport.sleep = sleeps
        with pytest.raises(ServerError):
            await dr.fulfillments.retrieve("ful_1")
    assert len(sent(mock)) == 3 and len(sleeps) == 2


async def test_max_retries_zero_is_a_single_attempt(mock):
    mock.get(GET_URL, status=503)
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, max_retries=0) as dr:
        with pytest.raises(ServerError):
            await dr.fulfillments.retrieve("ful_1")
    assert len(sent(mock)) == 1


async def test_the_deadline_bounds_all_attempts(mock, sleeps):
    for _ in range(5):
        mock.get(GET_URL, status=503)
    async with Client(
        KEY, base_url=BASE, rate_limit=None, settle=0, deadline=10, backoff_base=4
    ) as dr:
        fake_now = [0.0]
        dr._transport.clock = lambda: fake_now[0]
        dr._transport.random = lambda: 0.999

        async def sleep(seconds):
            sleeps.append(seconds)
            fake_now[0] += seconds

        dr._transport.sleep = sleep
        with pytest.raises(ServerError):
            await dr.fulfillments.retrieve("ful_1")
    # waits ~4 then ~8: the second would pass the 10 s deadline, so it is not taken
    assert len(sleeps) == 1 and len(sent(mock)) == 2


async def test_non_retryable_errors_are_raised_at_once(dr, mock):
    mock.get(GET_URL, status=404, payload=error_body("not_found", "not_found"))
    with pytest.raises(NotFoundError):
        await dr.fulfillments.retrieve("ful_1")
    assert len(sent(mock)) == 1


async def test_timeouts_are_retried_for_reads(dr, mock):
    mock.get(GET_URL, exception=asyncio.TimeoutError())
    mock.get(GET_URL, payload=FULFILLMENT)
    await dr.fulfillments.retrieve("ful_1")
    assert len(sent(mock)) == 2


async def test_connection_errors_become_sdk_errors(mock):
    mock.get(GET_URL, exception=aiohttp.ServerDisconnectedError())
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, max_retries=0) as dr:
        with pytest.raises(APIConnectionError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert caught.value.sent is True
    mock.get(GET_URL, exception=asyncio.TimeoutError())
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, max_retries=0) as dr:
        with pytest.raises(APITimeoutError):
            await dr.fulfillments.retrieve("ful_1")


async def test_a_2xx_that_is_not_json_is_a_decode_error(dr, mock):
    mock.get(GET_URL, body="<html>oops</html>", headers={"x-dr-requestid": "rq9"})
    with pytest.raises(DecodeError) as caught:
        await dr.fulfillments.retrieve("ful_1")
    assert caught.value.text == "<html>oops</html>" and caught.value.request_id == "rq9"


async def test_retries_are_logged_without_the_key(dr, mock, caplog):
    mock.get(GET_URL, status=503, headers={"x-dr-requestid": "req-503"})
    mock.get(GET_URL, payload=FULFILLMENT)
    with caplog.at_level(logging.WARNING, logger="drfulfill"):
        await dr.fulfillments.retrieve("ful_1")
    (record,) = caplog.records
    message = record.getMessage()
    assert "GET /fulfillments/ful_1" in message and "attempt 1" in message and "req-503" in message
    assert KEY not in message


# --- creates -------------------------------------------------------------------------


async def test_a_create_that_gets_500_is_not_retried_without_the_protocol(mock):
    mock.post(CREATE_URL, status=500)
    mock.post(CREATE_URL, status=201, payload=FULFILLMENT)
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, idempotency_field=None) as dr:
        with pytest.raises(ServerError):
            await dr.fulfillments.create(order_id="231388420336", items=ITEMS)
    assert len(sent(mock)) == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"exception": asyncio.TimeoutError()},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"status": 502},
        {"status": 504},
    ],
)
async def test_ambiguous_create_failures_are_raised_without_the_protocol(mock, failure):
    mock.post(CREATE_URL, **failure)
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, idempotency_field=None) as dr:
        with pytest.raises((ServerError, APIConnectionError)):
            await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert len(sent(mock)) == 1


async def test_a_create_is_retried_after_429(dr, mock, sleeps):
    mock.post(CREATE_URL, status=429, headers={"Retry-After": "1"})
    mock.post(CREATE_URL, status=201, payload=FULFILLMENT)
    await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert sleeps == [1.0] and len(sent(mock)) == 2


async def test_a_create_is_retried_after_a_connect_failure(dr, mock):
    connect_error = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("api.test", 443, True, True, None, None, None),
        OSError(111, "refused"),
    )
    mock.post(CREATE_URL, exception=connect_error)
    mock.post(CREATE_URL, status=201, payload=FULFILLMENT)
    await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert len(sent(mock)) == 2


def _key_of(mock):
    (_, _, kwargs), *_ = [c for c in sent(mock) if c[0] == "POST"]
    return json.loads(kwargs["data"])["metadata"]["drfulfillKey"]


async def test_safe_create_finds_an_applied_create_instead_of_repeating_it(dr, mock):
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []})  # key: new
    mock.post(CREATE_URL, status=500)
    created = {**FULFILLMENT, "metadata": {"drfulfillKey": "key-1"}}
    other = {**FULFILLMENT, "id": "ful_other", "metadata": {"drfulfillKey": "someone-else"}}
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": [other, created]})
    f = await dr.fulfillments.create(order_id="231388420336", items=ITEMS, key="key-1")
    assert f.id == FULFILLMENT["id"]
    assert sorted(c[0] for c in sent(mock)) == ["GET", "GET", "POST"]
    gets = [c for c in sent(mock) if c[0] == "GET"]
    assert gets[0][1].query["orderId"] == "231388420336"
    assert dr.stats.reconciled == 1


async def test_safe_create_resends_when_the_create_was_not_applied(dr, mock):
    mock.post(CREATE_URL, exception=asyncio.TimeoutError())
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []}, repeat=True)
    mock.post(CREATE_URL, status=201, payload=FULFILLMENT)
    f = await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert f.id == FULFILLMENT["id"]
    posts = [c for c in sent(mock) if c[0] == "POST"]
    assert len(posts) == 2
    keys = {json.loads(kwargs["data"])["metadata"]["drfulfillKey"] for _, _, kwargs in posts}
    assert len(keys) == 1  # the resend carries the same key
    assert dr.stats.recreated == 1


async def test_safe_create_after_409_returns_what_an_earlier_attempt_made(dr, mock):
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []})  # key: new
    mock.post(CREATE_URL, status=409, payload=error_body("conflict", "order_fulfilled"))
    mock.get(
        url_pattern("/fulfillments"),
        payload={"hasMore": False, "data": [{**FULFILLMENT, "metadata": {"drfulfillKey": "k9"}}]},
    )
    f = await dr.fulfillments.create(order_id="231388420336", items=ITEMS, key="k9")
    assert f.id == FULFILLMENT["id"]


async def test_a_genuine_409_is_raised(dr, mock):
    mock.post(CREATE_URL, status=409, payload=error_body("conflict", "order_fulfilled"))
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []})
    with pytest.raises(ConflictError) as caught:
        await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert caught.value.code == "order_fulfilled"
    assert len([c for c in sent(mock) if c[0] == "POST"]) == 1


async def test_a_400_is_raised_without_reconciling(dr, mock):
    mock.post(CREATE_URL, status=400, payload=error_body("bad_request", "invalid_parameter"))
    with pytest.raises(BadRequestError):
        await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert [c[0] for c in sent(mock)] == ["POST"]


async def test_when_the_lookup_fails_the_create_is_not_resent(mock, sleeps):
    mock.post(CREATE_URL, status=503)
    mock.get(url_pattern("/fulfillments"), status=500, repeat=True)
    mock.post(CREATE_URL, status=201, payload=FULFILLMENT)
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, max_retries=1) as dr:
        dr._transport.sleep = sleeps
        with pytest.raises(ServerError) as caught:
            await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert caught.value.status == 503  # the create's own failure, with the lookup's as cause
    assert len([c for c in sent(mock) if c[0] == "POST"]) == 1


async def test_safe_create_gives_up_after_max_retries(mock, sleeps):
    mock.post(CREATE_URL, status=503, repeat=True)
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []}, repeat=True)
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, max_retries=2) as dr:
        dr._transport.sleep = sleeps
        with pytest.raises(ServerError):
            await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert len([c for c in sent(mock) if c[0] == "POST"]) == 3


# --- review regressions: one budget per create, lookup before resend, paused limiter ---


def _fake_clock(dr, sleeps):
    """Time that moves only when the retry loop sleeps."""
    now = [0.0]
    dr._transport.clock = lambda: now[0]

    async def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    dr._transport.sleep = sleep
    return now


async def test_a_not_found_is_believed_only_after_the_settle_window(mock, sleeps):
    # DR was still processing the timed-out create at the first lookups; it lands 5 s
    # later. Lookups go on across the settle window instead of re-sending at once.
    mock.post(CREATE_URL, exception=asyncio.TimeoutError())
    for _ in range(3):  # before the first send (a caller's key), at once, 2 s later
        mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []})
    landed = {**FULFILLMENT, "metadata": {"drfulfillKey": "slow"}}
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": [landed]})
    mock.post(CREATE_URL, status=201, payload=FULFILLMENT)
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=10) as dr:
        now = _fake_clock(dr, sleeps)
        f = await dr.fulfillments.create(order_id="231388420336", items=ITEMS, key="slow")
    assert f.id == FULFILLMENT["id"]
    assert sorted(c[0] for c in sent(mock)) == ["GET", "GET", "GET", "GET", "POST"]
    assert sleeps == [2.0, 2.0] and now[0] == 4.0
    assert dr.stats.reconciled == 1 and dr.stats.recreated == 0


async def test_a_resend_waits_for_lookups_spanning_the_whole_settle_window(mock, sleeps):
    mock.post(CREATE_URL, status=504)
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []}, repeat=True)
    mock.post(CREATE_URL, status=201, payload=FULFILLMENT)
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=3) as dr:
        now = _fake_clock(dr, sleeps)
        await dr.fulfillments.create(order_id="231388420336", items=ITEMS)
    calls = [c[0] for c in sent(mock)]
    assert calls.count("POST") == 2 and calls.count("GET") >= 2
    assert now[0] >= 3.0  # the last lookup started after the window had passed
    assert dr.stats.recreated == 1


async def test_safe_create_has_one_attempt_budget_for_429s_and_ambiguous_failures(mock, sleeps):
    # 429s used to be retried by an inner loop inside each protocol attempt:
    # (max_retries + 1) ** 2 sends in all.
    for _ in range(5):
        mock.post(CREATE_URL, status=429, headers={"Retry-After": "0"})
        mock.post(CREATE_URL, status=503)
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []}, repeat=True)
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0, max_retries=2) as dr:
        dr._transport.sleep = sleeps
        with pytest.raises(RateLimitError):
            await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert len([c for c in sent(mock) if c[0] == "POST"]) == 3


async def test_safe_create_keeps_to_one_deadline(mock, sleeps):
    for _ in range(5):
        mock.post(CREATE_URL, status=429, headers={"Retry-After": "4"})
        mock.post(CREATE_URL, status=503)
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []}, repeat=True)
    async with Client(
        KEY, base_url=BASE, rate_limit=None, settle=0, max_retries=20, deadline=10
    ) as dr:
        dr._transport.random = lambda: 0.5
        now = _fake_clock(dr, sleeps)
        with pytest.raises((RateLimitError, ServerError)):
            await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert now[0] <= 10  # it used to start a fresh 10 s deadline for every resend


async def test_safe_create_lookup_is_cut_to_the_create_deadline(mock, sleeps):
    mock.post(CREATE_URL, status=429, headers={"Retry-After": "8"})
    mock.post(CREATE_URL, status=503)
    mock.get(url_pattern("/fulfillments"), status=500, repeat=True)
    async with Client(
        KEY, base_url=BASE, rate_limit=None, deadline=10, backoff_base=4, max_retries=9
    ) as dr:
        dr._transport.random = lambda: 0.5
        now = _fake_clock(dr, sleeps)
        with pytest.raises(ServerError) as caught:
            await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert caught.value.status == 503  # the create's failure; the lookup's is its cause
    assert now[0] <= 10
    assert len([c for c in sent(mock) if c[0] == "GET"]) == 1


async def test_a_resend_after_a_5xx_honours_its_retry_after(dr, mock, sleeps):
    mock.post(CREATE_URL, status=503, headers={"Retry-After": "2"})
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []}, repeat=True)
    mock.post(CREATE_URL, status=201, payload=FULFILLMENT)
    await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert sleeps == [2.0]


async def test_a_limiter_paused_beyond_the_cap_fails_calls_at_once(mock, sleeps):
    mock.get(GET_URL, payload=FULFILLMENT)
    async with Client(KEY, base_url=BASE, rate_limit=1000, max_retry_after=60) as dr:
        dr._transport.sleep = sleeps
        await dr._transport.limiter.pause(120)  # e.g. DR's documented "Retry-After: 120"
        with pytest.raises(RateLimitError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert 119 < caught.value.retry_after <= 120
    assert sent(mock) == [] and sleeps == []


async def test_an_infinite_retry_after_does_not_pause_the_client_forever(mock, sleeps):
    mock.get(GET_URL, status=429, headers={"Retry-After": "inf"})
    mock.get(GET_URL, payload=FULFILLMENT)
    async with Client(KEY, base_url=BASE, rate_limit=1000) as dr:
        dr._transport.sleep = sleeps
        dr._transport.random = lambda: 0.5
        await dr.fulfillments.retrieve("ful_1")
        assert await dr._transport.limiter.paused_for() == 0
    assert sleeps == [0.25]


@pytest.mark.parametrize("bad_id", [".", ".."])
async def test_dot_segment_ids_are_refused_before_any_request(dr, mock, bad_id):
    from drfulfill import ValidationError

    with pytest.raises(ValidationError, match="fulfillment_id"):
        await dr.fulfillments.update(bad_id, tracking_number="1")
    with pytest.raises(ValidationError, match="return_id"):
        await dr.fulfillment_returns.retrieve(bad_id)
    assert sent(mock) == []


async def test_an_empty_api_key_is_refused_before_any_request(mock, monkeypatch):
    from drfulfill import ValidationError

    monkeypatch.delenv("DR_API_KEY", raising=False)
    async with Client("", base_url=BASE, rate_limit=None) as dr:
        with pytest.raises(ValidationError, match="api_key"):
            await dr.fulfillments.retrieve("ful_1")
    assert sent(mock) == []


async def test_a_create_whose_2xx_body_is_unreadable_is_found_by_its_key(dr, mock):
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []})  # key: new
    mock.post(CREATE_URL, status=201, body="<html>proxy</html>")
    landed = {**FULFILLMENT, "metadata": {"drfulfillKey": "k-html"}}
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": [landed]})
    f = await dr.fulfillments.create(order_id="231388420336", items=ITEMS, key="k-html")
    assert f.id == FULFILLMENT["id"]
    assert sorted(c[0] for c in sent(mock)) == ["GET", "GET", "POST"]


async def test_an_unreadable_2xx_create_not_found_is_raised_not_resent(dr, mock):
    mock.post(CREATE_URL, status=201, body="<html>proxy</html>")
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []}, repeat=True)
    with pytest.raises(DecodeError):
        await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert [c[0] for c in sent(mock)] == ["POST", "GET"]


async def test_a_2xx_without_an_id_is_not_a_create_and_is_found_by_key(dr, mock):
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []})  # key: new
    mock.post(CREATE_URL, status=202, payload={"status": "queued"})
    landed = {**FULFILLMENT, "metadata": {"drfulfillKey": "k-queued"}}
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": [landed]})
    f = await dr.fulfillments.create(order_id="231388420336", items=ITEMS, key="k-queued")
    assert f.id == FULFILLMENT["id"]
    assert len([c for c in sent(mock) if c[0] == "POST"]) == 1


async def test_a_2xx_without_an_id_not_found_is_a_decode_error_never_resent(dr, mock):
    mock.post(CREATE_URL, status=202, payload={"status": "queued"})
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": []}, repeat=True)
    with pytest.raises(DecodeError):
        await dr.fulfillments.create(order_id="o1", items=ITEMS)
    assert len([c for c in sent(mock) if c[0] == "POST"]) == 1
