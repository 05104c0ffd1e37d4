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
is hashable; collections are tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, TypeVar

import attrs

from ._convert import format_datetime
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


# --- shared parts ------------------------------------------------------------------------


@attrs.frozen
class UnitAttributes:
    """Identifiers of one phone unit, in fulfillment-return requests and responses.

    ``serial_number``, ``imei_number``, ``sim_card_number``: strings or None.
    ``extra``: wire fields this version does not know.
    """

    serial_number: str | None = attrs.field(default=None, validator=optional_str)
    imei_number: str | None = attrs.field(default=None, validator=optional_str)
    sim_card_number: str | None = attrs.field(default=None, validator=optional_str)
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
class FulfillmentRequest:
    """Body of ``POST /fulfillments``: fulfil and/or cancel items of one order.

    ``order_id`` and a non-empty ``items`` (``FulfillmentRequestItem`` or dicts with the
    same keys) are required. ``currency`` (ISO 4217) is required when any item carries a
    cost. ``metadata``: at most 20 keys of <= 40 characters; values are str (<= 500
    characters), int (64-bit) or bool: a float is refused, as DR's create schema says.
    Optional: ``shipment_id``, ``partner_id`` and tracking.
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
class UpdateFulfillmentItem:
    """New tracking for one line item of an existing fulfillment; ``item_id`` is required."""

    item_id: str = attrs.field(validator=non_empty_str)
    tracking_company: str | None = attrs.field(default=None, validator=optional_str)
    tracking_number: str | None = attrs.field(default=None, validator=optional_str)
    tracking_url: str | None = attrs.field(default=None, validator=optional_str)


def _update_items(value: Any) -> tuple[UpdateFulfillmentItem, ...] | None:
    return tuple_of(UpdateFulfillmentItem, "items", value, optional=True)


@attrs.frozen(kw_only=True)
class UpdateFulfillmentRequest:
    """Body of ``POST /fulfillments/{id}``: tracking and metadata only (never quantities).

    ``metadata`` follows the create limits and, as DR's update schema demands, its values
    must be all strings, all numbers (int or finite float) or all booleans. Update merges
    metadata.
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
class FulfillmentReturnItemRequest:
    """One line of a create-return request.

    ``fulfillment_order_item_id`` (the fulfillment order's ``items[].id``) and
    ``quantity`` (int >= 1) are required; ``unit_attributes`` optionally identifies the
    returned phones (``UnitAttributes`` or dicts).
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
class FulfillmentReturnRequest:
    """Body of ``POST /fulfillment-returns``.

    ``fulfillment_order_id`` and a non-empty ``items`` (``FulfillmentReturnItemRequest`` or
    dicts) are required. ``upstream_id`` should be the DR order id (it comes back in the
    ``fulfillment_return.accepted`` event); ``reason`` is free text such as
    ``"requested_by_customer"``.
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
            raise invalid("created_time", "needs at least one of eq, gt, gte, lt, lte")

    def to_query(self, allow_eq: bool = False) -> list[tuple[str, str]]:
        """Query pairs such as ``("createdTime[gte]", "2024-01-01T00:00:00Z")``.

        ``allow_eq`` is True only for ``/fulfillment-returns``; ``/fulfillments`` has no
        ``eq`` operator, so an ``eq`` bound then raises ValidationError.
        """
        if self.eq is not None and not allow_eq:
            raise invalid("created_time.eq", "is not supported by /fulfillments")
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
