"""POST/GET /fulfillments and /fulfillments/{id} over loopback, validated against the spec."""

from __future__ import annotations

from typing import Any

import pytest

from drfulfill.testing import Emulator
from tests.emulator._helpers import LIVE_KEY, Api, auth, error_of


def order_with(emu: Emulator, quantity: int = 3, **item: Any) -> str:
    return emu.add_order(
        "900000010336", items=[{"item_id": "1001", "sku_id": "sku-1", "quantity": quantity, **item}]
    )


async def test_create_echoes_the_request_as_drs_fulfillment(emu: Emulator, api: Api) -> None:
    order_id = order_with(emu)
    reply = await api.post(
        "/fulfillments",
        {
            "orderId": order_id,
            "shipmentId": "321765",
            "currency": "EUR",
            "metadata": {"coupon": "iOS", "n": 3, "flag": True},
            "trackingCompany": "Fedex",
            "trackingNumber": "1Z",
            "trackingUrl": "https://track/1Z",
            "partnerId": "partner123",
            "items": [
                {
                    "itemId": "1001",
                    "quantity": 2,
                    "cancelQuantity": 1,
                    "shipmentItemId": "s1",
                    "subfulfillerId": "d1",
                    "distributorCost": 400,
                    "shippingCost": 10.5,
                    "trackingCompany": "UPS",
                    "trackingNumber": "Z9",
                    "trackingUrl": "https://ups/Z9",
                }
            ],
        },
    )
    assert reply.status == 201
    body = reply.body
    assert body["id"].startswith("ful_") and len(body["id"]) == 4 + 36
    assert body["createdTime"] == "2024-01-01T12:00:00Z"
    assert body["orderId"] == order_id
    assert body["liveMode"] is False
    assert body["items"] == [
        {
            "itemId": "1001",
            "skuId": "sku-1",
            "quantity": 2,
            "cancelQuantity": 1,
            "shipmentItemId": "s1",
            "subfulfillerId": "d1",
            "distributorCost": 400,
            "shippingCost": 10.5,
            "trackingCompany": "UPS",
            "trackingNumber": "Z9",
            "trackingUrl": "https://ups/Z9",
        }
    ]
    assert {
        k: body[k]
        for k in (
            "shipmentId",
            "currency",
            "trackingCompany",
            "trackingNumber",
            "trackingUrl",
            "metadata",
        )
    } == {
        "shipmentId": "321765",
        "currency": "EUR",
        "trackingCompany": "Fedex",
        "trackingNumber": "1Z",
        "trackingUrl": "https://track/1Z",
        "metadata": {"coupon": "iOS", "n": 3, "flag": True},
    }
    assert "partnerId" not in body  # not part of any response schema
    assert emu.fulfillments[body["id"]] == body
    assert emu.orders[order_id]["items"][0]["openQuantity"] == 0


async def test_minimal_create_has_only_drs_fields(emu: Emulator, api: Api) -> None:
    order_id = order_with(emu)
    reply = await api.post(
        "/fulfillments", {"orderId": order_id, "items": [{"itemId": "1001", "cancelQuantity": 1}]}
    )
    assert reply.status == 201
    assert set(reply.body) == {"id", "createdTime", "orderId", "items", "liveMode"}
    assert reply.body["items"] == [
        {"itemId": "1001", "skuId": "sku-1", "quantity": 0, "cancelQuantity": 1}
    ]


async def test_live_mode_follows_the_key(emu: Emulator, api: Api) -> None:
    order_id = order_with(emu)
    body = {"orderId": order_id, "items": [{"itemId": "1001", "quantity": 1}]}
    test = await api.post("/fulfillments", body)
    live = await api.post("/fulfillments", body, headers=auth(LIVE_KEY))
    assert test.body["liveMode"] is False
    assert live.body["liveMode"] is True
    retrieved = await api.get(f"/fulfillments/{live.body['id']}", headers=auth(LIVE_KEY))
    assert retrieved.body["liveMode"] is True
    assert retrieved.body["orderDetails"]["liveMode"] is True


async def test_retrieve_adds_order_details_and_drops_currency(emu: Emulator, api: Api) -> None:
    order_id = emu.add_order(
        "800000010336",
        items=[
            {"item_id": "1", "sku_id": "a", "quantity": 2},
            {"item_id": "2", "sku_id": "b", "quantity": 1},
        ],
        currency="EUR",
    )
    created = await api.post(
        "/fulfillments",
        {
            "orderId": order_id,
            "currency": "USD",
            "items": [{"itemId": "1", "quantity": 2, "shippingCost": 1}],
        },
    )
    reply = await api.get(f"/fulfillments/{created.body['id']}")
    assert reply.status == 200
    expected = {k: v for k, v in created.body.items() if k != "currency"}
    assert {k: v for k, v in reply.body.items() if k != "orderDetails"} == expected
    details = reply.body["orderDetails"]
    assert details["id"] == order_id
    assert details["currency"] == "EUR"
    assert details["state"] == "accepted"
    assert details["items"] == [
        {"id": "1", "skuId": "a", "quantity": 2, "state": "fulfilled"},
        {"id": "2", "skuId": "b", "quantity": 1, "state": "created"},
    ]
    await api.post(
        "/fulfillments", {"orderId": order_id, "items": [{"itemId": "2", "cancelQuantity": 1}]}
    )
    reply = await api.get(f"/fulfillments/{created.body['id']}")
    assert reply.body["orderDetails"]["state"] == "fulfilled"
    assert reply.body["orderDetails"]["items"][1]["state"] == "cancelled"


async def test_retrieve_unknown_id_is_404(api: Api) -> None:
    reply = await api.get("/fulfillments/ful_nope")
    assert error_of(reply) == (404, "not_found", "id")
    assert reply.body["type"] == "not_found"


async def test_creates_consume_quantities_until_the_order_is_fulfilled(
    emu: Emulator, api: Api
) -> None:
    order_id = order_with(emu, quantity=3)
    item = {"itemId": "1001"}
    assert (
        await api.post("/fulfillments", {"orderId": order_id, "items": [{**item, "quantity": 2}]})
    ).status == 201
    over = await api.post(
        "/fulfillments",
        {"orderId": order_id, "items": [{**item, "quantity": 1, "cancelQuantity": 1}]},
    )
    assert error_of(over) == (400, "invalid_quantity_amount", "items[0].quantity")
    assert (
        await api.post(
            "/fulfillments", {"orderId": order_id, "items": [{**item, "cancelQuantity": 1}]}
        )
    ).status == 201
    done = await api.post(
        "/fulfillments", {"orderId": order_id, "items": [{**item, "quantity": 1}]}
    )
    assert done.status == 409
    assert done.body == {
        "type": "conflict",
        "errors": [
            {
                "code": "order_fulfilled",
                "parameter": "orderId",
                "message": f"Resource '{order_id}' is fulfilled.",
            }
        ],
    }
    assert len(emu.fulfillments) == 2
    line = emu.orders[order_id]["items"][0]
    assert (line["fulfilledQuantity"], line["cancelledQuantity"], line["openQuantity"]) == (2, 1, 0)


async def test_repeated_item_lines_count_together(emu: Emulator, api: Api) -> None:
    order_id = order_with(emu, quantity=3)
    reply = await api.post(
        "/fulfillments",
        {
            "orderId": order_id,
            "items": [{"itemId": "1001", "quantity": 2}, {"itemId": "1001", "quantity": 2}],
        },
    )
    assert error_of(reply) == (400, "invalid_quantity_amount", "items[1].quantity")
    assert emu.orders[order_id]["items"][0]["openQuantity"] == 3  # nothing applied


VALID = {"orderId": "900000010336", "items": [{"itemId": "1001", "quantity": 1}]}


def with_item(**changes: Any) -> dict[str, Any]:
    item = {k: v for k, v in {"itemId": "1001", "quantity": 1, **changes}.items() if v is not ...}
    return {**VALID, "items": [item]}


@pytest.mark.parametrize(
    ("body", "code", "parameter"),
    [
        ({"items": VALID["items"]}, "missing_parameter", "orderId"),
        ({"orderId": "900000010336"}, "missing_parameter", "items"),
        ({**VALID, "items": []}, "invalid_parameter", "items"),
        ({**VALID, "items": "x"}, "invalid_parameter", "items"),
        ({**VALID, "orderId": None}, "invalid_parameter", "orderId"),
        ({**VALID, "orderId": 900000010336}, "invalid_parameter", "orderId"),
        ({**VALID, "trackingNumber": None}, "invalid_parameter", "trackingNumber"),
        ({**VALID, "surprise": 1}, "unknown_parameter", "surprise"),
        ({**VALID, "orderId": "123"}, "invalid_parameter", "orderId"),
        (with_item(itemId="999"), "invalid_parameter", "items[0].itemId"),
        (with_item(itemId=...), "missing_parameter", "items[0].itemId"),
        (with_item(quantity=...), "invalid_parameter", "items[0].quantity"),
        (with_item(quantity=None, cancelQuantity=None), "invalid_parameter", "items[0].quantity"),
        (with_item(quantity=0), "invalid_parameter", "items[0].quantity"),
        (with_item(quantity=-1), "invalid_parameter", "items[0].quantity"),
        (with_item(quantity=1.5), "invalid_parameter", "items[0].quantity"),
        (with_item(quantity="1"), "invalid_parameter", "items[0].quantity"),
        (with_item(quantity=True), "invalid_parameter", "items[0].quantity"),
        (with_item(cancelQuantity=-2), "invalid_parameter", "items[0].cancelQuantity"),
        (with_item(quantity=4), "invalid_quantity_amount", "items[0].quantity"),
        (with_item(skuId="sku-1"), "invalid_parameter", "items[0].skuId"),
        (with_item(color="red"), "unknown_parameter", "items[0].color"),
        (with_item(trackingUrl=None), "invalid_parameter", "items[0].trackingUrl"),
        (with_item(distributorCost=5), "missing_parameter", "currency"),
        (with_item(shippingCost=0), "missing_parameter", "currency"),
        (
            {**with_item(distributorCost=-1), "currency": "USD"},
            "invalid_parameter",
            "items[0].distributorCost",
        ),
        (
            {**with_item(shippingCost="1"), "currency": "USD"},
            "invalid_parameter",
            "items[0].shippingCost",
        ),
        ({**VALID, "currency": "dollars"}, "invalid_parameter", "currency"),
        ({**VALID, "metadata": "x"}, "invalid_parameter", "metadata"),
        (
            {**VALID, "metadata": {f"k{i}": i for i in range(21)}},
            "too_many_metadata_pairs",
            "metadata",
        ),
        ({**VALID, "metadata": {"k" * 41: "v"}}, "invalid_metadata_key", "metadata." + "k" * 41),
        ({**VALID, "metadata": {"k": "v" * 501}}, "invalid_metadata_value", "metadata.k"),
        ({**VALID, "metadata": {"k": 1.5}}, "invalid_metadata_value", "metadata.k"),
        ({**VALID, "metadata": {"k": None}}, "invalid_metadata_value", "metadata.k"),
        ({**VALID, "metadata": {"k": {"nested": 1}}}, "invalid_metadata_value", "metadata.k"),
        ([VALID], "invalid_parameter", None),
    ],
)
async def test_create_validation(
    emu: Emulator, api: Api, body: Any, code: str, parameter: str | None
) -> None:
    order_with(emu)
    reply = await api.post("/fulfillments", body)
    assert error_of(reply) == (400, code, parameter)
    assert reply.body["type"] == "bad_request"
    assert reply.body["errors"][0]["message"]
    assert len(emu.fulfillments) == 0


async def test_metadata_at_the_limits_is_accepted(emu: Emulator, api: Api) -> None:
    order_with(emu)
    metadata = {f"{i:02d}" + "k" * 38: "v" * 500 for i in range(20)}
    reply = await api.post("/fulfillments", {**VALID, "metadata": metadata})
    assert reply.status == 201
    assert reply.body["metadata"] == metadata


@pytest.mark.parametrize("data", ["{not json", "", "null"])
async def test_create_with_a_body_that_is_not_a_json_object(
    emu: Emulator, api: Api, data: str
) -> None:
    reply = await api.request(
        "POST", "/fulfillments", data=data, headers={"Content-Type": "application/json"}
    )
    assert error_of(reply) == (400, "invalid_parameter", None)


async def created(api: Api, order_id: str, **fields: Any) -> dict[str, Any]:
    reply = await api.post("/fulfillments", {"orderId": order_id, **fields})
    assert reply.status == 201, reply.body
    return reply.body


async def test_update_sets_tracking_and_merges_metadata(emu: Emulator, api: Api) -> None:
    order_id = emu.add_order(
        "700000010336", items=[{"item_id": "1", "quantity": 1}, {"item_id": "2", "quantity": 1}]
    )
    fulfillment = await created(
        api,
        order_id,
        metadata={"a": "1", "b": "2"},
        currency="USD",
        items=[{"itemId": "1", "quantity": 1}, {"itemId": "2", "quantity": 1}],
    )
    reply = await api.post(
        f"/fulfillments/{fulfillment['id']}",
        {
            "trackingCompany": "UPS",
            "trackingNumber": "Z1",
            "trackingUrl": "https://ups/Z1",
            "metadata": {"b": "changed", "c": "new"},
            "items": [{"itemId": "2", "trackingNumber": "Z2"}],
        },
    )
    assert reply.status == 200
    body = reply.body
    assert (body["trackingCompany"], body["trackingNumber"], body["trackingUrl"]) == (
        "UPS",
        "Z1",
        "https://ups/Z1",
    )
    assert body["metadata"] == {"a": "1", "b": "changed", "c": "new"}
    assert body["currency"] == "USD"
    assert "trackingNumber" not in body["items"][0]
    assert body["items"][1]["trackingNumber"] == "Z2"
    assert (await api.get(f"/fulfillments/{body['id']}")).body["trackingNumber"] == "Z1"
    assert emu.fulfillments[0]["metadata"]["b"] == "changed"


async def test_empty_update_changes_nothing(emu: Emulator, api: Api) -> None:
    fulfillment = await created(api, order_with(emu), items=[{"itemId": "1001", "quantity": 1}])
    reply = await api.post(f"/fulfillments/{fulfillment['id']}", {})
    assert reply.status == 200
    assert reply.body == fulfillment


@pytest.mark.parametrize(
    ("body", "code", "parameter"),
    [
        ({"quantity": 1}, "unknown_parameter", "quantity"),
        ({"orderId": "x"}, "unknown_parameter", "orderId"),
        ({"currency": "USD"}, "unknown_parameter", "currency"),
        ({"trackingNumber": None}, "invalid_parameter", "trackingNumber"),
        ({"trackingNumber": 5}, "invalid_parameter", "trackingNumber"),
        ({"items": [{"trackingNumber": "x"}]}, "missing_parameter", "items[0].itemId"),
        ({"items": [{"itemId": "nope"}]}, "invalid_parameter", "items[0].itemId"),
        ({"items": [{"itemId": "1001", "quantity": 2}]}, "unknown_parameter", "items[0].quantity"),
        ({"metadata": {"a": "x", "k": 1.5}}, "invalid_metadata_value", "metadata.k"),
        ({"metadata": {f"n{i}": i for i in range(20)}}, "too_many_metadata_pairs", "metadata"),
        ("just text", "invalid_parameter", None),
    ],
)
async def test_update_validation(
    emu: Emulator, api: Api, body: Any, code: str, parameter: str | None
) -> None:
    fulfillment = await created(
        api, order_with(emu), metadata={"first": "x"}, items=[{"itemId": "1001", "quantity": 1}]
    )
    reply = await api.post(f"/fulfillments/{fulfillment['id']}", body)
    assert error_of(reply) == (400, code, parameter)
    assert emu.fulfillments[0] == fulfillment  # nothing applied


async def test_update_unknown_id_is_404(api: Api) -> None:
    reply = await api.post("/fulfillments/ful_missing", {"trackingNumber": "1"})
    assert error_of(reply) == (404, "not_found", "id")
