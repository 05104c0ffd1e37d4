"""Exactly-once claims on safe-create keys, held in Redis with a lease the holder renews."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import APITimeoutError, CoordinationError
from . import _scripts
from ._shielded import shielded

logger = logging.getLogger("drfulfill")


def poll_wait(
    attempt: int, *, first: float, cap: float, lease_left: float, left: float | None
) -> float:
    """How long a waiter sleeps before asking again: ``first`` doubling up to ``cap``,
    never past the holder's lease (it may expire then) nor past the caller's deadline."""
    wait = min(cap, first * 2.0**attempt, lease_left)
    return wait if left is None else min(wait, left)


def _text(value: bytes | str) -> str:
    # A caller's client may have been made with decode_responses=True.
    return value.decode() if isinstance(value, bytes) else value


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
        taken_over: bool = False,
    ) -> None:
        self._store = store
        self._key = key
        self._token = token
        self._done_id = done_id
        self._taken_over = taken_over
        self._renewal: asyncio.Task[None] | None = None
        if token is not None:
            self._renewal = asyncio.get_running_loop().create_task(
                store.renew_until_lost(key, token)
            )

    @property
    def key(self) -> str:
        """The safe-create key claimed."""
        return self._key

    @property
    def done_id(self) -> str | None:
        """The fulfillment an earlier holder recorded as created with this key, or None.
        When set, the claim is not held and nothing must be sent."""
        return self._done_id

    @property
    def taken_over(self) -> bool:
        """True when an earlier holder's lease expired while it held the key: it may have
        sent the create, so look the key up before creating."""
        return self._taken_over

    @property
    def held(self) -> bool:
        """Whether this process still holds the claim (False once released, for a done
        record, or after its lease was lost and another process may have taken it)."""
        return self._renewal is not None and not self._renewal.done()

    async def release(self, done_id: str | None) -> None:
        """End the claim, recording ``done_id`` (when given) for every later acquirer.

        Does nothing for a claim that is not held by this object (a done record, or one
        already released). A Redis failure is logged, not raised (see
        ``RedisClaimStore.release``).

        :param done_id: the id of the fulfillment created with the key; None when the
            create failed or its outcome is unknown.
        """
        token, self._token = self._token, None
        if token is None:
            return
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        await self._store.release(self._key, token, done_id)


class RedisClaimStore:
    """The ``ClaimStore`` of one API key: see ``RedisCoordinator`` for the parameters.

    Made by ``RedisCoordinator.claims``; building one yourself is rarely needed.

    An ``acquire`` cancelled while its script runs may leave a claim nobody holds: it
    expires after its lease and the next holder is told it took over (so it looks up).
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self.lease = lease
        self._lease_ms = max(1, math.ceil(lease * 1000))
        self._done_ms = max(1, math.ceil(done_ttl * 1000))
        self._poll_first = poll_first
        self._poll_cap = poll_cap
        self._clock = clock
        self._acquire = redis.register_script(_scripts.ACQUIRE_CLAIM)
        self._renew = redis.register_script(_scripts.RENEW_CLAIM)
        self._release = redis.register_script(_scripts.RELEASE_CLAIM)

    def keys_for(self, key: str) -> list[str]:
        """The Redis keys of one safe-create key: claim, started marker, done record.

        :param key: the safe-create key.
        :returns: ``[claim, started, done]``, each under this store's prefix.
        """
        return [f"{self._prefix}:{kind}:{key}" for kind in ("claim", "started", "done")]

    async def acquire(self, key: str, *, max_wait: float | None) -> RedisClaim:
        """Claim ``key``, waiting while another process holds it.

        :param key: the safe-create key.
        :param max_wait: the most seconds to wait for another holder (None: no bound).
        :returns: a held claim (``taken_over`` True when the previous holder's lease
            expired), or, when the key is recorded as done, a claim that is not held with
            ``done_id`` set.
        :raises CoordinationError: when Redis fails; nothing was sent.
        :raises APITimeoutError: (``sent=False``) when another process still holds the key
            after ``max_wait`` seconds.
        """
        deadline = None if max_wait is None else self._clock() + max_wait
        token = secrets.token_hex(16)
        attempt = 0
        while True:
            try:
                status, value = await shielded(
                    self._acquire(
                        keys=self.keys_for(key), args=[token, self._lease_ms, self._done_ms]
                    )
                )
            except RedisError as exc:
                raise CoordinationError(
                    f"cannot claim safe-create key {key!r}: Redis failed ({exc}); nothing was sent"
                ) from exc
            status = _text(status)
            if status == "done":
                return RedisClaim(self, key, token=None, done_id=_text(value))
            if status in ("claimed", "taken_over"):
                return RedisClaim(self, key, token=token, taken_over=status == "taken_over")
            left = None if deadline is None else deadline - self._clock()
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

    async def renew_until_lost(self, key: str, token: str) -> None:
        """Extend the lease every third of it while the token holds the claim.

        Runs as a ``RedisClaim``'s background task. A failed renewal is logged and tried
        again; returns (with a WARNING) once the claim is found lost.

        :param key: the safe-create key.
        :param token: the holder's token.
        """
        claim_key = self.keys_for(key)[0]
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                still_held = await shielded(
                    self._renew(keys=[claim_key], args=[token, self._lease_ms])
                )
            except RedisError as exc:
                # The next renewal may still come within the lease.
                logger.warning("could not renew the claim on %r (%s)", key, exc)
                continue
            if not still_held:
                logger.warning(
                    "lost the claim on safe-create key %r: its lease (%gs) expired and "
                    "another process may have taken it over",
                    key,
                    self.lease,
                )
                return

    async def release(self, key: str, token: str, done_id: str | None) -> None:
        """Delete the claim if ``token`` holds it, recording ``done_id`` in the same step.

        A failure is logged, not raised: the lease then expires and the next holder, told
        it took over, looks the key up before creating anything.

        :param key: the safe-create key.
        :param token: the holder's token.
        :param done_id: the fulfillment created with the key, or None.
        """
        try:
            await shielded(
                self._release(keys=self.keys_for(key), args=[token, done_id or "", self._done_ms])
            )
        except RedisError as exc:
            logger.warning(
                "could not release the claim on %r (%s); it expires in %gs", key, exc, self.lease
            )
