"""A client-side token bucket that keeps a Client under Digital River's per-key rate limit."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable

from ._clock import monotonic
from ._constants import LIVE_RATE_LIMIT, TEST_KEY_PREFIX, TEST_RATE_LIMIT
from .errors import APITimeoutError, ValidationError


def is_test_key(api_key: str | None) -> bool:
    """Whether a key is a test-mode key (``sk_test_…``); any other key counts as live."""
    return api_key is not None and api_key.startswith(TEST_KEY_PREFIX)


def default_rate_for(api_key: str | None) -> float:
    """DR's documented limit for a key: 25 req/s in test mode, 250 req/s live."""
    return TEST_RATE_LIMIT if is_test_key(api_key) else LIVE_RATE_LIMIT


class RateLimiter:
    """Spaces requests to ``rate`` per second, allowing short bursts of ``burst`` requests.

    The local ``Limiter`` (see ``_coordination.py``). It is a GCRA token bucket: each
    ``acquire`` reserves the next free send time at once and then sleeps until it, so
    waiters are served in arrival order without a lock. A waiter that gives up (its
    ``max_wait`` is too short, or it is cancelled) returns its send time; the next
    ``acquire`` takes the earliest returned time still ahead before reserving a new one,
    so abandoned reservations never delay later calls. ``pause`` holds every later request
    back (after a 429). The burst is kept below the server's bucket so that a full client
    burst, followed by steady pacing, never finds the server's bucket empty.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValidationError(f"rate_limit must be > 0 requests per second, got {rate!r}")
        self._rate = float(rate)
        self._interval = 1.0 / self._rate
        burst = max(1.0, self._rate / 5) if burst is None else burst
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._theoretical_arrival = clock()
        self._paused_until = 0.0
        self._returned: list[float] = []  # a heap of send times given back

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self._rate

    def reserve(self) -> float:
        """Take the earliest free send time (a ``clock()`` reading; at most now: go now)."""
        now = self._clock()
        returned = self._returned
        # A returned time already past is capacity that went unused: it cannot be saved up.
        while returned and returned[0] < now:
            heapq.heappop(returned)
        arrival = max(self._theoretical_arrival, now)
        fresh = arrival - self._tolerance
        if returned and returned[0] < fresh:
            return heapq.heappop(returned)
        self._theoretical_arrival = arrival + self._interval
        return max(fresh, now)

    def give_back(self, send_at: float) -> None:
        """Return a reserved send time that will not be used."""
        if send_at >= self._clock():
            heapq.heappush(self._returned, send_at)

    async def acquire(self, max_wait: float | None = None) -> None:
        """Wait until a request may be sent.

        If that is more than ``max_wait`` seconds away, the slot is given back and
        ``APITimeoutError(sent=False)`` is raised at once; a cancelled waiter gives its slot
        back too.
        """
        started = self._clock()
        send_at = self.reserve()
        while True:
            now = self._clock()
            # A 429 seen while we slept pauses us too.
            ready_at = max(send_at, self._paused_until)
            if ready_at <= now:
                return
            if max_wait is not None and ready_at - started > max_wait:
                self.give_back(send_at)
                raise APITimeoutError(
                    f"not sent: the rate limiter's next slot is {ready_at - now:.3f}s away,"
                    f" past the call's deadline ({max_wait:.3f}s left)",
                    sent=False,
                )
            try:
                await self._sleep(ready_at - now)
            except BaseException:  # cancelled: someone else may have the slot
                self.give_back(send_at)
                raise

    async def paused_for(self) -> float:
        """Seconds left of the current ``pause`` (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    async def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a 429's ``Retry-After``), then pace from empty."""
        until = self._clock() + seconds
        self._paused_until = max(self._paused_until, until)
        # Moving the arrival time past the tolerance empties the burst allowance.
        self._theoretical_arrival = max(self._theoretical_arrival, until + self._tolerance)
        self._returned = [send_at for send_at in self._returned if send_at >= self._paused_until]
        heapq.heapify(self._returned)
