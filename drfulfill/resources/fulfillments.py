"""``client.fulfillments``: create (exactly once), retrieve, update, list, bulk_create."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from .._convert import decoder, unstructure
from .._retry import RequestKind
from .._safecreate import PATH as _PATH
from .._safecreate import (
    CreateOptions,
    SafeCreator,
    as_fulfillment_request,
    decode_fulfillment,
    stamp_key,
)
from .._session import Transport
from .._shards import time_windows
from .._wire import encode_path
from ..bulk import KeyFunction, ProgressCallback, bulk_create
from ..errors import ValidationError
from ..models import (
    BulkFailure,
    BulkSuccess,
    CreatedTime,
    Fulfillment,
    FulfillmentRequest,
    FulfillmentRequestItem,
    UpdateFulfillmentItem,
    UpdateFulfillmentRequest,
)
from ..pagination import AsyncPager
from ._params import as_sequence, check_id, check_path_id, filter_query

_decode = decode_fulfillment


class Fulfillments:
    """Fulfillments tell Digital River what shipped (capture) or was cancelled (void)."""

    def __init__(self, transport: Transport, safe_create: SafeCreator | None) -> None:
        self._transport = transport
        #: The safe-create component (None when the client's ``idempotency_field`` is None):
        #: what ``bulk_create`` and the CLI create through.
        self.safe_create = safe_create

    async def create(
        self,
        request: FulfillmentRequest | Mapping[str, Any] | None = None,
        /,
        *,
        order_id: str | None = None,
        items: Sequence[FulfillmentRequestItem | Mapping[str, Any]] | None = None,
        shipment_id: str | None = None,
        currency: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tracking_company: str | None = None,
        tracking_number: str | None = None,
        tracking_url: str | None = None,
        partner_id: str | None = None,
        key: str | None = None,
    ) -> Fulfillment:
        """Create a fulfillment: capture (``quantity``) or cancel (``cancel_quantity``) items.

        Give a ``FulfillmentRequest`` (or a dict) or the same fields as keywords.

        Exactly once: the request carries ``key`` in ``metadata`` under the client's
        ``idempotency_field``. After an ambiguous failure (timeout, dropped connection,
        5xx, cancellation) or a 409 the order's fulfillments are searched for the key; a
        create is sent again only when lookups spanning the client's ``settle`` window
        from the failure have not found it, and right after such a lookup. Without ``key``
        a random one is used (one request). With ``key`` (pass the same key when you retry
        a create yourself) the key is looked up before the first send (two requests),
        unless the client's coordinator vouches the fleet never sent it (one request); a
        key this client or the fleet created already costs one GET by id, never a POST.

        Raises ``KeyReuseError`` when ``key`` names a fulfillment of another order, items or
        quantities; ``ValidationError`` for bad input (nothing sent); the create's
        ``APIError``/``APIConnectionError`` when it failed, or when its outcome could not be
        settled within the deadline.
        """
        fields = {
            "order_id": order_id,
            "items": items,
            "shipment_id": shipment_id,
            "currency": currency,
            "metadata": metadata,
            "tracking_company": tracking_company,
            "tracking_number": tracking_number,
            "tracking_url": tracking_url,
            "partner_id": partner_id,
        }
        given = {name: value for name, value in fields.items() if value is not None}
        if request is not None:
            if given:
                raise ValidationError(
                    f"pass a request or keyword fields, not both (got {', '.join(given)})"
                )
            request = as_fulfillment_request(request)
        else:
            request = as_fulfillment_request(given)
        creator = self.safe_create
        if creator is None:
            if key is not None:
                raise ValidationError("key needs the safe-create protocol (idempotency_field)")
            body = unstructure(request)
            raw = await self._transport.request("POST", _PATH, body=body, kind=RequestKind.CREATE)
            return _decode(raw)
        # The key may also come in the request's metadata; a random one is new to everybody.
        body = unstructure(request)
        used = stamp_key(body, creator.field, key, uuid.uuid4().hex)
        random_key = key is None and (request.metadata or {}).get(creator.field) is None
        options = CreateOptions(verified=random_key, shared=not random_key)
        return await creator.create(request, used, options=options)

    async def find_by_key(self, order_id: str, key: str) -> Fulfillment | None:
        """The order's fulfillment created with safe-create ``key``, if there is one."""
        if self.safe_create is None:
            raise ValidationError("find_by_key needs the safe-create protocol (idempotency_field)")
        return await self.safe_create.find(check_id("order_id", order_id), key)

    async def retrieve(self, fulfillment_id: str) -> Fulfillment:
        """One fulfillment, with ``order_details`` (the order as a raw mapping)."""
        path = encode_path("fulfillments", check_path_id("fulfillment_id", fulfillment_id))
        return _decode(await self._transport.request("GET", path))

    async def update(
        self,
        fulfillment_id: str,
        *,
        tracking_company: str | None = None,
        tracking_number: str | None = None,
        tracking_url: str | None = None,
        items: Sequence[UpdateFulfillmentItem | Mapping[str, Any]] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Fulfillment:
        """Set tracking data (per fulfillment or per item) and merge ``metadata``."""
        path = encode_path("fulfillments", check_path_id("fulfillment_id", fulfillment_id))
        body = unstructure(
            UpdateFulfillmentRequest(
                tracking_company=tracking_company,
                tracking_number=tracking_number,
                tracking_url=tracking_url,
                items=items,
                metadata=metadata,
            )
        )
        if not body:
            raise ValidationError(
                "update needs at least one of tracking_company, tracking_number, "
                "tracking_url, items, metadata"
            )
        # Update only sets values, so repeating it is safe: it is retried like a GET.
        raw = await self._transport.request("POST", path, body=body, kind=RequestKind.IDEMPOTENT)
        return _decode(raw)

    def list(
        self,
        *,
        order_id: str | None = None,
        sku_id: str | None = None,
        tracking_company: str | None = None,
        tracking_number: str | None = None,
        ids: Iterable[str] | None = None,
        created_time: CreatedTime | None = None,
        limit: int | None = None,
        max_items: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        prefetch: bool = False,
        shards: int | None = None,
        resume_token: str | None = None,
    ) -> AsyncPager[Fulfillment]:
        """Fulfillments, newest first, fetched page by page as you iterate.

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
                ("orderId", "order_id", order_id),
                ("skuId", "sku_id", sku_id),
                ("trackingCompany", "tracking_company", tracking_company),
                ("trackingNumber", "tracking_number", tracking_number),
                ("ids", "ids", as_sequence(ids)),
            ],
            created_time,
            allow_eq=False,
        )
        return self._pager(
            filters,
            limit=limit,
            max_items=max_items,
            starting_after=starting_after,
            ending_before=ending_before,
            prefetch=prefetch,
            windows=windows,
            resume_token=resume_token,
        )

    def _pager(self, filters: Sequence[tuple[str, str]], **paging: Any) -> AsyncPager[Fulfillment]:
        transport = self._transport
        return AsyncPager(
            lambda query: transport.request("GET", _PATH, query=query),
            decoder(Fulfillment),
            filters,
            scope=_PATH,
            **paging,
        )

    def bulk_create(
        self,
        requests: Iterable[FulfillmentRequest | Mapping[str, Any]]
        | AsyncIterable[FulfillmentRequest | Mapping[str, Any]],
        *,
        concurrency: int | None = None,
        key: str | KeyFunction | None = None,
        journal: str | None = None,
        stop_on_error: bool = False,
        on_progress: ProgressCallback | None = None,
        since: datetime | None = None,
    ) -> AsyncGenerator[BulkSuccess | BulkFailure, None]:
        """Create many fulfillments concurrently; see ``drfulfill.bulk.bulk_create``.

        Each result is a ``BulkSuccess`` or a ``BulkFailure`` (what ``BulkResult(...)``
        always makes), so ``if res.ok:`` narrows ``res.fulfillment`` to ``Fulfillment``.
        """
        results = bulk_create(
            self,
            requests,
            concurrency=concurrency,
            key=key,
            journal=journal,
            stop_on_error=stop_on_error,
            on_progress=on_progress,
            since=since,
        )
        return cast("AsyncGenerator[BulkSuccess | BulkFailure, None]", results)
