"""The SDK's one clock: the running event loop's time.

Deadlines, settle windows, leases and the rate limiter are all read on it, and every wait is
an ``asyncio.sleep``, so an event loop with a clock of its own (a simulation's virtual
time) drives all of them at once. With asyncio's own loops it is ``time.monotonic()``.
"""

from __future__ import annotations

import asyncio
import time


def monotonic() -> float:
    """The running loop's ``time()``; ``time.monotonic()`` outside a running loop."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()
