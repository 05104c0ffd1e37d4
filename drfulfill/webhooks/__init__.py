"""Digital River webhooks: verify ``DigitalRiver-Signature``, parse events, serve an endpoint.

::

    event = construct_event(await request.read(), request.headers.get(SIGNATURE_HEADER),
                            [new_secret, old_secret])
    if event.type == "fulfillment.created":
        fulfillment = event.object  # a drfulfill.Fulfillment

``webhook_handler`` wraps this as an aiohttp.web handler that also refuses replayed
deliveries, bounds the time a body may take and the work pending, and (with ``dedupe=``)
runs each event id once: ``MemoryDeduplicator`` in one process, ``RedisDeduplicator``
through a ``drfulfill.redis.RedisCoordinator``'s Redis for replicas. ``sign_test_payload``
signs bodies for your own tests.
"""

from ..errors import WebhookSignatureError
from ._dedupe import Deduplicator, MemoryDeduplicator
from ._event import Event, EventData, EventObject, construct_event, parse_event
from ._handler import WebhookHandler, webhook_handler
from ._redis import RedisDeduplicator
from ._signature import SIGNATURE_HEADER, sign_test_payload, verify_signature

__all__ = [
    "SIGNATURE_HEADER",
    "Deduplicator",
    "Event",
    "EventData",
    "EventObject",
    "MemoryDeduplicator",
    "RedisDeduplicator",
    "WebhookHandler",
    "WebhookSignatureError",
    "construct_event",
    "parse_event",
    "sign_test_payload",
    "verify_signature",
    "webhook_handler",
]
