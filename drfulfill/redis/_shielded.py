"""Awaiting redis-py calls so that a cancellation is never lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # nobody awaits a call whose caller was cancelled: not an error


async def shielded(call: Awaitable[T]) -> T:
    """The result of ``call``, run in a task of its own under ``asyncio.shield``.

    redis-py can swallow a cancellation that arrives while a command is in flight
    (redis/redis-py#2028): the cancelled task then carries on as if nothing happened. Here
    the caller always gets its ``CancelledError`` at once; the command finishes on its own.
    """
    task = asyncio.ensure_future(call)
    task.add_done_callback(_retrieve)
    return await asyncio.shield(task)
