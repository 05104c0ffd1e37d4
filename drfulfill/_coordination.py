"""What a Client needs from a rate limiter and from a claim store, as protocols.

The local ``RateLimiter`` (``_ratelimit.py``) and ``drfulfill.redis.RedisCoordinator``
implement them; the request funnel and the safe-create component only talk to these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, Protocol

Priority = Literal["interactive", "bulk"]
"""The limiter's lane of a request: ``"bulk"`` for ``bulk_create`` and ``drfulfill upload``
(and views made with ``with_options(priority="bulk")``), ``"interactive"`` for the rest."""

PRIORITIES: tuple[Priority, ...] = ("interactive", "bulk")


class Limiter(Protocol):
    """Paces requests for one API key.

    ``acquire`` waits for a send slot. If the slot (or the end of a pause) is more than
    ``max_wait`` seconds away it gives the slot back at once and raises
    ``APITimeoutError(sent=False)``; a waiter that is cancelled gives its slot back too.
    ``priority="bulk"`` requests take only slots that interactive ones leave free, and
    never the last part of the burst allowance, so an interactive request finds a slot
    within about one request interval however much bulk traffic waits.
    ``pause`` holds every user of the limiter back for ``seconds`` (a 429's Retry-After,
    already capped by the caller). ``paused_for`` tells how long a pause has left.
    """

    @property
    def rate(self) -> float: ...

    async def acquire(
        self, max_wait: float | None = None, *, priority: Priority = "interactive"
    ) -> None: ...

    async def pause(self, seconds: float) -> None: ...

    async def paused_for(self) -> float: ...


class Claim(Protocol):
    """The right to create the fulfillment of one safe-create key, held by one process.

    ``done_id``: the id of the fulfillment an earlier holder recorded as created with this
    key (then nothing must be sent: fetch that fulfillment; the claim is not held).
    ``doubt_since``: a clock reading (``drfulfill``'s clock, the running loop's time) from
    when a send of this key by an earlier holder may land: it released the claim with its
    outcome unknown, or its lease lapsed while it may have been sending. The new holder
    must look the key up, across the settle window from then, before any send. None: no
    send of the key has been left in doubt (with ``done_id`` None too, the key is new to
    the fleet when ``vouched``: the store's records are whole, so the create is sent at
    once, without a lookup). ``taken_over``: ``doubt_since`` is set.

    ``fence(timeout, max_wait)`` is awaited just before each send: it confirms, atomically
    in the store, that this claim is still held, records that a send may be in flight for
    ``timeout`` seconds, and extends the claim to outlast it; when it cannot confirm, it
    raises ``CoordinationError`` and nothing must be sent. ``release(done_id,
    doubt_since=...)`` ends the claim, recording the fulfillment id when the create is known
    to be done, or, with ``doubt_since``, that a send may land from then on.
    """

    @property
    def done_id(self) -> str | None: ...

    @property
    def taken_over(self) -> bool: ...

    @property
    def doubt_since(self) -> float | None: ...

    @property
    def vouched(self) -> bool: ...

    async def fence(self, timeout: float | None, max_wait: float | None) -> None: ...

    async def release(
        self,
        done_id: str | None,
        *,
        doubt_since: float | None = None,
        max_wait: float | None = None,
    ) -> None: ...


class FleetMemory(Protocol):
    """What a claim store needs to earn its memory of the fleet's keys (see ``ClaimStore``):
    the client's settle window, how long one of its sends may take, and the keys of
    Digital River's recent fulfillments."""

    @property
    def settle(self) -> float: ...

    @property
    def longest_send(self) -> float | None:
        """The most seconds one send of a create may take (the client's timeout, cut to
        its deadline; None: unbounded, and a claim store assumes a lease, as its fence
        records): a send in flight when Redis lost its data may land until then, plus
        ``settle``."""
        ...

    def keys_created_since(self, seconds_ago: float) -> AsyncIterator[tuple[str, str]]:
        """(safe-create key, fulfillment id) of each fulfillment created at most
        ``seconds_ago`` seconds ago (by Digital River's clock, with a margin for skew)."""
        ...


class ClaimStore(Protocol):
    """Exactly-once claims on safe-create keys, shared by every process of a fleet.

    ``acquire(key, max_wait=..., memory=...)`` returns a held ``Claim`` (or one with
    ``done_id`` set, which needs no release); it waits while another process holds the key,
    up to ``max_wait`` seconds, then raises ``APITimeoutError(sent=False)``. When the store
    cannot vouch for its records (empty, flushed or replaced), it first earns them back
    from ``memory`` (or waits while another process does). When the store is unreachable
    or does not answer within ``max_wait`` it raises ``CoordinationError``: a create is
    never sent unguarded.
    """

    async def acquire(self, key: str, *, max_wait: float | None, memory: FleetMemory) -> Claim: ...


class Coordinator(Protocol):
    """Shared state for every process using an API key (``Client(coordinator=...)``).

    ``limiter(api_key, rate)`` and ``claims(api_key)`` are called once per Client; the
    implementation namespaces its state by a hash of the key, never the key itself.
    """

    def limiter(self, api_key: str, rate: float) -> Limiter: ...

    def claims(self, api_key: str) -> ClaimStore: ...
