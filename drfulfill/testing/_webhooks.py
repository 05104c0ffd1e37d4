"""Signed webhook deliveries from the emulator, retried as Digital River retries them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import aiohttp
from aiohttp import web

from .._convert import format_datetime
from ..webhooks import SIGNATURE_HEADER, sign_test_payload

Json = dict[str, Any]

# The API version stamped on events (FACTS.md: the version seen in 2022-2023 events).
EVENT_API_VERSION = "2021-12-13"


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """An endpoint registered with ``Emulator.add_webhook``."""

    url: str
    secret: str
    types: frozenset[str] | None  # None: every event type
    attempts: int
    backoff: float
    timeout: float

    def wants(self, event_type: str) -> bool:
        return self.types is None or event_type in self.types


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One delivery attempt: the exact body and ``DigitalRiver-Signature`` sent, and the
    status answered (None when there was no answer: refused, reset or timed out)."""

    url: str
    event_id: str
    event_type: str
    attempt: int  # 1 for the first try
    body: bytes
    signature: str
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookDispatcher:
    """Builds events from emulator objects and posts them to the registered endpoints.

    Each delivery runs in its own task: the API response that caused the event is not held
    up, and events to one endpoint may arrive out of order (DR promises no order either).
    """

    def __init__(
        self,
        clock: Callable[[], datetime] | None,
        fulfillment_details: Callable[[str], Json],
        log_limit: int | None = None,
    ) -> None:
        self._clock = clock or _utc_now
        self._fulfillment_details = fulfillment_details
        self.endpoints: list[WebhookEndpoint] = []
        #: The newest ``log_limit`` delivery attempts (None: all).
        self.deliveries: deque[WebhookDelivery] = deque(maxlen=log_limit)
        self._return_states: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def add(
        self,
        url: str,
        secret: str,
        types: Iterable[str] | None = None,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float = 3.0,
    ) -> WebhookEndpoint:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook url must be http(s): {url!r}")
        if not secret:
            raise ValueError("a webhook needs a signing secret")
        if attempts < 1 or backoff < 0 or timeout <= 0:
            raise ValueError("attempts must be >= 1, backoff >= 0 and timeout > 0")
        wanted = None if types is None else frozenset([types] if isinstance(types, str) else types)
        endpoint = WebhookEndpoint(url, secret, wanted, attempts, backoff, timeout)
        self.endpoints.append(endpoint)
        return endpoint

    # ----------------------------------------------------------------- events

    def fulfillment_created(self, fulfillment: Json) -> Json:
        """Emit ``fulfillment.created`` (the object plus ``orderDetails``, as DR sends it);
        returns ``fulfillment`` unchanged so it can wrap the create."""
        if self.endpoints:
            details = self._fulfillment_details(fulfillment["id"]).get("orderDetails")
            self.emit("fulfillment.created", {**fulfillment, "orderDetails": details})
        return fulfillment

    def return_changed(self, returned: Json) -> Json:
        """Emit ``fulfillment_return.<state>`` for a created or moved return, with the
        earlier state as ``previousAttributes``; returns ``returned`` unchanged."""
        state = returned["state"]
        previous = self._return_states.get(returned["id"])
        self._return_states[returned["id"]] = state
        self.emit(
            f"fulfillment_return.{state}",
            returned,
            None if previous is None else {"state": previous},
        )
        return returned

    def emit(self, event_type: str, obj: Mapping[str, Any], previous: Json | None = None) -> None:
        targets = [endpoint for endpoint in self.endpoints if endpoint.wants(event_type)]
        if not targets:
            return
        data: Json = {"object": obj}
        if previous is not None:
            data["previousAttributes"] = previous
        event_id = str(uuid.uuid4())
        # Serialised now: a later change to the object must not leak into this event.
        body = json.dumps(
            {
                "id": event_id,
                "type": event_type,
                "data": data,
                "liveMode": obj.get("liveMode", obj.get("livemode", False)),
                "createdTime": format_datetime(self._clock()),
                "digitalriverVersion": EVENT_API_VERSION,
            }
        ).encode()
        for endpoint in targets:
            task = asyncio.create_task(self._deliver(endpoint, event_id, event_type, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------- delivery

    async def _deliver(
        self, endpoint: WebhookEndpoint, event_id: str, event_type: str, body: bytes
    ) -> None:
        for attempt in range(1, endpoint.attempts + 1):
            if attempt > 1:
                await asyncio.sleep(endpoint.backoff * 2 ** (attempt - 2))
            # A new timestamp each try, from the emulator's clock like every other time.
            stamp = int(self._clock().timestamp())
            signature = sign_test_payload(body, endpoint.secret, timestamp=stamp)
            status, error = await self._post(endpoint, body, signature)
            delivery = WebhookDelivery(
                endpoint.url, event_id, event_type, attempt, body, signature, status, error
            )
            self.deliveries.append(delivery)
            if delivery.ok:
                return

    async def _post(
        self, endpoint: WebhookEndpoint, body: bytes, signature: str
    ) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
        try:
            async with self._session.post(
                endpoint.url,
                data=body,
                headers=headers,
                allow_redirects=False,  # DR counts a redirect as a failure
                timeout=aiohttp.ClientTimeout(total=endpoint.timeout),
            ) as response:
                return response.status, None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def drain(self) -> None:
        """Wait until every delivery (retries included) has succeeded or given up."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Cancel deliveries still waiting or in flight, then close the HTTP session."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # ----------------------------------------------------------------- HTTP

    async def register(self, request: web.Request) -> web.Response:
        """``POST /_emulator/webhooks`` with ``{"url", "secret", "types"?}``: ``add_webhook``
        for a standalone emulator (``drfulfill emulator``). Not a Digital River endpoint."""
        body = await request.json()
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(reason="expected a JSON object")
        url, secret, types = body.get("url"), body.get("secret"), body.get("types")
        if not isinstance(url, str) or not isinstance(secret, str):
            raise web.HTTPBadRequest(reason="'url' and 'secret' must be strings")
        if types is not None and not (
            isinstance(types, list) and all(isinstance(t, str) for t in types)
        ):
            raise web.HTTPBadRequest(reason="'types' must be a list of event types")
        try:
            endpoint = self.add(url, secret, types)
        except ValueError as exc:
            raise web.HTTPBadRequest(reason=str(exc)) from None
        wanted = None if endpoint.types is None else sorted(endpoint.types)
        return web.json_response({"url": endpoint.url, "types": wanted}, status=201)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)
