"""The portal: one background event-loop thread per process that runs the async client for
sync code (``SyncClient``), so every sync call of the process, from any thread, shares the
same loop, and so each client's connection pool and rate limiter.

It is started on first use. A call waits on a lock, which Ctrl-C interrupts: the call is
then cancelled on the loop, and ``KeyboardInterrupt`` raised once it ended (or after
``SYNC_CANCEL_GRACE``). At the interpreter's exit the loop ends its tasks and async
generators (which closes every session still open) before the thread stops. A forked child
gets a fresh portal on first use; what it inherited of the parent's loop is left untouched
(the loop polls with ``poll()``, whose interest list is the process's own, unlike epoll's,
which a child shares with its parent).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import os
import selectors
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import nullcontext
from typing import Any, ParamSpec, TypeVar

from ._constants import SYNC_CANCEL_GRACE, SYNC_SHUTDOWN_GRACE
from .errors import DigitalRiverError

__all__ = ["Portal", "fork_generation", "iterate", "portal"]

P = ParamSpec("P")
T = TypeVar("T")


class _Call:
    """One call run on the loop for a waiting thread."""

    __slots__ = ("args", "done", "error", "function", "kwargs", "result", "task")

    def __init__(
        self, function: Callable[..., Awaitable[Any]], args: Any, kwargs: dict[str, Any]
    ) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.task: asyncio.Task[None] | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()  # released when the call has ended

    def start(self, loop: asyncio.AbstractEventLoop) -> None:  # on the loop
        self.task = loop.create_task(self._run())

    async def _run(self) -> None:
        # The waiter is released as the call ends, not one loop turn later (a done callback).
        try:
            self.result = await self.function(*self.args, **self.kwargs)
        except BaseException as error:  # CancelledError included: handed to the caller
            self.error = error
        finally:
            self.done.release()

    def cancel(self) -> None:  # on the loop
        if self.task is not None:
            self.task.cancel()


class Portal:
    """A daemon thread running an event loop, and the way to run coroutines on it."""

    def __init__(self) -> None:
        poll = getattr(selectors, "PollSelector", selectors.DefaultSelector)
        self.loop = asyncio.SelectorEventLoop(poll())
        self.pid = os.getpid()
        self.stopped = False
        self._thread = threading.Thread(target=self._serve, name="drfulfill-portal", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def on_its_thread(self) -> bool:
        """Whether the caller is the portal's own thread (where waiting would never end)."""
        return threading.get_ident() == self._thread.ident

    def call(self, function: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``function(*args, **kwargs)`` on the loop, in a copy of the caller's context
        (so its tracing span is the parent), and wait for its result or exception."""
        if self.on_its_thread:
            raise DigitalRiverError(
                "a SyncClient was called on drfulfill's own event-loop thread (from code that"
                " drfulfill runs there: a bulk_create input or on_progress callback, say);"
                " it would wait for itself for ever: use the async Client there"
            )
        if self.stopped:
            raise DigitalRiverError("the interpreter is exiting: drfulfill's loop has stopped")
        call = _Call(function, args, kwargs)
        context = contextvars.copy_context()
        self.loop.call_soon_threadsafe(context.run, call.start, self.loop)
        try:
            call.done.acquire()
        except BaseException:  # Ctrl-C (or an exception from another signal handler)
            self.loop.call_soon_threadsafe(call.cancel)
            call.done.acquire(timeout=SYNC_CANCEL_GRACE)  # a second Ctrl-C ends this wait
            raise
        if call.error is not None:
            error, call.error = call.error, None  # no cycle through the traceback
            raise error
        result: T = call.result
        return result

    def close_soon(self, iterator: AsyncIterator[Any]) -> None:
        """From the loop's own thread: close an async iterator without waiting for it."""
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            self.loop.create_task(aclose())

    def stop(self) -> None:
        """End every task and async generator on the loop (closing the sessions still
        open), then stop the thread. Called at the interpreter's exit."""
        if self.stopped or not self._thread.is_alive():
            return
        finished = asyncio.run_coroutine_threadsafe(_wind_down(), self.loop)
        try:
            finished.result(SYNC_SHUTDOWN_GRACE)
        except BaseException:  # past the grace, or interrupted: stop all the same
            pass
        self.stopped = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(SYNC_SHUTDOWN_GRACE)
        if not self._thread.is_alive():
            self.loop.close()


async def _wind_down() -> None:
    here = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not here]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


class _State:
    def __init__(self) -> None:
        self.portal: Portal | None = None
        self.lock = threading.Lock()
        self.generation = 0  # forks survived: a client made before one rebuilds after it
        # What a forked child inherited of its parent's portal: kept, never used or closed
        # (its sockets are the parent's too).
        self.inherited: list[object] = []


_state = _State()


def portal() -> Portal:
    """This process's portal, started on first use."""
    current = _state.portal
    if current is not None:
        return current
    with _state.lock:
        if _state.portal is None:
            _state.portal = Portal()
        return _state.portal


def fork_generation() -> int:
    """How many forks led to this process: a client built under another number was built
    by an ancestor process, and must be built again here."""
    return _state.generation


def keep_inherited(thing: object) -> None:
    """Hold on to something a forked child inherited and must never close (see above)."""
    _state.inherited.append(thing)


def _after_fork_in_child() -> None:
    if _state.portal is not None:
        keep_inherited(_state.portal)
    _state.portal = None
    _state.lock = threading.Lock()  # the parent's may have been held by a thread now gone
    _state.generation += 1


def _at_exit() -> None:
    current = _state.portal
    if current is not None and current.pid == os.getpid():
        current.stop()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)


def iterate(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """A plain iterator over the async iterator ``make()`` makes, each step run on the
    portal. Closing it (``break`` out of a ``for``, ``close()``, or dropping it) closes
    the async iterator, waiting for that to end."""
    iterator = make()
    here = portal()
    interrupted = False
    try:
        while True:
            step = here.call(_next, iterator)
            if step is _END:
                return
            yield step
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if here.on_its_thread:  # dropped there by the garbage collector: cannot wait
            here.close_soon(iterator)
        elif not here.stopped and here.pid == os.getpid():
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                # After Ctrl-C the cancelled step may still be unwinding past the grace:
                # closing then fails ("already running"), and must not replace the
                # KeyboardInterrupt (the cancellation ends that step anyway).
                with contextlib.suppress(RuntimeError) if interrupted else nullcontext():
                    here.call(aclose)


_END: Any = object()


async def _next(iterator: AsyncIterator[T]) -> T:
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return _END  # type: ignore[no-any-return]
