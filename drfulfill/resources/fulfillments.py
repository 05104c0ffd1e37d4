"""``client.fulfillments``: create (exactly once), retrieve, update, list, bulk_create."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._constants import METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from .._convert import structure, unstructure
from .._retry import NotApplied, RequestKind, is_ambiguous, is_retryable
from .._session import Transport, encode_path
from .._shards import time_windows
from ..errors import ConflictError, DecodeError, DigitalRiverError, ValidationError
from ..models import (
    CreatedTime,
    Fulfillment,
    FulfillmentRequest,
    FulfillmentRequestItem,
    UpdateFulfillmentItem,
    UpdateFulfillmentRequest,
)
from ..pagination import AsyncPager
from ._params import as_sequence, check_id, check_path_id, filter_query

if TYPE_CHECKING:
    from ..bulk import KeyFunction, ProgressCallback
    from ..models import BulkResult

logger = logging.getLogger("drfulfill")

_PATH = "/fulfillments"


def _decode(raw: Mapping[str, Any]) -> Fulfillment:
    return structure(raw, Fulfillment)


def as_fulfillment_request(request: FulfillmentRequest | Mapping[str, Any]) -> FulfillmentRequest:
    """A FulfillmentRequest from itself or from a dict with the same snake_case keys."""
    if isinstance(request, FulfillmentRequest):
        return request
    if isinstance(request, Mapping):
        try:
            return FulfillmentRequest(**request)
        except TypeError as error:
            raise ValidationError(f"bad fulfillment request fields: {error}") from None
    raise ValidationError(f"expected a FulfillmentRequest or a dict, got {type(request).__name__}")


class Fulfillments:
    """Fulfillments tell Digital River what shipped (capture) or was cancelled (void)."""

    def __init__(self, transport: Transport, idempotency_field: str | None) -> None:
        self._transport = transport
        self._idempotency_field = idempotency_field

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

        Give a ``FulfillmentRequest`` (or a dict) or the same fields as keywords. Exactly once:
        the request carries ``key`` (random unless given) in ``metadata`` under the client's
        ``idempotency_field``; after an ambiguous failure or a 409 the order's fulfillments are
        searched for the key, and the create is sent again only if it is not there. Pass the
        same ``key`` when you retry a create yourself.
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
        body = unstructure(request)
        field = self._idempotency_field
        if field is None:
            if key is not None:
                raise ValidationError("key needs the safe-create protocol (idempotency_field)")
            raw = await self._transport.request("POST", _PATH, body=body, kind=RequestKind.CREATE)
            return _decode(raw)
        key = _stamp_key(body, field, key)
        return await self._create_exactly_once(body, request.order_id, key)

    async def _create_exactly_once(
        self, body: dict[str, Any], order_id: str, key: str
    ) -> Fulfillment:
        """One retry loop (one attempt budget, one deadline) for sends and lookups.

        A create that fails ambiguously, with a 409, or with an unreadable 2xx body is
        looked up by its key at once. If an ambiguous one is not there, it is looked up
        again just before it is re-sent, after the backoff wait, so that a create DR was
        still processing has had time to land.
        """
        transport = self._transport
        send = transport.prepare("POST", _PATH, body=body)
        started = transport.clock()
        unresolved: DigitalRiverError | None = None  # the last attempt's ambiguous failure

        async def attempt(timeout: float | None) -> Fulfillment:
            nonlocal unresolved
            if unresolved is not None:
                found = await self._reconcile(order_id, key, unresolved, started)
                if found is not None:
                    return found
                unresolved = None
                transport.stats.recreated += 1
            try:
                return _decode(await send(timeout))
            except DigitalRiverError as error:
                # A 2xx whose body we cannot read (DecodeError) was applied: find it, so
                # the caller is not left to retry a create that happened.
                final = isinstance(error, (ConflictError, DecodeError))
                if not (final or is_ambiguous(error)):
                    raise
                found = await self._reconcile(order_id, key, error, started)
                if found is not None:
                    return found
                if final:
                    raise
                unresolved = error
                raise NotApplied(error) from error

        def retryable(error: BaseException) -> bool:
            return isinstance(error, NotApplied) or is_retryable(RequestKind.CREATE, error)

        try:
            return await transport.call_with_retries(
                attempt, retryable, f"POST {_PATH}", started=started
            )
        except NotApplied as not_applied:
            raise not_applied.error from None

    async def _reconcile(
        self, order_id: str, key: str, error: DigitalRiverError, started: float
    ) -> Fulfillment | None:
        """The fulfillment a failed create made, or None if it made none."""
        try:
            found = await self._find(order_id, key, started)
        except DigitalRiverError as lookup_error:
            # Whether the create happened is unknown: never send it again blindly.
            raise error from lookup_error
        if found is not None:
            self._transport.stats.reconciled += 1
            logger.warning(
                "create for order %s failed (%s) but had been applied: found %s by key %s",
                order_id,
                error,
                found.id,
                key,
            )
        return found

    async def find_by_key(self, order_id: str, key: str) -> Fulfillment | None:
        """The order's fulfillment created with safe-create ``key``, if there is one."""
        if self._idempotency_field is None:
            raise ValidationError("find_by_key needs the safe-create protocol (idempotency_field)")
        return await self._find(check_id("order_id", order_id), key, None)

    async def _find(self, order_id: str, key: str, started: float | None) -> Fulfillment | None:
        field = self._idempotency_field
        pager = self._pager([("orderId", order_id)], limit=100, started=started)
        async for fulfillment in pager:
            if fulfillment.metadata and fulfillment.metadata.get(field) == key:
                return fulfillment
        return None

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
    ) -> AsyncPager[Fulfillment]:
        """Fulfillments, newest first, fetched page by page as you iterate.

        ``prefetch=True`` requests the next page while you consume the current one.
        ``shards=K`` with ``created_time=CreatedTime(gte=..., lt=...)`` (both bounds required)
        pages K sub-windows of that time range concurrently and yields every object exactly
        once, in no guaranteed order; see ``AsyncPager``.
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
        )

    def _pager(
        self, filters: Sequence[tuple[str, str]], *, started: float | None = None, **paging: Any
    ) -> AsyncPager[Fulfillment]:
        transport = self._transport
        return AsyncPager(
            lambda query: transport.request("GET", _PATH, query=query, started=started),
            _decode,
            filters,
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
    ) -> AsyncIterator[BulkResult]:
        """Create many fulfillments concurrently; see ``drfulfill.bulk.bulk_create``."""
        from ..bulk import bulk_create

        return bulk_create(
            self,
            requests,
            concurrency=concurrency,
            key=key,
            journal=journal,
            stop_on_error=stop_on_error,
            on_progress=on_progress,
        )


def _stamp_key(body: dict[str, Any], field: str, key: str | None) -> str:
    """Put the safe-create key into the body's metadata; return the key used."""
    metadata = dict(body.get("metadata") or {})
    existing = metadata.get(field)
    if existing is not None and key is not None and existing != key:
        raise ValidationError(f"metadata[{field!r}] is {existing!r} but key is {key!r}")
    key = key if key is not None else existing if existing is not None else uuid.uuid4().hex
    if not isinstance(key, str) or not key or len(key) > METADATA_MAX_VALUE_LENGTH:
        raise ValidationError(
            f"key must be a non-empty string of at most {METADATA_MAX_VALUE_LENGTH} characters"
        )
    metadata[field] = key
    if len(metadata) > METADATA_MAX_KEYS:
        raise ValidationError(
            f"metadata has {len(metadata) - 1} keys and the safe-create key "
            f"{field!r} makes it more than DR's {METADATA_MAX_KEYS}; drop one, or pass "
            "idempotency_field=None to the Client"
        )
    body["metadata"] = metadata
    return key
