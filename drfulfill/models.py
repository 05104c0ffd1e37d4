"""Typed models of the Fulfillments and Fulfillment Returns APIs.

All models are frozen, slotted attrs classes whose snake_case fields are named after the
camelCase wire fields (``created_time`` <- ``createdTime``). Encoding and decoding live in
``drfulfill._convert``.

*Response models* (``Fulfillment``, ``FulfillmentReturn`` and their parts) are built by the
decoder and never fail on what Digital River sends: every field is optional, unknown wire
fields are kept in ``extra`` (keyed by wire name), unknown enum values stay plain strings,
and a value that cannot be read as its declared type (say an unparseable ``createdTime``)
leaves the field None and is kept, raw, in ``extra`` under its wire name.

*Request models* (``FulfillmentRequest``, ``FulfillmentRequestItem``, ...) validate at
construction and raise ``ValidationError`` whose message names the field, e.g.
``items[0].quantity must be >= 0, got -1``. Items may be given as model instances or as
dicts with the same snake_case keys.

Equality compares every field. Hashing skips the dict-valued fields (``extra``,
``metadata``, ``order_details``: declared ``hash=False``), so every model except ``Page``
is hashable; collections are tuples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Generic, TypeVar

import attrs

from ._constants import METADATA_MAX_KEY_LENGTH, METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from ._convert import EXTRA_FIELD, format_datetime
from ._readers import MONEY_MAX_DECIMAL_PLACES, MONEY_MAX_DIGITS_BEFORE_POINT, is_money
from .errors import ValidationError

__all__ = [
    "Address",
    "BulkResult",
    "CreatedTime",
    "Fulfillment",
    "FulfillmentItem",
    "FulfillmentRequest",
    "FulfillmentRequestItem",
    "FulfillmentReturn",
    "FulfillmentReturnItem",
    "FulfillmentReturnItemRequest",
    "FulfillmentReturnItemState",
    "FulfillmentReturnRequest",
    "FulfillmentReturnState",
    "FulfillmentReturnType",
    "Location",
    "Page",
    "UnitAttributes",
    "UpdateFulfillmentItem",
    "UpdateFulfillmentRequest",
    "from_mapping",
]

T = TypeVar("T")
M = TypeVar("M")


# --- enums -------------------------------------------------------------------------------


class FulfillmentReturnState(str, Enum):
    """State of a fulfillment return. Happy path: created -> pending -> accepted."""

    CREATED = "created"  # received by the fulfiller, not yet approved or rejected
    PENDING = "pending"  # approved; the items have not reached the warehouse yet
    ACCEPTED = "accepted"  # the items were received at the warehouse
    REJECTED = "rejected"  # the fulfiller rejected the return


class FulfillmentReturnType(str, Enum):
    """Who started a fulfillment return."""

    CLIENT = "client"  # a standard return, usually started by the customer
    WAREHOUSE = "warehouse"  # a refused shipment


class FulfillmentReturnItemState(str, Enum):
    """State of one returned line item. Happy path: pending -> accepted."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


# --- validation helpers ------------------------------------------------------------------
#
# A ValidationError carries where it happened as (text before, field path, text after), so
# that a container can re-raise an item's error with the item's position prefixed to the
# path: "quantity must be >= 0" becomes "items[2].quantity must be >= 0".

_LOCATION = "_drfulfill_location"


def _located_error(before: str, path: str, after: str) -> ValidationError:
    error = ValidationError(f"{before}{path}{after}")
    setattr(error, _LOCATION, (before, path, after))
    return error


def _invalid(path: str, problem: str) -> ValidationError:
    return _located_error("", path, f" {problem}")


def _nested(error: ValidationError, prefix: str) -> ValidationError:
    before, path, after = getattr(error, _LOCATION, ("", "", f": {error}"))
    return _located_error(before, f"{prefix}.{path}" if path else prefix, after)


def _short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters; never raises."""
    try:
        text = repr(value)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        text = "<too long to show>"
    return text if len(text) <= 60 else text[:60] + "..."


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {_short(value)}"


def _non_empty_str(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(attribute.name, f"must be a non-empty string, got {_describe(value)}")


def _optional_non_empty_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _non_empty_str(instance, attribute, value)


def _optional_str(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise _invalid(attribute.name, f"must be a string, got {_describe(value)}")


def _check_int(path: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(path, f"must be an int, got {_describe(value)}")
    if value < minimum:
        raise _invalid(path, f"must be >= {minimum}, got {value}")


def _optional_count(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _check_int(attribute.name, value, 0)


def _positive_count(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _check_int(attribute.name, value, 1)


_CURRENCY_CODE = re.compile(r"[A-Za-z]{3}")


def _optional_currency(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not (isinstance(value, str) and _CURRENCY_CODE.fullmatch(value)):
        raise _invalid(attribute.name, f"must be a 3-letter ISO 4217 code, got {value!r}")


def _to_decimal_if_numeric(value: Any) -> Any:
    """Money given as int, float or str becomes a Decimal; anything else (or an int too
    large to be money, kept out of Decimal so it costs nothing) is left for the validator
    to reject with the field's name."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return value
    if isinstance(value, int):
        return Decimal(value) if abs(value) < _MONEY_INT_LIMIT else value
    try:
        return Decimal(repr(value) if isinstance(value, float) else value.strip())
    except (InvalidOperation, ValueError):
        return value


_MONEY_INT_LIMIT = 10**MONEY_MAX_DIGITS_BEFORE_POINT


def _optional_money(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    too_large = isinstance(value, int) and not isinstance(value, bool)  # kept out of Decimal
    if not too_large and (not isinstance(value, Decimal) or not value.is_finite()):
        raise _invalid(attribute.name, f"must be a number, got {_describe(value)}")
    if not too_large and value < 0:
        raise _invalid(attribute.name, f"must be >= 0, got {value}")
    if too_large or not is_money(value):
        raise _invalid(
            attribute.name,
            f"must be below 10^{MONEY_MAX_DIGITS_BEFORE_POINT} with at most "
            f"{MONEY_MAX_DECIMAL_PLACES} decimal places, got {_describe(value)}",
        )


# Metadata (DR "Metadata" rules): at most 20 keys of at most 40 characters. On create
# (``Metadata``: "string, boolean or integer types") values are strings of at most 500
# characters, integers or booleans; an update (``StringMetadata``/``NumberMetadata``/
# ``BooleanMetadata``) takes all strings, all numbers (floats too) or all booleans.
# Integers are 64-bit, as DR's (Java) backend stores them.
_METADATA_KINDS: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "float"}
_INT64 = 2**63


def _copy_if_mapping(value: Any) -> Any:
    """A private copy, so later changes to the caller's dict cannot reach a frozen model."""
    return dict(value) if isinstance(value, Mapping) else value


def _metadata_kind(key: str, value: Any, *, floats: bool) -> str:
    kind = next((kind for cls, kind in _METADATA_KINDS.items() if isinstance(value, cls)), None)
    path = f"metadata[{key!r}]"
    allowed = "a string, number or boolean" if floats else "a string, integer or boolean"
    if kind is None or (kind == "float" and not floats):
        raise _invalid(path, f"must be {allowed}, got {_describe(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(path, f"must be a finite number, got {value!r}")
    if kind == "integer" and not -_INT64 <= value < _INT64:
        raise _invalid(path, f"must fit in 64 bits, got {_describe(value)}")
    if isinstance(value, str) and len(value) > METADATA_MAX_VALUE_LENGTH:
        raise _invalid(
            path,
            f"is {len(value)} characters long; at most {METADATA_MAX_VALUE_LENGTH} are allowed",
        )
    return "number" if kind in ("integer", "float") else kind


def _check_metadata(metadata: Any, *, floats: bool) -> set[str]:
    """Validate DR's metadata limits; return the kinds of value present."""
    if not isinstance(metadata, Mapping):
        raise _invalid("metadata", f"must be a dict, got {_describe(metadata)}")
    if len(metadata) > METADATA_MAX_KEYS:
        raise _invalid(
            "metadata", f"has {len(metadata)} keys; at most {METADATA_MAX_KEYS} are allowed"
        )
    kinds = set()
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise _invalid("metadata", f"keys must be non-empty strings, got {_describe(key)}")
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise _invalid(
                f"metadata[{key[:60]!r}]",
                f"key is {len(key)} characters long; at most {METADATA_MAX_KEY_LENGTH} are allowed",
            )
        kinds.add(_metadata_kind(key, value, floats=floats))
    return kinds


def _optional_metadata(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _check_metadata(value, floats=False)


def _optional_uniform_metadata(
    _instance: Any, _attribute: attrs.Attribute[Any], value: Any
) -> None:
    """Update bodies take StringMetadata, NumberMetadata or BooleanMetadata: one value kind."""
    if value is None:
        return
    kinds = _check_metadata(value, floats=True)
    if len(kinds) > 1:
        raise _invalid(
            "metadata",
            "values of an update must be all strings, all numbers or all booleans, "
            f"got {' and '.join(sorted(kinds))}",
        )


_init_keys_by_class: dict[type, tuple[frozenset[str], tuple[str, ...]]] = {}


def _init_keys(cls: type) -> tuple[frozenset[str], tuple[str, ...]]:
    """(accepted dict keys, required dict keys) for building ``cls`` from a dict."""
    keys = _init_keys_by_class.get(cls)
    if keys is None:
        fields = [f for f in attrs.fields(cls) if f.init and f.name != EXTRA_FIELD]
        accepted = frozenset(f.alias or f.name for f in fields)
        required = tuple(f.alias or f.name for f in fields if f.default is attrs.NOTHING)
        keys = _init_keys_by_class[cls] = (accepted, required)
    return keys


def from_mapping(cls: type[M], data: Mapping[str, Any]) -> M:
    """Build a model from a dict of its snake_case field names, validating as the
    constructor does.

    The one dict -> model path of the SDK (nested items, ``create(dict)``, CLI rows). Every
    problem is a ``ValidationError`` naming the field: ``unknown field 'bogus' in
    FulfillmentRequest``, ``order_id is required``, ``items[0].quantity must be >= 0, got -1``.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a {cls.__name__} or a dict, got {_describe(data)}")
    return _from_dict(cls, data, "")


def _from_dict(cls: type[M], data: Mapping[Any, Any], path: str) -> M:
    accepted, required = _init_keys(cls)
    for key in data:
        if key not in accepted:
            if not path:
                raise ValidationError(f"unknown field {_short(key)} in {cls.__name__}")
            raise _located_error(f"unknown field {_short(key)} in ", path, "")
    for key in required:
        if key not in data:
            raise _invalid(f"{path}.{key}" if path else key, "is required")
    try:
        return cls(**data)
    except ValidationError as error:
        raise (_nested(error, path) if path else error) from None


def _tuple_of(cls: type[M], field_name: str, value: Any, *, optional: bool) -> tuple[M, ...] | None:
    """An iterable of ``cls`` instances or dicts -> tuple (the list fields' attrs converters).

    A required field must not be empty; an optional one maps None or empty to None.
    """
    if value is None and optional:
        return None
    if value is None or isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise _invalid(field_name, f"must be a list of {cls.__name__}, got {_describe(value)}")
    items = tuple(_as_model(cls, item, f"{field_name}[{i}]") for i, item in enumerate(value))
    if items:
        return items
    if optional:
        return None
    raise _invalid(field_name, "must not be empty")


def _as_model(cls: type[M], item: Any, path: str) -> M:
    if isinstance(item, cls):
        return item
    if isinstance(item, Mapping):
        return _from_dict(cls, item, path)
    raise _invalid(path, f"must be a {cls.__name__} or a dict, got {_describe(item)}")


# --- shared parts ------------------------------------------------------------------------


@attrs.frozen
class UnitAttributes:
    """Identifiers of one phone unit, in fulfillment-return requests and responses.

    ``serial_number``, ``imei_number``, ``sim_card_number``: strings or None.
    ``extra``: wire fields this version does not know.
    """

    serial_number: str | None = attrs.field(default=None, validator=_optional_str)
    imei_number: str | None = attrs.field(default=None, validator=_optional_str)
    sim_card_number: str | None = attrs.field(default=None, validator=_optional_str)
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class Address:
    """A postal address (DR ``GlobalFulfillmentAddress``).

    ``line1``, ``line2``, ``city``, ``postal_code``, ``state`` and ``country`` (ISO 3166
    alpha-2), all strings or None; ``extra`` holds unknown wire fields.
    """

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class Location:
    """Where returned goods go: ``address`` plus contact ``name``, ``phone``, ``email``.

    Populated once the fulfiller approves a return. ``extra`` holds unknown wire fields.
    """

    address: Address | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


# --- fulfillments: responses -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FulfillmentItem:
    """One line item of a fulfillment.

    - ``item_id``, ``sku_id``: the order line item and its SKU.
    - ``quantity``, ``cancel_quantity``: units fulfilled and cancelled by this fulfillment.
    - ``shipment_item_id``, ``subfulfiller_id``: distributed-model identifiers.
    - ``tracking_company``, ``tracking_number``, ``tracking_url``: per-item tracking.
    - ``distributor_cost`` (line total), ``shipping_cost``: ``Decimal`` money in the
      fulfillment's ``currency``.
    - ``extra``: wire fields this version does not know.
    """

    item_id: str | None = None
    sku_id: str | None = None
    shipment_item_id: str | None = None
    quantity: int | None = None
    cancel_quantity: int | None = None
    tracking_company: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    subfulfiller_id: str | None = None
    distributor_cost: Decimal | None = None
    shipping_cost: Decimal | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class Fulfillment:
    """A fulfillment: units of an order fulfilled (captured) and/or cancelled.

    - ``id``: e.g. ``ful_…`` (do not rely on the prefix); ``created_time``: aware, UTC.
    - ``order_id``, ``shipment_id``; ``items``: tuple of ``FulfillmentItem``.
    - ``currency``: what the distributor is paid in; ``live_mode``: False in test mode.
    - ``metadata``: your key/value pairs; ``tracking_company``, ``tracking_number``,
      ``tracking_url``.
    - ``order_details``: only from ``retrieve`` (``GET /fulfillments/{id}``), the order as
      a raw mapping, not a typed model (it is the whole, evolving Order object).
    - ``extra``: wire fields this version does not know, keyed by wire name.
    """

    id: str
    created_time: datetime
    order_id: str
    items: tuple[FulfillmentItem, ...]
    shipment_id: str | None = None
    currency: str | None = None
    live_mode: bool | None = attrs.field(
        default=None, metadata={"wire": "liveMode", "aliases": ("livemode",)}
    )
    metadata: dict[str, Any] | None = attrs.field(default=None, hash=False)
    tracking_company: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    order_details: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


# --- fulfillment returns: responses ------------------------------------------------------


@attrs.frozen(kw_only=True)
class FulfillmentReturnItem:
    """One line item of a fulfillment return.

    - ``fulfillment_order_item_id``, ``inventory_item_id``.
    - ``quantity``: requested; ``quantity_accepted``: accepted so far by the fulfiller.
    - ``state``: a ``FulfillmentReturnItemState``, or the plain string for a new value.
    - ``location``; ``unit_attributes`` and ``unit_attributes_accepted``: tuples of
      ``UnitAttributes``; ``extra``: wire fields this version does not know.
    """

    fulfillment_order_item_id: str | None = None
    inventory_item_id: str | None = None
    quantity: int | None = None
    quantity_accepted: int | None = None
    state: FulfillmentReturnItemState | str | None = None
    location: Location | None = None
    unit_attributes: tuple[UnitAttributes, ...] = ()
    unit_attributes_accepted: tuple[UnitAttributes, ...] = ()
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class FulfillmentReturn:
    """A fulfillment return (Digital River coordinated returns).

    - ``id``: e.g. ``ret_…``; ``created_time``: aware, UTC.
    - ``fulfillment_order_id``; ``upstream_id``: usually the DR order id.
    - ``items``: tuple of ``FulfillmentReturnItem``; ``reason``: free text.
    - ``state``: ``FulfillmentReturnState``; ``type``: ``FulfillmentReturnType`` (either
      may be a plain string when DR adds a value).
    - ``location``: the return address; ``live_mode``: from the wire's ``livemode``.
    - ``extra``: wire fields this version does not know, keyed by wire name.
    """

    id: str
    created_time: datetime
    fulfillment_order_id: str | None = None
    upstream_id: str | None = None
    items: tuple[FulfillmentReturnItem, ...] = ()
    reason: str | None = None
    state: FulfillmentReturnState | str | None = None
    type: FulfillmentReturnType | str | None = None
    location: Location | None = None
    live_mode: bool | None = attrs.field(
        default=None, metadata={"wire": "livemode", "aliases": ("liveMode",)}
    )
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


# --- fulfillments: requests --------------------------------------------------------------


@attrs.frozen
class FulfillmentRequestItem:
    """One line of a create-fulfillment request.

    ``item_id`` (the order's line item) is required. Give ``quantity`` (units to fulfil,
    which captures money) and/or ``cancel_quantity`` (units to cancel): ints >= 0, at least
    one of them > 0. Money (``distributor_cost``, the line total, and ``shipping_cost``) is
    a Decimal >= 0 below 10^15 with at most 18 decimal places (int, float and str are
    converted; ``"1e5000"`` is refused at once) and requires the request's ``currency``.
    Optional: ``shipment_item_id``, ``subfulfiller_id`` and per-item tracking.
    """

    item_id: str = attrs.field(validator=_non_empty_str)
    quantity: int | None = attrs.field(default=None, validator=_optional_count)
    cancel_quantity: int | None = attrs.field(default=None, validator=_optional_count)
    shipment_item_id: str | None = attrs.field(default=None, validator=_optional_non_empty_str)
    tracking_company: str | None = attrs.field(default=None, validator=_optional_str)
    tracking_number: str | None = attrs.field(default=None, validator=_optional_str)
    tracking_url: str | None = attrs.field(default=None, validator=_optional_str)
    subfulfiller_id: str | None = attrs.field(default=None, validator=_optional_non_empty_str)
    distributor_cost: Decimal | None = attrs.field(
        default=None, converter=_to_decimal_if_numeric, validator=_optional_money
    )
    shipping_cost: Decimal | None = attrs.field(
        default=None, converter=_to_decimal_if_numeric, validator=_optional_money
    )

    def __attrs_post_init__(self) -> None:
        if self.quantity is None and self.cancel_quantity is None:
            raise _invalid("quantity", "or cancel_quantity is required")
        if not (self.quantity or self.cancel_quantity):
            raise _invalid("quantity", "or cancel_quantity must be > 0")


def _request_items(value: Any) -> tuple[FulfillmentRequestItem, ...]:
    items = _tuple_of(FulfillmentRequestItem, "items", value, optional=False)
    assert items is not None  # a required list is never None
    return items


@attrs.frozen
class FulfillmentRequest:
    """Body of ``POST /fulfillments``: fulfil and/or cancel items of one order.

    ``order_id`` and a non-empty ``items`` (``FulfillmentRequestItem`` or dicts with the
    same keys) are required. ``currency`` (ISO 4217) is required when any item carries a
    cost. ``metadata``: at most 20 keys of <= 40 characters; values are str (<= 500
    characters), int (64-bit) or bool: a float is refused, as DR's create schema says.
    Optional: ``shipment_id``, ``partner_id`` and tracking.
    """

    order_id: str = attrs.field(validator=_non_empty_str)
    items: tuple[FulfillmentRequestItem, ...] = attrs.field(converter=_request_items)
    shipment_id: str | None = attrs.field(default=None, validator=_optional_non_empty_str)
    currency: str | None = attrs.field(default=None, validator=_optional_currency)
    metadata: dict[str, Any] | None = attrs.field(
        default=None, converter=_copy_if_mapping, validator=_optional_metadata, hash=False
    )
    tracking_company: str | None = attrs.field(default=None, validator=_optional_str)
    tracking_number: str | None = attrs.field(default=None, validator=_optional_str)
    tracking_url: str | None = attrs.field(default=None, validator=_optional_str)
    partner_id: str | None = attrs.field(default=None, validator=_optional_non_empty_str)

    def __attrs_post_init__(self) -> None:
        if self.currency is not None:
            return
        for index, item in enumerate(self.items):
            for cost in ("distributor_cost", "shipping_cost"):
                if getattr(item, cost) is not None:
                    raise _invalid("currency", f"is required when items[{index}].{cost} is set")


@attrs.frozen
class UpdateFulfillmentItem:
    """New tracking for one line item of an existing fulfillment; ``item_id`` is required."""

    item_id: str = attrs.field(validator=_non_empty_str)
    tracking_company: str | None = attrs.field(default=None, validator=_optional_str)
    tracking_number: str | None = attrs.field(default=None, validator=_optional_str)
    tracking_url: str | None = attrs.field(default=None, validator=_optional_str)


def _update_items(value: Any) -> tuple[UpdateFulfillmentItem, ...] | None:
    return _tuple_of(UpdateFulfillmentItem, "items", value, optional=True)


@attrs.frozen(kw_only=True)
class UpdateFulfillmentRequest:
    """Body of ``POST /fulfillments/{id}``: tracking and metadata only (never quantities).

    ``metadata`` follows the create limits and, as DR's update schema demands, its values
    must be all strings, all numbers (int or finite float) or all booleans. Update merges
    metadata.
    """

    tracking_company: str | None = attrs.field(default=None, validator=_optional_str)
    tracking_number: str | None = attrs.field(default=None, validator=_optional_str)
    tracking_url: str | None = attrs.field(default=None, validator=_optional_str)
    items: tuple[UpdateFulfillmentItem, ...] | None = attrs.field(
        default=None, converter=_update_items
    )
    metadata: dict[str, Any] | None = attrs.field(
        default=None, converter=_copy_if_mapping, validator=_optional_uniform_metadata, hash=False
    )


# --- fulfillment returns: requests -------------------------------------------------------


def _unit_attributes(value: Any) -> tuple[UnitAttributes, ...] | None:
    return _tuple_of(UnitAttributes, "unit_attributes", value, optional=True)


@attrs.frozen
class FulfillmentReturnItemRequest:
    """One line of a create-return request.

    ``fulfillment_order_item_id`` (the fulfillment order's ``items[].id``) and
    ``quantity`` (int >= 1) are required; ``unit_attributes`` optionally identifies the
    returned phones (``UnitAttributes`` or dicts).
    """

    fulfillment_order_item_id: str = attrs.field(validator=_non_empty_str)
    quantity: int = attrs.field(validator=_positive_count)
    unit_attributes: tuple[UnitAttributes, ...] | None = attrs.field(
        default=None, converter=_unit_attributes
    )


def _return_items(value: Any) -> tuple[FulfillmentReturnItemRequest, ...]:
    items = _tuple_of(FulfillmentReturnItemRequest, "items", value, optional=False)
    assert items is not None  # a required list is never None
    return items


@attrs.frozen
class FulfillmentReturnRequest:
    """Body of ``POST /fulfillment-returns``.

    ``fulfillment_order_id`` and a non-empty ``items`` (``FulfillmentReturnItemRequest`` or
    dicts) are required. ``upstream_id`` should be the DR order id (it comes back in the
    ``fulfillment_return.accepted`` event); ``reason`` is free text such as
    ``"requested_by_customer"``.
    """

    fulfillment_order_id: str = attrs.field(validator=_non_empty_str)
    items: tuple[FulfillmentReturnItemRequest, ...] = attrs.field(converter=_return_items)
    upstream_id: str | None = attrs.field(default=None, validator=_optional_non_empty_str)
    reason: str | None = attrs.field(default=None, validator=_optional_str)


# --- list filters and results ------------------------------------------------------------


def _aware_datetime(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    path = f"created_time.{attribute.name}"
    if not isinstance(value, datetime):
        raise _invalid(path, f"must be a datetime, got {_describe(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _invalid(
            path, f"must be timezone-aware (e.g. tzinfo=timezone.utc), got naive {value}"
        )


@attrs.frozen
class CreatedTime:
    """A ``createdTime`` filter for list calls; bounds are timezone-aware datetimes.

    ``gt``/``gte``/``lt``/``lte`` work on both resources; ``eq`` only on fulfillment
    returns. At least one bound is required. Sent as ``createdTime[gte]=…Z`` in UTC.
    """

    eq: datetime | None = attrs.field(default=None, validator=_aware_datetime)
    gt: datetime | None = attrs.field(default=None, validator=_aware_datetime)
    gte: datetime | None = attrs.field(default=None, validator=_aware_datetime)
    lt: datetime | None = attrs.field(default=None, validator=_aware_datetime)
    lte: datetime | None = attrs.field(default=None, validator=_aware_datetime)

    def __attrs_post_init__(self) -> None:
        if all(bound is None for bound in attrs.astuple(self)):
            raise _invalid("created_time", "needs at least one of eq, gt, gte, lt, lte")

    def to_query(self, allow_eq: bool = False) -> list[tuple[str, str]]:
        """Query pairs such as ``("createdTime[gte]", "2024-01-01T00:00:00Z")``.

        ``allow_eq`` is True only for ``/fulfillment-returns``; ``/fulfillments`` has no
        ``eq`` operator, so an ``eq`` bound then raises ValidationError.
        """
        if self.eq is not None and not allow_eq:
            raise _invalid("created_time.eq", "is not supported by /fulfillments")
        return [
            (f"createdTime[{field.name}]", format_datetime(bound))
            for field, bound in zip(attrs.fields(CreatedTime), attrs.astuple(self), strict=True)
            if bound is not None
        ]


@attrs.frozen
class Page(Generic[T]):
    """One page of a list call, from ``pager.pages()``.

    ``data``: the page's objects, in the order the pager yields them (newest first when
    paging forward); ``has_more``: DR's flag that more objects lie beyond this page.
    """

    data: list[T]
    has_more: bool


@attrs.frozen
class BulkResult:
    """The outcome of one ``bulk_create`` input row.

    - ``index``: position in the input; ``key``: the row's safe-create key.
    - ``request``: what was (or would have been) sent; ``ok``: success.
    - ``fulfillment``: the created fulfillment, if known; ``error``: why it failed.
    - ``resumed``: True when a journal showed the row was already done by an earlier run.
    """

    index: int
    key: str
    request: FulfillmentRequest
    ok: bool
    fulfillment: Fulfillment | None = None
    error: BaseException | None = None
    resumed: bool = False
