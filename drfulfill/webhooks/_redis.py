"""De-duplication of webhook events through a ``RedisCoordinator``'s Redis (needs the
``redis`` extra only when used)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .._constants import WEBHOOK_DEDUPE_TIMEOUT, WEBHOOK_DEDUPE_TTL
from .._options import check_seconds
from ..errors import CoordinationError, ValidationError
from ._dedupe import event_digest

if TYPE_CHECKING:
    from ..redis import RedisCoordinator

__all__ = ["RedisDeduplicator"]


class RedisDeduplicator:
    """Event ids in the Redis of a ``RedisCoordinator``: de-duplication for an app that runs
    as several replicas behind one webhook URL (DR may deliver an event twice, to any of
    them).

    Each id is one Redis key, ``{namespace}:webhook-events:{name}:{32 hex}`` (the
    coordinator's namespace; a digest of the id), set with ``SET NX`` and expiring after
    ``ttl``: of all replicas, exactly one gets ``first_delivery() == True``. Every round
    trip is bounded by ``timeout``; a Redis that fails or does not answer in time raises
    ``CoordinationError`` (``webhook_handler`` then answers 503, and DR delivers again
    later). The coordinator's claims and limiter are not touched.

    ::

        coordinator = RedisCoordinator(os.environ["REDIS_URL"])
        hook = webhook_handler(secret, on_event, dedupe=RedisDeduplicator(coordinator))

    :param coordinator: the ``drfulfill.redis.RedisCoordinator`` whose ``redis`` client
        and ``namespace`` are used (close the coordinator, not this).
    :param name: tells the endpoints of one app apart, when several receive the same
        events (each should run each event once).
    :param ttl: seconds an id is remembered (default 4 days: DR retries for 72 hours).
    :param timeout: seconds one Redis round trip may take.
    :raises ValidationError: for an empty ``name``, or a ``ttl`` or ``timeout`` that is not
        a finite number > 0.
    """

    def __init__(
        self,
        coordinator: RedisCoordinator,
        *,
        name: str = "default",
        ttl: float = WEBHOOK_DEDUPE_TTL,
        timeout: float = WEBHOOK_DEDUPE_TIMEOUT,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError("name must be a non-empty string")
        check_seconds("ttl", ttl, positive=True)
        check_seconds("timeout", timeout, positive=True)
        self._redis = coordinator.redis
        #: The start of every Redis key this deduplicator sets.
        self.prefix: str = f"{coordinator.namespace}:webhook-events:{name}:"
        self.ttl: float = float(ttl)
        self.timeout: float = float(timeout)

    def key(self, event_id: str) -> str:
        """The Redis key that records ``event_id``."""
        return self.prefix + event_digest(event_id).hex()

    async def first_delivery(self, event_id: str) -> bool:
        """See ``Deduplicator.first_delivery``.

        :raises CoordinationError: when Redis fails or does not answer within ``timeout``.
        """
        set_ = self._redis.set(self.key(event_id), b"1", nx=True, px=max(1, int(self.ttl * 1000)))
        return bool(await self._round_trip(set_))

    async def forget(self, event_id: str) -> None:
        """See ``Deduplicator.forget``.

        :raises CoordinationError: when Redis fails or does not answer within ``timeout``.
        """
        await self._round_trip(self._redis.delete(self.key(event_id)))

    async def _round_trip(self, command: object) -> object:
        from ..redis._shielded import shielded  # imports redis-py: only once one is in use

        try:
            return await asyncio.wait_for(shielded(command), self.timeout)  # type: ignore[arg-type]
        except asyncio.TimeoutError:
            failure = CoordinationError(
                f"webhook de-duplication: Redis did not answer within {self.timeout:g}s"
            )
        except Exception as error:  # redis-py's errors, OSError: whatever Redis failed with
            failure = CoordinationError(
                f"webhook de-duplication: Redis failed ({type(error).__name__})"
            )
        raise failure
