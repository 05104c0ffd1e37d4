"""Awaiting redis-py calls so that a cancellation is never lost, and a round trip to a
Redis that never answers ends in time."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")


def retrieve_exception(task: asyncio.Future[Any]) -> None:
    """A done callback for a task nobody may await: its exception is read, so asyncio
    does not report it as never retrieved."""
    if not task.cancelled():
        task.exception()  # nobody awaits a call whose caller was cancelled: not an error


class RedisCalls:
    """The redis-py commands of one coordinator, each run in a task of its own (``bounded``).

    ``cancel_all`` ends those still running when the coordinator closes: a command whose
    caller has gone (cancelled, or its deadline passed) must not go on to reconnect to Redis,
    or be left pending, after the coordinator is closed.
    """

    def __init__(self) -> None:
        self._running: set[asyncio.Future[Any]] = set()
        self._closed = False

    async def bounded(self, call: Awaitable[T], timeout: float) -> T:
        """The result of ``call``, run in a task of its own under ``asyncio.shield``;
        ``redis.exceptions.TimeoutError`` after ``timeout`` seconds, and
        ``redis.exceptions.ConnectionError`` once the coordinator is closed.

        redis-py can swallow a cancellation that arrives while a command is in flight
        (redis/redis-py#2028): the cancelled task then carries on as if nothing happened.
        Here the caller always gets its ``CancelledError`` at once.

        The command is cancelled when its time is up, whether the caller still waits or
        was cancelled, so none is left running against a Redis that never answers. redis-py
        closes the connection of a cancelled command (redis/redis-py#2665): a late reply is
        never read as the answer to another command.
        """
        if self._closed:
            _close(call)
            raise RedisConnectionError("the coordinator is closed")
        task = asyncio.ensure_future(call)
        task.add_done_callback(retrieve_exception)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(max(0.0, timeout), expire)
        task.add_done_callback(lambda _: timer.cancel())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # the caller was cancelled
            if self._closed and not expired:
                raise RedisConnectionError("the coordinator is closed") from None
            if not expired:
                raise
        raise RedisTimeoutError(f"no answer from Redis within {timeout:.3f}s")

    async def cancel_all(self) -> None:
        """Cancel every command still running and wait until each has ended; refuse new ones."""
        self._closed = True
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def _close(call: Awaitable[Any]) -> None:
    if inspect.iscoroutine(call):
        call.close()  # never awaited: no "coroutine was never awaited" warning
