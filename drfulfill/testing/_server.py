"""The HTTP face of the emulator: the aiohttp app, and the gateway in front of the store
(request log, faults, authentication, the rate limit, late commits, DR-shaped errors)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final, NamedTuple

from aiohttp import web

from .._constants import REQUEST_ID_HEADER, RETRY_AFTER_HEADER
from .._ratelimit import is_test_key
from ._commits import LateCommits, Outcome
from ._errors import ErrorReply, Json, error_body, error_type
from ._gateway import Fault, FaultSchedule, RateLimiter, api_key_from, redact_headers
from ._log import LoggedRequest
from ._state import EmulatorState

# Typed request-storage keys where aiohttp has them (3.12+), plain strings before.
_RequestKey = getattr(web, "RequestKey", None)
_BODY: Final[Any] = _RequestKey("drfulfill_body", object) if _RequestKey else "drfulfill_body"
_LIVE: Final[Any] = _RequestKey("drfulfill_live", bool) if _RequestKey else "drfulfill_live"
_ERROR_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Call(NamedTuple):
    """What an operation needs of a request, kept apart from aiohttp so it can run later."""

    body: Any
    live: bool
    object_id: str
    query: list[tuple[str, str]]


Operation = Callable[[EmulatorState, Call], Json]

# (method, path, success status, operation): the seven operations of the two APIs.
ROUTES: Final[tuple[tuple[str, str, int, Operation], ...]] = (
    ("GET", "/fulfillments", 200, lambda s, c: s.list_fulfillments(c.query)),
    ("POST", "/fulfillments", 201, lambda s, c: s.create_fulfillment(c.body, c.live)),
    ("GET", "/fulfillments/{id}", 200, lambda s, c: s.retrieve_fulfillment(c.object_id)),
    ("POST", "/fulfillments/{id}", 200, lambda s, c: s.update_fulfillment(c.object_id, c.body)),
    ("GET", "/fulfillment-returns", 200, lambda s, c: s.list_returns(c.query)),
    ("POST", "/fulfillment-returns", 201, lambda s, c: s.create_return(c.body, c.live)),
    ("GET", "/fulfillment-returns/{id}", 200, lambda s, c: s.retrieve_return(c.object_id)),
)


class InvalidBody(NamedTuple):
    """A request body that is not JSON the emulator can read, and why."""

    raw: bytes
    reason: str


class Server:
    """One emulator's aiohttp application over its store."""

    def __init__(
        self,
        state: EmulatorState,
        *,
        limiter: RateLimiter | None,
        faults: FaultSchedule,
        latency: float,
        log_limit: int | None,
    ) -> None:
        self.state = state
        self.limiter = limiter
        self.faults = faults
        self.latency = latency
        self.log: deque[LoggedRequest] = deque(maxlen=log_limit)
        self.commits = LateCommits(log_limit)
        self.rate_limited = 0
        self._operations = {(method, path): (status, op) for method, path, status, op in ROUTES}
        self.app = web.Application(middlewares=[self._gateway])
        for method, path, _, _ in ROUTES:
            self.app.router.add_route(method, path, self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        apply = self._bound(request)
        assert apply is not None  # only the routes of ROUTES lead here
        status, body = apply()
        return web.json_response(body, status=status)

    def _bound(self, request: web.Request) -> Callable[[], Outcome] | None:
        """The request's operation, ready to run now or later; None off the API's routes."""
        resource = request.match_info.route.resource
        entry = (
            None if resource is None else self._operations.get((request.method, resource.canonical))
        )
        if entry is None:
            return None
        status, operation = entry
        call = Call(
            request[_BODY],
            request[_LIVE],
            request.match_info.get("id", ""),
            list(request.query.items()),
        )
        return partial(_run, self.state, operation, call, status)

    @web.middleware
    async def _gateway(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Log, faults, auth, rate limit, then the operation; every answer gets a request id."""
        request_id = str(uuid.uuid4())
        body = await _read_body(request)
        entry = LoggedRequest(
            request.method,
            request.path,
            list(request.query.items()),
            body.raw.decode(errors="replace") if isinstance(body, InvalidBody) else body,
            redact_headers(request.headers),
            request_id,
        )
        self.log.append(entry)
        response = await self._respond(request, handler, body, entry)
        if response is None:
            return web.Response()  # the transport is gone: nothing will be written
        response.headers[REQUEST_ID_HEADER] = request_id
        entry.status = response.status
        return response

    async def _respond(
        self, request: web.Request, handler: Handler, body: Any, entry: LoggedRequest
    ) -> web.StreamResponse | None:
        fault = self.faults.pick(request.method, request.path)
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None and not fault.late:
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.action == "drop":
                _drop(request)
                return None
            if fault.status is not None:
                return _fault_error(fault)

        refusal = self._admit(request, body)
        if refusal is not None:
            return refusal
        if fault is not None and fault.late:
            return await self._answer_then_commit(request, fault, entry)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # the router: unknown path or method
            response = _error(
                exc.status, _ERROR_CODES.get(exc.status, "invalid_parameter"), exc.reason
            )
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
        if fault is not None and fault.action == "commit_then_drop":
            _drop(request)
            return None
        return response

    def _admit(self, request: web.Request, body: Any) -> web.Response | None:
        """Authentication, the rate limit and the body: a refusal, or None to go on."""
        key = api_key_from(request.headers.get("Authorization"))
        if key is None:
            return _error(401, "unauthorized", "An authorization error has occurred.")
        if self.limiter is not None:
            retry_after = self.limiter.acquire(key)
            if retry_after is not None:
                self.rate_limited += 1
                return _error(
                    429, "too_many_requests", "Too many requests.", retry_after=retry_after
                )
        if isinstance(body, InvalidBody):
            if request.method == "POST":
                return _error(400, "invalid_parameter", body.reason)
            body = None  # a GET's body means nothing
        request[_BODY] = body
        request[_LIVE] = not is_test_key(key)
        return None

    async def _answer_then_commit(
        self, request: web.Request, fault: Fault, entry: LoggedRequest
    ) -> web.Response | None:
        # Scheduled before the latency: the commit happens even if the client gives up.
        apply = self._bound(request)
        if apply is not None:
            self.commits.schedule(entry, apply, self.faults.commit_delay(fault))
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.action == "drop_then_commit":
            _drop(request)
            return None
        return _fault_error(fault)


def _run(state: EmulatorState, operation: Operation, call: Call, status: int) -> Outcome:
    try:
        return status, operation(state, call)
    except ErrorReply as error:
        return error.status, error.body()


def _error(
    status: int, code: str, message: str, *, retry_after: float | None = None
) -> web.Response:
    response = web.json_response(error_body(status, code, message), status=status)
    if retry_after is not None:
        seconds = int(retry_after) if float(retry_after).is_integer() else retry_after
        response.headers[RETRY_AFTER_HEADER] = str(seconds)
    return response


def _fault_error(fault: Fault) -> web.Response:
    status = fault.answer
    assert status is not None  # the callers only answer faults that have a status
    code = fault.code or error_type(status)
    return _error(status, code, "Injected fault.", retry_after=fault.retry_after)


def _drop(request: web.Request) -> None:
    """Cut the connection with no response: the client sees a disconnect or a reset."""
    if request.transport is not None:
        request.transport.abort()


async def _read_body(request: web.Request) -> Any:
    """The parsed JSON body, None without one, or an ``InvalidBody``."""
    if not request.body_exists:
        return None
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return InvalidBody(b"", "The request body is too large.")
    return parse_json(raw)


def parse_json(raw: bytes) -> Any:
    """Strict JSON (no ``NaN`` or ``Infinity``), None for an empty body, else ``InvalidBody``."""
    if not raw:
        return None
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        return InvalidBody(raw, "The request body is nested too deeply.")
    except ValueError:
        return InvalidBody(raw, "The request body is not valid JSON.")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
