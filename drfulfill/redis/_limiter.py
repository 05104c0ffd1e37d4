"""The shared rate limiter: one GCRA schedule per API key on Redis, a local one as fallback."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

import attrs
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .._clock import monotonic
from .._coordination import Limiter
from ..errors import APITimeoutError
from . import _scripts
from ._shielded import shielded

logger = logging.getLogger("drfulfill")

_RESERVED = 1


@attrs.define
class Fallback:
    """When to use the local limiter instead of Redis: after a failure, until the next probe.

    Pure bookkeeping (times are passed in). ``failed`` and ``succeeded`` return True on the
    transition, so the caller logs once when falling back and once when recovering.
    """

    probe_interval: float
    degraded: bool = False
    next_probe: float = 0.0

    def use_local(self, now: float) -> bool:
        """Whether this call goes to the local limiter; claims the probe when one is due."""
        if not self.degraded:
            return False
        if now < self.next_probe:
            return True
        # This caller probes Redis; the others stay local until the probe has an answer.
        self.next_probe = now + self.probe_interval
        return False

    def failed(self, now: float) -> bool:
        self.next_probe = now + self.probe_interval
        newly = not self.degraded
        self.degraded = True
        return newly

    def succeeded(self) -> bool:
        recovered = self.degraded
        self.degraded = False
        return recovered


class RedisLimiter:
    """Paces every process that uses one API key and one Redis to ``rate`` together.

    Each ``acquire`` is one script call that reserves the next slot of a GCRA schedule
    kept on the server (burst ``max(1, rate/5)``, like the local limiter), then sleeps
    until it. A slot is reserved only within ``max_wait``; a waiter cancelled while it
    sleeps gives its slot back. After sleeping it checks the shared pause, which another
    process may have set meanwhile, and asks for a slot after it.

    When Redis fails, requests go through ``fallback`` (a local limiter at a share of the
    rate) and Redis is tried again every ``probe_interval`` seconds; one WARNING on the
    ``drfulfill`` logger says so, another says when Redis is back. A Redis failure is
    never raised from here.

    Made by ``RedisCoordinator.limiter``; building one yourself is rarely needed.

    :param redis: the redis-py asyncio client.
    :param prefix: the prefix of its Redis keys (``key_prefix``).
    :param rate: requests per second for the whole fleet.
    :param fallback: the local limiter used while Redis fails.
    :param probe_interval: seconds between attempts to reach Redis again while it fails.
    :param clock: monotonic seconds, injectable for tests.
    :param sleep: the sleep used to wait for a slot, injectable for tests.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        rate: float,
        *,
        fallback: Limiter,
        probe_interval: float,
        clock: Callable[[], float] = monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._redis = redis
        self._keys = (f"{prefix}:rate:tat", f"{prefix}:rate:pause", f"{prefix}:rate:holes")
        self._rate = float(rate)
        self._interval_us = max(1, round(1_000_000 / self._rate))
        burst = max(1.0, self._rate / 5)
        self._tolerance_us = round((burst - 1) * self._interval_us)
        self._local = fallback
        self._fallback = Fallback(probe_interval)
        self._clock = clock
        self._sleep = sleep
        self._acquire_slot = redis.register_script(_scripts.ACQUIRE_SLOT)
        self._return_slot = redis.register_script(_scripts.RETURN_SLOT)
        self._pause = redis.register_script(_scripts.PAUSE)

    @property
    def rate(self) -> float:
        """The rate shared by the fleet (the fallback runs at its own, lower, rate)."""
        return self._rate

    @property
    def degraded(self) -> bool:
        """True while Redis is failing and the local fallback paces requests."""
        return self._fallback.degraded

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait for this process's next send slot of the fleet's schedule.

        :param max_wait: the most seconds to wait (None: no bound).
        :raises APITimeoutError: (``sent=False``) when the next slot, or the end of a shared
            pause, is further away than what is left of ``max_wait``; no slot is used then.
        """
        deadline = None if max_wait is None else self._clock() + max_wait
        if self._fallback.use_local(self._clock()):
            await self._local.acquire(max_wait)
            return
        try:
            await self._acquire_shared(deadline)
        except RedisError as exc:
            self._failed(exc)
            await self._local.acquire(self._left(deadline))
            return
        self._succeeded()

    async def pause(self, seconds: float) -> None:
        """Hold every process of the fleet back for ``seconds`` (a 429's ``Retry-After``).

        The local fallback keeps the pause too, in case Redis fails before it ends.

        :param seconds: how long; 0 or less does nothing on Redis.
        """
        await self._local.pause(seconds)
        ms = math.ceil(seconds * 1000)
        if ms <= 0 or self._fallback.use_local(self._clock()):
            return
        try:
            await shielded(
                self._pause(
                    keys=[self._keys[1], self._keys[0], self._keys[2]],
                    args=[ms, self._tolerance_us],
                )
            )
        except RedisError as exc:
            self._failed(exc)
            return
        self._succeeded()

    async def paused_for(self) -> float:
        """How long the fleet's pause has left.

        :returns: seconds (0.0 when there is none); the local fallback's while Redis fails.
        """
        if self._fallback.use_local(self._clock()):
            return await self._local.paused_for()
        try:
            left_ms = await shielded(self._redis.pttl(self._keys[1]))
        except RedisError as exc:
            self._failed(exc)
            return await self._local.paused_for()
        self._succeeded()
        return max(0, int(left_ms)) / 1000

    async def _acquire_shared(self, deadline: float | None) -> None:
        while True:
            left = self._left(deadline)
            max_wait_us = -1 if left is None else int(left * 1_000_000)
            reserved, wait_us, slot_us, pause = await shielded(
                self._acquire_slot(
                    keys=list(self._keys), args=[self._interval_us, self._tolerance_us, max_wait_us]
                )
            )
            if reserved != _RESERVED:
                raise APITimeoutError(
                    f"the shared rate limit's next slot is {int(wait_us) / 1e6:.3f}s away, "
                    "more than the call's deadline allows",
                    sent=False,
                )
            if wait_us <= 0:
                return  # due now: the script saw any pause
            try:
                await self._sleep(int(wait_us) / 1_000_000)
            except asyncio.CancelledError:
                await self._give_back(int(slot_us))
                raise
            # A pause another process set while we slept holds this slot back too.
            current = await shielded(self._redis.get(self._keys[1]))
            if current is None or current == pause:
                return

    async def _give_back(self, slot_us: int) -> None:
        try:
            await shielded(
                self._return_slot(
                    keys=[self._keys[0], self._keys[2], self._keys[1]],
                    args=[slot_us, self._interval_us, self._tolerance_us],
                )
            )
        except RedisError:
            pass  # the slot just goes unused: throughput, never the limit

    def _left(self, deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - self._clock())

    def _failed(self, exc: RedisError) -> None:
        if self._fallback.failed(self._clock()):
            logger.warning(
                "Redis rate limiter unavailable (%s): pacing locally at %.4g req/s "
                "until it is back",
                exc,
                self._local.rate,
            )

    def _succeeded(self) -> None:
        if self._fallback.succeeded():
            logger.warning(
                "Redis rate limiter is back: pacing with the fleet at %.4g req/s", self._rate
            )
