"""Earning a claim store's memory back: when Redis is new, flushed or replaced, the keys of
the fleet's recent fulfillments are loaded from Digital River before any key is vouched for
as new (see ``RedisClaimStore.load_memory``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .._coordination import FleetMemory
from ..errors import CoordinationError
from . import _scripts
from ._polling import poll_wait

if TYPE_CHECKING:
    from ._claims import RedisClaimStore

logger = logging.getLogger("drfulfill")

# Done records written per script call while the fleet's memory is loaded.
_RECORD_BATCH = 500
# Between the two sweeps of a memory load, wait this much more than a renewal period, so
# that every holder that was sending when Redis lost its data has taken its claim back.
_TAKE_BACK_MARGIN = 0.05


class MemoryLoader:
    """The memory load of one ``RedisClaimStore`` (one API key)."""

    def __init__(self, store: RedisClaimStore, redis: Redis) -> None:
        self._store = store
        self._redis = redis
        self._record = redis.register_script(_scripts.RECORD_DONE)
        self._mark = redis.register_script(_scripts.MARK_MEMORY)
        self._keep = redis.register_script(_scripts.KEEP_LOADING)

    async def earn(self, memory: FleetMemory) -> None:
        """Wait for the memory marker, loading the memory when no other process is."""
        token = secrets.token_hex(16)
        attempt = 0
        while True:
            if await self._store.round_trip(
                self._redis.exists(self._store.memory_key), None, "read the memory marker"
            ):
                return
            taken = await self._store.round_trip(
                self._redis.set(self._store.loading_key, token, nx=True, px=self._store.lease_ms),
                None,
                "take the memory load",
            )
            if taken and await self._load(memory, token):
                return
            wait = poll_wait(
                attempt,
                first=self._store.poll[0],
                cap=self._store.poll[1],
                lease_left=1.0,
                left=None,
            )
            await asyncio.sleep(wait)
            attempt += 1

    async def _load(self, memory: FleetMemory, token: str) -> bool:
        """Load the fleet's keys and write the marker; False when Redis lost the load's
        records meanwhile (the loading key is no longer this load's): load again."""
        keeper = asyncio.get_running_loop().create_task(self._keep_loading_key(token))
        try:
            started = self._store.clock()
            logger.warning(
                "the fleet's memory of safe-create keys is missing (Redis is new, was "
                "flushed or replaced): loading the keys of the last %gs from Digital River",
                self._store.horizon,
            )
            loaded = await self._record_all(memory.keys_created_since(self._store.horizon))
            # A send fenced before Redis lost its data (by a holder since cut off or
            # crashed, which cannot take its claim back) ends within the longest send and
            # lands within the settle window after: the second sweep comes after both.
            longest_send = memory.longest_send
            if longest_send is None:
                longest_send = self._store.lease
            settled = started + max(
                longest_send + memory.settle, self._store.lease / 3 + _TAKE_BACK_MARGIN
            )
            await asyncio.sleep(max(0.0, settled - self._store.clock()))
            loaded += await self._record_all(
                memory.keys_created_since(self._store.clock() - started + memory.settle)
            )
            marked = await self._store.round_trip(
                self._mark(keys=[self._store.loading_key, self._store.memory_key], args=[token]),
                self._store.lease,
                "write the memory marker",
            )
            if not marked:
                logger.warning("Redis lost the fleet's memory while it was loaded: loading again")
                return False
            logger.warning("the fleet's memory is loaded: %d key(s) recorded as done", loaded)
            return True
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(RedisError, CoordinationError):
                # Let the loading key go, only while it is still this load's: kept for
                # 1 ms, in one atomic round trip (a GET, then a DEL, could delete the key of
                # a load that took over in between).
                await self._store.round_trip(
                    self._keep(keys=[self._store.loading_key], args=[token, 1]),
                    self._store.lease,
                    "end the memory load",
                )

    async def _keep_loading_key(self, token: str) -> None:
        """Extend the loading key every third of a lease, until it is no longer this
        load's (then the load's marker will be refused, and the load starts again)."""
        kept = 1
        while kept:
            await asyncio.sleep(self._store.lease / 3)
            with contextlib.suppress(RedisError, CoordinationError):
                kept = await self._store.round_trip(
                    self._keep(keys=[self._store.loading_key], args=[token, self._store.lease_ms]),
                    self._store.lease,
                    "keep the memory load",
                )

    async def _record_all(self, pairs: AsyncIterator[tuple[str, str]]) -> int:
        """Record every (key, fulfillment id) as done, a batch per round trip."""
        recorded = 0
        batch: list[tuple[str, str]] = []
        async for pair in pairs:
            batch.append(pair)
            if len(batch) == _RECORD_BATCH:
                recorded += await self._record_batch(batch)
                batch = []
        if batch:
            recorded += await self._record_batch(batch)
        return recorded

    async def _record_batch(self, batch: list[tuple[str, str]]) -> int:
        new = await self._store.round_trip(
            self._record(
                keys=[self._store.keys_for(key)[2] for key, _ in batch],
                args=[*(fulfillment_id for _, fulfillment_id in batch), self._store.done_ms],
            ),
            self._store.lease,
            "record done keys",
        )
        return int(new)
