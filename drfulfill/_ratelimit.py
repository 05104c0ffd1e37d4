"""A client-side token bucket that keeps a Client under Digital River's per-key rate limit."""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Awaitable, Callable

from ._clock import monotonic
from ._constants import INTERACTIVE_HEADROOM, LIVE_RATE_LIMIT, TEST_KEY_PREFIX, TEST_RATE_LIMIT
from ._coordination import Priority
from .errors import APITimeoutError, ValidationError


def is_test_key(api_key: str | None) -> bool:
    """Whether a key is a test-mode key (``sk_test_…``); any other key counts as live."""
    return api_key is not None and api_key.startswith(TEST_KEY_PREFIX)


def default_rate_for(api_key: str | None) -> float:
    """DR's documented limit for a key: 25 req/s in test mode, 250 req/s live."""
    return TEST_RATE_LIMIT if is_test_key(api_key) else LIVE_RATE_LIMIT


def bulk_tolerance(tolerance: float, interval: float) -> float:
    """The burst tolerance bulk requests may use: the GCRA ``tolerance`` less a headroom of
    ``INTERACTIVE_HEADROOM`` intervals (at most half of it), kept for interactive requests.

    Works in any unit (seconds, microseconds), as long as both are in the same one.
    """
    return tolerance - min(INTERACTIVE_HEADROOM * interval, tolerance / 2)


def refused(
    wait: float, max_wait: float, what: str = "the rate limiter's next slot"
) -> APITimeoutError:
    """The error of a wait the call's deadline does not allow: nothing was sent."""
    return APITimeoutError(
        f"not sent: {what} is {wait:.3f}s away, past the call's deadline ({max_wait:.3f}s left)",
        sent=False,
    )


class WaitingLine:
    """This process's bulk waiters in arrival order: only the first one polls the schedule,
    the others wait for their turn (no herd of waiters waking for every slot)."""

    def __init__(self) -> None:
        self._turns: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return len(self._turns)

    def join(self) -> asyncio.Future[None]:
        """A place at the end of the line; the future is done once it is first."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self._turns:
            turn.set_result(None)
        self._turns.append(turn)
        return turn

    async def wait(self, turn: asyncio.Future[None], max_wait: float | None) -> None:
        """Until ``turn`` is first, for at most ``max_wait`` seconds (then APITimeoutError)."""
        if turn.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(turn), max_wait)
        except asyncio.TimeoutError:
            failure = refused(max_wait or 0.0, max_wait or 0.0, "this call's turn in the bulk lane")
        else:
            return
        raise failure  # outside the except block: no TimeoutError as its context

    def leave(self, turn: asyncio.Future[None]) -> None:
        """Leave the line (served, refused or cancelled); the next waiter's turn comes."""
        first = self._turns[0] is turn
        self._turns.remove(turn)
        if not turn.done():
            turn.cancel()
        if first and self._turns and not self._turns[0].done():
            self._turns[0].set_result(None)


class RateLimiter:
    """Spaces requests to ``rate`` per second, allowing short bursts of ``burst`` requests.

    The local ``Limiter`` (see ``_coordination.py``). It is a GCRA token bucket: each
    interactive ``acquire`` reserves the next free send time at once and then sleeps until
    it, so waiters are served in arrival order without a lock. A waiter that gives up (its
    ``max_wait`` is too short, or it is cancelled) returns its send time; the next
    ``acquire`` takes the earliest returned time still ahead before reserving a new one,
    so abandoned reservations never delay later calls. ``pause`` holds every later request
    back (after a 429). The burst is kept below the server's bucket so that a full client
    burst, followed by steady pacing, never finds the server's bucket empty.

    Bulk requests (``priority="bulk"``) never reserve ahead: they wait in a line of their
    own (``WaitingLine``), and the first one takes a slot only once it can send at once
    with a smaller tolerance (``bulk_tolerance``). So the schedule is never more than one
    interval ahead of the clock because of bulk traffic, and an interactive request, which
    may use the whole tolerance, finds a slot within one interval. Bulk traffic alone still
    sends at the full rate: the headroom only shortens its burst.
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
        self._bulk_tolerance = bulk_tolerance(self._tolerance, self._interval)
        self._bulk_line = WaitingLine()
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

    def bulk_due(self) -> float:
        """When the next bulk request may go (a ``clock()`` reading)."""
        return max(self._theoretical_arrival - self._bulk_tolerance, self._paused_until)

    def take_bulk(self) -> bool:
        """Take a slot for a bulk request if one is due now."""
        now = self._clock()
        if self.bulk_due() > now:
            return False
        self._theoretical_arrival = max(self._theoretical_arrival, now) + self._interval
        return True

    async def acquire(
        self, max_wait: float | None = None, *, priority: Priority = "interactive"
    ) -> None:
        """Wait until a request may be sent.

        If that is more than ``max_wait`` seconds away, the slot is given back and
        ``APITimeoutError(sent=False)`` is raised at once; a cancelled waiter gives its slot
        back too. ``priority="bulk"``: see the class docstring.
        """
        if priority == "bulk":
            await self._acquire_bulk(max_wait)
            return
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
                raise refused(ready_at - now, max_wait - (now - started))
            try:
                await self._sleep(ready_at - now)
            except BaseException:  # cancelled: someone else may have the slot
                self.give_back(send_at)
                raise

    async def _acquire_bulk(self, max_wait: float | None) -> None:
        started = self._clock()
        line = self._bulk_line
        turn = line.join()
        try:
            if not turn.done():
                # Each bulk waiter ahead takes at least an interval: refuse at once a call
                # whose turn cannot come within its max_wait.
                ahead = (len(line) - 1) * self._interval
                soonest = max(0.0, self.bulk_due() - started) + ahead
                if max_wait is not None and soonest > max_wait:
                    raise refused(soonest, max_wait, "this call's turn in the bulk lane")
                await line.wait(turn, max_wait)
            while not self.take_bulk():
                now = self._clock()
                due = self.bulk_due()
                if max_wait is not None and due - started > max_wait:
                    raise refused(due - now, max_wait - (now - started))
                await self._sleep(due - now)
        finally:
            line.leave(turn)

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
