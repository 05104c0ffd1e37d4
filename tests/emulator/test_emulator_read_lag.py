"""Read lag: lists leave out objects committed less than ``read_lag`` seconds ago, by the
emulator's own (injected) clock; retrieving by id sees them at once."""

from __future__ import annotations

import aiohttp
import pytest

from drfulfill.testing import Emulator
from tests.emulator._helpers import Api, FakeClock

ORDER_BODY = {"orderId": "100000010336", "items": [{"itemId": "1", "quantity": 1}]}


@pytest.fixture
def order(emu: Emulator) -> str:
    return emu.add_order("100000010336", items=[{"item_id": "1", "quantity": 50}])


async def listed_ids(api: Api, path: str = "/fulfillments", **params: str) -> list[str]:
    return [obj["id"] for obj in (await api.get(path, params or None)).body["data"]]


async def test_lists_lag_writes_by_the_emulator_clock(
    emu: Emulator, api: Api, clock: FakeClock, order: str
) -> None:
    emu.read_lag = 1.0
    first = (await api.post("/fulfillments", ORDER_BODY)).body["id"]
    assert await listed_ids(api) == []
    assert await listed_ids(api, orderId=order) == []
    assert await listed_ids(api, ids=first) == []
    assert (await api.get(f"/fulfillments/{first}")).status == 200  # by id: at once
    clock.advance(0.5)
    second = (await api.post("/fulfillments", ORDER_BODY)).body["id"]
    clock.advance(0.499)
    assert await listed_ids(api) == []
    clock.advance(0.001)  # exactly read_lag after the first commit
    assert await listed_ids(api) == [first]
    clock.advance(0.5)
    assert await listed_ids(api, orderId=order) == [second, first]


async def test_hidden_objects_do_not_count_for_has_more(
    emu: Emulator, api: Api, clock: FakeClock, order: str
) -> None:
    old = (await api.post("/fulfillments", ORDER_BODY)).body["id"]
    clock.advance(5)
    emu.read_lag = 2
    await api.post("/fulfillments", ORDER_BODY)
    reply = await api.get("/fulfillments", {"limit": "1"})
    assert ([f["id"] for f in reply.body["data"]], reply.body["hasMore"]) == ([old], False)


async def test_returns_lag_too(emu: Emulator, api: Api, clock: FakeClock) -> None:
    fulfillment_order = emu.add_fulfillment_order(items=[{"id": "1", "shipped_quantity": 2}])
    emu.read_lag = 3
    body = {
        "fulfillmentOrderId": fulfillment_order,
        "items": [{"fulfillmentOrderItemId": "1", "quantity": 1}],
    }
    created = (await api.post("/fulfillment-returns", body)).body["id"]
    assert await listed_ids(api, "/fulfillment-returns") == []
    assert (await api.get(f"/fulfillment-returns/{created}")).status == 200
    clock.advance(3)
    assert await listed_ids(api, "/fulfillment-returns") == [created]


async def test_a_late_commit_lags_from_its_commit(
    emu: Emulator, api: Api, clock: FakeClock, order: str
) -> None:
    emu.read_lag = 1
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=60)
    await api.post("/fulfillments", ORDER_BODY)
    clock.advance(10)
    await emu.commit_pending()
    assert await listed_ids(api) == []
    clock.advance(1)
    assert await listed_ids(api) == emu.fulfillments.ids()


async def test_read_lag_in_the_constructor_and_zero_switches_it_off(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with Emulator(rate_limit=None, clock=clock, read_lag=0.25) as emu:
        api = Api(session, emu.url)
        emu.add_order("100000010336", items=[{"item_id": "1", "quantity": 5}])
        created = (await api.post("/fulfillments", ORDER_BODY)).body["id"]
        assert (emu.read_lag, await listed_ids(api)) == (0.25, [])
        emu.read_lag = 0
        assert await listed_ids(api) == [created]


@pytest.mark.parametrize("lag", [-1, float("nan"), float("inf")])
def test_read_lag_must_be_a_finite_non_negative_number(lag: float) -> None:
    with pytest.raises(ValueError):
        Emulator(read_lag=lag)
    emu = Emulator()
    with pytest.raises(ValueError):
        emu.read_lag = lag
