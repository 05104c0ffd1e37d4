"""The converter: datetimes, tolerant decoding, None-omitting encoding."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from drfulfill import _convert
from drfulfill._convert import (
    converter,
    format_datetime,
    has_utc_offset,
    parse_datetime,
    structure,
    to_camel,
    unstructure,
)
from drfulfill.errors import DecodeError, ValidationError
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


def test_format_datetime_refuses_naive_with_validation_error() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        format_datetime(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    "model",
    [
        FulfillmentItem(distributor_cost=Decimal("1e999999999")),
        FulfillmentItem(shipping_cost=Decimal("NaN")),
        FulfillmentReturn(id="r", created_time=datetime(2024, 1, 1)),
    ],
    ids=["huge money", "NaN money", "naive time"],
)
def test_encoding_a_hand_built_bad_model_is_a_validation_error(model: object) -> None:
    # Decoding and request validation never build these; a caller can, and encode must
    # neither hang (1e999999999 as an integer has a billion digits) nor raise ValueError.
    with pytest.raises(ValidationError):
        unstructure(model)


# --- structure: fast path, tolerant reader, strict required fields -----------------------

# The fields DR always sends: the smallest body each response model accepts.
FUL = {"id": "ful_1", "createdTime": "2018-04-25T20:36:00Z", "orderId": "o_1", "items": []}
RET = {"id": "ret_1", "createdTime": "2018-04-25T20:36:00Z"}


def ful(**fields: object) -> Fulfillment:
    """A Fulfillment with the required fields plus ``fields``."""
    return Fulfillment(id="ful_1", created_time=APRIL_25, order_id="o_1", items=(), **fields)  # type: ignore[arg-type]


def ret(**fields: object) -> FulfillmentReturn:
    return FulfillmentReturn(id="ret_1", created_time=APRIL_25, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [["not", "an", "object"], "id", 3, None])
def test_structure_rejects_a_non_mapping_with_decode_error(data: object) -> None:
    with pytest.raises(DecodeError, match="needs a JSON object"):
        structure(data, Fulfillment)  # type: ignore[arg-type]


def test_the_minimal_bodies_decode() -> None:
    assert structure(FUL, Fulfillment) == ful()
    assert structure(RET, FulfillmentReturn) == ret()


@pytest.mark.parametrize(
    ("cls", "body", "message"),
    [
        (Fulfillment, {"status": "queued"}, "no 'id'"),
        (Fulfillment, {**FUL, "id": None}, "no 'id'"),
        (Fulfillment, {**FUL, "id": ["x"]}, "unreadable 'id'"),
        (Fulfillment, {**FUL, "createdTime": "last tuesday"}, "unreadable 'createdTime'"),
        (Fulfillment, {**FUL, "createdTime": None}, "no 'createdTime'"),
        (Fulfillment, {k: v for k, v in FUL.items() if k != "orderId"}, "no 'orderId'"),
        (Fulfillment, {k: v for k, v in FUL.items() if k != "items"}, "no 'items'"),
        (Fulfillment, {**FUL, "items": "oops"}, "unreadable 'items'"),
        (FulfillmentReturn, {"state": "pending"}, "no 'id'"),
        (FulfillmentReturn, {**RET, "createdTime": 5}, "unreadable 'createdTime'"),
    ],
)
def test_a_body_without_what_dr_always_sends_is_a_decode_error(
    cls: type, body: dict[str, object], message: str
) -> None:
    with pytest.raises(DecodeError, match=message) as caught:
        structure(body, cls)
    assert caught.value.text == repr(body)


def test_items_null_is_a_decode_error_but_an_empty_list_is_not() -> None:
    # null means absent, and items is one of the fields DR always sends
    with pytest.raises(DecodeError):
        structure({**FUL, "items": None}, Fulfillment)
    assert structure({**FUL, "items": []}, Fulfillment).items == ()


def test_unknown_fields_go_to_extra_by_wire_name() -> None:
    fulfillment = structure({**FUL, "newField": {"a": 1}, "another": None}, Fulfillment)
    assert fulfillment.id == "ful_1"
    assert fulfillment.extra == {"newField": {"a": 1}, "another": None}


def test_null_means_absent() -> None:
    assert structure({**FUL, "shipmentId": None, "liveMode": None}, Fulfillment) == ful()
    assert structure({"itemId": None, "quantity": None}, FulfillmentItem) == FulfillmentItem()


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


def test_fast_path_values_are_exact() -> None:
    item = structure(
        {"itemId": "1", "quantity": 2, "distributorCost": 20.5, "shippingCost": 4}, FulfillmentItem
    )
    assert item == FulfillmentItem(
        item_id="1", quantity=2, distributor_cost=Decimal("20.5"), shipping_cost=Decimal(4)
    )
    assert type(item.distributor_cost) is Decimal and type(item.shipping_cost) is Decimal
    fulfillment = structure({**FUL, "createdTime": "2018-04-25T20:36:00.120Z"}, Fulfillment)
    assert fulfillment.created_time == APRIL_25.replace(microsecond=120000)
    assert fulfillment.created_time.tzinfo is UTC


def test_a_bool_is_no_integer_and_no_string() -> None:
    item = structure({"quantity": True, "itemId": False}, FulfillmentItem)
    assert item.quantity is None and item.item_id is None
    assert item.extra == {"quantity": True, "itemId": False}


@pytest.mark.parametrize("wire", [1e-20, 1e300, "1e5000", "1e-999999999", 10**20, "NaN"])
def test_money_out_of_bounds_stays_raw_in_extra(wire: object) -> None:
    item = structure({"distributorCost": wire}, FulfillmentItem)
    assert item.distributor_cost is None and item.extra == {"distributorCost": wire}


@pytest.mark.parametrize(("wire", "expected"), [(True, True), ("false", False), ("TRUE", True)])
def test_booleans_and_boolean_strings(wire: object, expected: bool) -> None:
    assert structure({**FUL, "liveMode": wire}, Fulfillment).live_mode is expected


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


def test_misfit_collections_and_nested_objects_go_to_extra() -> None:
    decoded = structure(
        {**RET, "items": "oops", "location": ["not", "an", "object"]}, FulfillmentReturn
    )
    assert decoded.items == () and decoded.location is None
    assert decoded.extra == {"items": "oops", "location": ["not", "an", "object"]}


def test_an_unusual_nested_item_keeps_its_siblings_on_the_fast_path() -> None:
    body = {**FUL, "items": [{"itemId": "1", "quantity": 1}, {"itemId": "2", "new": 1}]}
    decoded = structure(body, Fulfillment)
    assert decoded.items == (
        FulfillmentItem(item_id="1", quantity=1),
        FulfillmentItem(item_id="2", extra={"new": 1}),
    )
    assert decoded.extra == {}


def test_unknown_enum_values_are_kept_as_strings() -> None:
    decoded = structure({**RET, "state": "on_hold", "type": "warehouse"}, FulfillmentReturn)
    assert decoded.state == "on_hold" and type(decoded.state) is str
    assert decoded.type is FulfillmentReturnType.WAREHOUSE
    known = structure({**RET, "state": "pending"}, FulfillmentReturn)
    assert known.state is FulfillmentReturnState.PENDING
    assert known.state == "pending"  # str enum


def test_non_string_enum_value_goes_to_extra() -> None:
    decoded = structure({**RET, "state": 3}, FulfillmentReturn)
    assert decoded.state is None and decoded.extra == {"state": 3}


@pytest.mark.parametrize("wire", ["liveMode", "livemode"])
@pytest.mark.parametrize(("cls", "base"), [(Fulfillment, FUL), (FulfillmentReturn, RET)])
def test_both_live_mode_spellings_land_in_live_mode(wire: str, cls: type, base: dict) -> None:
    decoded = structure({**base, wire: True}, cls)
    assert decoded.live_mode is True
    assert decoded.extra == {}


@pytest.mark.parametrize(
    "text",
    [
        "2018-04-25T20:36:00Z",
        "2018-04-25T20:36:00.000Z",
        "2018-04-25T22:36:00+02:00",
        "2018-04-25 20:36:00",
        "2018-04-25T20:36Z",
        "2018-04-25T20:36:00.000000000Z",
    ],
)
def test_every_iso_form_reads_the_same_instant(text: str) -> None:
    assert structure({**FUL, "createdTime": text}, Fulfillment).created_time == APRIL_25


JUNK = [None, 0, -1, 1.5, True, "", "x", [], [1, "a"], {}, {"a": [1]}, float("nan")]
JUNK_KEYS = [
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


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (Fulfillment, FUL),
        (FulfillmentItem, {}),
        (FulfillmentReturn, RET),
        (FulfillmentReturnItem, {}),
    ],
)
def test_decoding_raises_only_decode_error_on_junk_values(cls: type, base: dict) -> None:
    required = {"id", "createdTime", "orderId", "items"} & set(base)
    for key in JUNK_KEYS:
        for value in JUNK:
            try:
                structure({**base, key: value}, cls)
            except DecodeError:
                assert key in required
            nested = {"items": [{key: value}], "location": {"address": {key: value}}}
            structure({**base, **nested}, cls)


def test_converter_structure_uses_the_same_hooks() -> None:
    data = {**FUL, "liveMode": False, "x": 1}
    assert converter.structure(data, Fulfillment) == structure(data, Fulfillment)


def test_encoding_uses_cattrs_generated_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoding is cattrs' ``make_dict_unstructure_fn``: without it, nothing encodes.
    Decoding is not (``_fastpath`` says why, with the benchmark that measures it)."""

    def refuses(*args: object, **kwargs: object) -> object:
        raise AssertionError("cattrs make_dict_unstructure_fn used")

    monkeypatch.setattr(_convert, "make_dict_unstructure_fn", refuses)
    monkeypatch.setattr(_convert, "_structure_fns", {})
    monkeypatch.setattr(_convert, "_complete_fns", {})
    monkeypatch.setattr(_convert, "_unstructure_fns", {})
    assert structure(FUL, Fulfillment).id == FUL["id"]
    with pytest.raises(AssertionError, match="make_dict_unstructure_fn"):
        unstructure(ful())


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
    decoded = FulfillmentReturn(
        id="ret_1",
        created_time=datetime(2018, 4, 25, 22, 36, tzinfo=timezone(timedelta(hours=2))),
        state=FulfillmentReturnState.ACCEPTED,
        type="brand_new",
        items=(
            FulfillmentReturnItem(quantity=1, unit_attributes=(UnitAttributes(serial_number="s"),)),
        ),
        live_mode=False,
    )
    assert unstructure(decoded) == {
        "id": "ret_1",
        "createdTime": "2018-04-25T20:36:00Z",
        "state": "accepted",
        "type": "brand_new",
        "items": [{"quantity": 1, "unitAttributes": [{"serialNumber": "s"}]}],
        "livemode": False,
    }


def test_unstructure_reemits_extra_but_a_typed_field_wins() -> None:
    fulfillment = ful(extra={"newField": 1, "id": "stale"})
    assert unstructure(fulfillment) == {**FUL, "items": [], "newField": 1}


def test_unstructure_copies_mappings() -> None:
    fulfillment = ful(metadata={"k": "v"})
    encoded = unstructure(fulfillment)
    encoded["metadata"]["k"] = "changed"
    assert fulfillment.metadata == {"k": "v"}


def test_unstructure_page_of_models() -> None:
    page = Page(data=[ful()], has_more=False)
    assert unstructure(page) == {"data": [FUL], "hasMore": False}
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
