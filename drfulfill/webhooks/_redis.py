"""De-duplication of webhook events through a ``RedisCoordinator``'s Redis (needs the
``redis`` extra only when used)."""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING, Any

from .._constants import WEBHOOK_DEDUPE_TIMEOUT, WEBHOOK_DEDUPE_TTL
from .._options import check_seconds
from ..errors import CoordinationError, ValidationError
from ._dedupe import event_digest

if TYPE_CHECKING:
    from ..redis import RedisCoordinator

__all__ = ["RedisDeduplicator"]

# A pending mark lives at least this long, and PENDING_TIMEOUTS round trips: long enough
# for its confirmation to land, short enough that a mark whose answer was lost (its
# delivery answered 503) soon stops holding DR's redeliveries back.
PENDING_FLOOR = 5.0
PENDING_TIMEOUTS = 4
PENDING = b"pending:"
DONE = b"done"

# KEYS[1]: the event's key; ARGV[1]: "pending:<token>", ARGV[2]: its time to live in ms.
# Sets the pending mark and returns 1 when the key is free, else returns its value.
_MARK = """
local value = redis.call('GET', KEYS[1])
if value then return value end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# ARGV[1]: "pending:<token>", ARGV[2]: the ttl in ms. "done" for the ttl when the key
# still holds this delivery's pending mark: 1; else 0 (the mark expired: nothing is set).
_CONFIRM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
return 1
"""

# ARGV[1]: "pending:<token>". Deletes the key only while it holds that mark.
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class RedisDeduplicator:
    """Event ids in the Redis of a ``RedisCoordinator``: de-duplication for an app that runs
    as several replicas behind one webhook URL (DR may deliver an event twice, to any of
    them).

    Each id is one Redis key, ``{namespace}:webhook-events:{name}:{32 hex}`` (the
    coordinator's namespace; a digest of the id). A first delivery takes two round trips:

    1. A script sets the key to ``pending:<random token>`` for ``pending_ttl`` seconds
       (``max(5, 4 * timeout)``) if it is free, and otherwise returns its value, in one
       atomic step: of all replicas, exactly one gets the mark.
    2. A second script turns the mark into ``done``, kept for ``ttl``, only if the key still
       holds this delivery's token; then ``first_delivery()`` is True.

    A delivery that finds ``done`` is a duplicate (False, answered ``202``). One that finds
    another delivery's pending mark raises ``CoordinationError`` (answered ``503``, and DR
    delivers again later): that other delivery may still fail, and a ``202`` would lose the
    event if it did.

    Every round trip is bounded by ``timeout`` (``RedisCoordinator.command``: the command
    is cancelled when its time is up or the coordinator closes). A Redis that fails or does
    not answer in time raises ``CoordinationError``, so that ``webhook_handler`` answers
    ``503`` and DR delivers again. A command whose answer was lost may still have been
    applied; that cannot lose the event:

    - when the mark's answer is lost, the mark is deleted if it still holds this
      delivery's token (best effort) and expires within ``pending_ttl`` anyway: until then
      a redelivery is answered ``503``, after it, it is a first delivery;
    - when the confirmation's answer is lost (or it fails), the mark was this delivery's
      (its answer came), so the event is taken on all the same (True): at worst, if the
      confirmation did not land, a duplicate delivered after ``pending_ttl`` runs it again.

    The coordinator's claims and limiter are not touched.

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
        self._coordinator = coordinator
        #: The start of every Redis key this deduplicator sets.
        self.prefix: str = f"{coordinator.namespace}:webhook-events:{name}:"
        self.ttl: float = float(ttl)
        self.timeout: float = float(timeout)
        #: Seconds a pending mark lives unless it is confirmed.
        self.pending_ttl: float = max(PENDING_FLOOR, PENDING_TIMEOUTS * self.timeout)

    def key(self, event_id: str) -> str:
        """The Redis key that records ``event_id``."""
        return self.prefix + event_digest(event_id).hex()

    async def first_delivery(self, event_id: str) -> bool:
        """See ``Deduplicator.first_delivery``.

        :raises CoordinationError: when Redis fails or does not answer within ``timeout``
            before this delivery holds the event's pending mark, or when another delivery
            of the event holds it (it is being taken on, and may still fail).
        """
        key = self.key(event_id)
        mark = PENDING + secrets.token_hex(16).encode()
        try:
            found = await self._script(_MARK, key, mark, _ms(self.pending_ttl))
        except CoordinationError:
            # The mark may have been set all the same (the answer was lost): take it back
            # if it is still this delivery's, or let it expire.
            with contextlib.suppress(CoordinationError):
                await self._script(_RELEASE, key, mark)
            raise
        if found != 1:
            if isinstance(found, bytes) and found.startswith(PENDING):
                raise CoordinationError(
                    "webhook de-duplication: another delivery of this event is being taken "
                    "on; deliver it again later"
                )
            return False  # "done" (or "1", the record of an older release): a duplicate
        try:
            confirmed = await self._script(_CONFIRM, key, mark, _ms(self.ttl))
        except CoordinationError:
            return True  # the mark is this delivery's: take the event on (see the class)
        if confirmed != 1:
            raise CoordinationError(
                f"webhook de-duplication: the pending mark expired (after "
                f"{self.pending_ttl:g}s) before it was confirmed; deliver it again later"
            )
        return True

    async def forget(self, event_id: str) -> None:
        """See ``Deduplicator.forget``.

        :raises CoordinationError: when Redis fails or does not answer within ``timeout``.
        """
        await self._round_trip(self._coordinator.redis.delete(self.key(event_id)))

    async def _script(self, script: str, key: str, *args: bytes | int) -> Any:
        # EVAL, not EVALSHA: one round trip always (EVALSHA's first call on a Redis that
        # has not cached the script takes two, the first of them answered NOSCRIPT).
        return await self._round_trip(self._coordinator.redis.eval(script, 1, key, *args))

    async def _round_trip(self, command: Any) -> Any:
        try:
            return await self._coordinator.command(command, self.timeout)
        except CoordinationError as exc:
            raise CoordinationError(f"webhook de-duplication: {exc}") from exc


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
