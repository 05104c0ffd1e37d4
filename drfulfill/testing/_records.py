"""What the emulator keeps behind the wire objects: orders and fulfillment orders with their
open and returned quantities, and ``Records``, the read-only view tests inspect."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from ._bodies import FulfillmentLine
from ._errors import ErrorReply, Json, bad_request, over_quantity


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

    def check_fulfillable(self, lines: Sequence[FulfillmentLine]) -> None:
        """Raise the ``ErrorReply`` DR gives unless every line can be fulfilled or cancelled."""
        for line in lines:
            if line.item_id not in self.lines:
                raise bad_request(
                    "invalid_parameter",
                    f"Item '{line.item_id}' is not in order '{self.id}'.",
                    f"items[{line.position}].itemId",
                )
        if self.is_closed:
            raise ErrorReply(
                409, "order_fulfilled", f"Resource '{self.id}' is fulfilled.", "orderId"
            )
        available = {line_id: line.open for line_id, line in self.lines.items()}
        for line in lines:
            wanted = line.quantity + line.cancel_quantity
            if wanted > available[line.item_id]:
                raise over_quantity(
                    f"items[{line.position}].quantity", wanted, available[line.item_id]
                )
            available[line.item_id] -= wanted

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

    def returnable_lines(self, items: Sequence[Json]) -> list[FulfillmentOrderLine]:
        """The line of each return item; an ``ErrorReply`` for an unknown line or a quantity
        beyond what was shipped and not yet returned."""
        lines = []
        available: dict[str, int] = {}
        for i, item in enumerate(items):
            line = self.lines.get(item["fulfillmentOrderItemId"])
            if line is None:
                raise bad_request(
                    "invalid_parameter",
                    f"Item '{item['fulfillmentOrderItemId']}' is not in fulfillment order "
                    f"'{self.id}'.",
                    f"items[{i}].fulfillmentOrderItemId",
                )
            left = available.setdefault(line.id, line.shipped_quantity - line.returned)
            if item["quantity"] > left:
                raise over_quantity(f"items[{i}].quantity", item["quantity"], left)
            available[line.id] = left - item["quantity"]
            lines.append(line)
        return lines

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
