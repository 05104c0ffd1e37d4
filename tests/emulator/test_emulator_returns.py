"""POST/GET /fulfillment-returns, their lists, and the return state machine."""

from __future__ import annotations

from typing import Any

import pytest

from drfulfill.testing import Emulator
from tests.emulator._helpers import LIVE_KEY, Api, FakeClock, auth, error_of


@pytest.fixture
def fulfillment_order(emu: Emulator) -> str:
    return emu.add_fulfillment_order(
        "6645940010",
        upstream_id="231388420336",
        items=[
            {"id": "99341140336", "inventory_item_id": "5823594809", "shipped_quantity": 3},
            {"id": "99341150336", "inventory_item_id": "5823594810", "shipped_quantity": 1},
        ],
    )


def request(quantity: int = 1, item: str = "99341140336", **fields: Any) -> dict[str, Any]:
    return {
        "fulfillmentOrderId": "6645940010",
        "items": [{"fulfillmentOrderItemId": item, "quantity": quantity}],
        **fields,
    }


async def test_create_and_retrieve(emu: Emulator, api: Api, fulfillment_order: str) -> None:
    units = [{"serialNumber": "SN1", "imeiNumber": "35", "simCardNumber": "89"}]
    body = request(reason="requested_by_customer", upstreamId="ord-9")
    body["items"][0]["unitAttributes"] = units
    reply = await api.post("/fulfillment-returns", body)
    assert reply.status == 201
    created = reply.body
    assert created["id"].startswith("ret_") and created["id"][4:].isdigit()
    assert created == {
        "id": created["id"],
        "createdTime": "2024-01-01T12:00:00Z",
        "fulfillmentOrderId": fulfillment_order,
        "upstreamId": "ord-9",
        "reason": "requested_by_customer",
        "state": "created",
        "type": "client",
        "items": [
            {
                "fulfillmentOrderItemId": "99341140336",
                "inventoryItemId": "5823594809",
                "quantity": 1,
                "quantityAccepted": 0,
                "state": "pending",
                "unitAttributes": units,
            }
        ],
        "livemode": False,
    }
    retrieved = await api.get(f"/fulfillment-returns/{created['id']}")
    assert (retrieved.status, retrieved.body) == (200, created)
    assert emu.fulfillment_returns[0] == created


async def test_upstream_id_is_set_only_when_given(
    emu: Emulator, api: Api, fulfillment_order: str
) -> None:
    # DR's guide: the caller sets upstreamId (to the order id); DR does not fill it in.
    reply = await api.post("/fulfillment-returns", request(), headers=auth(LIVE_KEY))
    assert "upstreamId" not in reply.body and "reason" not in reply.body
    assert reply.body["livemode"] is True
    assert "upstreamId" not in emu.fulfillment_returns[0]
    listed = await api.get("/fulfillment-returns", {"upstreamIds": "231388420336"})
    assert listed.body["data"] == []


async def test_returned_quantities_are_bounded_by_shipped(
    emu: Emulator, api: Api, fulfillment_order: str
) -> None:
    assert (await api.post("/fulfillment-returns", request(2))).status == 201
    over = await api.post("/fulfillment-returns", request(2))
    assert error_of(over) == (400, "invalid_quantity_amount", "items[0].quantity")
    last = await api.post("/fulfillment-returns", request(1))
    assert last.status == 201
    emu.advance_return(last.body["id"], "rejected")  # a rejected return frees its quantity
    assert (await api.post("/fulfillment-returns", request(1))).status == 201
    both = {
        "fulfillmentOrderId": fulfillment_order,
        "items": [
            {"fulfillmentOrderItemId": "99341150336", "quantity": 1},
            {"fulfillmentOrderItemId": "99341150336", "quantity": 1},
        ],
    }
    reply = await api.post("/fulfillment-returns", both)
    assert error_of(reply) == (400, "invalid_quantity_amount", "items[1].quantity")


def item_with(**changes: Any) -> dict[str, Any]:
    item = {"fulfillmentOrderItemId": "99341140336", "quantity": 1, **changes}
    return {"fulfillmentOrderId": "6645940010", "items": [{k: v for k, v in item.items()
                                                           if v is not ...}]}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "code", "parameter"),
    [
        ({"items": request()["items"]}, "missing_parameter", "fulfillmentOrderId"),
        ({"fulfillmentOrderId": "6645940010"}, "missing_parameter", "items"),
        ({**request(), "items": []}, "invalid_parameter", "items"),
        ({**request(), "fulfillmentOrderId": "nope"}, "invalid_parameter", "fulfillmentOrderId"),
        ({**request(), "reason": None}, "invalid_parameter", "reason"),
        ({**request(), "reason": 7}, "invalid_parameter", "reason"),
        ({**request(), "type": "client"}, "unknown_parameter", "type"),
        (item_with(fulfillmentOrderItemId=...), "missing_parameter",
         "items[0].fulfillmentOrderItemId"),
        (item_with(quantity=...), "missing_parameter", "items[0].quantity"),
        (item_with(fulfillmentOrderItemId="1"), "invalid_parameter",
         "items[0].fulfillmentOrderItemId"),
        (item_with(quantity=0), "invalid_parameter", "items[0].quantity"),
        (item_with(quantity=-1), "invalid_parameter", "items[0].quantity"),
        (item_with(quantity=1.0), "invalid_parameter", "items[0].quantity"),
        (item_with(quantity=4), "invalid_quantity_amount", "items[0].quantity"),
        (item_with(color="red"), "unknown_parameter", "items[0].color"),
        (item_with(unitAttributes={}), "invalid_parameter", "items[0].unitAttributes"),
        (item_with(unitAttributes=[{"pin": "1"}]), "unknown_parameter",
         "items[0].unitAttributes[0].pin"),
        (item_with(unitAttributes=[{"serialNumber": 1}]), "invalid_parameter",
         "items[0].unitAttributes[0].serialNumber"),
        ("[]", "invalid_parameter", None),
    ],
)  # fmt: skip
async def test_create_validation(
    emu: Emulator, api: Api, fulfillment_order: str, body: Any, code: str, parameter: str | None
) -> None:
    reply = await api.post("/fulfillment-returns", body)
    assert error_of(reply) == (400, code, parameter)
    assert len(emu.fulfillment_returns) == 0


async def test_retrieve_unknown_is_404(api: Api) -> None:
    reply = await api.get("/fulfillment-returns/ret_0")
    assert error_of(reply) == (404, "not_found", "id")


async def test_there_is_no_update(api: Api, fulfillment_order: str) -> None:
    created = await api.post("/fulfillment-returns", request())
    reply = await api.request("POST", f"/fulfillment-returns/{created.body['id']}", json={})
    assert error_of(reply)[:2] == (405, "method_not_allowed")


async def test_advance_return_through_the_happy_path(
    emu: Emulator, api: Api, fulfillment_order: str
) -> None:
    body = request(2)
    body["items"][0]["unitAttributes"] = [{"serialNumber": "SN1"}]
    return_id = (await api.post("/fulfillment-returns", body)).body["id"]
    emu.advance_return(return_id, "pending")
    pending = (await api.get(f"/fulfillment-returns/{return_id}")).body
    assert pending["state"] == "pending"
    assert pending["location"]["address"]["country"] == "US"
    assert pending["items"][0]["state"] == "pending"
    emu.advance_return(return_id, "accepted")
    accepted = (await api.get(f"/fulfillment-returns/{return_id}")).body
    assert accepted["state"] == "accepted"
    assert accepted["items"][0]["state"] == "accepted"
    assert accepted["items"][0]["quantityAccepted"] == 2
    assert accepted["items"][0]["unitAttributesAccepted"] == [{"serialNumber": "SN1"}]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], "accepted"),
        ([], "created"),
        (["pending"], "pending"),
        (["pending", "accepted"], "rejected"),
        (["rejected"], "pending"),
        ([], "shipped"),
    ],
)
async def test_advance_return_refuses_other_transitions(
    emu: Emulator, api: Api, fulfillment_order: str, path: list[str], bad: str
) -> None:
    return_id = (await api.post("/fulfillment-returns", request())).body["id"]
    for state in path:
        emu.advance_return(return_id, state)
    with pytest.raises(ValueError):
        emu.advance_return(return_id, bad)


async def test_rejecting_marks_every_item_rejected(
    emu: Emulator, api: Api, fulfillment_order: str
) -> None:
    return_id = (await api.post("/fulfillment-returns", request())).body["id"]
    rejected = emu.advance_return(return_id, "rejected")
    assert rejected["state"] == "rejected"
    assert [item["state"] for item in rejected["items"]] == ["rejected"]
    assert rejected["items"][0]["quantityAccepted"] == 0
    with pytest.raises(KeyError):
        emu.advance_return("ret_missing", "pending")


async def test_list_filters_and_paging(
    emu: Emulator, api: Api, clock: FakeClock, fulfillment_order: str
) -> None:
    other = emu.add_fulfillment_order("FO2", upstream_id="U2", items=[{"shipped_quantity": 9}])
    other_item = emu.fulfillment_orders[other]["items"][0]["id"]
    ids = []
    for n in range(6):
        clock.advance(n % 2)  # pairs share a createdTime
        body = request(item="99341140336") if n < 3 else request(item=other_item)
        body["fulfillmentOrderId"] = fulfillment_order if n < 3 else other
        body["upstreamId"] = "231388420336" if n < 3 else "U2"  # the caller sets it
        ids.append((await api.post("/fulfillment-returns", body)).body["id"])
    emu.advance_return(ids[1], "pending")
    emu.advance_return(ids[4], "pending")

    async def listed(params: Any) -> tuple[list[str], bool]:
        reply = await api.get("/fulfillment-returns", params)
        assert reply.status == 200, reply.body
        return [r["id"] for r in reply.body["data"]], reply.body["hasMore"]

    newest = ids[::-1]
    assert await listed({}) == (newest, False)
    assert await listed({"limit": 4}) == (newest[:4], True)
    assert await listed({"limit": 4, "startingAfter": newest[3]}) == (newest[4:], False)
    assert await listed({"limit": 2, "endingBefore": newest[3]}) == (newest[1:3], True)
    assert await listed({"state": "pending"}) == ([ids[4], ids[1]], False)
    assert await listed({"state": "teleported"}) == ([], False)
    assert await listed({"fulfillmentOrderId": other}) == (newest[:3], False)
    assert await listed({"inventoryItemId": "5823594809"}) == (newest[3:], False)
    assert await listed([("upstreamIds", "U2"), ("upstreamIds", "231388420336")]) == (
        newest,
        False,
    )
    assert await listed({"upstreamIds": "U2,231388420336"}) == ([], False)
    assert await listed([("ids", ids[0]), ("ids", ids[5])]) == ([ids[5], ids[0]], False)
    # Creation times: 12:00:00 x2... n=0 +0s, n=1 +1s, n=2 +1s, n=3 +2s, n=4 +2s, n=5 +3s.
    assert await listed({"createdTime[eq]": "2024-01-01T12:00:02Z"}) == ([ids[4], ids[3]], False)
    assert await listed({"createdTime": "2024-01-01T12:00:01Z"}) == ([ids[2], ids[1]], False)
    assert await listed({"createdTime[gt]": "2024-01-01T12:00:02Z"}) == ([ids[5]], False)


@pytest.mark.parametrize(
    ("params", "code", "parameter"),
    [
        ({"orderId": "1"}, "unknown_parameter", "orderId"),
        ({"limit": "101"}, "invalid_parameter", "limit"),
        ({"upstreamIds": ""}, "invalid_parameter", "upstreamIds"),
        ([("state", "created"), ("state", "pending")], "invalid_parameter", "state"),
        ({"createdTime[ne]": "2024-01-01T12:00:02Z"}, "invalid_parameter", "createdTime[ne]"),
        ({"startingAfter": "ret_1"}, "invalid_parameter", "startingAfter"),
    ],
)
async def test_list_query_validation(api: Api, params: Any, code: str, parameter: str) -> None:
    reply = await api.get("/fulfillment-returns", params)
    assert error_of(reply) == (400, code, parameter)
