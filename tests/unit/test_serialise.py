"""Models to DR's wire shape and back (``to_dict``/``to_json``/``from_dict``), enums as
their values, and ``BulkResult``'s two narrowed kinds."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import drfulfill
import drfulfill.models
from drfulfill import (
    BulkFailure,
    BulkResult,
    BulkSuccess,
    CreatedTime,
    Fulfillment,
    FulfillmentRequest,
    FulfillmentRequestItem,
    FulfillmentReturn,
    FulfillmentReturnItemRequest,
    FulfillmentReturnItemState,
    FulfillmentReturnState,
    FulfillmentReturnType,
    Page,
    UnitAttributes,
    UpdateFulfillmentItem,
    ValidationError,
)
from drfulfill._convert import structure

from .test_convert_properties import WIRE_FULFILLMENTS, WIRE_RETURNS

FULFILLMENT_BODY: dict[str, Any] = {
    "id": "ful_1",
    "createdTime": "2026-01-02T03:04:05.123456Z",
    "orderId": "231388420336",
    "currency": "USD",
    "liveMode": False,
    "metadata": {"drfulfillKey": "k1", "warehouse": "rotterdam"},
    "trackingCompany": "Fedex",
    "orderDetails": {"id": "231388420336", "state": "accepted", "items": [{"id": "i"}]},
    "items": [
        {
            "itemId": "158140150336",
            "quantity": 2,
            "distributorCost": 30.3,
            "shippingCost": 10,
            "newItemField": [1, 2],
        }
    ],
    "brandNewField": {"x": "y"},
}
RETURN_BODY: dict[str, Any] = {
    "id": "ret_1",
    "createdTime": "2026-01-02T03:04:05Z",
    "fulfillmentOrderId": "6645940010",
    "upstreamId": "231388420336",
    "state": "created",
    "type": "on_hold_now",  # an enum value this version does not know
    "livemode": True,
    "location": {"name": "W", "address": {"line1": "1 Main", "country": "US"}},
    "items": [
        {
            "fulfillmentOrderItemId": "99341140336",
            "quantity": 1,
            "state": "pending",
            "unitAttributes": [{"serialNumber": "S1"}],
        }
    ],
}


def wire_models() -> list[Any]:
    """One instance of every model that has a wire form, filled in."""
    fulfillment = structure(FULFILLMENT_BODY, Fulfillment)
    fulfillment_return = structure(RETURN_BODY, FulfillmentReturn)
    return [
        fulfillment,
        fulfillment.items[0],
        fulfillment_return,
        fulfillment_return.items[0],
        fulfillment_return.location,
        fulfillment_return.location.address if fulfillment_return.location else None,
        FulfillmentRequest(
            "o1",
            [FulfillmentRequestItem("i1", 2, distributor_cost=Decimal("19.99"))],
            currency="EUR",
            metadata={"k": "v", "n": 3},
        ),
        UpdateFulfillmentItem("i1", tracking_number="1Z"),
        FulfillmentReturnItemRequest("foi", 1, unit_attributes=[UnitAttributes(imei_number="3")]),
        CreatedTime(gte=datetime(2026, 1, 1, tzinfo=timezone.utc), lt=datetime.now(timezone.utc)),
    ]


@pytest.mark.parametrize("model", wire_models(), ids=lambda m: type(m).__name__)
def test_to_dict_is_json_and_decodes_back_to_an_equal_model(model: Any) -> None:
    wire = model.to_dict()
    assert json.loads(json.dumps(wire)) == wire
    assert json.loads(model.to_json()) == wire
    again = type(model).from_dict(json.loads(model.to_json()))
    assert again == model and type(again) is type(model)


def test_the_wire_shape_is_drs() -> None:
    fulfillment = structure(FULFILLMENT_BODY, Fulfillment)
    assert fulfillment.to_dict() == FULFILLMENT_BODY  # camelCase, extra kept, money as sent
    wire = json.loads(structure(RETURN_BODY, FulfillmentReturn).to_json())
    assert wire == RETURN_BODY  # livemode spelled as returns spell it; unknown enum kept
    times = CreatedTime(gt=datetime(2026, 1, 1, 1, tzinfo=timezone.utc)).to_dict()
    assert times == {"gt": "2026-01-01T01:00:00Z"}


def test_money_is_exact() -> None:
    request = FulfillmentRequest(
        "o",
        [FulfillmentRequestItem("i", 1, distributor_cost="30.3", shipping_cost=Decimal("0.10"))],
        currency="USD",
    )
    text = request.to_json()
    assert '"distributorCost":30.3' in text and '"shippingCost":0.1' in text
    item = FulfillmentRequest.from_dict(json.loads(text)).items[0]
    assert item.distributor_cost == Decimal("30.3") and item.shipping_cost == Decimal("0.1")


@pytest.mark.parametrize(
    ("cls", "wires"), [(Fulfillment, WIRE_FULFILLMENTS), (FulfillmentReturn, WIRE_RETURNS)]
)
def test_every_decoded_object_round_trips_through_json(
    cls: type, wires: st.SearchStrategy[dict[str, Any]]
) -> None:
    @settings(max_examples=100, deadline=None)
    @given(wires)
    def check(wire: dict[str, Any]) -> None:
        model: Any = structure(wire, cls)
        assert cls.from_dict(json.loads(json.dumps(model.to_dict()))) == model  # type: ignore[attr-defined]

    check()


def test_every_exported_model_serialises() -> None:
    models = [
        getattr(drfulfill.models, name)
        for name in drfulfill.models.__all__
        if attrs.has(getattr(drfulfill.models, name))
    ]
    assert {m.__name__ for m in models} >= {"Fulfillment", "Page", "BulkResult", "CreatedTime"}
    for model in models:
        assert callable(model.to_dict) and callable(model.to_json), model


def test_page_and_bulk_result_serialise() -> None:
    fulfillment = structure(FULFILLMENT_BODY, Fulfillment)
    page = Page([fulfillment], has_more=True, resume_token="t")
    assert page.to_dict() == {"data": [FULFILLMENT_BODY], "hasMore": True, "resumeToken": "t"}
    request = FulfillmentRequest("o", [FulfillmentRequestItem("i", 1)])
    done = BulkResult(0, "k", request, ok=True, fulfillment=fulfillment, resumed=True)
    assert json.loads(done.to_json())["fulfillment"]["id"] == "ful_1"
    failed = BulkResult(1, "", {"order_id": ""}, ok=False, error=ValidationError("no order"))
    assert failed.to_dict() == {
        "index": 1,
        "key": "",
        "request": {"order_id": ""},
        "ok": False,
        "error": "ValidationError: no order",
    }


def test_from_dict_refuses_what_is_not_the_model() -> None:
    with pytest.raises(ValidationError, match="unknown field"):
        FulfillmentRequest.from_dict({"orderId": "o", "items": [], "bogus": 1})
    with pytest.raises(drfulfill.DecodeError):
        Fulfillment.from_dict({"id": "x"})


@pytest.mark.parametrize(
    "member",
    [*FulfillmentReturnState, *FulfillmentReturnType, *FulfillmentReturnItemState],
    ids=str,
)
def test_str_of_every_enum_is_its_value(member: Any) -> None:
    assert str(member) == member.value
    assert f"{member}" == member.value and f"{member:>10}" == f"{member.value:>10}"
    assert member == member.value  # still a str


def test_bulk_result_is_one_of_two_kinds_by_ok() -> None:
    request = FulfillmentRequest("o", [FulfillmentRequestItem("i", 1)])
    fulfillment = structure(FULFILLMENT_BODY, Fulfillment)
    made = [
        BulkResult(0, "k", request, True, fulfillment),
        BulkResult(0, "k", request, ok=True, fulfillment=fulfillment, resumed=True),
        BulkResult(index=1, key="k", request=request, ok=False, error=ValueError("x")),
        BulkResult(1, "", {"raw": "row"}, False, error=ValueError("x")),
    ]
    assert [type(result) for result in made] == [BulkSuccess, BulkSuccess, BulkFailure, BulkFailure]
    for result in made:
        assert isinstance(result, BulkResult)
        for copied in (pickle.loads(pickle.dumps(result)), copy.copy(result)):
            assert type(copied) is type(result) and copied.to_dict() == result.to_dict()
    assert type(attrs.evolve(made[0], ok=False, fulfillment=None)) is BulkFailure
    # Made whole, not only of the right type (before, Python skipped its __init__).
    failed = attrs.evolve(made[0], ok=False, fulfillment=None, error=ValueError("x"))
    assert (failed.index, failed.ok, failed.fulfillment, str(failed.error)) == (0, False, None, "x")
    flipped = BulkFailure(2, "k", request, True, fulfillment)
    assert type(flipped) is BulkSuccess and flipped.fulfillment is fulfillment
