"""The converter: datetimes, tolerant decoding, None-omitting encoding."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from drfulfill._convert import (
    converter,
    format_datetime,
    has_utc_offset,
    parse_datetime,
    structure,
    to_camel,
    unstructure,
)
from drfulfill.errors import ValidationError
from drfulfill.models import (
    Fulfillment,
    FulfillmentItem,
    FulfillmentRequest,
    FulfillmentRequestItem,
    FulfillmentReturn,
    FulfillmentReturnItem,
    FulfillmentReturnItemRequest,
    FulfillmentReturnState,
    FulfillmentReturnType,
    Page,
    UnitAttributes,
)

UTC = timezone.utc
APRIL_25 = datetime(2018, 4, 25, 20, 36, tzinfo=UTC)

# The serialised Java OffsetDateTime of docs.digitalriver.com .../2021-02-23/fulfillment-returns
JAVA_OFFSET_DATETIME = {
    "offset": {"totalSeconds": 0, "id": "Z", "rules": {"fixedOffset": True, "transitions": []}},
    "nano": 0,
    "year": 2018,
    "monthValue": 4,
    "dayOfMonth": 25,
    "hour": 20,
    "minute": 36,
    "second": 0,
    "dayOfWeek": "WEDNESDAY",
    "dayOfYear": 115,
    "month": "APRIL",
}


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("id", "id"),
        ("created_time", "createdTime"),
        ("unit_attributes_accepted", "unitAttributesAccepted"),
    ],
)
def test_to_camel(name: str, wire: str) -> None:
    assert to_camel(name) == wire


# --- parse_datetime ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-04-25T20:36:00Z", APRIL_25),
        ("2018-04-25T20:36:00z", APRIL_25),
        ("2018-04-25T20:36:00+00:00", APRIL_25),
        ("2018-04-25T22:36:00+02:00", APRIL_25),
        ("2018-04-25T22:36:00+0200", APRIL_25),
        ("2018-04-25T15:06:00-05:30", APRIL_25),
        ("2018-04-25T20:36:00", APRIL_25),  # no offset: DR documents UTC
        ("2018-04-25 20:36:00Z", APRIL_25),
        ("2018-04-25T20:36Z", APRIL_25),
        ("2018-04-25T20:36:00.5Z", APRIL_25.replace(microsecond=500000)),
        ("2025-05-09T05:53:10.684Z", datetime(2025, 5, 9, 5, 53, 10, 684000, tzinfo=UTC)),
        ("2023-03-28T18:23:52.939306Z", datetime(2023, 3, 28, 18, 23, 52, 939306, tzinfo=UTC)),
        ("2023-03-28T18:23:52.939306789Z", datetime(2023, 3, 28, 18, 23, 52, 939306, tzinfo=UTC)),
        (
            "2023-03-28T20:23:52.123456789+02:00",
            datetime(2023, 3, 28, 18, 23, 52, 123456, tzinfo=UTC),
        ),
    ],
)
def test_parse_datetime_iso_forms_give_the_instant_in_utc(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T00:00:00Z", True),
        ("2024-05-01T00:00:00.5z", True),
        ("2024-05-01T00:00:00+02:00", True),
        ("2024-05-01T00:00-0530", True),
        ("2024-05-01T00:00:00", False),
        ("2024-05-01T00:00:00.123456", False),
        ("2024-05-01", False),
        ("yesterday", False),
    ],
)
def test_has_utc_offset(text: str, expected: bool) -> None:
    assert has_utc_offset(text) is expected


def test_parse_datetime_java_offset_datetime_object() -> None:
    assert parse_datetime(JAVA_OFFSET_DATETIME) == APRIL_25


def test_parse_datetime_java_object_with_offset_and_nanos() -> None:
    value = {
        **JAVA_OFFSET_DATETIME,
        "offset": {"totalSeconds": 7200, "id": "+02:00"},
        "hour": 22,
        "nano": 123456789,
    }
    parsed = parse_datetime(value)
    assert parsed == APRIL_25.replace(microsecond=123456)
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2018-04-25",
        "2018-13-25T20:36:00Z",
        "2018-04-25T20:36:00+25:00",
        {"year": 2018},
        {"year": 2018, "monthValue": 2, "dayOfMonth": 30},
    ],
)
def test_parse_datetime_rejects_nonsense_with_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        parse_datetime(value)


@pytest.mark.parametrize("value", [None, 1524688560, 1.5, ["2018-04-25T20:36:00Z"]])
def test_parse_datetime_rejects_other_types_with_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        parse_datetime(value)


# --- format_datetime ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (APRIL_25, "2018-04-25T20:36:00Z"),
        (APRIL_25.replace(microsecond=500000), "2018-04-25T20:36:00.500Z"),
        (APRIL_25.replace(microsecond=123456), "2018-04-25T20:36:00.123456Z"),
        (
            datetime(2018, 4, 25, 22, 36, tzinfo=timezone(timedelta(hours=2))),
            "2018-04-25T20:36:00Z",
        ),
    ],
)
def test_format_datetime_is_utc_with_z(value: datetime, text: str) -> None:
    assert format_datetime(value) == text
    assert parse_datetime(text) == value


def test_format_datetime_refuses_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_datetime(datetime(2024, 1, 1))


# --- structure: tolerant reader ----------------------------------------------------------


def test_structure_rejects_a_non_mapping_with_type_error() -> None:
    with pytest.raises(TypeError):
        structure(["not", "an", "object"], Fulfillment)  # type: ignore[arg-type]


def test_unknown_fields_go_to_extra_by_wire_name() -> None:
    fulfillment = structure({"id": "ful_1", "newField": {"a": 1}, "another": None}, Fulfillment)
    assert fulfillment.id == "ful_1"
    assert fulfillment.extra == {"newField": {"a": 1}, "another": None}


def test_null_means_absent() -> None:
    fulfillment = structure({"id": None, "items": None, "liveMode": None}, Fulfillment)
    assert fulfillment == Fulfillment()


def test_odd_but_plausible_types_are_read() -> None:
    item = structure(
        {
            "itemId": 225220780336,
            "quantity": "2",
            "cancelQuantity": 1.0,
            "distributorCost": "400",
            "shippingCost": 10.1,
        },
        FulfillmentItem,
    )
    assert item.item_id == "225220780336"
    assert item.quantity == 2
    assert item.cancel_quantity == 1
    assert item.distributor_cost == Decimal("400")
    assert item.shipping_cost == Decimal("10.1")  # not 10.0999999999999996447...
    assert item.extra == {}


@pytest.mark.parametrize(("wire", "expected"), [(True, True), ("false", False), ("TRUE", True)])
def test_booleans_and_boolean_strings(wire: object, expected: bool) -> None:
    assert structure({"liveMode": wire}, Fulfillment).live_mode is expected


def test_unreadable_known_field_stays_none_and_keeps_the_raw_value_in_extra() -> None:
    raw = {
        "createdTime": "last tuesday",
        "quantity": "two",
        "distributorCost": "NaN",
        "skuId": {"nested": True},
        "trackingUrl": True,
    }
    item = structure(raw, FulfillmentItem)
    assert item.quantity is None and item.distributor_cost is None and item.sku_id is None
    assert item.tracking_url is None
    assert item.extra == raw  # createdTime is not a FulfillmentItem field; the rest misfit

    fulfillment = structure({"id": "ful_1", "createdTime": "last tuesday"}, Fulfillment)
    assert fulfillment.created_time is None
    assert fulfillment.extra == {"createdTime": "last tuesday"}


def test_misfit_collections_and_nested_objects_go_to_extra() -> None:
    ret = structure({"items": "oops", "location": ["not", "an", "object"]}, FulfillmentReturn)
    assert ret.items == () and ret.location is None
    assert ret.extra == {"items": "oops", "location": ["not", "an", "object"]}


def test_unknown_enum_values_are_kept_as_strings() -> None:
    ret = structure({"state": "on_hold", "type": "warehouse"}, FulfillmentReturn)
    assert ret.state == "on_hold" and type(ret.state) is str
    assert ret.type is FulfillmentReturnType.WAREHOUSE
    known = structure({"state": "pending"}, FulfillmentReturn)
    assert known.state is FulfillmentReturnState.PENDING
    assert known.state == "pending"  # str enum


def test_non_string_enum_value_goes_to_extra() -> None:
    ret = structure({"state": 3}, FulfillmentReturn)
    assert ret.state is None and ret.extra == {"state": 3}


@pytest.mark.parametrize("wire", ["liveMode", "livemode"])
@pytest.mark.parametrize("cls", [Fulfillment, FulfillmentReturn])
def test_both_live_mode_spellings_land_in_live_mode(wire: str, cls: type) -> None:
    decoded = structure({wire: True}, cls)
    assert decoded.live_mode is True
    assert decoded.extra == {}


JUNK = [None, 0, -1, 1.5, True, "", "x", [], [1, "a"], {}, {"a": [1]}, float("nan")]


@pytest.mark.parametrize(
    "cls", [Fulfillment, FulfillmentItem, FulfillmentReturn, FulfillmentReturnItem]
)
def test_decoding_never_raises_on_junk_values(cls: type) -> None:
    keys = [
        "id",
        "createdTime",
        "orderId",
        "items",
        "liveMode",
        "livemode",
        "metadata",
        "orderDetails",
        "quantity",
        "cancelQuantity",
        "distributorCost",
        "state",
        "type",
        "location",
        "unitAttributes",
        "unitAttributesAccepted",
        "quantityAccepted",
        "somethingNew",
    ]
    for key in keys:
        for value in JUNK:
            structure({key: value}, cls)
            structure({"items": [{key: value}], "location": {"address": {key: value}}}, cls)


def test_converter_structure_uses_the_same_hooks() -> None:
    data = {"id": "ful_1", "liveMode": False, "x": 1}
    assert converter.structure(data, Fulfillment) == structure(data, Fulfillment)


# --- unstructure -------------------------------------------------------------------------


def test_unstructure_omits_none_and_uses_camel_case() -> None:
    item = FulfillmentItem(item_id="1", quantity=0, cancel_quantity=None)
    assert unstructure(item) == {"itemId": "1", "quantity": 0}


@pytest.mark.parametrize(
    ("amount", "wire"),
    [
        (Decimal("400"), 400),
        (Decimal("10.0"), 10),
        (Decimal("10.10"), 10.1),
        (Decimal("0.005"), 0.005),
    ],
)
def test_unstructure_money_as_json_numbers(amount: Decimal, wire: float) -> None:
    encoded = unstructure(FulfillmentItem(distributor_cost=amount))["distributorCost"]
    assert encoded == wire
    assert type(encoded) is type(wire)


def test_unstructure_datetime_enum_and_nested() -> None:
    ret = FulfillmentReturn(
        created_time=datetime(2018, 4, 25, 22, 36, tzinfo=timezone(timedelta(hours=2))),
        state=FulfillmentReturnState.ACCEPTED,
        type="brand_new",
        items=(
            FulfillmentReturnItem(quantity=1, unit_attributes=(UnitAttributes(serial_number="s"),)),
        ),
        live_mode=False,
    )
    assert unstructure(ret) == {
        "createdTime": "2018-04-25T20:36:00Z",
        "state": "accepted",
        "type": "brand_new",
        "items": [{"quantity": 1, "unitAttributes": [{"serialNumber": "s"}]}],
        "livemode": False,
    }


def test_unstructure_reemits_extra_but_a_typed_field_wins() -> None:
    fulfillment = Fulfillment(id="ful_1", extra={"newField": 1, "id": "stale"})
    assert unstructure(fulfillment) == {"id": "ful_1", "newField": 1}


def test_unstructure_copies_mappings() -> None:
    fulfillment = Fulfillment(metadata={"k": "v"})
    encoded = unstructure(fulfillment)
    encoded["metadata"]["k"] = "changed"
    assert fulfillment.metadata == {"k": "v"}


def test_unstructure_page_of_models() -> None:
    page = Page(data=[Fulfillment(id="ful_1")], has_more=False)
    assert unstructure(page) == {"data": [{"id": "ful_1"}], "hasMore": False}
    assert converter.unstructure(page) == unstructure(page)


# --- requests read back from the wire (strict) -------------------------------------------


def test_request_round_trip_through_the_wire() -> None:
    request = FulfillmentRequest(
        "ord_1",
        [FulfillmentRequestItem("i1", quantity=2, distributor_cost=Decimal("10.5"))],
        currency="EUR",
        metadata={"k": "v"},
    )
    wire = unstructure(request)
    assert structure(wire, FulfillmentRequest) == request


def test_request_from_wire_reads_doc_style_strings() -> None:
    request = structure(
        {"orderId": "231388420336", "items": [{"itemId": "158140150336", "quantity": "2"}]},
        FulfillmentRequest,
    )
    assert request.items[0].quantity == 2


def test_return_request_item_from_wire() -> None:
    item = structure(
        {"fulfillmentOrderItemId": "1", "quantity": 1, "unitAttributes": [{"imeiNumber": "35"}]},
        FulfillmentReturnItemRequest,
    )
    assert item.unit_attributes == (UnitAttributes(imei_number="35"),)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (
            {"orderId": "o", "items": [{"itemId": "i", "quantity": 1}], "bogus": 1},
            "unknown field 'bogus'",
        ),
        ({"items": [{"itemId": "i", "quantity": 1}]}, "order_id is required"),
        ({"orderId": "o", "items": [{"itemId": "i", "quantity": "many"}]}, "quantity"),
        ({"orderId": "o", "items": [{"itemId": "i", "quantity": -1}]}, "quantity must be >= 0"),
    ],
)
def test_request_from_wire_is_strict(wire: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        structure(wire, FulfillmentRequest)
