"""What a Client needs from a rate limiter and from a claim store, as protocols.

The local ``RateLimiter`` (``_ratelimit.py``) and ``drfulfill.redis.RedisCoordinator``
implement them; the request funnel and the safe-create component only talk to these.
"""

from __future__ import annotations

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
    key (then nothing must be sent: fetch that fulfillment). ``taken_over``: an earlier
    holder's lease expired while it held the claim, so it may have sent the create: the new
    holder must look the key up as after an ambiguous failure. ``release(done_id)`` ends the
    claim, recording the fulfillment id when the create is known to be done.
    """

    @property
    def done_id(self) -> str | None: ...

    @property
    def taken_over(self) -> bool: ...

    async def release(self, done_id: str | None) -> None: ...


class ClaimStore(Protocol):
    """Exactly-once claims on safe-create keys, shared by every process of a fleet.

    ``acquire(key, max_wait=...)`` returns a held ``Claim`` (or one with ``done_id`` set,
    which needs no release); it waits while another process holds the key, up to
    ``max_wait`` seconds, then raises ``APITimeoutError(sent=False)``. When the store is
    unreachable it raises ``CoordinationError``: a create is never sent unguarded.
    """

    async def acquire(self, key: str, *, max_wait: float | None) -> Claim: ...


class Coordinator(Protocol):
    """Shared state for every process using an API key (``Client(coordinator=...)``).

    ``limiter(api_key, rate)`` and ``claims(api_key)`` are called once per Client; the
    implementation namespaces its state by a hash of the key, never the key itself.
    """

    def limiter(self, api_key: str, rate: float) -> Limiter: ...

    def claims(self, api_key: str) -> ClaimStore: ...
