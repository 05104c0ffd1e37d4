"""De-duplication of webhook events by id: DR may deliver one event more than once."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .._constants import WEBHOOK_DEDUPE_MAX_EVENTS, WEBHOOK_DEDUPE_TTL
from .._options import check_count, check_seconds
from ._expiring import ExpiringSet

__all__ = ["Deduplicator", "MemoryDeduplicator", "event_digest"]


@runtime_checkable
class Deduplicator(Protocol):
    """Where a webhook endpoint records the event ids it has taken on.

    ``webhook_handler(..., dedupe=...)`` calls ``first_delivery`` for each verified event
    before it answers (a ``CoordinationError`` from it is answered ``503``), and ``forget``
    when ``on_event`` raised, so that a later duplicate delivery of that event runs it
    again (the delivery was answered ``202`` before ``on_event`` ran: DR does not deliver
    it again because of the failure). With ``construct_event`` in your own endpoint, call
    them yourself. ``MemoryDeduplicator`` serves one process; ``RedisDeduplicator`` a replicated
    app.
    """

    async def first_delivery(self, event_id: str) -> bool:
        """Record ``event_id``; True the first time (within the memory's time to live),
        False for a delivery of an event already taken on. Atomic: of concurrent calls
        with one id, at most one gets True. May raise ``CoordinationError`` when it cannot
        tell (a shared memory that fails, or another delivery of the event still being
        taken on): never False for an event that was not taken on."""
        ...

    async def forget(self, event_id: str) -> None:
        """Forget ``event_id``, so that a later delivery of it is a first one again."""
        ...


def event_digest(event_id: str) -> bytes:
    """16 bytes that stand for an event id: what a deduplicator stores, whatever the id's
    length."""
    return hashlib.blake2b(event_id.encode("utf-8", "replace"), digest_size=16).digest()


class MemoryDeduplicator:
    """Event ids in this process's memory: de-duplication for an app that runs once.

    Each id is remembered for ``ttl`` seconds (default 4 days: DR retries a failed delivery
    for 72 hours); at most ``max_events`` are kept, the oldest forgotten first, so memory is
    bounded (under 200 bytes an id). Several replicas of an app need a shared memory:
    ``RedisDeduplicator``.

    :param ttl: seconds an id is remembered.
    :param max_events: the most ids remembered.
    :param clock: the time source (``time.monotonic``), injectable for tests.
    :raises ValidationError: for a ``ttl`` that is not a finite number > 0, or a
        ``max_events`` that is not an int >= 1.
    """

    def __init__(
        self,
        *,
        ttl: float = WEBHOOK_DEDUPE_TTL,
        max_events: int = WEBHOOK_DEDUPE_MAX_EVENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_seconds("ttl", ttl, positive=True)
        check_count("max_events", max_events, minimum=1)
        self.ttl: float = float(ttl)
        self.max_events: int = max_events
        self._clock = clock
        self._ids = ExpiringSet(max_entries=max_events, clock=clock)

    def __len__(self) -> int:
        """How many event ids are remembered now."""
        return len(self._ids)

    async def first_delivery(self, event_id: str) -> bool:
        """See ``Deduplicator.first_delivery``."""
        return self._ids.add_new([event_digest(event_id)], expires=self._clock() + self.ttl)

    async def forget(self, event_id: str) -> None:
        """See ``Deduplicator.forget``."""
        self._ids.discard([event_digest(event_id)])
