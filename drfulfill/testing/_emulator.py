"""The emulator's public face: lifecycle, seeding, introspection, faults and timing."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from .._ratelimit import default_rate_for
from ._commits import LateCommit
from ._errors import Json
from ._gateway import Fault, FaultSchedule, RateLimiter
from ._log import LoggedRequest
from ._orders_file import read_orders
from ._records import FulfillmentOrder, Order, Records
from ._server import Server
from ._state import EmulatorState, Seeded
from ._webhooks import WebhookDelivery, WebhookDispatcher, WebhookEndpoint


class _DefaultRateLimit:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _DefaultRateLimit()
"""``Emulator(rate_limit=DEFAULT)``: DR's per-key limits, 25 req/s test keys, 250 req/s live."""


class Emulator:
    """A stateful Digital River stand-in for the Fulfillments and Fulfillment Returns APIs.

    ::

        async with Emulator() as emu:
            order_id = emu.add_order(items=[{"quantity": 2}])
            ...  # point a client at emu.url with any "sk_test_…" key

    State is shared by every API key; the key only decides ``liveMode`` / ``livemode``
    (``sk_test_…`` is test mode) and which rate-limit bucket a request uses.
    """

    def __init__(
        self,
        *,
        rate_limit: float | _DefaultRateLimit | None = DEFAULT,
        clock: Callable[[], datetime] | None = None,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        fault_retry_after: float = 0,
        log_limit: int | None = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
        read_lag: float = 0.0,
        auto_orders: bool = False,
    ) -> None:
        """
        :param rate_limit: requests per second per key; ``DEFAULT`` for DR's limits (25 for
            test keys, 250 for live ones); ``None`` switches the limit off.
        :param clock: returns the aware UTC ``datetime`` stamped as ``createdTime`` (and on
            webhook signatures); default: the system clock.
        :param latency: seconds added before every request is handled.
        :param fault_rate: chance that a request meets a random fault (503, 500, 429,
            dropped connection, or for creates "commit then drop"), drawn from
            ``random.Random(seed)``.
        :param seed: seeds the generated ids and the random faults, so runs repeat.
        :param host: the address to listen on.
        :param port: the port to listen on; 0 for a free one.
        :param fault_retry_after: the ``Retry-After`` of random 429 faults.
        :param log_limit: how many entries each of the emulator's logs keeps, the newest
            (``requests``, ``webhook_deliveries``, ``late_commits``), so a long-running
            emulator's memory stays bounded; None keeps all (in tests that need every one).
        :param monotonic: the rate limiter's time source, injectable for tests.
        :param read_lag: seconds before a new object shows in lists (see ``read_lag``).
        :param auto_orders: a rehearsal aid, off by default (see ``auto_orders``).
        :raises ValueError: for a ``rate_limit`` <= 0, a ``fault_rate`` outside 0..1, or a
            negative or non-finite ``read_lag``.
        """
        self._state = EmulatorState(clock=clock, seed=seed)
        self.read_lag = read_lag
        self.auto_orders = auto_orders
        self._faults = FaultSchedule(rate=fault_rate, seed=seed, retry_after=fault_retry_after)
        self._server = Server(
            self._state,
            limiter=_make_limiter(rate_limit, monotonic),
            faults=self._faults,
            latency=latency,
            log_limit=log_limit,
        )
        self._commits = self._server.commits
        self._webhooks = WebhookDispatcher(clock, self._state.retrieve_fulfillment, log_limit)
        self._log_limit = log_limit
        self._state.observer = self._webhooks
        self._server.app.router.add_post("/_emulator/webhooks", self._webhooks.register)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self.app: web.Application = self._server.app
        """The aiohttp application, e.g. to serve it yourself."""

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash, once started.

        :raises RuntimeError: when the emulator is not running.
        """
        if self._url is None:
            raise RuntimeError("the emulator is not running: use `async with` or `await start()`")
        return self._url

    async def start(self) -> None:
        """Start serving on ``host``:``port`` (``async with`` does this); a no-op when
        running. Afterwards ``url`` is set.

        :raises OSError: when the address cannot be bound (e.g. the port is in use).
        """
        if self._runner is not None:
            return
        # Close at once: handlers still sleeping in an injected latency are cancelled
        # (a timeout of 0 would mean "wait for ever" to aiohttp).
        runner = web.AppRunner(
            self._server.app, access_log=None, handle_signals=False, shutdown_timeout=0.05
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop serving, then apply every pending late commit: state read after ``close()``
        is final (a duplicate a late commit would cause is visible, never hidden), and no
        timer is left on the loop. Webhook deliveries still pending are cancelled."""
        if self._runner is not None:
            runner, self._runner, self._url = self._runner, None, None
            await runner.cleanup()
        self._commits.apply_all()
        await self._webhooks.close()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # ----------------------------------------------------------------- seeding

    def add_order(
        self,
        order_id: str | None = None,
        items: Sequence[Mapping[str, Any]] | None = None,
        *,
        currency: str = "USD",
    ) -> str:
        """Add an order whose lines can be fulfilled.

        :param order_id: its id; generated DR-style when None.
        :param items: its lines, ``[{"item_id", "sku_id", "quantity"}]``, every key optional
            (ids generated, ``quantity`` 1); None for one line of quantity 1.
        :param currency: the order's currency.
        :returns: the order id.
        :raises ValueError: for an id already in use, a duplicate line id, a quantity that
            is not a positive int, or an empty ``items``.
        """
        return self._state.add_order(order_id, items, currency=currency)

    def add_fulfillment_order(
        self,
        fulfillment_order_id: str | None = None,
        upstream_id: str | None = None,
        items: Sequence[Mapping[str, Any]] | None = None,
    ) -> str:
        """Add a fulfillment order whose shipped lines can be returned.

        :param fulfillment_order_id: its id; generated when None.
        :param upstream_id: the DR order it belongs to, if any.
        :param items: its lines, ``[{"id", "inventory_item_id", "shipped_quantity"}]``, every
            key optional (ids generated, ``shipped_quantity`` 1); None for one shipped unit.
        :returns: the fulfillment order id.
        :raises ValueError: for an id already in use, a duplicate line id, a
            ``shipped_quantity`` that is not an int >= 0, or an empty ``items``.
        """
        return self._state.add_fulfillment_order(fulfillment_order_id, upstream_id, items)

    def seed(
        self,
        *,
        orders: int = 10,
        items_per_order: int = 2,
        quantity: int = 5,
        fulfillment_orders: int = 0,
        seed: int = 0,
    ) -> Seeded:
        """Add deterministic orders and fulfillment orders: the same arguments give the
        same ids in a fresh emulator.

        Line ``k`` of every order sells the same SKU, so ``skuId`` filters span orders.
        Fulfillment order ``j`` ships ``items_per_order`` lines of ``quantity`` each and
        names order ``j % orders`` as its upstream id.

        :param orders: how many orders.
        :param items_per_order: lines per order (and per fulfillment order).
        :param quantity: units per line.
        :param fulfillment_orders: how many fulfillment orders.
        :param seed: seeds these ids (independent of the emulator's ``seed``).
        :returns: ``Seeded(orders=[ids], fulfillment_orders=[ids])``.
        """
        return self._state.seed(
            orders=orders,
            items_per_order=items_per_order,
            quantity=quantity,
            fulfillment_orders=fulfillment_orders,
            seed=seed,
        )

    def add_orders_from(self, path: str | os.PathLike[str]) -> list[str]:
        """Add the orders of a file of your own, to rehearse an upload on your own ids.

        A comma-separated CSV file (with a header) or JSON Lines (``.jsonl``/``.ndjson``)
        with ``order_id``, ``item_id`` and ``quantity`` per line, and optionally
        ``cancel_quantity`` (a line holds both); other columns are ignored (a comma-separated
        shipments file serves as it is), and an item listed twice for one order holds the
        sum. Nothing is added unless the whole file is valid.

        :param path: the file.
        :returns: the ids of the orders added, in the file's order.
        :raises ValueError: ``FILE:LINE: reason`` for a bad line, or an order id already in
            use.
        :raises OSError: when the file cannot be read.
        """
        orders = read_orders(path)
        taken = [order_id for order_id in orders if order_id in self._state.orders]
        if taken:
            raise ValueError(f"{path}: order {taken[0]!r} is already in the emulator")
        for order_id, items in orders.items():
            self.add_order(
                order_id, [{"item_id": item, "quantity": units} for item, units in items.items()]
            )
        return list(orders)

    @property
    def auto_orders(self) -> bool:
        """A rehearsal aid, off by default: an unknown ``orderId`` in a create is not refused
        but comes into being holding the request's items and units, and an order made so
        takes whatever a later create of it needs (a second parcel). Orders you add are
        never changed, and duplicates still show: count fulfillments per safe-create key.
        Never a stand-in for checking your ids against Digital River."""
        return self._state.auto_orders

    @auto_orders.setter
    def auto_orders(self, enabled: bool) -> None:
        self._state.auto_orders = bool(enabled)

    def advance_return(self, return_id: str, state: str) -> Json:
        """Move a fulfillment return on: created → pending → accepted, or to rejected from
        created or pending. Its items follow; a pending return gets a ``location``; a
        rejected one makes its quantities returnable again. Webhooks see the change.

        :param return_id: the fulfillment return's id.
        :param state: ``"pending"``, ``"accepted"`` or ``"rejected"``.
        :returns: the return, wire-shaped (the emulator's own dict: read it only).
        :raises ValueError: for an unknown state or any other transition.
        :raises KeyError: for an unknown id.
        """
        return self._state.advance_return(return_id, state)

    # ----------------------------------------------------------------- webhooks

    def add_webhook(
        self,
        url: str,
        secret: str,
        types: Sequence[str] | None = None,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float = 3.0,
    ) -> WebhookEndpoint:
        """Post signed events to ``url``: ``fulfillment.created`` per create,
        ``fulfillment_return.<state>`` per return created or moved.

        No 2xx within ``timeout`` s: tried again with a new signature, up to ``attempts``
        tries, ``backoff`` s apart, doubling. Signature timestamps come from ``clock``.
        Standalone: ``POST /_emulator/webhooks``.

        :param url: an ``http://`` or ``https://`` URL.
        :param secret: the signing secret (check with ``drfulfill.webhooks``).
        :param types: only these event types (a single string is one type); None for all.
        :param attempts: the most tries per event (>= 1).
        :param backoff: seconds before the first retry (>= 0), doubling.
        :param timeout: seconds an attempt may take (> 0).
        :returns: the registered endpoint.
        :raises ValueError: for a URL that is not http(s), an empty secret, or an
            ``attempts``, ``backoff`` or ``timeout`` out of range.
        """
        return self._webhooks.add(
            url, secret, types, attempts=attempts, backoff=backoff, timeout=timeout
        )

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """The delivery attempts so far (the newest ``log_limit``), in the order they were
        answered."""
        return list(self._webhooks.deliveries)

    async def drain_webhooks(self) -> None:
        """Wait until every webhook delivery has succeeded or run out of attempts."""
        await self._webhooks.drain()

    # ----------------------------------------------------------------- introspection

    @property
    def fulfillments(self) -> Records:
        """Every fulfillment, wire-shaped, in creation order (also indexable by id)."""
        return Records(self._state.fulfillments.objects)

    @property
    def fulfillment_returns(self) -> Records:
        """Every fulfillment return, wire-shaped, in creation order (also indexable by id)."""
        return Records(self._state.returns.objects)

    @property
    def orders(self) -> Records:
        """Snapshots of the orders, with each line's fulfilled, cancelled and open counts."""
        return Records(self._state.orders, Order.snapshot)

    @property
    def fulfillment_orders(self) -> Records:
        """Snapshots of the fulfillment orders, with each line's shipped and returned counts."""
        return Records(self._state.fulfillment_orders, FulfillmentOrder.snapshot)

    @property
    def log_limit(self) -> int | None:
        """How many entries each log keeps (``requests``, ``webhook_deliveries``,
        ``late_commits``): the newest; None keeps all."""
        return self._log_limit

    @property
    def requests(self) -> list[LoggedRequest]:
        """The request log, oldest first (the newest ``log_limit`` requests)."""
        return list(self._server.log)

    def clear_log(self) -> None:
        """Empty the request log (``requests``)."""
        self._server.log.clear()

    @property
    def rate_limited(self) -> int:
        """How many requests the per-key rate limit answered with 429."""
        return self._server.rate_limited

    @property
    def read_lag(self) -> float:
        """Seconds, by the emulator's ``clock``, between an object's commit and its first
        appearance in list responses (DR's lists may lag its writes). Retrieving by id sees
        it at once. Settable at any time; 0 (the default) lists everything committed."""
        return self._state.read_lag

    @read_lag.setter
    def read_lag(self, seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"read_lag must be a number of seconds >= 0, not {seconds}")
        self._state.read_lag = float(seconds)

    # ----------------------------------------------------------------- late commits

    @property
    def late_commits(self) -> list[LateCommit]:
        """The late commits so far (pending and done; the newest ``log_limit``), in the
        order they were scheduled."""
        return list(self._commits.all)

    @property
    def pending_commits(self) -> int:
        """How many late commits are scheduled and not yet applied."""
        return self._commits.pending

    async def commit_pending(self) -> list[LateCommit]:
        """Apply every pending late commit now, the earliest due first; returns them."""
        return self._commits.apply_all()

    # ----------------------------------------------------------------- faults

    def add_fault(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        latency: float = 0.0,
        action: str = "respond",
        times: int | None = 1,
        commit_after: float | tuple[float, float] | None = None,
        rate: float = 1.0,
    ) -> Fault:
        """Misbehave on the next ``times`` requests matching ``method`` (``"*"``: any) and
        ``path`` (exact, ``"*"``, or ``"/fulfillments/*"`` for any id).

        Actions: ``"respond"`` answers ``status`` with a DR error body (and ``Retry-After``)
        without applying the request; with ``status=None`` it only adds ``latency``.
        ``"drop"`` closes the connection before anything is applied. ``"commit_then_drop"``
        applies the request, then closes the connection without a response.

        Late commits, as when DR's backend commits after its gateway gave up: a request
        that passes authentication and the rate limit is applied ``commit_after`` seconds
        (default 1) after it arrived, by the event loop, and validated then (a request no
        longer valid is not applied; ``late_commits`` records either outcome).
        ``"respond_then_commit"`` answers ``status`` (default 504) after ``latency``, so a
        ``latency`` longer than the client's timeout plays "the client timed out";
        ``"drop_then_commit"`` closes the connection after ``latency``. ``commit_pending()``
        applies them without waiting. ``commit_after=(low, high)`` draws each request's delay
        from that range.

        ``rate`` (any action): the chance that a matching request meets the fault, drawn from
        ``random.Random(seed)``; ``times`` counts only the requests that met it. E.g. 10% of
        creates committed 0.5-2 s late: ``add_fault("POST", "/fulfillments",
        action="respond_then_commit", commit_after=(0.5, 2), rate=0.1, times=None)``.

        :param method: the HTTP method, or ``"*"``.
        :param path: the path: exact, ``"*"``, or ending in ``/*`` for any id.
        :param status: the error status to answer (400..599), for the answering actions.
        :param code: the DR error code of the answer's body.
        :param retry_after: the answer's ``Retry-After`` seconds.
        :param latency: seconds to wait before acting.
        :param action: ``"respond"``, ``"drop"``, ``"commit_then_drop"``,
            ``"respond_then_commit"`` or ``"drop_then_commit"``.
        :param times: how many requests meet it; None for every matching request.
        :param commit_after: seconds (or a ``(low, high)`` range) before a late commit.
        :param rate: the chance (0 < rate <= 1) that a matching request meets it.
        :returns: the ``Fault``; its ``hits`` counts the requests that met it.
        :raises ValueError: for an unknown action, a status outside 400..599, ``status``,
            ``code`` or ``retry_after`` with an action that does not answer (or ``code`` or
            ``retry_after`` without a ``status``), ``commit_after`` with an action that is
            not late, a ``rate`` outside (0, 1], or ``times`` < 1.
        """
        return self._faults.add(
            Fault(
                method,
                path,
                status,
                code,
                retry_after,
                latency,
                action,
                times,
                commit_after=commit_after,
                rate=rate,
            )
        )

    def clear_faults(self) -> None:
        """Remove every programmed fault (those of ``add_fault``)."""
        self._faults.clear()

    @property
    def fault_rate(self) -> float:
        """The chance (0..1) that a request meets a random fault (see ``Emulator(fault_rate=)``);
        settable, e.g. to seed data first and misbehave afterwards."""
        return self._faults.rate

    @fault_rate.setter
    def fault_rate(self, rate: float) -> None:
        self._faults.rate = rate

    @property
    def faults_injected(self) -> int:
        """How many requests met a fault, programmed or random."""
        return self._faults.injected


def _make_limiter(
    rate_limit: float | _DefaultRateLimit | None, monotonic: Callable[[], float]
) -> RateLimiter | None:
    if rate_limit is None:
        return None
    if isinstance(rate_limit, _DefaultRateLimit):
        return RateLimiter(default_rate_for, monotonic)
    if rate_limit <= 0:
        raise ValueError("rate_limit must be positive, or None to switch it off")
    rate = float(rate_limit)
    return RateLimiter(lambda _key: rate, monotonic)


async def serve(emulator: Emulator, ready: Callable[[Emulator], None] | None = None) -> None:
    """Run ``emulator`` until cancelled; ``ready`` is called once it is listening."""
    async with emulator:
        if ready is not None:
            ready(emulator)
        await asyncio.Event().wait()
