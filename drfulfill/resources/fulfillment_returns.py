"""``client.fulfillment_returns``: create, retrieve, list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._convert import decoder, structure, unstructure
from .._retry import RequestKind
from .._session import Transport
from .._shards import time_windows
from .._wire import encode_path
from ..models import (
    CreatedTime,
    FulfillmentReturn,
    FulfillmentReturnItemRequest,
    FulfillmentReturnRequest,
    FulfillmentReturnState,
)
from ..pagination import AsyncPager
from ._params import as_sequence, check_path_id, filter_query

_PATH = "/fulfillment-returns"


def _decode(raw: Mapping[str, Any]) -> FulfillmentReturn:
    return structure(raw, FulfillmentReturn)


class FulfillmentReturns:
    """Returns of shipped items, coordinated by Digital River's fulfiller.

    A return request has no metadata field, so the safe-create protocol cannot tag it: a
    create that fails ambiguously (timeout, reset, 5xx) is raised, never sent again.
    Check with ``list(fulfillment_order_id=...)`` before you retry one.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(
        self,
        *,
        fulfillment_order_id: str,
        items: Sequence[FulfillmentReturnItemRequest | Mapping[str, Any]],
        upstream_id: str | None = None,
        reason: str | None = None,
    ) -> FulfillmentReturn:
        """Ask the fulfiller to take items of a fulfillment order back."""
        body = unstructure(
            FulfillmentReturnRequest(
                fulfillment_order_id=fulfillment_order_id,
                items=items,
                upstream_id=upstream_id,
                reason=reason,
            )
        )
        raw = await self._transport.request("POST", _PATH, body=body, kind=RequestKind.CREATE)
        return _decode(raw)

    async def retrieve(self, return_id: str) -> FulfillmentReturn:
        """One fulfillment return."""
        path = encode_path("fulfillment-returns", check_path_id("return_id", return_id))
        return _decode(await self._transport.request("GET", path))

    def list(
        self,
        *,
        state: FulfillmentReturnState | str | None = None,
        fulfillment_order_id: str | None = None,
        inventory_item_id: str | None = None,
        upstream_ids: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
        created_time: CreatedTime | None = None,
        limit: int | None = None,
        max_items: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        prefetch: bool = False,
        shards: int | None = None,
        resume_token: str | None = None,
    ) -> AsyncPager[FulfillmentReturn]:
        """Fulfillment returns, newest first, fetched page by page as you iterate.

        ``prefetch=True`` requests the next page while you consume the current one.
        ``shards=K`` with ``created_time=CreatedTime(gte=..., lt=...)`` (both bounds required)
        pages K sub-windows of that time range concurrently and yields every object exactly
        once, in no guaranteed order; see ``AsyncPager``. K is at most 100 (``MAX_SHARDS``).
        ``resume_token`` (a page's ``resume_token``, with the same filters and shards)
        yields exactly the objects after that page; ``await`` the pager for its first page.
        """
        created_time, windows = time_windows(created_time, shards)
        filters = filter_query(
            [
                ("state", "state", state),
                ("fulfillmentOrderId", "fulfillment_order_id", fulfillment_order_id),
                ("inventoryItemId", "inventory_item_id", inventory_item_id),
                ("upstreamIds", "upstream_ids", as_sequence(upstream_ids)),
                ("ids", "ids", as_sequence(ids)),
            ],
            created_time,
            allow_eq=True,
        )
        return AsyncPager(
            lambda query: self._transport.request("GET", _PATH, query=query),
            decoder(FulfillmentReturn),
            filters,
            limit=limit,
            max_items=max_items,
            starting_after=starting_after,
            ending_before=ending_before,
            prefetch=prefetch,
            windows=windows,
            resume_token=resume_token,
            scope=_PATH,
        )
