"""Digital River events: the envelope, typed ``data.object`` for fulfillment events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from .._constants import WEBHOOK_TOLERANCE
from .._convert import structure
from ..errors import DecodeError
from ..models import Fulfillment, FulfillmentReturn
from ._signature import verify_signature

__all__ = ["Event", "EventData", "EventObject", "construct_event", "parse_event"]

EventObject = Fulfillment | FulfillmentReturn | Mapping[str, Any]
"""What ``Event.object`` holds: a model for fulfillment events, else the raw mapping."""

# Type prefixes whose data.object is decoded into a model. "fulfillment." also covers the
# "fulfillment.create" spelling of DR's event list; fulfillment_order.* and
# fulfillment_cancellation.* are other resources and stay raw.
_MODEL_BY_PREFIX: tuple[tuple[str, type[Fulfillment] | type[FulfillmentReturn]], ...] = (
    ("fulfillment.", Fulfillment),
    ("fulfillment_return.", FulfillmentReturn),
)


@attrs.frozen(kw_only=True)
class EventData:
    """``data`` of an event.

    :ivar object: a ``Fulfillment`` for ``fulfillment.*`` events, a ``FulfillmentReturn``
        for ``fulfillment_return.*``, the raw mapping otherwise (see ``Event.object``).
    :ivar previous_attributes: the changed fields' earlier values, as sent, or None.
    :ivar extra: the other keys of ``data``, keyed by wire name.
    """

    object: EventObject = attrs.field(hash=False)
    previous_attributes: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class Event:
    """A Digital River event, as delivered to a webhook endpoint (see ``parse_event``).

    :ivar id: the event id; DR may deliver an event more than once, so de-duplicate on it.
    :ivar type: e.g. ``fulfillment.created``, ``fulfillment_return.accepted``; new types
        appear without notice and are never an error.
    :ivar created_time: aware, UTC; None when absent or unreadable (the raw value is then
        in ``extra``).
    :ivar live_mode: from ``liveMode`` (or ``livemode``); None when absent or unreadable.
    :ivar data: an ``EventData``.
    :ivar extra: other envelope keys (``webhookIds``, ``digitalriverVersion``, ...), keyed
        by wire name.
    """

    id: str
    type: str
    created_time: datetime | None = None
    live_mode: bool | None = None
    data: EventData
    extra: dict[str, Any] = attrs.field(factory=dict, hash=False)

    @property
    def object(self) -> EventObject:
        """``data.object``: a ``Fulfillment`` for ``fulfillment.*`` events, a
        ``FulfillmentReturn`` for ``fulfillment_return.*``, the raw mapping otherwise."""
        return self.data.object


# Wire shapes for the converter: the envelope keeps data.object raw until the type is known.
@attrs.frozen(kw_only=True)
class _WireData:
    object: Mapping[str, Any] | None = None
    previous_attributes: Mapping[str, Any] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class _WireEvent:
    id: str | None = None
    type: str | None = None
    created_time: datetime | None = None
    live_mode: bool | None = attrs.field(
        default=None, metadata={"wire": "liveMode", "aliases": ("livemode",)}
    )
    data: _WireData | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


def parse_event(payload: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Event:
    """Decode an event body (bytes or text as received, or an already parsed mapping).

    Does not check the signature: use ``construct_event`` for requests from the network.
    Unknown keys go to ``extra`` and unknown types keep ``data.object`` raw.

    :param payload: the body as received (``bytes``, ``bytearray``, ``memoryview`` or text),
        or an already parsed mapping.
    :returns: the event; ``event.object`` is a model for fulfillment and fulfillment-return
        events.
    :raises DecodeError: when the body is not a JSON object with a string ``id`` and
        ``type`` and an object ``data.object``, or when the ``data.object`` of a
        ``fulfillment.*`` / ``fulfillment_return.*`` event cannot be decoded into its
        model (e.g. a missing ``id`` or ``createdTime``).
    """
    raw = _load(payload)
    wire = structure(raw, _WireEvent)
    if wire.id is None or wire.type is None:
        raise _decode_error("an event needs a string 'id' and 'type'", raw)
    if wire.data is None or wire.data.object is None:
        raise _decode_error("an event needs an object 'data.object'", raw)
    return Event(
        id=wire.id,
        type=wire.type,
        created_time=wire.created_time,
        live_mode=wire.live_mode,
        data=EventData(
            object=_decode_object(wire.type, wire.data.object),
            previous_attributes=wire.data.previous_attributes,
            extra=wire.data.extra,
        ),
        extra=wire.extra,
    )


def construct_event(
    payload: bytes | bytearray | memoryview,
    header: str | None,
    secrets: str | Iterable[str],
    *,
    tolerance: float = WEBHOOK_TOLERANCE,
    now: float | None = None,
) -> Event:
    """``verify_signature`` then ``parse_event``: the one call a webhook endpoint needs.

    It does not remember deliveries: to refuse a replayed one and run each event once, use
    ``webhook_handler``, or a ``MemoryDeduplicator``/``RedisDeduplicator`` on ``event.id``.

    :param payload: the raw request body, exactly as received (``bytes``, ``bytearray`` or
        ``memoryview``).
    :param header: the ``DigitalRiver-Signature`` header (None when absent).
    :param secrets: the endpoint's signing secret, or several during a rotation.
    :param tolerance: seconds the signature's timestamp may be away from ``now``.
    :param now: the current Unix time (default: the system clock), for tests.
    :returns: the verified, parsed event.
    :raises WebhookSignatureError: for a missing, malformed, non-matching or stale
        signature; the body is not parsed then.
    :raises DecodeError: for a correctly signed body that is not an event.
    :raises ValidationError: before the header is read, when ``secrets`` is None, empty or
        holds a non-string or empty secret, ``tolerance`` is not a finite number >= 0, or
        ``payload`` is not bytes.
    """
    verify_signature(payload, header, secrets, tolerance=tolerance, now=now)
    return parse_event(payload)


def _decode_object(event_type: str, raw: Mapping[str, Any]) -> EventObject:
    for prefix, model in _MODEL_BY_PREFIX:
        if event_type.startswith(prefix):
            return structure(raw, model)
    return raw


def _load(payload: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(payload, Mapping):
        return payload
    if isinstance(payload, (bytearray, memoryview)):  # json.loads takes neither
        payload = bytes(payload)
    try:
        raw = json.loads(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _decode_error("the event body is not JSON", payload) from None
    if not isinstance(raw, Mapping):
        raise _decode_error("the event body is not a JSON object", payload)
    return raw


def _decode_error(message: str, payload: Any) -> DecodeError:
    if isinstance(payload, (bytes, bytearray)):
        text = bytes(payload).decode("utf-8", errors="replace")
    elif isinstance(payload, str):
        text = payload
    else:
        text = json.dumps(payload, default=str)
    return DecodeError(message, text=text)
