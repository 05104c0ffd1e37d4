"""Exactly-once claims on safe-create keys, held in Redis with a lease the holder renews.

What the store remembers outlives any one process: which keys are done (and as which
fulfillment), and from when a send of a key may land (a claim released in doubt, or a send
in flight when its holder vanished). Every round trip to Redis is bounded by the caller's
time (and never longer than a lease), so a Redis that hangs fails a create before anything
is sent, as one that is down does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._clock import monotonic
from .._coordination import FleetMemory
from ..errors import APITimeoutError, CoordinationError
from . import _scripts
from ._memory import MemoryLoader
from ._polling import microseconds, poll_wait, text_of
from ._shielded import RedisCalls, retrieve_exception

logger = logging.getLogger("drfulfill")

T = TypeVar("T")

# The least time a round trip to Redis is given, even when the caller has less left (a
# ``max_wait=0`` means "do not wait for another holder", not "do not ask Redis").
_ROUND_TRIP_FLOOR = 0.1


class RedisClaim:
    """A claim on one key: held (renewed in the background until ``release``) or done.

    Returned by ``RedisClaimStore.acquire``; not built directly.
    """

    def __init__(
        self,
        store: RedisClaimStore,
        key: str,
        *,
        token: str | None,
        done_id: str | None = None,
        doubt_since: float | None = None,
        vouched: bool = False,
    ) -> None:
        self._store = store
        self._key = key
        self._token = token
        self._done_id = done_id
        self._doubt_since = doubt_since
        self._vouched = vouched
        # From when a send of the key may land, as far as this holder knows (its fences,
        # the doubt it inherited): restored with the claim if Redis loses it.
        self.may_land_from: float | None = doubt_since
        self._renewal: asyncio.Task[None] | None = None
        if token is not None:
            self._renewal = asyncio.get_running_loop().create_task(store.renew_until_lost(self))

    @property
    def key(self) -> str:
        """The safe-create key claimed."""
        return self._key

    @property
    def token(self) -> str | None:
        """This holder's random token (None for a done record, or once released)."""
        return self._token

    @property
    def done_id(self) -> str | None:
        """The fulfillment an earlier holder recorded as created with this key, or None.
        When set, the claim is not held and nothing must be sent."""
        return self._done_id

    @property
    def doubt_since(self) -> float | None:
        """A clock reading (the running loop's time) from when a send of this key by an
        earlier holder may land, or None: look the key up across the settle window from
        then before sending."""
        return self._doubt_since

    @property
    def taken_over(self) -> bool:
        """True when an earlier holder left a send of this key in doubt (it released the
        claim so, or its lease expired while it may have been sending)."""
        return self._doubt_since is not None

    @property
    def vouched(self) -> bool:
        """True when the store's records are whole (its memory was earned), so a claim with
        neither ``done_id`` nor ``doubt_since`` is a key the fleet has never sent."""
        return self._vouched

    @property
    def held(self) -> bool:
        """Whether this process still holds the claim (False once released, for a done
        record, or after its lease was lost and another process may have taken it)."""
        return self._renewal is not None and not self._renewal.done()

    async def fence(self, timeout: float | None, max_wait: float | None = None) -> None:
        """Confirm, atomically in Redis, that this claim is still held, just before a send;
        make it outlast a send of ``timeout`` seconds and record that the send may land
        from the end of that time.

        :param timeout: the most seconds the send may take (None: a lease).
        :param max_wait: the most seconds to wait for Redis (None: a lease).
        :raises CoordinationError: when the claim is not held, or Redis fails or does not
            answer in time; then nothing must be sent.
        """
        token = self._token
        if token is None:
            raise CoordinationError(f"the claim on {self._key!r} is not held; nothing was sent")
        held = await self._store.fence(self._key, token, timeout, max_wait)
        if not held:
            raise CoordinationError(
                f"lost the claim on safe-create key {self._key!r} (its lease lapsed, or Redis "
                "lost it) before the send; nothing was sent"
            )
        until = monotonic() + (self._store.lease if timeout is None else timeout)
        self.may_land_from = until if self.may_land_from is None else max(self.may_land_from, until)

    async def release(
        self,
        done_id: str | None,
        *,
        doubt_since: float | None = None,
        max_wait: float | None = None,
    ) -> None:
        """End the claim, recording ``done_id`` (when given) or ``doubt_since`` (a clock
        reading from when a send may land) for every later acquirer.

        Does nothing for a claim that is not held by this object (a done record, or one
        already released). A Redis failure is logged, not raised (see
        ``RedisClaimStore.release``).

        :param done_id: the id of the fulfillment created with the key; None when the
            create failed or its outcome is unknown.
        :param doubt_since: when the outcome is unknown: from when a send may land.
        :param max_wait: the most seconds to wait for Redis (None: a lease).
        """
        token, self._token = self._token, None
        if token is None:
            return
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        await self._store.release(
            self._key, token, done_id, doubt_since=doubt_since, max_wait=max_wait
        )


class RedisClaimStore:
    """The ``ClaimStore`` of one API key: see ``RedisCoordinator`` for the parameters.

    Made by ``RedisCoordinator.claims``; building one yourself is rarely needed.

    An ``acquire`` cancelled while its script runs may leave a claim nobody holds: it
    expires after its lease. Nothing was sent under it, so the next holder gets it fresh.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        lease: float,
        done_ttl: float,
        poll_first: float,
        poll_cap: float,
        horizon: float | None = None,
        clock: Callable[[], float] = monotonic,
        calls: RedisCalls | None = None,
    ) -> None:
        self._redis = redis
        self._calls = RedisCalls() if calls is None else calls
        self._prefix = prefix
        self.lease = lease
        #: How far back a memory load reads DR's fulfillments (seconds).
        self.horizon: float = done_ttl if horizon is None else horizon
        self._lease_ms = max(1, math.ceil(lease * 1000))
        self._done_ms = max(1, math.ceil(done_ttl * 1000))
        self._poll_first = poll_first
        self._poll_cap = poll_cap
        self._clock = clock
        self._acquire = redis.register_script(_scripts.ACQUIRE_CLAIM)
        self._fence = redis.register_script(_scripts.FENCE_CLAIM)
        self._renew = redis.register_script(_scripts.RENEW_CLAIM)
        self._release = redis.register_script(_scripts.RELEASE_CLAIM)
        self._loader = MemoryLoader(self, redis)
        self._loading: asyncio.Task[None] | None = None  # this process's memory load

    def keys_for(self, key: str) -> list[str]:
        """The Redis keys of one safe-create key: claim, started marker, done record.

        :param key: the safe-create key.
        :returns: ``[claim, started, done]``, each under this store's prefix.
        """
        return [f"{self._prefix}:{kind}:{key}" for kind in ("claim", "started", "done")]

    @property
    def memory_key(self) -> str:
        """The Redis key that says this store's records are whole (see ``acquire``)."""
        return f"{self._prefix}:memory"

    @property
    def loading_key(self) -> str:
        """The Redis key held by the process that loads the fleet's memory."""
        return f"{self._prefix}:memory-loading"

    async def acquire(
        self, key: str, *, max_wait: float | None, memory: FleetMemory | None = None
    ) -> RedisClaim:
        """Claim ``key``, waiting while another process holds it.

        With ``memory``, a store whose records are not whole (Redis new, flushed or
        replaced: its memory marker is missing) first loads them (``load_memory``), or
        waits while another process does, so that a claim with neither ``done_id`` nor
        ``doubt_since`` means a key the fleet never sent (``vouched``). Without ``memory``
        such a claim is not vouched for.

        :param key: the safe-create key.
        :param max_wait: the most seconds to wait, for another holder and for Redis itself
            (None: no bound for the holder; a lease for each round trip to Redis).
        :param memory: where the fleet's keys can be loaded from (the safe-create
            component), or None.
        :returns: a held claim (``doubt_since`` set when an earlier holder left a send in
            doubt), or, when the key is recorded as done, a claim that is not held with
            ``done_id`` set.
        :raises CoordinationError: when Redis fails or does not answer in time; nothing
            was sent.
        :raises APITimeoutError: (``sent=False``) when another process still holds the key
            (or is still loading the fleet's memory) after ``max_wait`` seconds.
        :raises DigitalRiverError: from ``memory``, when loading it failed.
        """
        deadline = None if max_wait is None else self._clock() + max_wait
        token = secrets.token_hex(16)
        need_memory = "1" if memory is not None else ""
        attempt = 0
        while True:
            status, value, *rest = await self.round_trip(
                self._acquire(
                    keys=[*self.keys_for(key), self.memory_key],
                    args=[token, self._lease_ms, need_memory],
                ),
                self._left(deadline),
                f"claim safe-create key {key!r}",
            )
            status = text_of(status)
            if status == "unearned":
                assert memory is not None
                await self.load_memory(memory, max_wait=self._left(deadline))
                continue
            if status == "done":
                return RedisClaim(self, key, token=None, done_id=text_of(value))
            if status in ("claimed", "doubt"):
                doubt_since = None
                if status == "doubt":
                    doubt_since = self._clock() - int(text_of(value)) / 1_000_000
                vouched = bool(int(rest[0])) if rest else False
                return RedisClaim(self, key, token=token, doubt_since=doubt_since, vouched=vouched)
            left = self._left(deadline)
            if left is not None and left <= 0:
                raise APITimeoutError(
                    f"safe-create key {key!r} is still claimed by another process after "
                    f"{max_wait}s",
                    sent=False,
                )
            lease_left = max(0.001, int(value) / 1000)
            await asyncio.sleep(
                poll_wait(
                    attempt,
                    first=self._poll_first,
                    cap=self._poll_cap,
                    lease_left=lease_left,
                    left=left,
                )
            )
            attempt += 1

    @property
    def poll(self) -> tuple[float, float]:
        """(first, cap) seconds between polls of a waiter."""
        return self._poll_first, self._poll_cap

    @property
    def lease_ms(self) -> int:
        """The lease, in milliseconds."""
        return self._lease_ms

    @property
    def done_ms(self) -> int:
        """How long a done or doubt record is kept, in milliseconds."""
        return self._done_ms

    def clock(self) -> float:
        """The clock leases and doubts are read on (the running loop's time)."""
        return self._clock()

    async def load_memory(self, memory: FleetMemory, *, max_wait: float | None) -> None:
        """Make the store's records whole again, once, for the whole fleet.

        One process (holding ``loading_key``) loads the safe-create keys of Digital River's
        fulfillments created within ``horizon`` as done records; waits out the longest send
        and the settle window (so that a send in flight when Redis lost its data, from a
        holder since cut off or crashed, has landed) and at least a renewal period (so that
        live holders have taken their claims back); loads what was created meanwhile; then
        writes ``memory_key``, only while it still holds ``loading_key`` (Redis losing its
        data during the load takes that too: the load starts again). The others wait for
        it. The load runs as a task of its own, so a caller that gives up (its deadline, a
        cancellation) never cuts it short: the next caller waits for the same load.

        :param memory: the fleet's keys at Digital River, the longest send and the settle
            window.
        :param max_wait: the most seconds to wait for the load (None: no bound).
        :raises APITimeoutError: (``sent=False``) when the load is not done after
            ``max_wait`` seconds.
        :raises CoordinationError: when Redis fails or does not answer in time.
        :raises DigitalRiverError: when listing Digital River's fulfillments failed.
        """
        task = self._loading
        if task is None or task.done():
            task = self._loading = asyncio.ensure_future(self._loader.earn(memory))
            task.add_done_callback(retrieve_exception)
        done, _ = await asyncio.wait({task}, timeout=max_wait)
        if not done:
            raise APITimeoutError(
                "the fleet's memory of safe-create keys is still being loaded after "
                f"{max_wait:g}s; nothing was sent",
                sent=False,
            )
        task.result()

    async def fence(
        self, key: str, token: str, timeout: float | None, max_wait: float | None
    ) -> bool:
        """Whether ``token`` still holds ``key``'s claim; if so, the claim now outlasts a
        send of ``timeout`` seconds (None: a lease) and ``started`` says the send may land
        from the end of that time.

        :raises CoordinationError: when Redis fails or does not answer within ``max_wait``
            seconds (None: a lease).
        """
        send = self.lease if timeout is None else timeout
        hold_ms = max(1, math.ceil((send + self.lease) * 1000))
        held = await self.round_trip(
            self._fence(
                keys=self.keys_for(key)[:2],
                args=[token, hold_ms, -microseconds(send), self._done_ms],
            ),
            max_wait,
            f"confirm the claim on {key!r}",
        )
        return bool(held)

    async def renew_until_lost(self, claim: RedisClaim) -> None:
        """Extend the lease every third of it while ``claim`` holds the key; take it back if
        it vanished while nobody else took it (Redis lost it, or the lease lapsed during a
        stall), with what the holder knows may land.

        Runs as a ``RedisClaim``'s background task. A failed renewal is logged and tried
        again; returns (with a WARNING) once the claim is found lost.
        """
        claim_key, started_key, done_key = self.keys_for(claim.key)
        while True:
            await asyncio.sleep(self.lease / 3)
            token = claim.token
            if token is None:
                return
            since = claim.may_land_from
            age = "" if since is None else str(microseconds(self._clock() - since))
            try:
                state = await self.round_trip(
                    self._renew(
                        keys=[claim_key, started_key, done_key],
                        args=[token, self._lease_ms, age, self._done_ms],
                    ),
                    self.lease,
                    f"renew the claim on {claim.key!r}",
                )
            except CoordinationError as exc:
                # The next renewal may still come within the lease.
                logger.warning("could not renew the claim on %r (%s)", claim.key, exc)
                continue
            if state == 2:
                logger.warning(
                    "the claim on safe-create key %r had vanished (Redis lost it, or its "
                    "lease lapsed): taken back",
                    claim.key,
                )
            elif not state:
                logger.warning(
                    "lost the claim on safe-create key %r: its lease (%gs) expired and "
                    "another process may have taken it over",
                    claim.key,
                    self.lease,
                )
                return

    async def release(
        self,
        key: str,
        token: str,
        done_id: str | None,
        *,
        doubt_since: float | None = None,
        max_wait: float | None = None,
    ) -> None:
        """End ``token``'s claim on ``key``, recording ``done_id``, or with ``doubt_since``
        (a clock reading) that a send may land from then on; with neither, the key is free
        and nothing of it can land. Only the holder releases (or anyone records, while
        nobody holds the claim).

        A failure is logged, not raised: the lease then expires and the next holder, told
        it took over, looks the key up before creating anything.

        :param key: the safe-create key.
        :param token: the holder's token.
        :param done_id: the fulfillment created with the key, or None.
        :param doubt_since: from when a send may land, when the outcome is unknown.
        :param max_wait: the most seconds to wait for Redis (None: a lease).
        """
        age = "" if doubt_since is None else str(microseconds(self._clock() - doubt_since))
        try:
            await self.round_trip(
                self._release(
                    keys=self.keys_for(key), args=[token, done_id or "", age, self._done_ms]
                ),
                max_wait,
                f"release the claim on {key!r}",
            )
        except CoordinationError as exc:
            logger.warning(
                "could not release the claim on %r (%s); it expires in %gs", key, exc, self.lease
            )

    async def round_trip(self, call: Awaitable[T], left: float | None, what: str) -> T:
        """``call``'s result within ``left`` seconds (at most a lease, at least
        ``_ROUND_TRIP_FLOOR``); a Redis error or no answer in time is a
        ``CoordinationError`` saying that nothing was sent. The command is cancelled when
        its time is up (``RedisCalls.bounded``), whether or not its caller still waits."""
        bound = max(_ROUND_TRIP_FLOOR, self.lease if left is None else min(left, self.lease))
        try:
            return await self._calls.bounded(call, bound)
        except RedisTimeoutError:
            raise CoordinationError(
                f"cannot {what}: Redis did not answer within {bound:.3g}s; nothing was sent"
            ) from None
        except RedisError as exc:
            raise CoordinationError(
                f"cannot {what}: Redis failed ({exc}); nothing was sent"
            ) from exc

    def _left(self, deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - self._clock())
