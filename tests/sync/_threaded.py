"""An emulator served on a thread of its own, for tests whose own thread blocks in sync calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from drfulfill.testing import Emulator

T = TypeVar("T")


class EmulatorThread:
    """``Emulator(**options)`` running on its own event loop and thread until ``close()``.
    ``call(f, ...)`` runs ``f`` (state set-up or reads) on that loop and returns its result."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        if not self._started.wait(30):
            raise RuntimeError("the emulator did not start")
        self.url = self.emulator.url

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        async with Emulator(**self._options) as emulator:
            self.emulator = emulator
            self._started.set()
            await self._stop.wait()

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async def run() -> T:
            return function(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
