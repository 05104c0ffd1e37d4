"""A client-side token bucket that keeps a Client under Digital River's per-key rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ._constants import LIVE_RATE_LIMIT, TEST_KEY_PREFIX, TEST_RATE_LIMIT
from .errors import ValidationError


def is_test_key(api_key: str | None) -> bool:
    """Whether a key is a test-mode key (``sk_test_…``); any other key counts as live."""
    return api_key is not None and api_key.startswith(TEST_KEY_PREFIX)


def default_rate_for(api_key: str | None) -> float:
    """DR's documented limit for a key: 25 req/s in test mode, 250 req/s live."""
    return TEST_RATE_LIMIT if is_test_key(api_key) else LIVE_RATE_LIMIT


class RateLimiter:
    """Spaces requests to ``rate`` per second, allowing short bursts of ``burst`` requests.

    It is a GCRA token bucket: each ``acquire`` reserves the next free slot at once and then
    sleeps until it, so waiters are served in arrival order without a lock and a cancelled
    waiter costs only its slot. ``pause`` holds every later request back (after a 429).
    The burst is kept below the server's bucket so that a full client burst, followed by
    steady pacing, never finds the server's bucket empty.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValidationError(f"rate_limit must be > 0 requests per second, got {rate!r}")
        self.rate = float(rate)
        self._interval = 1.0 / self.rate
        burst = max(1.0, self.rate / 5) if burst is None else burst
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._theoretical_arrival = clock()
        self._paused_until = 0.0

    def reserve(self) -> float:
        """Take the next slot; return how many seconds to wait for it (0: go now)."""
        now = self._clock()
        arrival = max(self._theoretical_arrival, now)
        self._theoretical_arrival = arrival + self._interval
        return max(0.0, arrival - self._tolerance - now)

    async def acquire(self) -> None:
        """Wait until a request may be sent."""
        delay = self.reserve()
        while delay > 0:
            await self._sleep(delay)
            # A 429 seen while we slept pauses us too.
            delay = self._paused_until - self._clock()

    def paused_for(self) -> float:
        """Seconds left of the current ``pause`` (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a 429's ``Retry-After``), then pace from empty."""
        until = self._clock() + seconds
        self._paused_until = max(self._paused_until, until)
        # Moving the arrival time past the tolerance empties the burst allowance.
        self._theoretical_arrival = max(self._theoretical_arrival, until + self._tolerance)
