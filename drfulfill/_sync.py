"""``SyncClient``: the async ``Client`` for scripts, threads, notebooks and sync web
frameworks, run on the portal (``_portal``).

Nothing here repeats a method's behaviour: each sync method is made from the async one
(``blocking``, ``blocking_pager``, ``blocking_iterator``), takes its parameters (as type
checkers see them too) and runs it on the portal, so models, exceptions, the safe-create
protocol, the limiter and the journal are the async client's own.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from ._client import Client
from ._portal import fork_generation, iterate, keep_inherited, portal
from ._raw import APIResponse
from ._retry import RetryPolicy
from ._session import ClientStats
from .errors import ValidationError
from .models import Fulfillment, FulfillmentReturn, Page
from .pagination import AsyncPager
from .resources.fulfillment_returns import FulfillmentReturns
from .resources.fulfillments import Fulfillments

__all__ = ["SyncClient", "SyncFulfillmentReturns", "SyncFulfillments", "SyncPager"]

P = ParamSpec("P")
T = TypeVar("T")


class _SyncResource:
    """What a sync resource is made of: the client it runs on, and how to reach its async
    twin (by name, at each call, so a client rebuilt after a fork is used)."""

    def __init__(self, owner: SyncClient, target: Callable[[Client], Any]) -> None:
        self._owner = owner
        self._target = target

    def async_twin(self) -> Any:
        """The async object whose methods this one runs."""
        return self._target(self._owner.async_client)


Stub = Callable[..., object]  # the decorated def: its name only, never run


def _named(method: Callable[..., Any], call: Callable[..., Any]) -> None:
    functools.update_wrapper(call, method)  # name, docstring, and __wrapped__ for inspect


def blocking(
    method: Callable[Concatenate[Any, P], Awaitable[T]],
) -> Callable[[Stub], Callable[Concatenate[_SyncResource, P], T]]:
    """Decorator: the stub becomes the sync form of the async ``method`` (same parameters,
    same docstring), which runs it on the portal and returns its result."""
    name = method.__name__

    def decorate(_: Stub) -> Callable[Concatenate[_SyncResource, P], T]:
        def call(self: _SyncResource, /, *args: P.args, **kwargs: P.kwargs) -> T:
            bound: Callable[P, Awaitable[T]] = getattr(self.async_twin(), name)
            return portal().call(bound, *args, **kwargs)

        _named(method, call)
        return call

    return decorate


def blocking_iterator(
    method: Callable[Concatenate[Any, P], AsyncIterator[T]],
) -> Callable[[Stub], Callable[Concatenate[_SyncResource, P], Iterator[T]]]:
    """Decorator: the sync form of a method returning an async iterator, a plain iterator
    with each step run on the portal; leaving it early closes the async one."""
    name = method.__name__

    def decorate(_: Stub) -> Callable[Concatenate[_SyncResource, P], Iterator[T]]:
        def call(self: _SyncResource, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
            bound: Callable[P, AsyncIterator[T]] = getattr(self.async_twin(), name)
            return iterate(lambda: bound(*args, **kwargs))

        _named(method, call)
        return call

    return decorate


def blocking_pager(
    method: Callable[Concatenate[Any, P], AsyncPager[T]],
) -> Callable[[Stub], Callable[Concatenate[_SyncResource, P], SyncPager[T]]]:
    """Decorator: the sync form of ``list``, the async pager made (its arguments checked)
    now, behind a ``SyncPager``."""
    name = method.__name__

    def decorate(_: Stub) -> Callable[Concatenate[_SyncResource, P], SyncPager[T]]:
        def call(self: _SyncResource, /, *args: P.args, **kwargs: P.kwargs) -> SyncPager[T]:
            pager: AsyncPager[T] = getattr(self.async_twin(), name)(*args, **kwargs)
            return SyncPager(pager)

        _named(method, call)
        return call

    return decorate


class SyncPager(Generic[T]):
    """What a ``SyncClient``'s ``list()`` returns: iterate it for items, ``pages()`` for
    ``Page``s (each with its ``resume_token``). Nothing is requested until iteration
    starts; each iteration starts afresh. Leaving a ``for`` early closes the listing
    (cancelling a page still being fetched). See ``AsyncPager`` for the paging rules."""

    def __init__(self, pager: AsyncPager[T]) -> None:
        self._pager = pager

    def __iter__(self) -> Iterator[T]:
        pages = self.pages()
        try:
            for page in pages:
                yield from page.data
        finally:
            pages.close()  # type: ignore[attr-defined]  # a generator: close() ends the listing

    def pages(self) -> Iterator[Page[T]]:
        """Yield each page in turn (``page.data``, ``page.has_more``, ``page.resume_token``)."""
        return iterate(self._pager.pages)

    def first_page(self) -> Page[T]:
        """The first page, as ``await pager`` gives it (an empty one when there is none)."""
        return portal().call(_first_page, self._pager)


async def _first_page(pager: AsyncPager[T]) -> Page[T]:
    return await pager


class SyncFulfillments(_SyncResource):
    """``SyncClient.fulfillments``: the methods of ``Fulfillments``, blocking."""

    # Each method is the async one run on the portal: parameters, docstring and behaviour
    # come from ``Fulfillments``; the stubs only name them.
    @blocking(Fulfillments.create)
    def create(self) -> None: ...

    @blocking(Fulfillments.retrieve)
    def retrieve(self) -> None: ...

    @blocking(Fulfillments.update)
    def update(self) -> None: ...

    @blocking(Fulfillments.find_by_key)
    def find_by_key(self) -> None: ...

    @blocking_pager(Fulfillments.list)
    def list(self) -> None: ...

    @blocking_iterator(Fulfillments.bulk_create)
    def bulk_create(self) -> None: ...


class SyncFulfillmentReturns(_SyncResource):
    """``SyncClient.fulfillment_returns``: the methods of ``FulfillmentReturns``, blocking."""

    @blocking(FulfillmentReturns.create)
    def create(self) -> None: ...

    @blocking(FulfillmentReturns.retrieve)
    def retrieve(self) -> None: ...

    @blocking_pager(FulfillmentReturns.list)
    def list(self) -> None: ...


class _RawMethods(_SyncResource):
    def call(self, name: str) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            return portal().call(getattr(self.async_twin(), name), *args, **kwargs)

        return run

    def pages(self, name: str) -> Callable[..., Iterator[Any]]:
        def run(*args: Any, **kwargs: Any) -> Iterator[Any]:
            return iterate(lambda: getattr(self.async_twin(), name)(*args, **kwargs))

        return run


class SyncRawFulfillments(_RawMethods):
    """``SyncClient.with_raw_response.fulfillments``: each method returns an
    ``APIResponse``; ``list`` yields one per page."""

    def __init__(self, owner: SyncClient) -> None:
        super().__init__(owner, lambda client: client.with_raw_response.fulfillments)
        self.create: Callable[..., APIResponse[Fulfillment]] = self.call("create")
        self.retrieve: Callable[..., APIResponse[Fulfillment]] = self.call("retrieve")
        self.update: Callable[..., APIResponse[Fulfillment]] = self.call("update")
        self.find_by_key: Callable[..., APIResponse[Fulfillment | None]] = self.call("find_by_key")
        self.list: Callable[..., Iterator[APIResponse[Page[Fulfillment]]]] = self.pages("list")


class SyncRawFulfillmentReturns(_RawMethods):
    """``SyncClient.with_raw_response.fulfillment_returns``: each method returns an
    ``APIResponse``; ``list`` yields one per page."""

    def __init__(self, owner: SyncClient) -> None:
        super().__init__(owner, lambda client: client.with_raw_response.fulfillment_returns)
        self.create: Callable[..., APIResponse[FulfillmentReturn]] = self.call("create")
        self.retrieve: Callable[..., APIResponse[FulfillmentReturn]] = self.call("retrieve")
        self.list: Callable[..., Iterator[APIResponse[Page[FulfillmentReturn]]]] = self.pages(
            "list"
        )


class SyncRawClient:
    """What ``SyncClient.with_raw_response`` returns."""

    def __init__(self, owner: SyncClient) -> None:
        self.fulfillments: SyncRawFulfillments = SyncRawFulfillments(owner)
        self.fulfillment_returns: SyncRawFulfillmentReturns = SyncRawFulfillmentReturns(owner)


def _takes_the_options_of(
    init: Callable[Concatenate[Any, P], None],
) -> Callable[[Callable[..., None]], Callable[Concatenate[SyncClient, P], None]]:
    """``SyncClient.__init__`` takes exactly ``Client.__init__``'s parameters, so an option
    added to ``Client`` is one of ``SyncClient`` too, for type checkers as well."""

    def decorate(body: Callable[..., None]) -> Callable[Concatenate[SyncClient, P], None]:
        def __init__(self: SyncClient, /, *args: P.args, **kwargs: P.kwargs) -> None:
            body(self, *args, **kwargs)

        functools.update_wrapper(__init__, init)
        __init__.__doc__ = body.__doc__
        return __init__

    return decorate


def _view_with_the_options_of(
    with_options: Callable[Concatenate[Client, P], Client],
) -> Callable[[Callable[..., SyncClient]], Callable[Concatenate[SyncClient, P], SyncClient]]:
    """``SyncClient.with_options`` takes exactly ``Client.with_options``'s parameters."""

    def decorate(
        body: Callable[..., SyncClient],
    ) -> Callable[Concatenate[SyncClient, P], SyncClient]:
        def view(self: SyncClient, /, *args: P.args, **kwargs: P.kwargs) -> SyncClient:
            return body(self, *args, **kwargs)

        functools.update_wrapper(view, with_options)
        view.__doc__ = body.__doc__
        return view

    return decorate


class SyncClient:
    """The ``Client``, blocking: for scripts, cron jobs, thread pools, notebooks and sync
    web frameworks. Same options, models, exceptions and guarantees (safe-create, rate
    limiter, journal), because it runs the async ``Client``: every ``SyncClient`` of the
    process is served by one background event-loop thread, so calls from any number of
    threads share the client's connection pool and rate limiter.

    ``with SyncClient() as dr: f = dr.fulfillments.retrieve(id)``, or ``dr.close()`` when
    done (the interpreter's exit closes a client left open, quietly). ``list()`` returns a
    ``SyncPager`` (a plain iterator, with ``pages()``); ``bulk_create()`` a plain iterator
    of ``BulkResult``. Ctrl-C cancels the call in flight and raises ``KeyboardInterrupt``;
    the client stays usable. A running event loop in the calling thread (Jupyter) is no
    obstacle. A forked child process builds its own client and loop on first use.

    ``bulk_create``'s input is read, and its ``on_progress`` called, on that background
    thread: a ``SyncClient`` called from there raises ``DigitalRiverError`` (it would wait
    for itself); ``session=`` (an aiohttp session belongs to its caller's event loop) is a
    ``ValidationError``.
    """

    @_takes_the_options_of(Client.__init__)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The options of ``Client`` (see there), checked now."""
        if kwargs.get("session") is not None:
            raise ValidationError(
                "SyncClient makes its own aiohttp session on its event-loop thread;"
                " session= is for the async Client"
            )
        self._build: Callable[[], Client] = lambda: Client(*args, **kwargs)
        self._client = self._build()
        self._generation = fork_generation()
        #: ``client.fulfillments``: create (exactly once), retrieve, update, list, bulk_create.
        self.fulfillments: SyncFulfillments = SyncFulfillments(self, _fulfillments)
        #: ``client.fulfillment_returns``: create, retrieve, list.
        self.fulfillment_returns: SyncFulfillmentReturns = SyncFulfillmentReturns(
            self, _fulfillment_returns
        )

    @property
    def async_client(self) -> Client:
        """The async ``Client`` this one runs (built again in a forked child)."""
        if self._generation != fork_generation():
            keep_inherited(self._client)  # the parent's: never used or closed here
            self._client = self._build()
            self._generation = fork_generation()
        return self._client

    @_view_with_the_options_of(Client.with_options)
    def with_options(self, *args: Any, **kwargs: Any) -> SyncClient:
        """``Client.with_options`` (see there): a view with other options for every call
        made through it, sharing this client's session, limiter and stats."""
        view = object.__new__(SyncClient)
        view._build = lambda: self.async_client.with_options(*args, **kwargs)
        view._client = view._build()  # the options are checked here, at once
        view._generation = fork_generation()
        view.fulfillments = SyncFulfillments(view, _fulfillments)
        view.fulfillment_returns = SyncFulfillmentReturns(view, _fulfillment_returns)
        return view

    @property
    def with_raw_response(self) -> SyncRawClient:
        """The same resources, each method returning ``drfulfill.APIResponse``; ``list``
        yields one per page."""
        return SyncRawClient(self)

    @property
    def target(self) -> str:
        """Which API this client talks to: base URL and the key's mode, never the key."""
        return self.async_client.target

    @property
    def stats(self) -> ClientStats:
        """Counters: requests sent, retries, 429s, reconciled and re-sent creates."""
        return self.async_client.stats

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.async_client.retry_policy

    @property
    def rate_limit(self) -> float | None:
        """Requests per second allowed by the client-side limiter; None when it is off."""
        return self.async_client.rate_limit

    @property
    def base_url(self) -> str:
        return self.async_client.base_url

    @property
    def idempotency_field(self) -> str | None:
        return self.async_client.idempotency_field

    @property
    def settle(self) -> float:
        return self.async_client.settle

    def close(self) -> None:
        """Close the session this client made. Safe to call twice."""
        here = portal()
        if not here.stopped:
            here.call(self.async_client.close)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows the key
        return f"SyncClient(base_url={self.base_url!r})"


def _fulfillments(client: Client) -> Fulfillments:
    return client.fulfillments


def _fulfillment_returns(client: Client) -> FulfillmentReturns:
    return client.fulfillment_returns
