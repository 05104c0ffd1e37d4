"""The shared rate limiter: one GCRA schedule per API key on Redis, a local one as fallback."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._clock import monotonic
from .._coordination import Limiter, Priority
from .._ratelimit import WaitingLine, bulk_tolerance, refused
from . import _scripts
from ._shielded import RedisCalls

logger = logging.getLogger("drfulfill")

_RESERVED = 1

# The longest one round trip to Redis may take, whatever the call's deadline: a Redis that
# is slower counts as failing, and the local fallback paces the call instead.
MAX_ROUND_TRIP = 1.0

# The clock() reading at the deadline of the call this task is making, as its last
# ``acquire`` was told: a 429's ``pause`` comes later in the same call, and its write to
# Redis must not outlast that deadline either.
_call_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "drfulfill_limiter_deadline", default=None
)


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


# A round trip given less than this (half of what was left of the call's deadline) that
# times out does not count as Redis failing: a healthy Redis can take that long under load.
_LEAST_FAILING_ROUND_TRIP = 0.05


def round_trip_bound(left: float | None) -> float:
    """How long one round trip may take with ``left`` seconds of the call's deadline left
    (None: no deadline): half of what is left, so that a call whose Redis does not answer
    still has time to go out through the local limiter, and never more than
    ``MAX_ROUND_TRIP``."""
    return MAX_ROUND_TRIP if left is None else min(MAX_ROUND_TRIP, left / 2)


class RedisLimiter:
    """Paces every process that uses one API key and one Redis to ``rate`` together.

    An interactive ``acquire`` is one script call that reserves the next slot of a GCRA
    schedule kept on the server (burst ``max(1, rate/5)``, like the local limiter), then
    sleeps until it. A slot is reserved only within ``max_wait``; a waiter cancelled while it
    sleeps gives its slot back. After sleeping it checks the shared pause, which another
    process may have set meanwhile, and asks for a slot after it.

    A bulk ``acquire`` (``priority="bulk"``) never reserves ahead: the first bulk waiter of
    the process asks Redis for a slot it may use at once with a smaller burst tolerance
    (one interval of headroom is left to interactive requests), and otherwise sleeps until
    one could be due; the process's other bulk waiters wait for their turn without asking
    Redis. So bulk traffic of the whole fleet leaves every process's interactive requests a
    slot within about one interval, and alone it still sends at the full rate.

    Every round trip to Redis is bounded: by half of what is left of the call's deadline
    (the other half is for the request itself) and by ``MAX_ROUND_TRIP``. A round trip
    that takes longer counts as a Redis failure. When Redis fails, requests go through
    ``fallback`` (a local limiter at a share of the rate) and Redis is tried again every
    ``probe_interval`` seconds; one WARNING on the ``drfulfill`` logger says so, another
    says when Redis is back. A Redis failure is never raised from here.

    Made by ``RedisCoordinator.limiter``; building one yourself is rarely needed.

    :param redis: the redis-py asyncio client.
    :param prefix: the prefix of its Redis keys (``key_prefix``).
    :param rate: requests per second for the whole fleet.
    :param fallback: the local limiter used while Redis fails.
    :param probe_interval: seconds between attempts to reach Redis again while it fails.
    :param clock: monotonic seconds, injectable for tests.
    :param sleep: the sleep used to wait for a slot, injectable for tests.
    :param calls: where its Redis commands run (the coordinator's, so that closing it ends
        them; a new one when not given).
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
        calls: RedisCalls | None = None,
    ) -> None:
        self._redis = redis
        self._calls = RedisCalls() if calls is None else calls
        self._keys = (f"{prefix}:rate:tat", f"{prefix}:rate:pause", f"{prefix}:rate:holes")
        self._rate = float(rate)
        self._interval_us = max(1, round(1_000_000 / self._rate))
        burst = max(1.0, self._rate / 5)
        self._tolerance_us = round((burst - 1) * self._interval_us)
        self._bulk_tolerance_us = round(bulk_tolerance(self._tolerance_us, self._interval_us))
        self._local = fallback
        self._fallback = Fallback(probe_interval)
        self._clock = clock
        self._sleep = sleep
        self._bulk_line = WaitingLine()
        # When the fleet's pause ends (a clock() reading), as Redis last told this process.
        self._pause_ends = 0.0
        self._writes: set[asyncio.Future[Any]] = set()  # pauses written without a waiter
        self._acquire_slot = redis.register_script(_scripts.ACQUIRE_SLOT)
        self._acquire_bulk_slot = redis.register_script(_scripts.ACQUIRE_BULK_SLOT)
        self._return_slot = redis.register_script(_scripts.RETURN_SLOT)
        self._pause = redis.register_script(_scripts.PAUSE)
        self._pause_state = redis.register_script(_scripts.PAUSE_STATE)

    @property
    def rate(self) -> float:
        """The rate shared by the fleet (the fallback runs at its own, lower, rate)."""
        return self._rate

    @property
    def degraded(self) -> bool:
        """True while Redis is failing and the local fallback paces requests."""
        return self._fallback.degraded

    async def acquire(
        self, max_wait: float | None = None, *, priority: Priority = "interactive"
    ) -> None:
        """Wait for this process's next send slot of the fleet's schedule.

        :param max_wait: the most seconds to wait (None: no bound).
        :param priority: ``"interactive"`` or ``"bulk"`` (see the class docstring).
        :raises APITimeoutError: (``sent=False``) when the next slot, or the end of a shared
            pause, is further away than what is left of ``max_wait``; no slot is used then.
        """
        deadline = None if max_wait is None else self._clock() + max_wait
        _call_deadline.set(deadline)
        if self._fallback.use_local(self._clock()):
            await self._local.acquire(max_wait, priority=priority)
            return
        if deadline is not None and self._left(deadline) == 0:
            # No time to ask Redis; a slot of its own would not count in the fleet's.
            raise refused(0.0, 0.0, "the shared rate limit (no time left to ask Redis)")
        try:
            if priority == "bulk":
                await self._acquire_bulk(deadline)
            else:
                await self._acquire_interactive(deadline)
        except RedisError as exc:
            # A round trip cut short by the call's own deadline says little of Redis: that
            # call goes out through the local limiter, but the process stays with the fleet.
            left = self._left(deadline)
            cut_short = (
                isinstance(exc, RedisTimeoutError)
                and left is not None
                and left < _LEAST_FAILING_ROUND_TRIP
            )
            if not cut_short:
                self._failed(exc)
            await self._local.acquire(left, priority=priority)
            return
        self._succeeded()

    async def pause(self, seconds: float) -> None:
        """Hold every process of the fleet back for ``seconds`` (a 429's ``Retry-After``).

        The local fallback keeps the pause too, in case Redis fails before it ends. This
        waits for Redis to have it for at most what is left of the deadline of the call
        that met the 429 (as this task's last ``acquire`` was told); the write goes on
        without the caller for at most ``MAX_ROUND_TRIP``, and a write that fails or takes
        longer counts as a Redis failure.

        :param seconds: how long; 0 or less does nothing on Redis.
        """
        await self._local.pause(seconds)
        ms = math.ceil(seconds * 1000)
        if ms <= 0 or self._fallback.use_local(self._clock()):
            return
        write = asyncio.ensure_future(
            self._calls.bounded(
                self._pause(
                    keys=[self._keys[1], self._keys[0], self._keys[2]],
                    args=[ms, self._tolerance_us],
                ),
                MAX_ROUND_TRIP,
            )
        )
        self._writes.add(write)
        write.add_done_callback(self._paused)
        deadline = _call_deadline.get()
        await asyncio.wait({write}, timeout=None if deadline is None else self._left(deadline))

    def _paused(self, write: asyncio.Future[Any]) -> None:
        self._writes.discard(write)
        if write.cancelled():
            return
        error = write.exception()
        if isinstance(error, RedisError):
            self._failed(error)
        elif error is None:
            self._learn_pause(int(write.result()) * 1000)
            self._succeeded()

    async def paused_for(self) -> float:
        """How long the fleet's pause has left, as this process last learnt it from Redis
        (each ``acquire`` and ``pause`` tells it), or the local fallback's pause if longer.
        No round trip: the call asking has not told its deadline.

        :returns: seconds (0.0 when there is none).
        """
        fleet = 0.0 if self._fallback.degraded else self._pause_ends - self._clock()
        return max(0.0, fleet, await self._local.paused_for())

    async def _acquire_interactive(self, deadline: float | None) -> None:
        while True:
            left = self._left(deadline)
            max_wait_us = -1 if left is None else int(left * 1_000_000)
            reply = await self._calls.bounded(
                self._acquire_slot(
                    keys=list(self._keys), args=[self._interval_us, self._tolerance_us, max_wait_us]
                ),
                round_trip_bound(left),
            )
            reserved, wait_us, slot_us, pause, pause_left_us = reply
            self._learn_pause(int(pause_left_us))
            if reserved != _RESERVED:
                raise refused(int(wait_us) / 1e6, left or 0.0, "the shared rate limit's next slot")
            if wait_us <= 0:
                return  # due now: the script saw any pause
            wait = int(wait_us) / 1_000_000
            send_at = self._clock() + wait
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                await self._give_back(int(slot_us), send_at - self._clock())
                raise
            # A pause another process set while we slept holds this slot back too.
            current, left_ms = await self._calls.bounded(
                self._pause_state(keys=[self._keys[1]]), round_trip_bound(self._left(deadline))
            )
            self._learn_pause(max(0, int(left_ms)) * 1000)
            if not current or current == pause:
                return

    async def _acquire_bulk(self, deadline: float | None) -> None:
        line = self._bulk_line
        turn = line.join()
        try:
            ahead = (len(line) - 1) * self._interval_us / 1_000_000
            left = self._left(deadline)
            if left is not None and ahead > left:
                raise refused(ahead, left, "this call's turn in the bulk lane")
            await line.wait(turn, left)
            while True:
                left = self._left(deadline)
                taken, wait_us, pause_left_us = await self._calls.bounded(
                    self._acquire_bulk_slot(
                        keys=[self._keys[0], self._keys[1]],
                        args=[self._interval_us, self._bulk_tolerance_us],
                    ),
                    round_trip_bound(left),
                )
                self._learn_pause(int(pause_left_us))
                if taken == _RESERVED:
                    return
                wait = int(wait_us) / 1_000_000
                left = self._left(deadline)
                if left is not None and wait > left:
                    raise refused(wait, left, "the shared rate limit's next bulk slot")
                await self._sleep(wait)
        finally:
            line.leave(turn)

    async def _give_back(self, slot_us: int, until_send: float) -> None:
        """Return a reserved slot. Once its send time has come it is of no use to anyone
        (the script refuses it), so this takes at most ``until_send`` seconds."""
        try:
            await self._calls.bounded(
                self._return_slot(
                    keys=[self._keys[0], self._keys[2], self._keys[1]],
                    args=[slot_us, self._interval_us, self._tolerance_us],
                ),
                min(MAX_ROUND_TRIP, until_send),
            )
        except RedisError:
            pass  # the slot just goes unused: throughput, never the limit

    def _learn_pause(self, left_us: int) -> None:
        self._pause_ends = self._clock() + left_us / 1_000_000

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
