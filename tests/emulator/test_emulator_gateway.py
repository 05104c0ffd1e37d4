"""Auth, request ids, the per-key rate limit, fault injection and the request log."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest

from drfulfill.testing import Emulator
from tests.emulator._helpers import LIVE_KEY, TEST_KEY, Api, auth, error_of


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def basic(user: str, password: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ORDER_BODY = {"orderId": "100000010336", "items": [{"itemId": "1", "quantity": 1}]}


@pytest.fixture
def order(emu: Emulator) -> str:
    return emu.add_order("100000010336", items=[{"item_id": "1", "quantity": 50}])


# --------------------------------------------------------------------------- auth


async def test_bearer_and_basic_auth(emu: Emulator, api: Api, order: str) -> None:
    assert (await api.get("/fulfillments")).status == 200
    reply = await api.post("/fulfillments", ORDER_BODY, headers=basic(LIVE_KEY))
    assert (reply.status, reply.body["liveMode"]) == (201, True)
    assert (await api.get("/fulfillments", headers=basic(TEST_KEY, "ignored"))).status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer pk_test_public",
        "Bearer test_key",
        "Token sk_test_x",
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"pk_test_x:").decode(),
    ],
)
async def test_missing_or_bad_key_is_401_everywhere(
    emu: Emulator, order: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with aiohttp.ClientSession() as session:
        api = Api(session, emu.url)
        for method, path in [
            ("GET", "/fulfillments"),
            ("POST", "/fulfillments"),
            ("GET", "/fulfillments/ful_x"),
            ("POST", "/fulfillments/ful_x"),
            ("GET", "/fulfillment-returns"),
            ("POST", "/fulfillment-returns"),
            ("GET", "/fulfillment-returns/ret_x"),
        ]:
            reply = await api.request(method, path, json=ORDER_BODY, headers=headers)
            assert error_of(reply) == (401, "unauthorized", None)
            assert reply.body["type"] == "unauthorized"
    assert len(emu.fulfillments) == 0


# --------------------------------------------------------------------------- request ids


async def test_every_response_carries_a_unique_request_id(emu: Emulator, api: Api) -> None:
    emu.add_fault("GET", "/fulfillment-returns", status=503)
    replies = [
        await api.get("/fulfillments"),
        await api.post("/fulfillments", {}),
        await api.get("/fulfillments/ful_missing"),
        await api.request("GET", "/unknown"),
        await api.request("DELETE", "/fulfillments"),
        await api.get("/fulfillment-returns"),
        await api.get("/fulfillments", headers={"Authorization": "nope"}),
    ]
    assert [r.status for r in replies] == [200, 400, 404, 404, 405, 503, 401]
    request_ids = [r.headers["x-dr-requestid"] for r in replies]
    assert len(set(request_ids)) == len(replies)
    assert [entry.request_id for entry in emu.requests] == request_ids
    assert [entry.status for entry in emu.requests] == [r.status for r in replies]


# --------------------------------------------------------------------------- rate limit


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


async def statuses(api: Api, count: int, key: str = TEST_KEY) -> list[int]:
    return [(await api.get("/fulfillments", headers=auth(key))).status for _ in range(count)]


async def test_dr_default_limits_are_per_key(monotonic: FakeMonotonic) -> None:
    async with (
        Emulator(monotonic=monotonic) as emu,
        aiohttp.ClientSession() as session,
    ):
        api = Api(session, emu.url)
        assert await statuses(api, 26) == [200] * 25 + [429]
        assert await statuses(api, 251, LIVE_KEY) == [200] * 250 + [429]
        assert await statuses(api, 1, "sk_test_other") == [200]
        assert emu.rate_limited == 2


async def test_over_the_limit_is_429_with_retry_after_and_a_block(
    monotonic: FakeMonotonic,
) -> None:
    async with (
        Emulator(rate_limit=2, monotonic=monotonic) as emu,
        aiohttp.ClientSession(headers=auth()) as session,
    ):
        api = Api(session, emu.url)
        assert await statuses(api, 2) == [200, 200]
        reply = await api.get("/fulfillments")
        assert error_of(reply) == (429, "too_many_requests", None)
        assert reply.body["type"] == "too_many_requests"
        assert reply.headers["Retry-After"] == "1"
        monotonic.now += 0.6  # tokens are back, but DR blocks until Retry-After has passed
        reply = await api.get("/fulfillments")
        assert (reply.status, reply.headers["Retry-After"]) == (429, "1")
        monotonic.now += 0.4
        assert await statuses(api, 3) == [200, 200, 429]
        monotonic.now += 1.0
        assert await statuses(api, 1) == [200]  # refilled to 2, one left
        monotonic.now += 0.25  # refills at 2/s: 1.5 tokens
        assert await statuses(api, 2) == [200, 429]
        assert emu.rate_limited == 4


async def test_slow_rates_ask_for_longer_waits(monotonic: FakeMonotonic) -> None:
    async with (
        Emulator(rate_limit=0.25, monotonic=monotonic) as emu,
        aiohttp.ClientSession(headers=auth()) as session,
    ):
        api = Api(session, emu.url)
        assert await statuses(api, 1) == [200]  # a bucket holds at least one request
        reply = await api.get("/fulfillments")
        assert (reply.status, reply.headers["Retry-After"]) == (429, "4")


async def test_rate_limit_none_switches_it_off(emu: Emulator, api: Api) -> None:
    assert set(await statuses(api, 60)) == {200}
    assert emu.rate_limited == 0


def test_rate_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Emulator(rate_limit=0)


# --------------------------------------------------------------------------- faults


async def test_respond_fault_answers_without_applying(emu: Emulator, api: Api, order: str) -> None:
    emu.add_fault("POST", "/fulfillments", status=503, retry_after=2)
    reply = await api.post("/fulfillments", ORDER_BODY)
    assert error_of(reply)[:2] == (503, "service_unavailable")
    assert reply.body["type"] == "service_unavailable"
    assert reply.headers["Retry-After"] == "2"
    assert "x-dr-requestid" in reply.headers
    assert len(emu.fulfillments) == 0
    assert (await api.post("/fulfillments", ORDER_BODY)).status == 201  # used up
    assert emu.faults_injected == 1


async def test_fault_code_and_429(emu: Emulator, api: Api) -> None:
    emu.add_fault("GET", "/fulfillments", status=500, code="unknown_error")
    emu.add_fault("GET", "/fulfillments", status=429, retry_after=0)
    first = await api.get("/fulfillments")
    assert (error_of(first), first.body["type"]) == (
        (500, "unknown_error", None),
        "internal_server_error",
    )
    second = await api.get("/fulfillments")
    assert (second.status, second.headers["Retry-After"]) == (429, "0")
    assert (await api.get("/fulfillments")).status == 200
    assert emu.rate_limited == 0  # injected, not the limiter


async def test_fault_matching_by_method_path_and_times(emu: Emulator, api: Api) -> None:
    emu.add_fault("*", "/fulfillments/*", status=502, times=2)
    assert (await api.get("/fulfillments")).status == 200
    assert (await api.get("/fulfillments/ful_a")).status == 502
    assert (await api.post("/fulfillments/ful_b", {})).status == 502
    assert (await api.get("/fulfillments/ful_c")).status == 404
    emu.add_fault("get", "*", status=504, times=None)
    assert [(await api.get(p)).status for p in ("/fulfillments", "/fulfillment-returns")] == [
        504,
        504,
    ]
    assert (await api.post("/fulfillments", {})).status == 400
    emu.clear_faults()
    assert (await api.get("/fulfillments")).status == 200
    assert emu.faults_injected == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"action": "explode"},
        {"status": 200},
        {"times": 0},
        # Regression: the status was answered and commit_then_drop never committed.
        {"action": "commit_then_drop", "status": 503},
        {"action": "drop", "status": 500},
        {"code": "oops"},
        {"retry_after": 1},
    ],
)
def test_add_fault_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Emulator().add_fault("GET", "/fulfillments", **kwargs)


async def test_drop_cuts_the_connection_before_anything_happens(
    emu: Emulator, api: Api, order: str
) -> None:
    emu.add_fault("POST", "/fulfillments", action="drop")
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.post("/fulfillments", ORDER_BODY)
    assert len(emu.fulfillments) == 0
    assert emu.orders[order]["items"][0]["openQuantity"] == 50
    assert emu.requests[-1].status is None
    assert (await api.post("/fulfillments", ORDER_BODY)).status == 201


async def test_commit_then_drop_applies_the_create_but_sends_nothing(
    emu: Emulator, api: Api, order: str
) -> None:
    emu.add_fault("POST", "/fulfillments", action="commit_then_drop")
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.post("/fulfillments", ORDER_BODY)
    assert len(emu.fulfillments) == 1
    assert emu.orders[order]["items"][0]["openQuantity"] == 49
    listed = await api.get("/fulfillments", {"orderId": order})
    assert [f["id"] for f in listed.body["data"]] == emu.fulfillments.ids()


async def test_latency_fault_delays_the_answer(emu: Emulator, api: Api) -> None:
    emu.add_fault("GET", "/fulfillments", latency=0.05)
    with pytest.raises(asyncio.TimeoutError):
        await api.request("GET", "/fulfillments", timeout=aiohttp.ClientTimeout(total=0.005))
    assert (await api.get("/fulfillments")).status == 200


async def random_outcomes(seed: int, count: int) -> tuple[list[Any], int, int]:
    async with (
        Emulator(rate_limit=None, fault_rate=0.5, seed=seed) as emu,
        aiohttp.ClientSession(headers=auth()) as session,
    ):
        emu.add_order("100000010336", items=[{"item_id": "1", "quantity": 1000}])
        outcomes: list[Any] = []
        for _ in range(count):
            try:
                async with session.post(emu.url + "/fulfillments", json=ORDER_BODY) as response:
                    outcomes.append((response.status, response.headers.get("Retry-After")))
            except aiohttp.ClientConnectionError:
                outcomes.append("dropped")
        return outcomes, emu.faults_injected, len(emu.fulfillments)


async def test_random_faults_are_seeded(emu: Emulator) -> None:
    outcomes, injected, created = await random_outcomes(seed=7, count=60)
    assert (outcomes, injected, created) == await random_outcomes(seed=7, count=60)
    assert outcomes != (await random_outcomes(seed=8, count=60))[0]
    kinds = set(outcomes)
    assert {(201, None), (503, None), (500, None), (429, "0"), "dropped"} <= kinds
    assert injected == sum(outcome != (201, None) for outcome in outcomes)
    # commit_then_drop created some of the dropped ones
    assert created > outcomes.count((201, None))


# --------------------------------------------------------------------------- request log


async def test_request_log_redacts_the_key(emu: Emulator, api: Api, order: str) -> None:
    await api.post("/fulfillments", ORDER_BODY)
    await api.get(
        "/fulfillments",
        [("ids", "a"), ("ids", "b"), ("limit", "5")],
        headers=basic(LIVE_KEY),
    )
    await api.request("POST", "/fulfillments", data="{oops", headers={"X-API-KEY": TEST_KEY})
    create, listing, broken = emu.requests
    assert (create.method, create.path, create.query, create.body) == (
        "POST",
        "/fulfillments",
        [],
        ORDER_BODY,
    )
    assert create.headers["Authorization"] == "Bearer [redacted]"
    assert (listing.query, listing.body) == ([("ids", "a"), ("ids", "b"), ("limit", "5")], None)
    assert listing.headers["Authorization"] == "Basic [redacted]"
    assert broken.body == "{oops"
    assert broken.headers["X-API-KEY"] == "[redacted]"
    assert TEST_KEY not in repr(emu.requests) and LIVE_KEY not in repr(emu.requests)
    emu.clear_log()
    assert emu.requests == []


async def test_request_log_is_bounded() -> None:
    async with (
        Emulator(rate_limit=None, log_limit=3) as emu,
        aiohttp.ClientSession(headers=auth()) as session,
    ):
        for limit in range(1, 6):
            async with session.get(emu.url + "/fulfillments", params={"limit": limit}):
                pass
        assert [entry.query for entry in emu.requests] == [[("limit", str(n))] for n in (3, 4, 5)]


# --------------------------------------------------------------------------- lifecycle


async def test_start_and_close() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError):
        _ = emu.url
    await emu.start()
    await emu.start()  # idempotent
    assert emu.url.startswith("http://127.0.0.1:") and not emu.url.endswith("/")
    async with aiohttp.ClientSession() as session, session.get(emu.url + "/fulfillments") as r:
        assert r.status == 401
    await emu.close()
    await emu.close()
    with pytest.raises(RuntimeError):
        _ = emu.url
