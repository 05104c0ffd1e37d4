"""Safe-create keys on the wire: stamped into a create's metadata, read back from the
fulfillments Digital River lists, and looked up among them (by order, or by time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from ._clock import utc_now
from ._constants import BULK_SINCE_MARGIN, METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from ._convert import decoder
from ._session import Transport
from ._wire import Query
from .errors import ValidationError
from .models import CreatedTime, Fulfillment
from .pagination import AsyncPager

PATH = "/fulfillments"
_LOOKUP_PAGE_SIZE = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def stamp_key(body: dict[str, Any], field: str, key: str | None, new_key: str) -> str:
    """Put the safe-create key into the wire body's metadata; return the key used.

    ``key`` is the caller's, if any; a key already in the metadata is used when the caller
    gave none; ``new_key`` otherwise.
    """
    metadata = dict(body.get("metadata") or {})
    existing = metadata.get(field)
    if existing is not None and key is not None and existing != key:
        raise ValidationError(f"metadata[{field!r}] is {existing!r} but key is {key!r}")
    key = key if key is not None else existing if existing is not None else new_key
    check_key(key)
    metadata[field] = key
    if len(metadata) > METADATA_MAX_KEYS:
        raise ValidationError(
            f"metadata has {len(metadata) - 1} keys and the safe-create key "
            f"{field!r} makes it more than DR's {METADATA_MAX_KEYS}; drop one, or pass "
            "idempotency_field=None to the Client"
        )
    body["metadata"] = metadata
    return key


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > METADATA_MAX_VALUE_LENGTH:
        raise ValidationError(
            f"key must be a non-empty string of at most {METADATA_MAX_VALUE_LENGTH} characters, "
            f"got {key!r}"
        )
    try:
        key.encode()
    except UnicodeEncodeError:  # a lone surrogate: neither JSON nor Redis can carry it
        raise ValidationError(f"key must be valid Unicode text, got {key!r}") from None
    return key


def key_of(fulfillment: Fulfillment, field: str) -> str | None:
    """The safe-create key a fulfillment carries in ``metadata[field]``, if any."""
    value = (fulfillment.metadata or {}).get(field)
    return value if isinstance(value, str) else None


class KeyLookups:
    """Finds safe-create keys among Digital River's fulfillments, every page through the
    request funnel (retried like any GET)."""

    def __init__(self, transport: Transport, field: str) -> None:
        self._transport = transport
        self._field = field

    async def keys_of_order(self, order_id: str) -> dict[str, Fulfillment]:
        """Every safe-create key among the order's fulfillments: one lookup for all rows
        of an order.

        :param order_id: the order to list.
        :returns: key -> the first fulfillment listed with it (the newest).
        :raises DigitalRiverError: the list call's error, once its retries are spent.
        """
        return await self._collect_keys([("orderId", order_id)])

    async def sweep(self, since: datetime) -> dict[str, Fulfillment]:
        """Every safe-create key on fulfillments created at or after ``since``.

        :param since: a timezone-aware datetime.
        :returns: key -> the first fulfillment listed with it (the newest).
        :raises ValidationError: when ``since`` is not timezone-aware.
        :raises DigitalRiverError: the list call's error, once its retries are spent.
        """
        return await self._collect_keys(CreatedTime(gte=since).to_query())

    async def keys_created_since(self, seconds_ago: float) -> AsyncIterator[tuple[str, str]]:
        """(key, fulfillment id) of every fulfillment with a safe-create key created at
        most ``seconds_ago`` seconds ago, less ``BULK_SINCE_MARGIN`` (5 minutes) for clock
        skew with Digital River, streamed page by page, newest first.

        :param seconds_ago: how far back, in seconds.
        :raises DigitalRiverError: the list call's error, once its retries are spent.
        """
        back = BULK_SINCE_MARGIN + timedelta(seconds=min(max(seconds_ago, 0.0), 1e10))
        now = utc_now()
        since = now - back if now - _EPOCH > back else _EPOCH
        async for fulfillment in self._list(CreatedTime(gte=since).to_query()):
            key = key_of(fulfillment, self._field)
            if key is not None:
                yield key, fulfillment.id

    async def _collect_keys(self, filters: Query) -> dict[str, Fulfillment]:
        keys: dict[str, Fulfillment] = {}
        async for fulfillment in self._list(filters):
            key = key_of(fulfillment, self._field)
            if key is not None:
                keys.setdefault(key, fulfillment)
        return keys

    def _list(self, filters: Query) -> AsyncIterator[Fulfillment]:
        transport = self._transport
        return aiter(
            AsyncPager(
                lambda query: transport.request("GET", PATH, query=query),
                decoder(Fulfillment),
                filters,
                limit=_LOOKUP_PAGE_SIZE,
            )
        )


class ClientMemory:
    """A client's ``FleetMemory`` (what a claim store's memory load reads): the keys of DR's
    recent fulfillments, and the longest send and widest settle window of the client and of
    every view made of it (``with_options``), so that a load started by a call with a short
    timeout still waits out the longest send any of them may have in flight."""

    def __init__(self, lookups: KeyLookups, longest_send: float | None, settle: float) -> None:
        self._lookups = lookups
        #: The most seconds a send may take (None: unbounded).
        self.longest_send: float | None = longest_send
        #: The widest settle window.
        self.settle: float = settle

    def widen(self, longest_send: float | None, settle: float) -> None:
        """Count a view's send bound and settle window in."""
        if self.longest_send is not None:
            self.longest_send = (
                None if longest_send is None else max(self.longest_send, longest_send)
            )
        self.settle = max(self.settle, settle)

    def keys_created_since(self, seconds_ago: float) -> AsyncIterator[tuple[str, str]]:
        """See ``KeyLookups.keys_created_since``."""
        return self._lookups.keys_created_since(seconds_ago)
