"""``client.fulfillments``: create (exactly once), retrieve, update, list, bulk_create."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._constants import METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from .._convert import structure, unstructure
from .._retry import RequestKind, is_ambiguous
from .._session import Transport, encode_path
from ..errors import ConflictError, DigitalRiverError, ValidationError
from ..models import (
    CreatedTime,
    Fulfillment,
    FulfillmentRequest,
    FulfillmentRequestItem,
    UpdateFulfillmentItem,
    UpdateFulfillmentRequest,
)
from ..pagination import AsyncPager
from ._params import as_sequence, check_id, filter_query

if TYPE_CHECKING:
    from ..bulk import KeyFunction, ProgressCallback
    from ..models import BulkResult

logger = logging.getLogger("drfulfill")

_PATH = "/fulfillments"


class _NotApplied(Exception):
    """An ambiguous create was checked and found not applied: safe to send again."""

    def __init__(self, error: DigitalRiverError) -> None:
        super().__init__(str(error))
        self.error = error


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
        return await self._create_exactly_once(body, request.order_id, field, key)

    async def _create_exactly_once(
        self, body: dict[str, Any], order_id: str, field: str, key: str
    ) -> Fulfillment:
        transport = self._transport
        resent = False

        async def attempt(_timeout: float | None) -> Fulfillment:
            nonlocal resent
            if resent:
                transport.stats.recreated += 1
            try:
                raw = await transport.request("POST", _PATH, body=body, kind=RequestKind.CREATE)
                return _decode(raw)
            except DigitalRiverError as error:
                if not (is_ambiguous(error) or isinstance(error, ConflictError)):
                    raise
                try:
                    found = await self.find_by_key(order_id, key)
                except DigitalRiverError as lookup_error:
                    # Whether the create happened is unknown: never send it again blindly.
                    raise error from lookup_error
                if found is not None:
                    transport.stats.reconciled += 1
                    logger.warning(
                        "create for order %s failed (%s) but had been applied: found %s by key %s",
                        order_id,
                        error,
                        found.id,
                        key,
                    )
                    return found
                if isinstance(error, ConflictError):
                    raise
                resent = True
                raise _NotApplied(error) from error

        try:
            return await transport.call_with_retries(
                attempt, lambda error: isinstance(error, _NotApplied), f"POST {_PATH}"
            )
        except _NotApplied as not_applied:
            raise not_applied.error from None

    async def find_by_key(self, order_id: str, key: str) -> Fulfillment | None:
        """The order's fulfillment created with safe-create ``key``, if there is one."""
        field = self._idempotency_field
        if field is None:
            raise ValidationError("find_by_key needs the safe-create protocol (idempotency_field)")
        async for fulfillment in self.list(order_id=order_id, limit=100):
            if fulfillment.metadata and fulfillment.metadata.get(field) == key:
                return fulfillment
        return None

    async def retrieve(self, fulfillment_id: str) -> Fulfillment:
        """One fulfillment, with ``order_details`` (the order as a raw mapping)."""
        path = encode_path("fulfillments", check_id("fulfillment_id", fulfillment_id))
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
        path = encode_path("fulfillments", check_id("fulfillment_id", fulfillment_id))
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
    ) -> AsyncPager[Fulfillment]:
        """Fulfillments, newest first, fetched page by page as you iterate."""
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
        return AsyncPager(
            lambda query: self._transport.request("GET", _PATH, query=query),
            _decode,
            filters,
            limit=limit,
            max_items=max_items,
            starting_after=starting_after,
            ending_before=ending_before,
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
