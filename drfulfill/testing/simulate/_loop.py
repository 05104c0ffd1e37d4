"""An asyncio event loop on virtual time: every wait returns at once, in due order.

When no callback is ready, the loop moves its clock to the next timer instead of sleeping,
so hours of timeouts, leases, settle windows and Retry-After waits pass in milliseconds, and
the order of events depends only on what the code does, never on the machine. Work sent to
an executor (the bulk journal's SQLite thread) runs inline, at once, for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import selectors
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Executor
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

T = TypeVar("T")


class Stalled(RuntimeError):
    """Nothing is ready and no timer is set: every task waits on something that never comes."""


class _VirtualSelector(selectors.BaseSelector):
    """A selector that never waits: ``select(timeout)`` moves the loop's clock instead."""

    def __init__(self) -> None:
        self._map: dict[Any, selectors.SelectorKey] = {}
        self.loop: VirtualLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = selectors.SelectorKey(fileobj, _fd(fileobj), events, data)
        self._map[fileobj] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._map.pop(fileobj)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        assert self.loop is not None
        if timeout is None:
            raise Stalled("the simulation stalled: no task can go on and no timer is set")
        if timeout > 0:
            self.loop.advance(timeout)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._map

    def close(self) -> None:
        self._map.clear()


def _fd(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else int(fileobj.fileno())


class VirtualLoop(asyncio.SelectorEventLoop):
    """A ``SelectorEventLoop`` whose ``time()`` is virtual (seconds from 0), with a virtual
    wall clock (``utc_now()``: ``EPOCH`` plus that time) that drfulfill's sweeps read."""

    EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual_now = 0.0
        self._dropped: list[Any] = []

    def time(self) -> float:
        return self._virtual_now

    def utc_now(self) -> datetime:
        return self.EPOCH + timedelta(seconds=self._virtual_now)

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds

    def _asyncgen_finalizer_hook(self, agen: Any) -> None:
        """An async generator dropped without being closed: kept, and closed when the run
        ends. asyncio would schedule its ``aclose()`` when the garbage collector finds it,
        at a moment that depends on the whole process's allocations, so the same seed could
        run differently in another process. (asyncio installs this method as the
        interpreter's async generator finalizer while the loop runs.)"""
        self._dropped.append(agen)

    async def close_dropped_generators(self) -> None:
        dropped, self._dropped = self._dropped, []
        for agen in dropped:
            with contextlib.suppress(Exception):
                await agen.aclose()

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        """Run ``func`` now, on this thread: no thread may race the virtual clock."""
        future: asyncio.Future[T] = self.create_future()
        try:
            future.set_result(func(*args))
        except BaseException as error:
            future.set_exception(error)
        return future


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a fresh ``VirtualLoop`` (in a fresh context)."""
    loop = VirtualLoop()
    try:
        asyncio.set_event_loop(loop)
        context = contextvars.copy_context()
        return context.run(loop.run_until_complete, main)
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.close_dropped_generators())
            loop.run_until_complete(loop.shutdown_asyncgens())
            _cancel_all(loop)  # what closing the generators started (a claim's release)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every task left, until none is left (a cancelled task may start another)."""
    for _ in range(100):
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
