"""The emulator's state and every request rule, as plain Python: no I/O, testable directly.

Objects are kept as wire-shaped dicts (exactly what the API returns), plus the bookkeeping DR
keeps behind them (open quantities of order lines, returned quantities of fulfillment-order
lines). Request bodies and query strings are validated here and answered with ``ApiError``,
which the HTTP layer turns into a DR error body.

Lists are newest first: by ``createdTime`` descending, then by creation sequence descending,
so of two objects created in the same second the later one is listed first.
"""

from __future__ import annotations

import math
import random
import uuid
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple, overload

from .._constants import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    METADATA_MAX_KEY_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_LENGTH,
    MIN_PAGE_SIZE,
)
from .._convert import parse_datetime

Clock = Callable[[], datetime]
Json = dict[str, Any]
# (createdTime as epoch seconds, creation sequence number, id): ascending order of these
# tuples is the reverse of list order. The sequence number is unique, so the id never decides.
SortKey = tuple[int, int, str]

ERROR_TYPES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    429: "too_many_requests",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

RETURN_STATES = ("created", "pending", "accepted", "rejected")
_RETURN_TRANSITIONS = {
    "created": {"pending", "rejected"},
    "pending": {"accepted", "rejected"},
}
# DR fills in the return address once the fulfiller approves; this one is made up.
RETURN_LOCATION: Json = {
    "name": "Emulated Returns Warehouse",
    "address": {
        "line1": "10380 Bren Rd W",
        "city": "Minnetonka",
        "postalCode": "55343",
        "state": "MN",
        "country": "US",
    },
}


class ApiError(Exception):
    """A request DR would refuse: becomes ``{"type", "errors": [{code, parameter, message}]}``."""

    def __init__(self, status: int, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter

    def body(self) -> Json:
        return error_body(self.status, self.code, self.message, self.parameter)


def error_type(status: int) -> str:
    default = "internal_server_error" if status >= 500 else "bad_request"
    return ERROR_TYPES.get(status, default)


def error_body(status: int, code: str, message: str, parameter: str | None = None) -> Json:
    error: Json = {"code": code}
    if parameter is not None:
        error["parameter"] = parameter
    error["message"] = message
    return {"type": error_type(status), "errors": [error]}


def bad_request(code: str, message: str, parameter: str | None = None) -> ApiError:
    return ApiError(400, code, message, parameter)


def not_found(resource: str, object_id: str) -> ApiError:
    return ApiError(404, "not_found", f"{resource} '{object_id}' not found", "id")


# --------------------------------------------------------------------------- time


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def format_time(epoch: int) -> str:
    """DR's wire format: whole seconds, UTC, ``Z`` suffix."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str, parameter: str) -> float:
    """An ISO-8601 query time as epoch seconds. A time without an offset is taken as UTC."""
    try:
        moment = parse_datetime(value)
    except (ValueError, OverflowError):
        raise bad_request(
            "invalid_parameter", f"'{value}' is not an ISO-8601 date-time.", parameter
        ) from None
    return moment.timestamp()


# --------------------------------------------------------------------------- ids


class IdGenerator:
    """DR-looking ids from a seeded generator, never repeating one already in use."""

    def __init__(self, seed: int, used: set[str] | None = None) -> None:
        self._random = random.Random(seed)
        self.used = used if used is not None else set()

    def reserve(self, object_id: str) -> None:
        """Keep an explicitly chosen id from ever being generated."""
        self.used.add(object_id)

    def numeric(self, digits: int = 8, suffix: str = "0336") -> str:
        """Like DR's order and line-item ids, e.g. ``231388420336``."""
        while True:
            candidate = f"{self._random.randrange(10 ** (digits - 1), 10**digits)}{suffix}"
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate

    def uuid(self) -> str:
        # Random 122 bits: collisions are not worth tracking (and tracking would cost memory).
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class OrderLine:
    id: str
    sku_id: str
    quantity: int
    fulfilled: int = 0
    cancelled: int = 0

    @property
    def open(self) -> int:
        return self.quantity - self.fulfilled - self.cancelled

    @property
    def state(self) -> str:
        if self.open > 0:
            return "created"
        return "cancelled" if self.fulfilled == 0 else "fulfilled"


@dataclass(slots=True)
class Order:
    id: str
    created_time: str
    currency: str
    lines: dict[str, OrderLine]

    @property
    def is_closed(self) -> bool:
        """Nothing left to fulfil or cancel: DR answers further fulfillments with 409."""
        return all(line.open == 0 for line in self.lines.values())

    def details(self, live: bool) -> Json:
        """The order-shaped ``orderDetails`` of ``GET /fulfillments/{id}``."""
        states = {line.state for line in self.lines.values()}
        if "created" in states:
            state = "accepted"
        elif states == {"cancelled"}:
            state = "cancelled"
        else:
            state = "fulfilled"
        return {
            "id": self.id,
            "createdTime": self.created_time,
            "currency": self.currency,
            "items": [
                {
                    "id": line.id,
                    "skuId": line.sku_id,
                    "quantity": line.quantity,
                    "state": line.state,
                }
                for line in self.lines.values()
            ],
            "state": state,
            "liveMode": live,
        }

    def snapshot(self) -> Json:
        """For test introspection: the order with its fulfilled and cancelled counts."""
        return {
            "id": self.id,
            "createdTime": self.created_time,
            "currency": self.currency,
            "items": [
                {
                    "id": line.id,
                    "skuId": line.sku_id,
                    "quantity": line.quantity,
                    "fulfilledQuantity": line.fulfilled,
                    "cancelledQuantity": line.cancelled,
                    "openQuantity": line.open,
                }
                for line in self.lines.values()
            ],
        }


@dataclass(slots=True)
class FulfillmentOrderLine:
    id: str
    inventory_item_id: str
    shipped_quantity: int
    returned: int = 0  # requested by returns that were not rejected


@dataclass(slots=True)
class FulfillmentOrder:
    id: str
    upstream_id: str | None
    created_time: str
    lines: dict[str, FulfillmentOrderLine]

    def snapshot(self) -> Json:
        return {
            "id": self.id,
            "upstreamId": self.upstream_id,
            "createdTime": self.created_time,
            "items": [
                {
                    "id": line.id,
                    "inventoryItemId": line.inventory_item_id,
                    "shippedQuantity": line.shipped_quantity,
                    "returnedQuantity": line.returned,
                }
                for line in self.lines.values()
            ],
        }


class Records(Sequence[Json]):
    """Read-only view of wire-shaped objects: in creation order, and also indexable by id.

    ``view[0]``, ``view[-1]``, ``len(view)``, ``for obj in view`` and ``view["ful_…"]`` all work.
    With ``render``, each object is rendered when it is looked at (a fresh snapshot);
    without, the dicts are the emulator's own: treat them as read-only.
    """

    def __init__(
        self, objects: Mapping[str, Any], render: Callable[[Any], Json] | None = None
    ) -> None:
        self._objects = objects
        self._render = render

    def _show(self, obj: Any) -> Json:
        return obj if self._render is None else self._render(obj)

    def __len__(self) -> int:
        return len(self._objects)

    def __iter__(self) -> Iterator[Json]:
        return (self._show(obj) for obj in self._objects.values())

    @overload
    def __getitem__(self, key: int | str) -> Json: ...
    @overload
    def __getitem__(self, key: slice) -> list[Json]: ...
    def __getitem__(self, key: int | str | slice) -> Json | list[Json]:
        if isinstance(key, str):
            return self._show(self._objects[key])
        if isinstance(key, slice):
            return [self._show(obj) for obj in list(self._objects.values())[key]]
        return self._show(list(self._objects.values())[key])

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._objects
        return any(obj == item for obj in self)

    def get(self, object_id: str, default: Json | None = None) -> Json | None:
        obj = self._objects.get(object_id)
        return default if obj is None else self._show(obj)

    def ids(self) -> list[str]:
        return list(self._objects)

    def __repr__(self) -> str:
        return f"Records({list(self)!r})"


# --------------------------------------------------------------------------- listing

Extractor = Callable[[Json], Iterable[str]]


@dataclass(frozen=True, slots=True)
class ListRules:
    """What a list endpoint accepts: filters (each with how to read it off an object)."""

    scalar_filters: Mapping[str, Extractor]
    array_filters: Mapping[str, Extractor]  # repeated keys, e.g. ids=a&ids=b
    indexed: tuple[str, ...]  # filters whose values never change: served from an index
    time_operators: frozenset[str]


@dataclass(slots=True)
class ListQuery:
    limit: int = DEFAULT_PAGE_SIZE
    starting_after: str | None = None
    ending_before: str | None = None
    earliest: int | None = None  # inclusive bounds on createdTime, in epoch seconds
    latest: int | None = None
    filters: dict[str, frozenset[str]] = field(default_factory=dict)


def parse_list_query(pairs: Iterable[tuple[str, str]], rules: ListRules) -> ListQuery:
    """Validate a list query string the way DR does; see DESIGN.md "Emulator"."""
    query = ListQuery()
    seen: set[str] = set()
    arrays: dict[str, set[str]] = {}
    for key, value in pairs:
        if key in rules.array_filters:
            if value == "":
                raise bad_request("invalid_parameter", f"'{key}' must not be empty.", key)
            arrays.setdefault(key, set()).add(value)  # a comma-joined value is one id
            continue
        if key in seen:
            raise bad_request("invalid_parameter", f"'{key}' was given more than once.", key)
        seen.add(key)
        if value == "":
            raise bad_request("invalid_parameter", f"'{key}' must not be empty.", key)
        if key == "createdTime" or key.startswith("createdTime["):
            _apply_time_bound(query, key, value, rules.time_operators)
        elif key == "limit":
            query.limit = _parse_limit(value)
        elif key == "startingAfter":
            query.starting_after = value
        elif key == "endingBefore":
            query.ending_before = value
        elif key in rules.scalar_filters:
            query.filters[key] = frozenset((value,))
        else:
            raise bad_request("unknown_parameter", f"Unknown parameter '{key}'.", key)
    query.filters.update((key, frozenset(values)) for key, values in arrays.items())
    return query


def _parse_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not MIN_PAGE_SIZE <= limit <= MAX_PAGE_SIZE:
        raise bad_request(
            "invalid_parameter",
            f"limit must be an integer from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE}.",
            "limit",
        )
    return limit


def _apply_time_bound(query: ListQuery, key: str, value: str, operators: frozenset[str]) -> None:
    # A bare createdTime=<time> means equality (DR's description allows a plain string).
    operator = "eq" if key == "createdTime" else key[len("createdTime[") : -1]
    if key != "createdTime" and (not key.endswith("]") or operator not in operators):
        raise bad_request(
            "invalid_parameter",
            f"Unsupported createdTime operator in '{key}'; use one of "
            + ", ".join(sorted(operators))
            + ".",
            key,
        )
    moment = parse_time(value, key)
    # Stored times are whole seconds, so each bound becomes an inclusive whole-second bound.
    low, high = {
        "eq": (math.ceil(moment), math.floor(moment)),
        "gt": (math.floor(moment) + 1, None),
        "gte": (math.ceil(moment), None),
        "lt": (None, math.ceil(moment) - 1),
        "lte": (None, math.floor(moment)),
    }[operator]
    if low is not None:
        query.earliest = low if query.earliest is None else max(query.earliest, low)
    if high is not None:
        query.latest = high if query.latest is None else min(query.latest, high)


class Collection:
    """Objects of one resource: by id, in creation order, and sorted for listing."""

    def __init__(self, rules: ListRules) -> None:
        self.rules = rules
        self.objects: dict[str, Json] = {}  # insertion order = creation order
        self._keys: dict[str, SortKey] = {}
        self._committed: dict[str, float] = {}  # epoch seconds, full precision: for read lag
        self._sorted: list[SortKey] = []
        self._indexes: dict[str, dict[str, list[SortKey]]] = {name: {} for name in rules.indexed}

    def add(self, obj: Json, key: SortKey, committed: float) -> None:
        self.objects[key[2]] = obj
        self._keys[key[2]] = key
        self._committed[key[2]] = committed
        _insert_sorted(self._sorted, key)
        for name, index in self._indexes.items():
            for value in set(self._extractor(name)(obj)):
                _insert_sorted(index.setdefault(value, []), key)

    def get(self, object_id: str, resource: str) -> Json:
        obj = self.objects.get(object_id)
        if obj is None:
            raise not_found(resource, object_id)
        return obj

    def page(self, query: ListQuery, committed_by: float | None = None) -> Json:
        """One page of ``{"hasMore", "data"}`` with Stripe-style cursors (endingBefore wins).

        With ``committed_by`` (epoch seconds), objects committed later are left out.
        """
        after = before = None
        if query.ending_before is not None:
            before = self._cursor(query.ending_before, "endingBefore")
        elif query.starting_after is not None:
            after = self._cursor(query.starting_after, "startingAfter")
        keys = self._candidates(query.filters)
        start = 0 if query.earliest is None else bisect_left(keys, (query.earliest,))
        end = len(keys) if query.latest is None else bisect_left(keys, (query.latest + 1,))
        matches = self._matcher(query.filters, committed_by)
        if before is not None:
            # The `limit` objects listed just before the cursor: the oldest ones newer than it.
            start = max(start, bisect_right(keys, before))
            found = self._scan(keys, range(start, end), matches, query.limit + 1)
            data = found[: query.limit][::-1]
        else:
            if after is not None:
                end = min(end, bisect_left(keys, after))
            found = self._scan(keys, range(end - 1, start - 1, -1), matches, query.limit + 1)
            data = found[: query.limit]
        return {"hasMore": len(found) > query.limit, "data": [self.objects[i] for i in data]}

    def _scan(
        self,
        keys: Sequence[SortKey],
        positions: range,
        matches: Callable[[Json], bool] | None,
        wanted: int,
    ) -> list[str]:
        """Ids at ``positions`` that pass the filters, stopping once ``wanted`` are found."""
        found: list[str] = []
        for position in positions:
            object_id = keys[position][2]
            if matches is None or matches(self.objects[object_id]):
                found.append(object_id)
                if len(found) == wanted:
                    break
        return found

    def _cursor(self, object_id: str, parameter: str) -> SortKey:
        # A cursor keeps its place in the full list even when the filters exclude it.
        key = self._keys.get(object_id)
        if key is None:
            raise bad_request(
                "invalid_parameter", f"No such object '{object_id}' for {parameter}.", parameter
            )
        return key

    def _candidates(self, filters: Mapping[str, frozenset[str]]) -> list[SortKey]:
        """The smallest ready-made sorted key list that holds every possible match."""
        if "ids" in filters:
            return sorted(self._keys[i] for i in filters["ids"] if i in self._keys)
        for name in self.rules.indexed:
            if name in filters:
                index = self._indexes[name]
                lists = [index.get(value, []) for value in filters[name]]
                return lists[0] if len(lists) == 1 else sorted(set().union(*lists))
        return self._sorted

    def _matcher(
        self, filters: Mapping[str, frozenset[str]], committed_by: float | None
    ) -> Callable[[Json], bool] | None:
        if not filters and committed_by is None:
            return None
        checks = [(self._extractor(name), wanted) for name, wanted in filters.items()]
        committed = self._committed

        def matches(obj: Json) -> bool:
            if committed_by is not None and committed[obj["id"]] > committed_by:
                return False
            return all(any(value in wanted for value in extract(obj)) for extract, wanted in checks)

        return matches

    def _extractor(self, name: str) -> Extractor:
        return self.rules.scalar_filters.get(name) or self.rules.array_filters[name]


def _insert_sorted(keys: list[SortKey], key: SortKey) -> None:
    # Wall-clock creations arrive in order: appending is the common, O(1) case.
    if not keys or key > keys[-1]:
        keys.append(key)
    else:
        insort(keys, key)


def _field(name: str) -> Extractor:
    return lambda obj: (obj.get(name),)


def _item_field(name: str) -> Extractor:
    return lambda obj: [item.get(name) for item in obj["items"]]


def _field_or_item_field(name: str) -> Extractor:
    return lambda obj: (obj.get(name), *(item.get(name) for item in obj["items"]))


FULFILLMENT_LIST_RULES = ListRules(
    scalar_filters={
        "orderId": _field("orderId"),
        "skuId": _item_field("skuId"),
        # DR does not say whether item-level tracking counts; we match either level.
        "trackingCompany": _field_or_item_field("trackingCompany"),
        "trackingNumber": _field_or_item_field("trackingNumber"),
    },
    array_filters={"ids": _field("id")},
    indexed=("orderId", "skuId"),
    time_operators=frozenset({"gt", "gte", "lt", "lte"}),
)

RETURN_LIST_RULES = ListRules(
    scalar_filters={
        "state": _field("state"),
        "fulfillmentOrderId": _field("fulfillmentOrderId"),
        "inventoryItemId": _item_field("inventoryItemId"),
    },
    array_filters={"ids": _field("id"), "upstreamIds": _field("upstreamId")},
    indexed=("fulfillmentOrderId", "upstreamIds", "inventoryItemId"),
    time_operators=frozenset({"eq", "gt", "gte", "lt", "lte"}),
)


# --------------------------------------------------------------------------- body validation

_TRACKING_FIELDS = ("trackingCompany", "trackingNumber", "trackingUrl")
_FULFILLMENT_FIELDS = frozenset(
    {"orderId", "shipmentId", "items", "currency", "metadata", "partnerId", *_TRACKING_FIELDS}
)
_FULFILLMENT_ITEM_STRINGS = ("itemId", "shipmentItemId", "subfulfillerId", *_TRACKING_FIELDS)
_FULFILLMENT_ITEM_COSTS = ("distributorCost", "shippingCost")
_FULFILLMENT_ITEM_FIELDS = frozenset(
    {*_FULFILLMENT_ITEM_STRINGS, *_FULFILLMENT_ITEM_COSTS, "quantity", "cancelQuantity"}
)
_UPDATE_FIELDS = frozenset({"items", "metadata", *_TRACKING_FIELDS})
_UPDATE_ITEM_FIELDS = frozenset({"itemId", *_TRACKING_FIELDS})
_RETURN_FIELDS = frozenset({"fulfillmentOrderId", "upstreamId", "reason", "items"})
_RETURN_ITEM_FIELDS = frozenset({"fulfillmentOrderItemId", "quantity", "unitAttributes"})
_UNIT_ATTRIBUTE_FIELDS = frozenset({"serialNumber", "imeiNumber", "simCardNumber"})


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
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise bad_request(
                "invalid_parameter",
                f"'{prefix}{name}' must be a number of at least 0.",
                prefix + name,
            )


def validate_metadata(value: Any) -> Json:
    """DR's limits: 20 keys, keys up to 40 characters, string values up to 500."""
    metadata = expect_object(value, "metadata")
    if len(metadata) > METADATA_MAX_KEYS:
        raise too_many_metadata_pairs()
    for key, item in metadata.items():
        if not key or len(key) > METADATA_MAX_KEY_LENGTH:
            raise bad_request(
                "invalid_metadata_key",
                f"Metadata keys must be 1 to {METADATA_MAX_KEY_LENGTH} characters.",
                f"metadata.{key}",
            )
        valid = isinstance(item, int) or (
            isinstance(item, str) and len(item) <= METADATA_MAX_VALUE_LENGTH
        )
        if not valid:
            raise bad_request(
                "invalid_metadata_value",
                "Metadata values must be strings of at most "
                f"{METADATA_MAX_VALUE_LENGTH} characters, integers or booleans.",
                f"metadata.{key}",
            )
    return metadata


def too_many_metadata_pairs() -> ApiError:
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


class FulfillmentLine(NamedTuple):
    """One validated item of a create request."""

    index: int
    item_id: str
    quantity: int
    cancel_quantity: int
    echoed: Json  # the optional fields DR echoes back on the response item
    has_costs: bool


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
    has_costs = any(name in item for name in _FULFILLMENT_ITEM_COSTS)
    return FulfillmentLine(
        index, item["itemId"], quantity or 0, cancel_quantity or 0, echoed, has_costs
    )


def over_quantity(parameter: str, wanted: int, available: int) -> ApiError:
    return bad_request(
        "invalid_quantity_amount",
        f"Requested quantity {wanted} exceeds the {available} available.",
        parameter,
    )


# --------------------------------------------------------------------------- the store


class Seeded(NamedTuple):
    """Ids made by ``EmulatorState.seed``."""

    orders: list[str]
    fulfillment_orders: list[str]


class EmulatorState:
    """Every object of one emulator, and the seven operations on them (minus HTTP)."""

    def __init__(self, *, clock: Clock | None = None, seed: int = 0) -> None:
        self._clock = clock or wall_clock
        self.read_lag = 0.0  # seconds before a new object shows in lists
        self._ids = IdGenerator(seed)
        self._sequence = 0
        self._last_epoch: int | None = None
        self._last_text = ""
        self.orders: dict[str, Order] = {}
        self.fulfillment_orders: dict[str, FulfillmentOrder] = {}
        self.fulfillments = Collection(FULFILLMENT_LIST_RULES)
        self.returns = Collection(RETURN_LIST_RULES)

    def _now(self) -> float:
        moment = self._clock()
        if moment.tzinfo is None:
            raise ValueError("the emulator clock must return timezone-aware datetimes")
        return moment.timestamp()

    def _stamp(self, object_id: str) -> tuple[SortKey, str, float]:
        """The sort key, wire ``createdTime`` and exact epoch time of an object created now."""
        now = self._now()
        epoch = math.floor(now)
        if epoch != self._last_epoch:
            self._last_epoch, self._last_text = epoch, format_time(epoch)
        self._sequence += 1
        return (epoch, self._sequence, object_id), self._last_text, now

    def _committed_by(self) -> float | None:
        """The latest commit time lists show now: None when there is no read lag."""
        return self._now() - self.read_lag if self.read_lag else None

    # ----------------------------------------------------------------- seeding

    def add_order(
        self,
        order_id: str | None = None,
        items: Sequence[Mapping[str, Any]] | None = None,
        *,
        currency: str = "USD",
        ids: IdGenerator | None = None,
    ) -> str:
        ids = ids or self._ids
        lines: dict[str, OrderLine] = {}
        for spec in items if items is not None else [{"quantity": 1}]:
            quantity = spec.get("quantity", 1)
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                raise ValueError(f"order item quantity must be a positive integer: {spec!r}")
            line_id = spec.get("item_id") or ids.numeric()
            ids.reserve(line_id)
            if line_id in lines:
                raise ValueError(f"duplicate item id {line_id!r}")
            lines[line_id] = OrderLine(line_id, spec.get("sku_id") or ids.uuid(), quantity)
        if not lines:
            raise ValueError("an order needs at least one item")
        order_id = self._new_id(order_id, self.orders, ids)
        _, created_time, _ = self._stamp(order_id)
        self.orders[order_id] = Order(order_id, created_time, currency, lines)
        return order_id

    def add_fulfillment_order(
        self,
        fulfillment_order_id: str | None = None,
        upstream_id: str | None = None,
        items: Sequence[Mapping[str, Any]] | None = None,
        *,
        ids: IdGenerator | None = None,
    ) -> str:
        ids = ids or self._ids
        lines: dict[str, FulfillmentOrderLine] = {}
        for spec in items if items is not None else [{"shipped_quantity": 1}]:
            shipped = spec.get("shipped_quantity", 1)
            if isinstance(shipped, bool) or not isinstance(shipped, int) or shipped < 0:
                raise ValueError(f"shipped_quantity must be a non-negative integer: {spec!r}")
            line_id = spec.get("id") or ids.numeric(7)
            ids.reserve(line_id)
            if line_id in lines:
                raise ValueError(f"duplicate item id {line_id!r}")
            inventory_item_id = spec.get("inventory_item_id") or ids.numeric(10, suffix="")
            lines[line_id] = FulfillmentOrderLine(line_id, inventory_item_id, shipped)
        if not lines:
            raise ValueError("a fulfillment order needs at least one item")
        fulfillment_order_id = self._new_id(
            fulfillment_order_id, self.fulfillment_orders, ids, digits=10, suffix=""
        )
        _, created_time, _ = self._stamp(fulfillment_order_id)
        self.fulfillment_orders[fulfillment_order_id] = FulfillmentOrder(
            fulfillment_order_id, upstream_id, created_time, lines
        )
        return fulfillment_order_id

    def _new_id(
        self,
        wanted: str | None,
        existing: Mapping[str, Any],
        ids: IdGenerator,
        digits: int = 8,
        suffix: str = "0336",
    ) -> str:
        if wanted is None:
            return ids.numeric(digits, suffix)
        if wanted in existing:
            raise ValueError(f"id {wanted!r} is already in use")
        ids.reserve(wanted)
        return wanted

    def seed(
        self,
        *,
        orders: int = 10,
        items_per_order: int = 2,
        quantity: int = 5,
        fulfillment_orders: int = 0,
        seed: int = 0,
    ) -> Seeded:
        """Deterministic test data: the same arguments give the same ids in a fresh emulator.

        Line ``k`` of every order sells the same SKU, so ``skuId`` filters span orders.
        Fulfillment order ``j`` ships ``items_per_order`` lines of ``quantity`` each and names
        order ``j % orders`` as its upstream id.
        """
        # Its own stream, so the ids depend only on `seed`; a shared `used` set, so no clashes.
        ids = IdGenerator(seed, used=self._ids.used)
        skus = [ids.uuid() for _ in range(items_per_order)]
        order_ids = [
            self.add_order(items=[{"sku_id": sku, "quantity": quantity} for sku in skus], ids=ids)
            for _ in range(orders)
        ]
        fulfillment_order_ids = [
            self.add_fulfillment_order(
                upstream_id=order_ids[j % orders] if orders else None,
                items=[{"shipped_quantity": quantity}] * items_per_order,
                ids=ids,
            )
            for j in range(fulfillment_orders)
        ]
        return Seeded(order_ids, fulfillment_order_ids)

    # ----------------------------------------------------------------- fulfillments

    def create_fulfillment(self, body: Any, live: bool) -> Json:
        body = expect_object(body, None)
        check_fields(body, _FULFILLMENT_FIELDS)
        require(body, ("orderId", "items"))
        expect_strings(body, ("orderId", "shipmentId", "currency", "partnerId", *_TRACKING_FIELDS))
        lines = [
            parse_fulfillment_item(item, i) for i, item in enumerate(expect_list(body, "items"))
        ]
        metadata = validate_metadata(body["metadata"]) if "metadata" in body else None
        if "currency" not in body and any(line.has_costs for line in lines):
            raise bad_request(
                "missing_parameter",
                "'currency' is required with distributorCost or shippingCost.",
                "currency",
            )
        validate_currency(body)
        order = self.orders.get(body["orderId"])
        if order is None:
            raise bad_request(
                "invalid_parameter", f"Order '{body['orderId']}' not found.", "orderId"
            )
        self._check_open_quantities(order, lines)

        object_id = f"ful_{self._ids.uuid()}"
        key, created_time, committed = self._stamp(object_id)
        for line in lines:
            order_line = order.lines[line.item_id]
            order_line.fulfilled += line.quantity
            order_line.cancelled += line.cancel_quantity
        fulfillment: Json = {
            "id": object_id,
            "createdTime": created_time,
            "orderId": order.id,
            "items": [
                {
                    "itemId": line.item_id,
                    "skuId": order.lines[line.item_id].sku_id,
                    "quantity": line.quantity,
                    "cancelQuantity": line.cancel_quantity,
                    **line.echoed,
                }
                for line in lines
            ],
            "liveMode": live,
        }
        for name in ("shipmentId", "currency", *_TRACKING_FIELDS):
            if name in body:
                fulfillment[name] = body[name]
        if metadata is not None:
            fulfillment["metadata"] = dict(metadata)
        self.fulfillments.add(fulfillment, key, committed)
        return fulfillment

    @staticmethod
    def _check_open_quantities(order: Order, lines: Sequence[FulfillmentLine]) -> None:
        for line in lines:
            if line.item_id not in order.lines:
                parameter = f"items[{line.index}].itemId"
                raise bad_request(
                    "invalid_parameter",
                    f"Item '{line.item_id}' is not in order '{order.id}'.",
                    parameter,
                )
        if order.is_closed:
            raise ApiError(
                409, "order_fulfilled", f"Resource '{order.id}' is fulfilled.", "orderId"
            )
        available = {line_id: line.open for line_id, line in order.lines.items()}
        for line in lines:
            wanted = line.quantity + line.cancel_quantity
            if wanted > available[line.item_id]:
                raise over_quantity(
                    f"items[{line.index}].quantity", wanted, available[line.item_id]
                )
            available[line.item_id] -= wanted

    def retrieve_fulfillment(self, fulfillment_id: str) -> Json:
        """``FulfillmentOrder``: the fulfillment plus ``orderDetails``, and no ``currency``,
        exactly as the spec's schema lists its properties."""
        fulfillment = self.fulfillments.get(fulfillment_id, "Fulfillment")
        result = {name: value for name, value in fulfillment.items() if name != "currency"}
        result["orderDetails"] = self.orders[fulfillment["orderId"]].details(
            fulfillment["liveMode"]
        )
        return result

    def update_fulfillment(self, fulfillment_id: str, body: Any) -> Json:
        """Tracking (top level and per item) and metadata only; metadata is merged."""
        fulfillment = self.fulfillments.get(fulfillment_id, "Fulfillment")
        body = expect_object(body, None)
        check_fields(body, _UPDATE_FIELDS)
        expect_strings(body, _TRACKING_FIELDS)
        item_updates = [
            self._parse_update_item(fulfillment, value, i)
            for i, value in enumerate(expect_list(body, "items") if "items" in body else ())
        ]
        metadata = fulfillment.get("metadata", {})
        if "metadata" in body:
            metadata = {**metadata, **validate_metadata(body["metadata"])}
            if len(metadata) > METADATA_MAX_KEYS:
                raise too_many_metadata_pairs()

        for name in _TRACKING_FIELDS:
            if name in body:
                fulfillment[name] = body[name]
        for update in item_updates:
            for item in fulfillment["items"]:
                if item["itemId"] == update["itemId"]:
                    item.update(update)
        if "metadata" in body:
            fulfillment["metadata"] = metadata
        return fulfillment

    @staticmethod
    def _parse_update_item(fulfillment: Json, value: Any, index: int) -> Json:
        prefix = f"items[{index}]."
        item = expect_object(value, f"items[{index}]")
        check_fields(item, _UPDATE_ITEM_FIELDS, prefix)
        require(item, ("itemId",), prefix)
        expect_strings(item, _UPDATE_ITEM_FIELDS, prefix)
        if all(existing["itemId"] != item["itemId"] for existing in fulfillment["items"]):
            raise bad_request(
                "invalid_parameter",
                f"Item '{item['itemId']}' is not in fulfillment '{fulfillment['id']}'.",
                prefix + "itemId",
            )
        return item

    def list_fulfillments(self, query: Iterable[tuple[str, str]]) -> Json:
        parsed = parse_list_query(query, FULFILLMENT_LIST_RULES)
        return self.fulfillments.page(parsed, self._committed_by())

    # ----------------------------------------------------------------- fulfillment returns

    def create_return(self, body: Any, live: bool) -> Json:
        body = expect_object(body, None)
        check_fields(body, _RETURN_FIELDS)
        require(body, ("fulfillmentOrderId", "items"))
        expect_strings(body, ("fulfillmentOrderId", "upstreamId", "reason"))
        items = [
            self._parse_return_item(value, i) for i, value in enumerate(expect_list(body, "items"))
        ]
        fulfillment_order = self.fulfillment_orders.get(body["fulfillmentOrderId"])
        if fulfillment_order is None:
            raise bad_request(
                "invalid_parameter",
                f"Fulfillment order '{body['fulfillmentOrderId']}' not found.",
                "fulfillmentOrderId",
            )
        lines = self._check_returnable(fulfillment_order, items)

        object_id = f"ret_{self._ids.numeric(10, suffix='')}"
        key, created_time, committed = self._stamp(object_id)
        returned: Json = {
            "id": object_id,
            "createdTime": created_time,
            "fulfillmentOrderId": fulfillment_order.id,
        }
        upstream_id = body.get("upstreamId", fulfillment_order.upstream_id)
        if upstream_id is not None:
            returned["upstreamId"] = upstream_id
        if "reason" in body:
            returned["reason"] = body["reason"]
        returned["state"] = "created"
        returned["type"] = "client"
        returned["items"] = []
        for item, line in zip(items, lines, strict=True):
            line.returned += item["quantity"]
            response_item: Json = {
                "fulfillmentOrderItemId": line.id,
                "inventoryItemId": line.inventory_item_id,
                "quantity": item["quantity"],
                "quantityAccepted": 0,
                "state": "pending",
            }
            if "unitAttributes" in item:
                response_item["unitAttributes"] = [dict(unit) for unit in item["unitAttributes"]]
            returned["items"].append(response_item)
        returned["livemode"] = live
        self.returns.add(returned, key, committed)
        return returned

    @staticmethod
    def _parse_return_item(value: Any, index: int) -> Json:
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
                check_fields(
                    expect_object(unit, unit_prefix[:-1]), _UNIT_ATTRIBUTE_FIELDS, unit_prefix
                )
                expect_strings(unit, _UNIT_ATTRIBUTE_FIELDS, unit_prefix)
        return item

    @staticmethod
    def _check_returnable(
        fulfillment_order: FulfillmentOrder, items: Sequence[Json]
    ) -> list[FulfillmentOrderLine]:
        lines = []
        available: dict[str, int] = {}
        for i, item in enumerate(items):
            line = fulfillment_order.lines.get(item["fulfillmentOrderItemId"])
            if line is None:
                raise bad_request(
                    "invalid_parameter",
                    f"Item '{item['fulfillmentOrderItemId']}' is not in fulfillment order "
                    f"'{fulfillment_order.id}'.",
                    f"items[{i}].fulfillmentOrderItemId",
                )
            left = available.setdefault(line.id, line.shipped_quantity - line.returned)
            if item["quantity"] > left:
                raise over_quantity(f"items[{i}].quantity", item["quantity"], left)
            available[line.id] = left - item["quantity"]
            lines.append(line)
        return lines

    def retrieve_return(self, return_id: str) -> Json:
        return self.returns.get(return_id, "Fulfillment return")

    def list_returns(self, query: Iterable[tuple[str, str]]) -> Json:
        parsed = parse_list_query(query, RETURN_LIST_RULES)
        return self.returns.page(parsed, self._committed_by())

    def advance_return(self, return_id: str, state: str) -> Json:
        """Move a return along created → pending → accepted, or to rejected from the first two.

        Items follow: accepted items get ``quantityAccepted = quantity``; rejecting a return
        makes its quantities returnable again. A return gets a ``location`` once pending.
        """
        returned = self.returns.objects.get(return_id)
        if returned is None:
            raise KeyError(f"no fulfillment return {return_id!r}")
        if state not in RETURN_STATES:
            raise ValueError(f"unknown return state {state!r}; one of {RETURN_STATES}")
        if state not in _RETURN_TRANSITIONS.get(returned["state"], ()):
            raise ValueError(f"a {returned['state']} return cannot become {state}")
        returned["state"] = state
        if state == "pending":
            returned["location"] = _copy_location()
        for item in returned["items"]:
            if state == "accepted":
                item["state"] = "accepted"
                item["quantityAccepted"] = item["quantity"]
                if "unitAttributes" in item:
                    item["unitAttributesAccepted"] = [dict(u) for u in item["unitAttributes"]]
            elif state == "rejected":
                item["state"] = "rejected"
                fulfillment_order = self.fulfillment_orders[returned["fulfillmentOrderId"]]
                fulfillment_order.lines[item["fulfillmentOrderItemId"]].returned -= item["quantity"]
        return returned


def _copy_location() -> Json:
    return {**RETURN_LOCATION, "address": dict(RETURN_LOCATION["address"])}
