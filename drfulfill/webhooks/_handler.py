"""An aiohttp.web endpoint for Digital River webhooks: verify, answer 202, work later."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from ..errors import DecodeError, WebhookSignatureError
from ._event import Event, construct_event
from ._signature import SIGNATURE_HEADER, secret_keys

__all__ = ["WebhookHandler", "webhook_handler"]

logger = logging.getLogger("drfulfill")

EventCallback = Callable[[Event], Awaitable[object]]


class WebhookHandler:
    """An aiohttp.web request handler for one webhook endpoint (see ``webhook_handler``,
    which builds one with the same parameters).

    :param secrets: the endpoint's signing secret, or several during a rotation.
    :param on_event: ``async def on_event(event)``, run in a background task per accepted
        event.
    :param tolerance: seconds the signature's timestamp may be away from now.
    :raises ValidationError: when ``secrets`` is empty or holds a non-string or empty
        secret.
    """

    def __init__(
        self,
        secrets: str | Sequence[str],
        on_event: EventCallback,
        *,
        tolerance: float = 300,
    ) -> None:
        secret_keys(secrets)  # a ValidationError now, not a 400 on every request later
        self._secrets = [secrets] if isinstance(secrets, str) else list(secrets)
        self._on_event = on_event
        self._tolerance = tolerance
        # Strong references: the event loop keeps only weak ones to running tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, request: web.Request) -> web.Response:
        """The request handler: ``app.router.add_post(path, hook.handle)``.

        :param request: the incoming request; its body is read whole.
        :returns: ``202`` (empty) once the event is verified and its ``on_event`` task
            started; ``400`` with ``{"error": "..."}`` for a bad signature or a body that is
            not an event (logged as a warning, ``on_event`` not called).
        """
        body = await request.read()
        try:
            event = construct_event(
                body,
                request.headers.get(SIGNATURE_HEADER),
                self._secrets,
                tolerance=self._tolerance,
            )
        except (WebhookSignatureError, DecodeError) as exc:
            logger.warning("webhook refused: %s", exc)
            return web.json_response({"error": str(exc)}, status=400)
        task = asyncio.create_task(self._run(event), name=f"drfulfill webhook {event.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def _run(self, event: Event) -> None:
        try:
            await self._on_event(event)
        except Exception:
            logger.exception("webhook handler failed for event %s (%s)", event.id, event.type)

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


def webhook_handler(
    secrets: str | Sequence[str],
    on_event: EventCallback,
    *,
    tolerance: float = 300,
) -> WebhookHandler:
    """A ``WebhookHandler``: its ``handle`` receives Digital River webhooks in aiohttp.web.

    ::

        hook = webhook_handler(os.environ["DR_WEBHOOK_SECRET"], on_event)
        app.router.add_post("/dr/webhooks", hook.handle)
        app.on_cleanup.append(hook.on_cleanup)

    Each request is checked with ``construct_event`` (``secrets``: one signing secret or
    several during a rotation; ``tolerance``: seconds of clock skew allowed). A valid event
    is answered ``202`` at once (DR counts a reply after 3000 ms as a failure) and
    ``await on_event(event)`` runs in a background task; an exception from it is logged on
    the ``drfulfill`` logger with the event id. A bad signature or body is answered ``400``
    with ``{"error": "..."}`` and logged as a warning; ``on_event`` is not called.
    DR may deliver an event twice: make ``on_event`` idempotent on ``event.id``.

    :param secrets: the endpoint's signing secret, or several during a rotation.
    :param on_event: ``async def on_event(event)``, given each accepted ``Event``.
    :param tolerance: seconds the signature's timestamp may be away from now.
    :returns: the handler; route ``POST`` requests to its ``handle``.
    :raises ValidationError: at once, when ``secrets`` is empty or holds a non-string or
        empty secret (not a 400 on every request later).
    """
    return WebhookHandler(secrets, on_event, tolerance=tolerance)
