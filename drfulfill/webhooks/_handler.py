"""An aiohttp.web endpoint for Digital River webhooks: verify, answer 202, work later."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from .._constants import (
    WEBHOOK_MAX_PENDING,
    WEBHOOK_READ_TIMEOUT,
    WEBHOOK_REPLAY_MEMORY,
    WEBHOOK_TOLERANCE,
)
from .._options import check_count, check_seconds
from ..errors import CoordinationError, DecodeError, WebhookSignatureError, shorten
from ._dedupe import Deduplicator
from ._event import Event, parse_event
from ._expiring import ExpiringSet
from ._signature import (
    SIGNATURE_HEADER,
    check_tolerance,
    secret_keys,
    verified_signatures,
)

__all__ = ["WebhookHandler", "webhook_handler"]

logger = logging.getLogger("drfulfill")

EventCallback = Callable[[Event], Awaitable[object]]


class WebhookHandler:
    """An aiohttp.web request handler for one webhook endpoint (see ``webhook_handler``,
    which builds one with the same parameters and describes what it answers).

    :param secrets: the endpoint's signing secret, or several during a rotation (a list or
        any iterable, read once).
    :param on_event: ``async def on_event(event)``, run in a background task per accepted
        event.
    :param tolerance: seconds the signature's timestamp may be away from now.
    :param dedupe: where event ids are recorded, so each event runs once
        (``MemoryDeduplicator``, ``RedisDeduplicator``); None: every verified delivery that
        is not a replay runs ``on_event``.
    :param max_pending: the most ``on_event`` tasks running at once; a delivery beyond it is
        answered 503 (DR delivers it again later).
    :param read_timeout: seconds allowed to receive a request's body.
    :raises ValidationError: when ``secrets`` is None, empty or holds a non-string or
        empty secret, ``tolerance`` is not a finite number >= 0, ``max_pending`` is not an
        int >= 1 or ``read_timeout`` not a finite number > 0.
    """

    def __init__(
        self,
        secrets: str | Iterable[str],
        on_event: EventCallback,
        *,
        tolerance: float = WEBHOOK_TOLERANCE,
        dedupe: Deduplicator | None = None,
        max_pending: int = WEBHOOK_MAX_PENDING,
        read_timeout: float = WEBHOOK_READ_TIMEOUT,
    ) -> None:
        # Checked now, not with a 400 or 500 on every delivery later; an iterator is read
        # here, once.
        self._keys = secret_keys(secrets)
        check_tolerance(tolerance)
        check_count("max_pending", max_pending, minimum=1)
        check_seconds("read_timeout", read_timeout, positive=True)
        self._on_event = on_event
        self._tolerance = float(tolerance)
        self._dedupe = dedupe
        self.max_pending: int = max_pending
        self.read_timeout: float = float(read_timeout)
        # The signatures of accepted deliveries, each until it could no longer verify: one
        # seen again is a replay (DR signs every retry anew). Bounded: beyond the limit the
        # oldest goes first (100,000 is 330 deliveries a second over 300 s).
        self._accepted = ExpiringSet(max_entries=WEBHOOK_REPLAY_MEMORY, clock=time.time)
        self._admitting = 0  # deliveries between the capacity check and their task
        # Strong references: the event loop keeps only weak ones to running tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, request: web.Request) -> web.Response:
        """The request handler: ``app.router.add_post(path, hook.handle)``.

        :param request: the incoming request; its body is read whole, within
            ``read_timeout``.
        :returns: ``202`` (empty) once the event is verified and its ``on_event`` task
            started, or when ``dedupe`` knows the event already; ``400`` with
            ``{"error": "..."}`` for a bad signature, a replayed delivery or a body that is
            not an event (logged as a warning); ``408`` for a body not received within
            ``read_timeout``; ``503`` when ``max_pending`` events are being handled or
            ``dedupe`` raised ``CoordinationError``. ``on_event`` runs only with ``202``.
        """
        if self._busy():  # before reading: a full endpoint spends nothing on the body
            return _unavailable(f"{self.max_pending} events are being handled")
        try:
            body = await asyncio.wait_for(request.read(), self.read_timeout)
        except asyncio.TimeoutError:
            logger.warning("webhook refused: the body took over %gs", self.read_timeout)
            response = web.json_response(
                {"error": f"the body was not received within {self.read_timeout:g}s"},
                status=408,
            )
            response.force_close()  # the rest of the body is not waited for
            return response
        try:
            stamp, signatures = verified_signatures(
                body,
                request.headers.get(SIGNATURE_HEADER),
                self._keys,
                tolerance=self._tolerance,
                now=None,
            )
            # Before parsing: a replay costs one HMAC, not a decode.
            if not self._accepted.add_new(signatures, expires=stamp + self._tolerance):
                raise WebhookSignatureError("replayed delivery: this signature was seen before")
            try:
                event = parse_event(body)
            except DecodeError:
                self._accepted.discard(signatures)
                raise
        except (WebhookSignatureError, DecodeError) as exc:
            logger.warning("webhook refused: %s", exc)
            return web.json_response({"error": str(exc)}, status=400)
        return await self._admit(event, signatures)

    async def _admit(self, event: Event, signatures: list[bytes]) -> web.Response:
        """Start ``on_event`` for a verified event, unless it is a duplicate or there is no
        room; a delivery that is not taken on is forgotten, so DR's next one is not a
        replay."""
        if self._busy():
            self._accepted.discard(signatures)
            return _unavailable(f"{self.max_pending} events are being handled")
        self._admitting += 1
        try:
            first = self._dedupe is None or await self._dedupe.first_delivery(event.id)
        except CoordinationError as exc:
            self._accepted.discard(signatures)
            logger.warning("webhook %s not taken on: %s", _shown(event.id), exc)
            return _unavailable(str(exc))
        finally:
            self._admitting -= 1
        if not first:
            logger.info("webhook %s (%s) already taken on", _shown(event.id), _shown(event.type))
            return web.Response(status=202)
        task = asyncio.create_task(self._run(event), name=f"drfulfill webhook {_shown(event.id)}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    def _busy(self) -> bool:
        return len(self._tasks) + self._admitting >= self.max_pending

    async def _run(self, event: Event) -> None:
        try:
            await self._on_event(event)
        except Exception:
            logger.exception(
                "webhook handler failed for event %s (%s)", _shown(event.id), _shown(event.type)
            )
            # A later duplicate delivery of it runs it again (DR got its 202 already: the
            # failure itself brings no redelivery).
            if self._dedupe is not None:
                try:
                    await self._dedupe.forget(event.id)
                except CoordinationError as exc:
                    logger.warning("webhook %s stays taken on: %s", _shown(event.id), exc)

    @property
    def pending(self) -> int:
        """How many accepted events are still being handled."""
        return len(self._tasks)

    async def wait_pending(self) -> None:
        """Wait until every accepted event has been handled (including ones that arrive
        meanwhile). Handler errors were already logged; they are not raised here.

        :returns: None, once no ``on_event`` task is left.
        """
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def on_cleanup(self, app: web.Application) -> None:
        """For ``app.on_cleanup``: finish handling accepted events before the app stops.

        :param app: the application being cleaned up (unused).
        """
        await self.wait_pending()


def _unavailable(reason: str) -> web.Response:
    logger.warning("webhook refused for now (503): %s", reason)
    return web.json_response({"error": reason}, status=503)


def _shown(text: str) -> str:
    return shorten(text, 100)


def webhook_handler(
    secrets: str | Iterable[str],
    on_event: EventCallback,
    *,
    tolerance: float = WEBHOOK_TOLERANCE,
    dedupe: Deduplicator | None = None,
    max_pending: int = WEBHOOK_MAX_PENDING,
    read_timeout: float = WEBHOOK_READ_TIMEOUT,
) -> WebhookHandler:
    """A ``WebhookHandler``: its ``handle`` receives Digital River webhooks in aiohttp.web.

    ::

        hook = webhook_handler(os.environ["DR_WEBHOOK_SECRET"], on_event)
        app.router.add_post("/dr/webhooks", hook.handle)
        app.on_cleanup.append(hook.on_cleanup)

    Each request is checked as ``construct_event`` checks it: its signature verified (as
    ``verify_signature``; ``secrets``: one signing secret or several during a rotation;
    ``tolerance``: seconds of clock skew allowed), then its body parsed (``parse_event``),
    and the delivery remembered, to refuse a replay of it. A valid event
    is answered ``202`` at once (DR counts a reply after 3000 ms as a failure) and
    ``await on_event(event)`` runs in a background task; an exception from it is logged on
    the ``drfulfill`` logger with the event id. A bad signature or body is answered ``400``
    with ``{"error": "..."}`` and logged as a warning; ``on_event`` is not called.

    Under attack: a delivery whose signature was accepted before (a captured delivery sent
    again within the tolerance) is a replay, answered ``400``; DR signs every retry anew,
    so its own redeliveries are not. A body not received within ``read_timeout`` (default
    2 s) is answered ``408``, so a body trickled byte by byte cannot hold the handler. While
    ``max_pending`` (default 1,000) events are being handled, deliveries are answered
    ``503`` without being read, and DR delivers them again later.

    DR may deliver an event more than once (re-signed): with ``dedupe`` (a
    ``MemoryDeduplicator`` for one process, a ``RedisDeduplicator`` for replicas) each
    event id runs ``on_event`` once, and a duplicate is answered ``202``. An event whose
    ``on_event`` raised is forgotten by ``dedupe``, so that a later delivery of it (if DR
    happens to send a duplicate) runs it again; DR does not deliver it again because of
    the failure, since it was answered ``202`` before ``on_event`` ran: retry or record a
    failed event yourself. A failing ``dedupe`` gets ``503`` (DR delivers again later), and
    so does a delivery of an event that another delivery is still taking on
    (``RedisDeduplicator``). Without ``dedupe``, make ``on_event`` idempotent on
    ``event.id``.

    :param secrets: the endpoint's signing secret, or several during a rotation.
    :param on_event: ``async def on_event(event)``, given each accepted ``Event``.
    :param tolerance: seconds the signature's timestamp may be away from now.
    :param dedupe: a ``Deduplicator`` to run each event id once; None for none.
    :param max_pending: the most ``on_event`` tasks at once; beyond, ``503``.
    :param read_timeout: seconds allowed to receive a body; beyond, ``408``.
    :returns: the handler; route ``POST`` requests to its ``handle``.
    :raises ValidationError: at once (not a 400 or 500 on every request later), when
        ``secrets`` is None, empty or holds a non-string or empty secret, ``tolerance`` is
        not a finite number >= 0, ``max_pending`` is not an int >= 1 or ``read_timeout``
        not a finite number > 0.
    """
    return WebhookHandler(
        secrets,
        on_event,
        tolerance=tolerance,
        dedupe=dedupe,
        max_pending=max_pending,
        read_timeout=read_timeout,
    )
