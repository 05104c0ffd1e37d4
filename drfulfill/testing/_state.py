"""The emulator's store: every object, and the seven operations on them, as plain Python.

Objects are kept as wire-shaped dicts (exactly what the API returns), plus the bookkeeping DR
keeps behind them (``_records``). Bodies are checked by ``_bodies``, list queries by
``_lists``; a refusal is an ``ErrorReply`` (``_errors``), which the HTTP layer turns into a DR
error body. No I/O: testable directly.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple, Protocol

from .._constants import METADATA_MAX_KEYS
from ._bodies import FulfillmentRequest as ParsedFulfillment
from ._bodies import (
    parse_fulfillment_request,
    parse_fulfillment_update,
    parse_return_request,
    too_many_metadata_pairs,
)
from ._errors import Json, bad_request
from ._lists import (
    FULFILLMENT_LIST_RULES,
    RETURN_LIST_RULES,
    Collection,
    SortKey,
    parse_list_query,
)
from ._records import FulfillmentOrder, FulfillmentOrderLine, Order, OrderLine

Clock = Callable[[], datetime]

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


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def format_time(epoch: int) -> str:
    """DR's wire format: whole seconds, UTC, ``Z`` suffix."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


class Seeded(NamedTuple):
    """Ids made by ``EmulatorState.seed``."""

    orders: list[str]
    fulfillment_orders: list[str]


class StateObserver(Protocol):
    def fulfillment_created(self, fulfillment: Json) -> object: ...

    def return_changed(self, returned: Json) -> object: ...


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
        # Told of every create and return transition, however it was applied (webhooks).
        self.observer: StateObserver | None = None
        # Rehearsals: an unknown order in a create comes into being holding what it asks
        # for, and an order made so grows with each later create (see ``hold_for``).
        self.auto_orders = False
        self._auto_order_ids: set[str] = set()

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
        specs: Sequence[Mapping[str, Any]] = items if items is not None else [{"quantity": 1}]
        for spec in specs:
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
        specs: Sequence[Mapping[str, Any]] = (
            items if items is not None else [{"shipped_quantity": 1}]
        )
        for spec in specs:
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
        request = parse_fulfillment_request(body)
        if self.auto_orders:
            self.hold_for(request)
        order = self.orders.get(request.order_id)
        if order is None:
            raise bad_request(
                "invalid_parameter", f"Order '{request.order_id}' not found.", "orderId"
            )
        order.check_fulfillable(request.lines)

        object_id = f"ful_{self._ids.uuid()}"
        key, created_time, committed = self._stamp(object_id)
        for line in request.lines:
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
                for line in request.lines
            ],
            "liveMode": live,
            **request.echoed,
        }
        if request.metadata is not None:
            fulfillment["metadata"] = dict(request.metadata)
        self.fulfillments.add(fulfillment, key, committed)
        if self.observer is not None:
            self.observer.fulfillment_created(fulfillment)
        return fulfillment

    def hold_for(self, request: ParsedFulfillment) -> None:
        """``auto_orders``: make the request's order hold what it asks for. An unknown order
        comes into being with exactly the request's items and units; an order that came
        into being so takes any item or unit a later create needs (a second parcel of the
        same order). Orders added otherwise are never changed."""
        wanted: dict[str, int] = {}
        for line in request.lines:
            units = line.quantity + line.cancel_quantity
            wanted[line.item_id] = wanted.get(line.item_id, 0) + units
        order = self.orders.get(request.order_id)
        if order is None:
            items = [{"item_id": item, "quantity": max(1, units)} for item, units in wanted.items()]
            self._auto_order_ids.add(self.add_order(request.order_id, items))
            return
        if order.id not in self._auto_order_ids:
            return
        for item, units in wanted.items():
            held = order.lines.get(item)
            if held is None:
                order.lines[item] = OrderLine(item, self._ids.uuid(), max(1, units))
            elif units > held.open:
                held.quantity += units - held.open

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
        update = parse_fulfillment_update(body)
        items = {item["itemId"]: item for item in fulfillment["items"]}
        for index, item_update in enumerate(update.items):
            if item_update["itemId"] not in items:
                raise bad_request(
                    "invalid_parameter",
                    f"Item '{item_update['itemId']}' is not in fulfillment '{fulfillment_id}'.",
                    f"items[{index}].itemId",
                )
        metadata = None
        if update.metadata is not None:
            metadata = {**fulfillment.get("metadata", {}), **update.metadata}
            if len(metadata) > METADATA_MAX_KEYS:
                raise too_many_metadata_pairs()

        fulfillment.update(update.tracking)
        for item_update in update.items:
            items[item_update["itemId"]].update(item_update)
        if metadata is not None:
            fulfillment["metadata"] = metadata
        return fulfillment

    def list_fulfillments(self, query: Iterable[tuple[str, str]]) -> Json:
        parsed = parse_list_query(query, FULFILLMENT_LIST_RULES)
        return self.fulfillments.page(parsed, self._committed_by())

    # ----------------------------------------------------------------- fulfillment returns

    def create_return(self, body: Any, live: bool) -> Json:
        request = parse_return_request(body)
        fulfillment_order = self.fulfillment_orders.get(request.fulfillment_order_id)
        if fulfillment_order is None:
            raise bad_request(
                "invalid_parameter",
                f"Fulfillment order '{request.fulfillment_order_id}' not found.",
                "fulfillmentOrderId",
            )
        lines = fulfillment_order.returnable_lines(request.items)

        object_id = f"ret_{self._ids.numeric(10, suffix='')}"
        key, created_time, committed = self._stamp(object_id)
        returned: Json = {
            "id": object_id,
            "createdTime": created_time,
            "fulfillmentOrderId": fulfillment_order.id,
        }
        if request.upstream_id is not None:  # only when given: DR does not fill it in
            returned["upstreamId"] = request.upstream_id
        if request.reason is not None:
            returned["reason"] = request.reason
        returned["state"] = "created"
        returned["type"] = "client"
        returned["items"] = []
        for item, line in zip(request.items, lines, strict=True):
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
        if self.observer is not None:
            self.observer.return_changed(returned)
        return returned

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
        if self.observer is not None:
            self.observer.return_changed(returned)
        return returned


def _copy_location() -> Json:
    return {**RETURN_LOCATION, "address": dict(RETURN_LOCATION["address"])}
