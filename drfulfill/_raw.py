"""``client.with_raw_response``: every resource method, returning ``APIResponse``s.

Each method is the resource's own, run while the funnel's records are captured: one
code path, the response's status and headers read from what the funnel saw."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Generic, ParamSpec, TypeVar

import attrs

from ._telemetry import CallRecord, capture_calls
from .errors import ValidationError, redact_headers
from .models import Fulfillment, FulfillmentReturn, Page
from .pagination import AsyncPager
from .resources.fulfillment_returns import FulfillmentReturns
from .resources.fulfillments import Fulfillments

T = TypeVar("T")
P = ParamSpec("P")


@attrs.frozen
class APIResponse(Generic[T]):
    """A response with its HTTP details; ``data`` is what the plain method returns."""

    #: The call's last response's status; None only when no request was needed (a create
    #: with a key this client had already created or found).
    status: int | None
    #: That response's headers as received, without ``Authorization`` and with the API key
    #: redacted.
    headers: Mapping[str, str]
    request_id: str | None  # DR's request id of that response
    elapsed: float  # seconds the whole call took, retries and waits included
    retries: int  # attempts the call sent beyond the first (a safe create's lookups included)
    data: T


def _response(records: list[CallRecord], elapsed: float, data: T) -> APIResponse[T]:
    answered = [record for record in records if record.status is not None]
    last = answered[-1] if answered else CallRecord()
    return APIResponse(
        status=last.status,
        headers=redact_headers(last.headers, last.secrets),
        request_id=last.request_id,
        elapsed=elapsed,
        retries=sum(max(0, record.attempts - 1) for record in records),
        data=data,
    )


def raw_call(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[APIResponse[T]]]:
    """``method`` returning an ``APIResponse`` around its result."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> APIResponse[T]:
        started = time.monotonic()
        with capture_calls() as records:
            data = await method(*args, **kwargs)
        return _response(records, time.monotonic() - started, data)

    return call


def raw_pages(
    method: Callable[P, AsyncPager[T]],
) -> Callable[P, AsyncIterator[APIResponse[Page[T]]]]:
    """A ``list`` method yielding one ``APIResponse`` per page, ``data`` the ``Page``."""

    @functools.wraps(method)
    def pages(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[APIResponse[Page[T]]]:
        if kwargs.get("prefetch") or kwargs.get("shards") is not None:
            # Pages fetched ahead or concurrently cannot be told apart by their records.
            raise ValidationError("with_raw_response lists page by page: no prefetch or shards")
        return _each_page(method(*args, **kwargs))

    return pages


async def _each_page(pager: AsyncPager[T]) -> AsyncIterator[APIResponse[Page[T]]]:
    pages = pager.pages()
    records: list[CallRecord] = []
    try:
        while True:
            started = time.monotonic()
            # Captured around one step only, never across a yield to the caller.
            with capture_calls() as fetched:
                try:
                    page = await pages.__anext__()
                except StopAsyncIteration:
                    return
            # An empty listing's page comes without a request of its own: the last one's.
            records = fetched or records
            yield _response(records, time.monotonic() - started, page)
    finally:
        await pages.aclose()


class RawFulfillments:
    """``client.with_raw_response.fulfillments``: the methods of ``Fulfillments`` (but
    ``bulk_create``, which is many calls) returning ``APIResponse``."""

    def __init__(self, resource: Fulfillments) -> None:
        self.create: Callable[..., Awaitable[APIResponse[Fulfillment]]] = raw_call(resource.create)
        self.retrieve: Callable[..., Awaitable[APIResponse[Fulfillment]]] = raw_call(
            resource.retrieve
        )
        self.update: Callable[..., Awaitable[APIResponse[Fulfillment]]] = raw_call(resource.update)
        self.find_by_key: Callable[..., Awaitable[APIResponse[Fulfillment | None]]] = raw_call(
            resource.find_by_key
        )
        self.list: Callable[..., AsyncIterator[APIResponse[Page[Fulfillment]]]] = raw_pages(
            resource.list
        )


class RawFulfillmentReturns:
    """``client.with_raw_response.fulfillment_returns``: the methods of
    ``FulfillmentReturns`` returning ``APIResponse``."""

    def __init__(self, resource: FulfillmentReturns) -> None:
        self.create: Callable[..., Awaitable[APIResponse[FulfillmentReturn]]] = raw_call(
            resource.create
        )
        self.retrieve: Callable[..., Awaitable[APIResponse[FulfillmentReturn]]] = raw_call(
            resource.retrieve
        )
        self.list: Callable[..., AsyncIterator[APIResponse[Page[FulfillmentReturn]]]] = raw_pages(
            resource.list
        )


class RawClient:
    """What ``Client.with_raw_response`` returns."""

    def __init__(self, fulfillments: Fulfillments, fulfillment_returns: FulfillmentReturns):
        self.fulfillments: RawFulfillments = RawFulfillments(fulfillments)
        self.fulfillment_returns: RawFulfillmentReturns = RawFulfillmentReturns(fulfillment_returns)
