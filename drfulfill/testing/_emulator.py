"""The aiohttp.web face of the emulator: routing, the gateway middleware, thin handlers."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from .._constants import REQUEST_ID_HEADER, RETRY_AFTER_HEADER
from .._ratelimit import default_rate_for, is_test_key
from ._gateway import (
    Fault,
    FaultSchedule,
    RateLimiter,
    api_key_from,
    redact_headers,
)
from ._state import (
    ApiError,
    EmulatorState,
    FulfillmentOrder,
    Json,
    Order,
    Records,
    Seeded,
    error_body,
    error_type,
)
from ._webhooks import WebhookDelivery, WebhookDispatcher, WebhookEndpoint


class _DefaultRateLimit:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _DefaultRateLimit()
"""``Emulator(rate_limit=DEFAULT)``: DR's per-key limits, 25 req/s test keys, 250 req/s live."""

# Typed request-storage keys where aiohttp has them (3.12+), plain strings before.
_RequestKey = getattr(web, "RequestKey", None)
_BODY: Final[Any] = _RequestKey("drfulfill_body", object) if _RequestKey else "drfulfill_body"
_LIVE: Final[Any] = _RequestKey("drfulfill_live", bool) if _RequestKey else "drfulfill_live"
_INVALID_JSON: Final = object()
_ERROR_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class LoggedRequest:
    """One request as the emulator saw it. The API key is redacted from ``headers``."""

    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any  # parsed JSON; the raw text if it was not JSON; None without a body
    headers: dict[str, str]
    request_id: str
    status: int | None = None  # None: the connection was dropped without a response


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
    ) -> None:
        """
        rate_limit: requests per second per key; ``None`` switches the limit off.
        clock: returns the aware UTC ``datetime`` stamped as ``createdTime``.
        latency: seconds added before every request is handled.
        fault_rate: chance that a request meets a random fault (503, 500, 429, dropped
            connection, or for creates "commit then drop"), drawn from ``random.Random(seed)``.
        fault_retry_after: the ``Retry-After`` of random 429 faults.
        log_limit: how many requests ``requests`` keeps (the newest); None keeps all.
        monotonic: the rate limiter's time source, injectable for tests.
        """
        self._state = EmulatorState(clock=clock, seed=seed)
        self._limiter = _make_limiter(rate_limit, monotonic)
        self._faults = FaultSchedule(rate=fault_rate, seed=seed, retry_after=fault_retry_after)
        self._latency = latency
        self._host = host
        self._port = port
        self._log: deque[LoggedRequest] = deque(maxlen=log_limit)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self.rate_limited = 0
        """How many requests the per-key rate limit answered with 429."""
        self._webhooks = WebhookDispatcher(clock, self._state.retrieve_fulfillment)
        self.app = self._make_app()

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash, once started."""
        if self._url is None:
            raise RuntimeError("the emulator is not running: use `async with` or `await start()`")
        return self._url

    async def start(self) -> None:
        if self._runner is not None:
            return
        # Close at once: handlers still sleeping in an injected latency are cancelled
        # (a timeout of 0 would mean "wait for ever" to aiohttp).
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=0.05
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
        """Stop serving; webhook deliveries still pending are cancelled."""
        await self._webhooks.close()
        if self._runner is not None:
            runner, self._runner, self._url = self._runner, None, None
            await runner.cleanup()

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
        """An order whose lines can be fulfilled: ``items=[{"item_id", "sku_id", "quantity"}]``
        (every key optional; ids are generated DR-style). Returns the order id."""
        return self._state.add_order(order_id, items, currency=currency)

    def add_fulfillment_order(
        self,
        fulfillment_order_id: str | None = None,
        upstream_id: str | None = None,
        items: Sequence[Mapping[str, Any]] | None = None,
    ) -> str:
        """A fulfillment order whose shipped lines can be returned:
        ``items=[{"id", "inventory_item_id", "shipped_quantity"}]``. Returns its id."""
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
        """Deterministic orders and fulfillment orders (see ``EmulatorState.seed``).

        Returns ``Seeded(orders=[ids], fulfillment_orders=[ids])``.
        """
        return self._state.seed(
            orders=orders,
            items_per_order=items_per_order,
            quantity=quantity,
            fulfillment_orders=fulfillment_orders,
            seed=seed,
        )

    def advance_return(self, return_id: str, state: str) -> Json:
        """Move a fulfillment return on: created → pending → accepted, or to rejected.

        Raises ValueError for any other transition, KeyError for an unknown id.
        """
        return self._webhooks.return_changed(self._state.advance_return(return_id, state))

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
        ``fulfillment_return.<state>`` per return created or moved (``types``: only these).
        No 2xx within ``timeout`` s: tried again with a new signature, up to ``attempts``
        tries, ``backoff`` s apart, doubling. Signature timestamps come from ``clock``.
        Standalone: ``POST /_emulator/webhooks``."""
        return self._webhooks.add(
            url, secret, types, attempts=attempts, backoff=backoff, timeout=timeout
        )

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every delivery attempt so far, in the order they were answered."""
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
    def requests(self) -> list[LoggedRequest]:
        """The request log, oldest first (the newest ``log_limit`` requests)."""
        return list(self._log)

    def clear_log(self) -> None:
        self._log.clear()

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
    ) -> Fault:
        """Misbehave on the next ``times`` requests matching ``method`` (``"*"``: any) and
        ``path`` (exact, ``"*"``, or ``"/fulfillments/*"`` for any id).

        Actions: ``"respond"`` answers ``status`` with a DR error body (and ``Retry-After``)
        without applying the request; with ``status=None`` it only adds ``latency``.
        ``"drop"`` closes the connection before anything is applied. ``"commit_then_drop"``
        applies the request, then closes the connection without a response. ``status``,
        ``code`` and ``retry_after`` belong to ``"respond"``: a ValueError elsewhere.
        """
        return self._faults.add(
            Fault(method, path, status, code, retry_after, latency, action, times)
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults_injected(self) -> int:
        """How many requests met a fault, programmed or random."""
        return self._faults.injected

    # ----------------------------------------------------------------- HTTP

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._gateway])
        state, hooks = self._state, self._webhooks
        routes = (
            ("GET", "/fulfillments", 200, lambda r: state.list_fulfillments(_query(r))),
            (
                "POST",
                "/fulfillments",
                201,
                lambda r: hooks.fulfillment_created(state.create_fulfillment(r[_BODY], r[_LIVE])),
            ),
            ("GET", "/fulfillments/{id}", 200, lambda r: state.retrieve_fulfillment(_id(r))),
            (
                "POST",
                "/fulfillments/{id}",
                200,
                lambda r: state.update_fulfillment(_id(r), r[_BODY]),
            ),
            ("GET", "/fulfillment-returns", 200, lambda r: state.list_returns(_query(r))),
            (
                "POST",
                "/fulfillment-returns",
                201,
                lambda r: hooks.return_changed(state.create_return(r[_BODY], r[_LIVE])),
            ),
            ("GET", "/fulfillment-returns/{id}", 200, lambda r: state.retrieve_return(_id(r))),
        )
        for method, path, status, operation in routes:
            app.router.add_route(method, path, _handler(operation, status))
        app.router.add_post("/_emulator/webhooks", hooks.register)
        return app

    @web.middleware
    async def _gateway(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Log, faults, auth, rate limit, then the operation; every answer gets a request id."""
        request_id = str(uuid.uuid4())
        raw = await request.read() if request.body_exists else b""
        body = _parse_json(raw)
        entry = LoggedRequest(
            request.method,
            request.path,
            list(request.query.items()),
            raw.decode(errors="replace") if body is _INVALID_JSON else body,
            redact_headers(request.headers),
            request_id,
        )
        self._log.append(entry)
        response = await self._respond(request, handler, body)
        if response is None:
            return web.Response()  # the transport is gone: nothing will be written
        response.headers[REQUEST_ID_HEADER] = request_id
        entry.status = response.status
        return response

    async def _respond(
        self, request: web.Request, handler: Handler, body: Any
    ) -> web.StreamResponse | None:
        fault = self._faults.pick(request.method, request.path)
        if self._latency:
            await asyncio.sleep(self._latency)
        if fault is not None:
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.action == "drop":
                return _drop(request)
            if fault.status is not None:
                code = fault.code or error_type(fault.status)
                return _error(fault.status, code, "Injected fault.", retry_after=fault.retry_after)

        key = api_key_from(request.headers.get("Authorization"))
        if key is None:
            return _error(401, "unauthorized", "An authorization error has occurred.")
        if self._limiter is not None:
            retry_after = self._limiter.acquire(key)
            if retry_after is not None:
                self.rate_limited += 1
                return _error(
                    429, "too_many_requests", "Too many requests.", retry_after=retry_after
                )

        if body is _INVALID_JSON and request.method == "POST":
            return _error(400, "invalid_parameter", "The request body is not valid JSON.")
        request[_BODY] = body
        request[_LIVE] = not is_test_key(key)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # the router: unknown path or method
            code = _ERROR_CODES.get(exc.status, "invalid_parameter")
            response = _error(exc.status, code, exc.reason)
        if fault is not None and fault.action == "commit_then_drop":
            return _drop(request)
        return response


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


def _handler(operation: Callable[[web.Request], Json], status: int) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        try:
            return web.json_response(operation(request), status=status)
        except ApiError as error:
            return web.json_response(error.body(), status=error.status)

    return handle


def _query(request: web.Request) -> list[tuple[str, str]]:
    return list(request.query.items())


def _id(request: web.Request) -> str:
    return request.match_info["id"]


def _error(
    status: int, code: str, message: str, *, retry_after: float | None = None
) -> web.Response:
    response = web.json_response(error_body(status, code, message), status=status)
    if retry_after is not None:
        seconds = int(retry_after) if float(retry_after).is_integer() else retry_after
        response.headers[RETRY_AFTER_HEADER] = str(seconds)
    return response


def _drop(request: web.Request) -> None:
    """Cut the connection with no response: the client sees a disconnect or a reset."""
    if request.transport is not None:
        request.transport.abort()


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


async def serve(emulator: Emulator, ready: Callable[[Emulator], None] | None = None) -> None:
    """Run ``emulator`` until cancelled; ``ready`` is called once it is listening."""
    async with emulator:
        if ready is not None:
            ready(emulator)
        await asyncio.Event().wait()
