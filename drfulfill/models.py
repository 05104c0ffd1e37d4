"""Typed models of the Fulfillments and Fulfillment Returns APIs.

All models are frozen, slotted attrs classes whose snake_case fields are named after the
camelCase wire fields (``created_time`` <- ``createdTime``). Encoding and decoding live in
``drfulfill._convert``.

*Response models* (``Fulfillment``, ``FulfillmentReturn`` and their parts) are built by the
decoder. The fields Digital River always sends have no default and are not Optional
(``Fulfillment.id``, ``created_time``, ``order_id``, ``items``; ``FulfillmentReturn.id``,
``created_time``): a body without one is a ``DecodeError``. Everything else is tolerated:
other fields are optional, unknown wire fields are kept in ``extra`` (keyed by wire name),
unknown enum values stay plain strings, and a value that cannot be read as its declared type
leaves the field None and is kept, raw, in ``extra`` under its wire name.

*Request models* (``FulfillmentRequest``, ``FulfillmentRequestItem``, ...) validate at
construction (rules in ``drfulfill._validation``) and raise ``ValidationError`` whose
message names the field, e.g. ``items[0].quantity must be >= 0, got -1``. Items may be
given as model instances or as dicts with the same snake_case keys; ``from_mapping(cls,
data)`` builds any model from such a dict.

Equality compares every field. Hashing skips the dict-valued fields (``extra``,
``metadata``, ``order_details``: declared ``hash=False``), so every model except ``Page``
is hashable (a ``BulkResult`` only when its ``request`` is a model, not the dict of an
invalid row); collections are tuples, except ``Page.data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import attrs

from . import _json
from ._convert import format_datetime, structure, unstructure
from ._deferred import built_on_read
from ._validation import (
    copy_if_mapping,
    describe,
    from_mapping,
    invalid,
    non_empty_str,
    optional_count,
    optional_currency,
    optional_metadata,
    optional_money,
    optional_non_empty_str,
    optional_str,
    optional_uniform_metadata,
    positive_count,
    to_decimal_if_numeric,
    tuple_of,
)

__all__ = [
    "Address",
    "BulkFailure",
    "BulkResult",
    "BulkSuccess",
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
W = TypeVar("W", bound="WireModel")


# --- serialisation -----------------------------------------------------------------------


class Serialisable:
    """``to_dict()`` and ``to_json()``: a model in Digital River's wire shape."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The model as DR's JSON shape, through the SDK's one converter: camelCase names as
        DR sends them, times as ISO-8601 UTC strings (``2026-01-01T00:00:00Z``), money as
        JSON numbers, enums as their values, ``extra`` fields back under their wire names;
        fields at their default (None, empty) are left out. ``json.dumps`` takes it as is
        (but for a ``BulkResult`` of a row that was not a valid request: its ``request`` is
        the input as given, which may hold values JSON cannot carry).

        Money is a Decimal in the model and a JSON number (int or float) here, as on DR's
        wire: every amount DR sends, and every amount of up to 15 significant digits,
        comes back from ``from_dict`` exactly equal.
        """
        return unstructure(self)

    def to_json(self) -> str:
        """``to_dict()`` as compact JSON text (the SDK's JSON codec; non-ASCII kept as is)."""
        return _json.dumps(self.to_dict()).decode("utf-8")


class WireModel(Serialisable):
    """A model with a wire form of its own: ``from_dict`` reads back what ``to_dict`` gave."""

    __slots__ = ()

    @classmethod
    def from_dict(cls: type[W], data: Mapping[str, Any]) -> W:
        """Decode DR's wire shape (``to_dict()``'s output, or a JSON body DR sent) into this
        model: ``Fulfillment.from_dict(f.to_dict()) == f``.

        :raises DecodeError: for a response model without a field DR always sends.
        :raises ValidationError: for a request model that breaks its rules, or with an
            unknown field.
        """
        return structure(data, cls)


# --- enums -------------------------------------------------------------------------------


class WireEnum(str, Enum):
    """A ``str`` enum whose ``str()`` and format are its value (``created``), as on the wire."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class FulfillmentReturnState(WireEnum):
    """State of a fulfillment return. Happy path: created -> pending -> accepted."""

    CREATED = "created"  # received by the fulfiller, not yet approved or rejected
    PENDING = "pending"  # approved; the items have not reached the warehouse yet
    ACCEPTED = "accepted"  # the items were received at the warehouse
    REJECTED = "rejected"  # the fulfiller rejected the return


class FulfillmentReturnType(WireEnum):
    """Who started a fulfillment return."""

    CLIENT = "client"  # a standard return, usually started by the customer
    WAREHOUSE = "warehouse"  # a refused shipment


class FulfillmentReturnItemState(WireEnum):
    """State of one returned line item. Happy path: pending -> accepted."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


# --- shared parts ------------------------------------------------------------------------


@attrs.frozen
class UnitAttributes(WireModel):
    """Identifiers of one phone unit, in fulfillment-return requests and responses.

    :ivar serial_number: the unit's serial number, or None.
    :ivar imei_number: its IMEI, or None.
    :ivar sim_card_number: its SIM card number, or None.
    :ivar extra: wire fields this version does not know (responses only).
    :raises ValidationError: when built with a value that is not a string or None.
    """

    serial_number: str | None = attrs.field(default=None, validator=optional_str)
    imei_number: str | None = attrs.field(default=None, validator=optional_str)
    sim_card_number: str | None = attrs.field(default=None, validator=optional_str)
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class Address(WireModel):
    """A postal address (DR ``GlobalFulfillmentAddress``), in responses.

    :ivar line1: first address line.
    :ivar line2: second address line.
    :ivar city: the city.
    :ivar postal_code: the postal code.
    :ivar state: the state or province.
    :ivar country: the country, ISO 3166 alpha-2 (e.g. ``"US"``).
    :ivar extra: wire fields this version does not know.
    """

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class Location(WireModel):
    """Where returned goods go. Populated once the fulfiller approves a return.

    :ivar address: an ``Address``, or None.
    :ivar name: the contact's name.
    :ivar phone: the contact's phone.
    :ivar email: the contact's email.
    :ivar extra: wire fields this version does not know.
    """

    address: Address | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


# --- fulfillments: responses -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FulfillmentItem(WireModel):
    """One line item of a fulfillment. Every field may be None.

    :ivar item_id: the order's line item.
    :ivar sku_id: its SKU.
    :ivar shipment_item_id: distributed-model identifier of the shipped item.
    :ivar quantity: units fulfilled by this fulfillment.
    :ivar cancel_quantity: units cancelled by this fulfillment.
    :ivar tracking_company: per-item tracking: the carrier.
    :ivar tracking_number: per-item tracking number.
    :ivar tracking_url: per-item tracking URL.
    :ivar subfulfiller_id: distributed-model identifier of the subfulfiller.
    :ivar distributor_cost: the line total, ``Decimal`` money in the fulfillment's
        ``currency``.
    :ivar shipping_cost: ``Decimal`` money in the fulfillment's ``currency``.
    :ivar extra: wire fields this version does not know.
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


@built_on_read("items")
@attrs.frozen(kw_only=True)
class Fulfillment(WireModel):
    """A fulfillment: units of an order fulfilled (captured) and/or cancelled.

    :ivar id: e.g. ``ful_…`` (do not rely on the prefix).
    :ivar created_time: aware, UTC.
    :ivar order_id: the order it fulfils.
    :ivar items: tuple of ``FulfillmentItem``.
    :ivar shipment_id: your shipment's id, if given.
    :ivar currency: what the distributor is paid in.
    :ivar live_mode: False in test mode (wire ``liveMode``, or ``livemode``).
    :ivar metadata: your key/value pairs, the safe-create key among them.
    :ivar tracking_company: the carrier.
    :ivar tracking_number: the tracking number.
    :ivar tracking_url: the tracking URL.
    :ivar order_details: only from ``retrieve`` (``GET /fulfillments/{id}``), the order as
        a raw mapping, not a typed model (it is the whole, evolving Order object).
    :ivar extra: wire fields this version does not know, keyed by wire name.
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
class FulfillmentReturnItem(WireModel):
    """One line item of a fulfillment return.

    :ivar fulfillment_order_item_id: the fulfillment order's line item.
    :ivar inventory_item_id: the inventory item returned.
    :ivar quantity: units requested.
    :ivar quantity_accepted: units accepted so far by the fulfiller.
    :ivar state: a ``FulfillmentReturnItemState``, or the plain string for a new value.
    :ivar location: a ``Location``, or None.
    :ivar unit_attributes: tuple of ``UnitAttributes`` requested.
    :ivar unit_attributes_accepted: tuple of ``UnitAttributes`` accepted.
    :ivar extra: wire fields this version does not know.
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


@built_on_read("items")
@attrs.frozen(kw_only=True)
class FulfillmentReturn(WireModel):
    """A fulfillment return (Digital River coordinated returns).

    :ivar id: e.g. ``ret_…``.
    :ivar created_time: aware, UTC.
    :ivar fulfillment_order_id: the fulfillment order returned from.
    :ivar upstream_id: usually the DR order id.
    :ivar items: tuple of ``FulfillmentReturnItem``.
    :ivar reason: free text.
    :ivar state: a ``FulfillmentReturnState`` (a plain string when DR adds a value).
    :ivar type: a ``FulfillmentReturnType`` (a plain string when DR adds a value).
    :ivar location: the return address.
    :ivar live_mode: from the wire's ``livemode`` (or ``liveMode``).
    :ivar extra: wire fields this version does not know, keyed by wire name.
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
class FulfillmentRequestItem(WireModel):
    """One line of a create-fulfillment request.

    ``item_id`` (the order's line item) is required. Give ``quantity`` (units to fulfil,
    which captures money) and/or ``cancel_quantity`` (units to cancel): ints >= 0, at least
    one of them > 0. Money (``distributor_cost``, the line total, and ``shipping_cost``) is
    a Decimal >= 0 below 10^15 with at most 18 decimal places (int, float and str are
    converted; ``"1e5000"`` is refused at once) and requires the request's ``currency``.
    :ivar item_id: the order's line item (required, non-empty).
    :ivar quantity: units to fulfil, int >= 0.
    :ivar cancel_quantity: units to cancel, int >= 0.
    :ivar shipment_item_id: optional, non-empty.
    :ivar tracking_company: optional per-item tracking.
    :ivar tracking_number: optional per-item tracking.
    :ivar tracking_url: optional per-item tracking.
    :ivar subfulfiller_id: optional, non-empty.
    :ivar distributor_cost: the line total, money as above.
    :ivar shipping_cost: money as above.
    :raises ValidationError: for any rule above; the message names the field.
    """

    item_id: str = attrs.field(validator=non_empty_str)
    quantity: int | None = attrs.field(default=None, validator=optional_count)
    cancel_quantity: int | None = attrs.field(default=None, validator=optional_count)
    shipment_item_id: str | None = attrs.field(default=None, validator=optional_non_empty_str)
    tracking_company: str | None = attrs.field(default=None, validator=optional_str)
    tracking_number: str | None = attrs.field(default=None, validator=optional_str)
    tracking_url: str | None = attrs.field(default=None, validator=optional_str)
    subfulfiller_id: str | None = attrs.field(default=None, validator=optional_non_empty_str)
    distributor_cost: Decimal | None = attrs.field(
        default=None, converter=to_decimal_if_numeric, validator=optional_money
    )
    shipping_cost: Decimal | None = attrs.field(
        default=None, converter=to_decimal_if_numeric, validator=optional_money
    )

    def __attrs_post_init__(self) -> None:
        if self.quantity is None and self.cancel_quantity is None:
            raise invalid("quantity", "or cancel_quantity is required")
        if not (self.quantity or self.cancel_quantity):
            raise invalid("quantity", "or cancel_quantity must be > 0")


def _request_items(value: Any) -> tuple[FulfillmentRequestItem, ...]:
    items = tuple_of(FulfillmentRequestItem, "items", value, optional=False)
    assert items is not None  # a required list is never None
    return items


@attrs.frozen
class FulfillmentRequest(WireModel):
    """Body of ``POST /fulfillments``: fulfil and/or cancel items of one order.

    ``order_id`` and a non-empty ``items`` (``FulfillmentRequestItem`` or dicts with the
    same keys) are required. ``currency`` (ISO 4217) is required when any item carries a
    cost. ``metadata``: at most 20 keys of <= 40 characters; values are str (<= 500
    characters), int (64-bit) or bool: a float is refused, as DR's create schema says.

    :ivar order_id: the order (required, non-empty).
    :ivar items: the lines (required, non-empty): ``FulfillmentRequestItem`` or dicts.
    :ivar shipment_id: optional, non-empty.
    :ivar currency: a 3-letter ISO 4217 code.
    :ivar metadata: your key/value pairs (copied); a safe create adds its key to the
        body it sends, not to this model.
    :ivar tracking_company: optional tracking.
    :ivar tracking_number: optional tracking.
    :ivar tracking_url: optional tracking.
    :ivar partner_id: optional, non-empty.
    :raises ValidationError: for any rule above (an item's included); the message names
        the field.
    """

    order_id: str = attrs.field(validator=non_empty_str)
    items: tuple[FulfillmentRequestItem, ...] = attrs.field(converter=_request_items)
    shipment_id: str | None = attrs.field(default=None, validator=optional_non_empty_str)
    currency: str | None = attrs.field(default=None, validator=optional_currency)
    metadata: dict[str, Any] | None = attrs.field(
        default=None, converter=copy_if_mapping, validator=optional_metadata, hash=False
    )
    tracking_company: str | None = attrs.field(default=None, validator=optional_str)
    tracking_number: str | None = attrs.field(default=None, validator=optional_str)
    tracking_url: str | None = attrs.field(default=None, validator=optional_str)
    partner_id: str | None = attrs.field(default=None, validator=optional_non_empty_str)

    def __attrs_post_init__(self) -> None:
        if self.currency is not None:
            return
        for index, item in enumerate(self.items):
            for cost in ("distributor_cost", "shipping_cost"):
                if getattr(item, cost) is not None:
                    raise invalid("currency", f"is required when items[{index}].{cost} is set")


@attrs.frozen
class UpdateFulfillmentItem(WireModel):
    """New tracking for one line item of an existing fulfillment.

    :ivar item_id: the line item (required, non-empty).
    :ivar tracking_company: the carrier.
    :ivar tracking_number: the tracking number.
    :ivar tracking_url: the tracking URL.
    :raises ValidationError: for an empty ``item_id`` or a non-string tracking field.
    """

    item_id: str = attrs.field(validator=non_empty_str)
    tracking_company: str | None = attrs.field(default=None, validator=optional_str)
    tracking_number: str | None = attrs.field(default=None, validator=optional_str)
    tracking_url: str | None = attrs.field(default=None, validator=optional_str)


def _update_items(value: Any) -> tuple[UpdateFulfillmentItem, ...] | None:
    return tuple_of(UpdateFulfillmentItem, "items", value, optional=True)


@attrs.frozen(kw_only=True)
class UpdateFulfillmentRequest(WireModel):
    """Body of ``POST /fulfillments/{id}``: tracking and metadata only (never quantities).

    ``metadata`` follows the create limits and, as DR's update schema demands, its values
    must be all strings, all numbers (int or finite float) or all booleans. Update merges
    metadata.

    :ivar tracking_company: the carrier.
    :ivar tracking_number: the tracking number.
    :ivar tracking_url: the tracking URL.
    :ivar items: per-item tracking: ``UpdateFulfillmentItem`` or dicts; empty means None.
    :ivar metadata: key/value pairs to set (copied).
    :raises ValidationError: for any rule above; the message names the field.
    """

    tracking_company: str | None = attrs.field(default=None, validator=optional_str)
    tracking_number: str | None = attrs.field(default=None, validator=optional_str)
    tracking_url: str | None = attrs.field(default=None, validator=optional_str)
    items: tuple[UpdateFulfillmentItem, ...] | None = attrs.field(
        default=None, converter=_update_items
    )
    metadata: dict[str, Any] | None = attrs.field(
        default=None, converter=copy_if_mapping, validator=optional_uniform_metadata, hash=False
    )


# --- fulfillment returns: requests -------------------------------------------------------


def _unit_attributes(value: Any) -> tuple[UnitAttributes, ...] | None:
    return tuple_of(UnitAttributes, "unit_attributes", value, optional=True)


@attrs.frozen
class FulfillmentReturnItemRequest(WireModel):
    """One line of a create-return request.

    ``fulfillment_order_item_id`` (the fulfillment order's ``items[].id``) and
    ``quantity`` (int >= 1) are required; ``unit_attributes`` optionally identifies the
    returned phones (``UnitAttributes`` or dicts).

    :ivar fulfillment_order_item_id: required, non-empty.
    :ivar quantity: units to return, int >= 1.
    :ivar unit_attributes: ``UnitAttributes`` or dicts; empty means None.
    :raises ValidationError: for any rule above; the message names the field.
    """

    fulfillment_order_item_id: str = attrs.field(validator=non_empty_str)
    quantity: int = attrs.field(validator=positive_count)
    unit_attributes: tuple[UnitAttributes, ...] | None = attrs.field(
        default=None, converter=_unit_attributes
    )


def _return_items(value: Any) -> tuple[FulfillmentReturnItemRequest, ...]:
    items = tuple_of(FulfillmentReturnItemRequest, "items", value, optional=False)
    assert items is not None  # a required list is never None
    return items


@attrs.frozen
class FulfillmentReturnRequest(WireModel):
    """Body of ``POST /fulfillment-returns``.

    ``fulfillment_order_id`` and a non-empty ``items`` (``FulfillmentReturnItemRequest`` or
    dicts) are required. ``upstream_id`` should be the DR order id (it comes back in the
    ``fulfillment_return.accepted`` event); ``reason`` is free text such as
    ``"requested_by_customer"``.

    :ivar fulfillment_order_id: required, non-empty.
    :ivar items: the lines (required, non-empty).
    :ivar upstream_id: optional, non-empty.
    :ivar reason: optional free text.
    :raises ValidationError: for any rule above (an item's included); the message names
        the field.
    """

    fulfillment_order_id: str = attrs.field(validator=non_empty_str)
    items: tuple[FulfillmentReturnItemRequest, ...] = attrs.field(converter=_return_items)
    upstream_id: str | None = attrs.field(default=None, validator=optional_non_empty_str)
    reason: str | None = attrs.field(default=None, validator=optional_str)


# --- list filters and results ------------------------------------------------------------


def _aware_datetime(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    path = f"created_time.{attribute.name}"
    if not isinstance(value, datetime):
        raise invalid(path, f"must be a datetime, got {describe(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise invalid(path, f"must be timezone-aware (e.g. tzinfo=timezone.utc), got naive {value}")
    try:
        value.astimezone(timezone.utc)  # how it is sent
    except OverflowError:  # datetime.min east of UTC, datetime.max west of it
        raise invalid(path, f"is outside the years 1-9999 in UTC, got {value}") from None


@attrs.frozen
class CreatedTime(WireModel):
    """A ``createdTime`` filter for list calls; bounds are timezone-aware datetimes.

    ``gt``/``gte``/``lt``/``lte`` work on both resources; ``eq`` only on fulfillment
    returns. At least one bound is required. Sent as ``createdTime[gte]=…Z`` in UTC.

    :ivar eq: exactly this time (fulfillment returns only).
    :ivar gt: after this time.
    :ivar gte: at or after this time.
    :ivar lt: before this time.
    :ivar lte: at or before this time.
    :raises ValidationError: for a bound that is not a timezone-aware datetime (or one
        outside the years 1-9999 once in UTC, such as ``datetime.min`` east of UTC), or
        when no bound is given.
    """

    eq: datetime | None = attrs.field(default=None, validator=_aware_datetime)
    gt: datetime | None = attrs.field(default=None, validator=_aware_datetime)
    gte: datetime | None = attrs.field(default=None, validator=_aware_datetime)
    lt: datetime | None = attrs.field(default=None, validator=_aware_datetime)
    lte: datetime | None = attrs.field(default=None, validator=_aware_datetime)

    def __attrs_post_init__(self) -> None:
        if all(bound is None for bound in attrs.astuple(self)):
            raise invalid("created_time", "needs at least one of eq, gt, gte, lt, lte")

    def to_query(self, allow_eq: bool = False) -> list[tuple[str, str]]:
        """Query pairs such as ``("createdTime[gte]", "2024-01-01T00:00:00Z")``.

        :param allow_eq: True only for ``/fulfillment-returns``; ``/fulfillments`` has no
            ``eq`` operator.
        :returns: one pair per bound given, its time in UTC.
        :raises ValidationError: for an ``eq`` bound when ``allow_eq`` is False.
        """
        if self.eq is not None and not allow_eq:
            raise invalid("created_time.eq", "is not supported by /fulfillments")
        return [
            (f"createdTime[{field.name}]", format_datetime(bound))
            for field, bound in zip(attrs.fields(CreatedTime), attrs.astuple(self), strict=True)
            if bound is not None
        ]


@attrs.frozen
class Page(Serialisable, Generic[T]):
    """One page of a list call, from ``pager.pages()`` (or ``await pager``: the first page).

    :ivar data: the page's objects, in the order the pager yields them (newest first when
        paging forward).
    :ivar has_more: DR's flag that more objects lie beyond this page (True, too, when
        ``max_items`` cut the page short).
    :ivar resume_token: an opaque string when the listing has more after this page, else
        None: ``list(<the same filters>, resume_token=token)`` yields exactly the objects
        after this page, in a later process too. It holds ids and times, never a key.
    """

    data: list[T]
    has_more: bool
    resume_token: str | None = None


def _bulk_result_class(args: tuple[Any, ...], kwargs: dict[str, Any]) -> type[BulkResult] | None:
    """The class a ``BulkResult(index, key, request, ok, ...)`` call makes, by its ``ok``."""
    ok = kwargs["ok"] if "ok" in kwargs else args[3] if len(args) > 3 else None
    if ok is None:  # no ok: unpickling or copying, which then sets the slots
        return None
    return BulkSuccess if ok else BulkFailure


@attrs.frozen
class BulkResult(Serialisable):
    """The outcome of one ``bulk_create`` input row.

    Every result is a ``BulkSuccess`` (``ok`` True, ``fulfillment`` set) or a
    ``BulkFailure`` (``ok`` False, ``error`` set): ``BulkResult(..., ok=...)`` makes the
    one its ``ok`` says, so ``if res.ok:`` narrows ``res.fulfillment`` to ``Fulfillment``
    under mypy (pyright narrows on ``res.ok is True``, ``isinstance`` or ``match``).

    :ivar index: the row's position in the input, from 0.
    :ivar key: the row's safe-create key; ``""`` when the row is not a valid request or
        its key could not be made.
    :ivar request: what was (or would have been) sent; for a row that is not a valid
        request, the input as given (e.g. the dict).
    :ivar ok: True when the fulfillment exists (created now or earlier).
    :ivar fulfillment: the fulfillment, when ``ok``; None otherwise.
    :ivar error: why the row failed, when not ``ok``: a ``DigitalRiverError`` (a
        ``ValidationError`` or ``KeyReuseError`` for the row itself), or the exception of
        your ``key`` function. ``to_dict()`` gives it as ``"TypeName: message"``.
    :ivar resumed: True when this run did not create it: the journal recorded it done, a
        lookup found it already created (by an earlier run or another process), or an
        earlier row with the same key made it.
    """

    index: int
    key: str
    request: FulfillmentRequest = attrs.field(metadata={"any_type": True})
    ok: bool
    fulfillment: Fulfillment | None = None
    error: BaseException | None = None
    resumed: bool = False

    def __new__(cls, *args: Any, **kwargs: Any) -> BulkResult:
        made = _bulk_result_class(args, kwargs)
        result = object.__new__(made or cls)
        if made is not None and not issubclass(made, cls):
            # BulkSuccess(..., ok=False), attrs.evolve(success, ok=False): Python calls
            # __init__ only for an instance of the class called, so it is called here.
            made.__init__(result, *args, **kwargs)
        return result


class BulkSuccess(BulkResult):
    """A ``BulkResult`` whose fulfillment exists: ``ok`` is True, ``fulfillment`` is set."""

    __slots__ = ()
    if TYPE_CHECKING:
        ok: Literal[True]
        fulfillment: Fulfillment
        error: None


class BulkFailure(BulkResult):
    """A ``BulkResult`` whose row failed: ``ok`` is False, ``error`` says why."""

    __slots__ = ()
    if TYPE_CHECKING:
        ok: Literal[False]
        fulfillment: None
        error: BaseException
