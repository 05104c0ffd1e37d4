"""The SDK's clocks: the running event loop's time, and the wall clock.

Deadlines, settle windows, leases and the rate limiter are all read on ``monotonic()``, and
every wait is an ``asyncio.sleep``, so an event loop with a clock of its own (a simulation's
virtual time) drives all of them at once. With asyncio's own loops it is
``time.monotonic()``. ``utc_now()`` is the wall clock that sweeps of DR's ``createdTime``
count back from; a loop with a ``utc_now()`` method of its own (the simulation's) supplies it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone


def monotonic() -> float:
    """The running loop's ``time()``; ``time.monotonic()`` outside a running loop."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


def utc_now() -> datetime:
    """The running loop's ``utc_now()`` if it has one, else ``datetime.now(timezone.utc)``."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return datetime.now(timezone.utc)
    now: Callable[[], datetime] | None = getattr(loop, "utc_now", None)
    return datetime.now(timezone.utc) if now is None else now()
