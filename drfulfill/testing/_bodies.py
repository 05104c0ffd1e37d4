"""Request-body rules: what a create or update body may hold, checked the way DR checks it.

Each ``parse_*`` function validates one body and returns what the store needs, or raises
``ErrorReply`` (400) naming the first offending parameter. Nothing here reads the state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

from .._constants import METADATA_MAX_KEY_LENGTH, METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from ._errors import ErrorReply, Json, bad_request

TRACKING_FIELDS = ("trackingCompany", "trackingNumber", "trackingUrl")
_FULFILLMENT_FIELDS = frozenset(
    {"orderId", "shipmentId", "items", "currency", "metadata", "partnerId", *TRACKING_FIELDS}
)
_FULFILLMENT_ECHOED = ("shipmentId", "currency", *TRACKING_FIELDS)
_FULFILLMENT_ITEM_STRINGS = ("itemId", "shipmentItemId", "subfulfillerId", *TRACKING_FIELDS)
_FULFILLMENT_ITEM_COSTS = ("distributorCost", "shippingCost")
_FULFILLMENT_ITEM_FIELDS = frozenset(
    {*_FULFILLMENT_ITEM_STRINGS, *_FULFILLMENT_ITEM_COSTS, "quantity", "cancelQuantity"}
)
_UPDATE_FIELDS = frozenset({"items", "metadata", *TRACKING_FIELDS})
_UPDATE_ITEM_FIELDS = frozenset({"itemId", *TRACKING_FIELDS})
_RETURN_FIELDS = frozenset({"fulfillmentOrderId", "upstreamId", "reason", "items"})
_RETURN_ITEM_FIELDS = frozenset({"fulfillmentOrderItemId", "quantity", "unitAttributes"})
_UNIT_ATTRIBUTE_FIELDS = frozenset({"serialNumber", "imeiNumber", "simCardNumber"})


# --------------------------------------------------------------------------- parsed bodies


class FulfillmentLine(NamedTuple):
    """One validated item of a create request."""

    position: int  # in the request's items: for the parameter of an error
    item_id: str
    quantity: int
    cancel_quantity: int
    echoed: Json  # the optional fields DR echoes back on the response item


class FulfillmentRequest(NamedTuple):
    order_id: str
    lines: list[FulfillmentLine]
    echoed: Json  # the top-level fields DR echoes back
    metadata: Json | None


class FulfillmentUpdate(NamedTuple):
    tracking: Json
    items: list[Json]  # {"itemId", tracking fields...}
    metadata: Json | None  # to merge into the existing metadata


class ReturnRequest(NamedTuple):
    fulfillment_order_id: str
    upstream_id: str | None
    reason: str | None
    items: list[Json]  # {"fulfillmentOrderItemId", "quantity", "unitAttributes"?}


def parse_fulfillment_request(value: Any) -> FulfillmentRequest:
    body = expect_object(value, None)
    check_fields(body, _FULFILLMENT_FIELDS)
    require(body, ("orderId", "items"))
    expect_strings(body, ("orderId", "shipmentId", "currency", "partnerId", *TRACKING_FIELDS))
    items = expect_list(body, "items")
    lines = [parse_fulfillment_item(item, i) for i, item in enumerate(items)]
    metadata = validate_metadata(body["metadata"]) if "metadata" in body else None
    has_costs = any(name in item for item in items for name in _FULFILLMENT_ITEM_COSTS)
    if "currency" not in body and has_costs:
        raise bad_request(
            "missing_parameter",
            "'currency' is required with distributorCost or shippingCost.",
            "currency",
        )
    validate_currency(body)
    echoed = {name: body[name] for name in _FULFILLMENT_ECHOED if name in body}
    return FulfillmentRequest(body["orderId"], lines, echoed, metadata)


def parse_fulfillment_item(value: Any, index: int) -> FulfillmentLine:
    prefix = f"items[{index}]."
    item = expect_object(value, f"items[{index}]")
    check_fields(
        item,
        _FULFILLMENT_ITEM_FIELDS,
        prefix,
        nullable=frozenset({"quantity", "cancelQuantity"}),
        # DR derives skuId from the order line; the spec marks it readOnly in the request.
        read_only=frozenset({"skuId"}),
    )
    require(item, ("itemId",), prefix)
    expect_strings(item, _FULFILLMENT_ITEM_STRINGS, prefix)
    quantity = optional_count(item, "quantity", prefix)
    cancel_quantity = optional_count(item, "cancelQuantity", prefix)
    if quantity is None and cancel_quantity is None:
        raise bad_request(
            "invalid_parameter",
            f"'{prefix}quantity' or '{prefix}cancelQuantity' is required.",
            prefix + "quantity",
        )
    if not (quantity or cancel_quantity):
        raise bad_request(
            "invalid_parameter",
            f"'{prefix}quantity' or '{prefix}cancelQuantity' must be more than 0.",
            prefix + "quantity",
        )
    expect_amounts(item, _FULFILLMENT_ITEM_COSTS, prefix)
    echoed = {
        name: item[name]
        for name in (*_FULFILLMENT_ITEM_STRINGS[1:], *_FULFILLMENT_ITEM_COSTS)
        if name in item
    }
    return FulfillmentLine(index, item["itemId"], quantity or 0, cancel_quantity or 0, echoed)


def parse_fulfillment_update(value: Any) -> FulfillmentUpdate:
    """Tracking (top level and per item) and metadata only."""
    body = expect_object(value, None)
    check_fields(body, _UPDATE_FIELDS)
    expect_strings(body, TRACKING_FIELDS)
    items = []
    for index, item_value in enumerate(expect_list(body, "items") if "items" in body else ()):
        prefix = f"items[{index}]."
        item = expect_object(item_value, f"items[{index}]")
        check_fields(item, _UPDATE_ITEM_FIELDS, prefix)
        require(item, ("itemId",), prefix)
        expect_strings(item, _UPDATE_ITEM_FIELDS, prefix)
        items.append(item)
    metadata = validate_metadata(body["metadata"], update=True) if "metadata" in body else None
    tracking = {name: body[name] for name in TRACKING_FIELDS if name in body}
    return FulfillmentUpdate(tracking, items, metadata)


def parse_return_request(value: Any) -> ReturnRequest:
    body = expect_object(value, None)
    check_fields(body, _RETURN_FIELDS)
    require(body, ("fulfillmentOrderId", "items"))
    expect_strings(body, ("fulfillmentOrderId", "upstreamId", "reason"))
    items = [parse_return_item(item, i) for i, item in enumerate(expect_list(body, "items"))]
    return ReturnRequest(
        body["fulfillmentOrderId"], body.get("upstreamId"), body.get("reason"), items
    )


def parse_return_item(value: Any, index: int) -> Json:
    prefix = f"items[{index}]."
    item = expect_object(value, f"items[{index}]")
    check_fields(item, _RETURN_ITEM_FIELDS, prefix)
    require(item, ("fulfillmentOrderItemId", "quantity"), prefix)
    expect_strings(item, ("fulfillmentOrderItemId",), prefix)
    optional_count(item, "quantity", prefix, minimum=1)
    if "unitAttributes" in item:
        units = item["unitAttributes"]
        if not isinstance(units, list):
            raise bad_request(
                "invalid_parameter",
                f"'{prefix}unitAttributes' must be an array.",
                prefix + "unitAttributes",
            )
        for j, unit in enumerate(units):
            unit_prefix = f"{prefix}unitAttributes[{j}]."
            check_fields(expect_object(unit, unit_prefix[:-1]), _UNIT_ATTRIBUTE_FIELDS, unit_prefix)
            expect_strings(unit, _UNIT_ATTRIBUTE_FIELDS, unit_prefix)
    return item


# --------------------------------------------------------------------------- field rules


def expect_object(value: Any, parameter: str | None) -> Json:
    if not isinstance(value, dict):
        where = f"'{parameter}'" if parameter else "The request body"
        raise bad_request("invalid_parameter", f"{where} must be a JSON object.", parameter)
    return value


def check_fields(
    obj: Json,
    allowed: frozenset[str],
    prefix: str = "",
    *,
    nullable: frozenset[str] = frozenset(),
    read_only: frozenset[str] = frozenset(),
) -> None:
    """Unknown fields are ``unknown_parameter``; ``null`` for a non-nullable one, or a field
    the schema marks readOnly, is ``invalid_parameter``."""
    for name, value in obj.items():
        if name in read_only:
            raise bad_request("invalid_parameter", f"'{prefix}{name}' is read-only.", prefix + name)
        if name not in allowed:
            raise bad_request(
                "unknown_parameter", f"Unknown parameter '{prefix}{name}'.", prefix + name
            )
        if value is None and name not in nullable:
            raise bad_request(
                "invalid_parameter", f"'{prefix}{name}' must not be null.", prefix + name
            )


def require(obj: Json, names: Iterable[str], prefix: str = "") -> None:
    for name in names:
        if obj.get(name) is None:
            raise bad_request("missing_parameter", f"'{prefix}{name}' is required.", prefix + name)


def expect_strings(obj: Json, names: Iterable[str], prefix: str = "") -> None:
    for name in names:
        if name in obj and not isinstance(obj[name], str):
            raise bad_request(
                "invalid_parameter", f"'{prefix}{name}' must be a string.", prefix + name
            )


def expect_list(obj: Json, name: str, prefix: str = "") -> list[Any]:
    value = obj[name]
    if not isinstance(value, list) or not value:
        raise bad_request(
            "invalid_parameter", f"'{prefix}{name}' must be a non-empty array.", prefix + name
        )
    return value


def optional_count(obj: Json, name: str, prefix: str, minimum: int = 0) -> int | None:
    """A non-negative integer (JSON integers only: 2.0 and "2" are refused)."""
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_request(
            "invalid_parameter",
            f"'{prefix}{name}' must be an integer of at least {minimum}.",
            prefix + name,
        )
    return value


def expect_amounts(obj: Json, names: Iterable[str], prefix: str) -> None:
    for name in names:
        value = obj.get(name)
        if value is None:
            continue
        number = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
        if isinstance(value, bool) or not number or value < 0:
            raise bad_request(
                "invalid_parameter",
                f"'{prefix}{name}' must be a number of at least 0.",
                prefix + name,
            )


def validate_metadata(value: Any, *, update: bool = False) -> Json:
    """DR's limits (20 keys, keys up to 40 characters, string values up to 500) and the
    spec's value types: a create's ``Metadata`` holds strings, integers or booleans; an
    update's is ``StringMetadata``, ``NumberMetadata`` or ``BooleanMetadata``: all values
    strings, all numbers (``100.8`` included) or all booleans."""
    metadata = expect_object(value, "metadata")
    if len(metadata) > METADATA_MAX_KEYS:
        raise too_many_metadata_pairs()
    first_kind = None
    for key, item in metadata.items():
        if not key or len(key) > METADATA_MAX_KEY_LENGTH:
            raise bad_request(
                "invalid_metadata_key",
                f"Metadata keys must be 1 to {METADATA_MAX_KEY_LENGTH} characters.",
                f"metadata.{key}",
            )
        kind = _metadata_kind(item)
        if update and kind == "integer":
            kind = "number"  # NumberMetadata: any JSON number
        first_kind = first_kind or kind
        if kind is None or (update and kind != first_kind) or (not update and kind == "number"):
            raise bad_request(
                "invalid_metadata_value",
                _UPDATE_METADATA_RULE if update else _CREATE_METADATA_RULE,
                f"metadata.{key}",
            )
    return metadata


_CREATE_METADATA_RULE = (
    f"Metadata values must be strings of at most {METADATA_MAX_VALUE_LENGTH} characters, "
    "integers or booleans."
)
_UPDATE_METADATA_RULE = (
    f"Metadata values must be all strings of at most {METADATA_MAX_VALUE_LENGTH} characters, "
    "all numbers or all booleans."
)


def _metadata_kind(value: Any) -> str | None:
    """string, integer, number (a finite non-integer), boolean, or None for anything else."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float) and math.isfinite(value):
        return "number"
    if isinstance(value, str) and len(value) <= METADATA_MAX_VALUE_LENGTH:
        return "string"
    return None


def too_many_metadata_pairs() -> ErrorReply:
    return bad_request(
        "too_many_metadata_pairs",
        f"Metadata can have at most {METADATA_MAX_KEYS} keys.",
        "metadata",
    )


def validate_currency(body: Json) -> None:
    currency = body.get("currency")
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise bad_request(
            "invalid_parameter", "currency must be an ISO 4217 code such as USD.", "currency"
        )
