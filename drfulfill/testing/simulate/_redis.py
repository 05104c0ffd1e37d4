"""An in-process Redis for the simulation: the commands and Lua scripts the coordinator's
claims use, with the same semantics, on virtual time.

Each script of ``drfulfill.redis._scripts`` has a Python twin here, run atomically (nothing
else runs between its reads and writes, as on a Redis server); a differential test runs
both against random operations and compares every reply and every stored key. Each worker
talks through its own ``SimulatedRedisClient``, whose link can be cut (calls fail), made a
black hole (calls never return) or lose replies (calls are applied, their answers lost),
while the rest of the fleet still reaches the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from ...redis import _scripts

Reply = Any


class RedisStore:
    """The server: string keys with millisecond expiry, read on ``clock`` (seconds)."""

    def __init__(self, clock: Callable[[], float], *, skew: float = 0.0) -> None:
        self._clock = clock
        self.skew = skew  # seconds Redis' own clock (TIME) is ahead of the workers'
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self.flushes = 0
        self._scripts: dict[str, Callable[[list[str], list[str]], Reply]] = {
            _scripts.ACQUIRE_CLAIM: self._acquire_claim,
            _scripts.FENCE_CLAIM: self._fence_claim,
            _scripts.RENEW_CLAIM: self._renew_claim,
            _scripts.RELEASE_CLAIM: self._release_claim,
            _scripts.RECORD_DONE: self._record_done,
            _scripts.MARK_MEMORY: self._mark_memory,
            _scripts.KEEP_LOADING: self._keep_loading,
        }

    # --- commands --------------------------------------------------------------------

    def now_ms(self) -> float:
        return self._clock() * 1000

    def time_us(self) -> int:
        """Redis ``TIME`` in microseconds (its own clock, skewed)."""
        return int((self._clock() + self.skew) * 1_000_000)

    def get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= self.now_ms():
            del self._data[key]
            return None
        return value

    def exists(self, key: str) -> int:
        return int(self.get(key) is not None)

    def set(
        self,
        key: str,
        value: str | bytes | int,
        *,
        px: float | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> bool | None:
        present = self.get(key) is not None
        if (nx and present) or (xx and not present):
            return None
        data = value if isinstance(value, bytes) else str(value).encode()
        expires = None if px is None else self.now_ms() + float(px)
        self._data[key] = (data, expires)
        return True

    def delete(self, *keys: str) -> int:
        return sum(self._data.pop(key, None) is not None for key in keys if self.get(key))

    def pttl(self, key: str) -> int:
        if self.get(key) is None:
            return -2
        expires = self._data[key][1]
        return -1 if expires is None else int(expires - self.now_ms())

    def pexpire(self, key: str, ms: float) -> int:
        value = self.get(key)
        if value is None:
            return 0
        self._data[key] = (value, self.now_ms() + float(ms))
        return 1

    def flushall(self) -> None:
        self._data.clear()
        self.flushes += 1

    def keys(self) -> list[str]:
        return [key for key in list(self._data) if self.get(key) is not None]

    def script(self, text: str) -> Callable[[list[str], list[str]], Reply]:
        try:
            return self._scripts[text]
        except KeyError:
            raise NotImplementedError("the simulation has no twin of this script") from None

    # --- the claim scripts' twins ----------------------------------------------------

    def _number(self, key: str) -> int | None:
        value = self.get(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            return None

    def _keep_latest(self, started: str, age_us: str, ttl_ms: str) -> None:
        since = self.time_us() - int(age_us)
        current = self._number(started)
        if current is None or current < since:
            self.set(started, str(since), px=float(ttl_ms))

    def _acquire_claim(self, keys: list[str], args: list[str]) -> Reply:
        claim, started, done, memory = keys
        token, lease_ms, need_memory = args
        earned = self.exists(memory)
        if earned == 0 and need_memory == "1":
            return [b"unearned", b""]
        done_id = self.get(done)
        if done_id is not None:
            return [b"done", done_id]
        if self.set(claim, token, px=float(lease_ms), nx=True):
            if self.get(started) is not None:
                now = self.time_us()
                since = self._number(started)
                age = now - (now if since is None else since)
                return [b"doubt", str(age).encode(), earned]
            return [b"claimed", b"", earned]
        return [b"held", str(self.pttl(claim)).encode()]

    def _fence_claim(self, keys: list[str], args: list[str]) -> Reply:
        claim, started = keys
        token, hold_ms, age_us, started_ms = args
        if self.get(claim) != token.encode():
            return 0
        if self.pttl(claim) < int(hold_ms):
            self.pexpire(claim, float(hold_ms))
        self._keep_latest(started, age_us, started_ms)
        return 1

    def _renew_claim(self, keys: list[str], args: list[str]) -> Reply:
        claim, started, done = keys
        token, lease_ms, age_us, started_ms = args
        holder = self.get(claim)
        if holder == token.encode():
            if self.pttl(claim) < int(lease_ms):
                self.pexpire(claim, float(lease_ms))
            return 1
        if holder is None and self.get(done) is None:
            self.set(claim, token, px=float(lease_ms))
            if age_us != "":
                self._keep_latest(started, age_us, started_ms)
            return 2
        return 0

    def _release_claim(self, keys: list[str], args: list[str]) -> Reply:
        claim, started, done = keys
        token, done_id, age_us, done_ms = args
        holder = self.get(claim)
        mine = holder == token.encode()
        if not mine and holder is not None:
            return 0
        if done_id != "":
            self.set(done, done_id, px=float(done_ms))
            self.delete(started)
        elif age_us != "":
            self._keep_latest(started, age_us, done_ms)
        elif mine:
            self.delete(started)
        else:
            return 0
        if mine:
            self.delete(claim)
        return 1

    def _record_done(self, keys: list[str], args: list[str]) -> Reply:
        ttl = float(args[-1])
        return sum(
            bool(self.set(key, value, px=ttl, nx=True))
            for key, value in zip(keys, args[:-1], strict=True)
        )

    def _keep_loading(self, keys: list[str], args: list[str]) -> Reply:
        (loading,) = keys
        if self.get(loading) != args[0].encode():
            return 0
        return self.pexpire(loading, float(args[1]))

    def _mark_memory(self, keys: list[str], args: list[str]) -> Reply:
        loading, memory = keys
        if self.get(loading) != args[0].encode():
            return 0
        self.set(memory, "1")
        return 1


class Link:
    """How one worker reaches the store: ``up``, ``cut`` (calls fail at once), ``black_hole``
    (calls hang, nothing applied) or ``lossy`` (calls applied, answers lost). A hanging call
    fails as a reset connection when the link comes back up (as a socket does)."""

    UP, CUT, BLACK_HOLE, LOSSY = "up", "cut", "black hole", "lossy"

    def __init__(self, latency: float = 0.001) -> None:
        self._state = Link.UP
        self.latency = latency  # a round trip: half for the request, half for its answer
        self._healed: asyncio.Event | None = None

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, state: str) -> None:
        self._state = state
        if state == Link.UP and self._healed is not None:
            self._healed.set()
            self._healed = None

    async def hang(self) -> None:
        """Wait until the link is up again, then fail as a reset connection."""
        if self._healed is None:
            self._healed = asyncio.Event()
        await self._healed.wait()
        raise RedisConnectionError("the simulated connection to Redis was reset")


class SimulatedRedisClient:
    """What ``RedisCoordinator`` is given instead of a ``redis.asyncio.Redis``: the few
    commands and scripts it uses, each a round trip over one worker's ``Link``."""

    def __init__(self, store: RedisStore, link: Link | None = None) -> None:
        self.store = store
        self.link = link or Link()

    def register_script(self, text: str) -> _Script:
        return _Script(self, text)

    async def call(self, apply: Callable[[], Reply]) -> Reply:
        link = self.link
        await asyncio.sleep(link.latency / 2)  # the request travels; applied as it arrives
        if link.state == Link.CUT:
            raise RedisConnectionError("the simulated link to Redis is cut")
        if link.state == Link.BLACK_HOLE:
            await link.hang()
        reply = apply()
        await asyncio.sleep(link.latency / 2)  # the answer travels
        if link.state == Link.CUT:
            raise RedisConnectionError("the simulated link to Redis was cut; applied")
        if link.state != Link.UP:  # a black hole or a lossy link loses the answer
            await link.hang()
        return reply

    async def get(self, key: str) -> bytes | None:
        return await self.call(lambda: self.store.get(key))  # type: ignore[no-any-return]

    async def exists(self, key: str) -> int:
        return await self.call(lambda: self.store.exists(key))  # type: ignore[no-any-return]

    async def set(
        self,
        key: str,
        value: str,
        *,
        nx: bool = False,
        xx: bool = False,
        px: int | None = None,
    ) -> bool | None:
        return await self.call(  # type: ignore[no-any-return]
            lambda: self.store.set(key, value, px=px, nx=nx, xx=xx)
        )

    async def delete(self, *keys: str) -> int:
        return await self.call(lambda: self.store.delete(*keys))  # type: ignore[no-any-return]

    async def pttl(self, key: str) -> int:
        return await self.call(lambda: self.store.pttl(key))  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        return None


class _Script:
    def __init__(self, client: SimulatedRedisClient, text: str) -> None:
        self._client = client
        self._text = text

    def __call__(
        self, *, keys: Sequence[str] = (), args: Sequence[object] = ()
    ) -> asyncio.Future[Reply] | Any:
        run = self._client.store.script(self._text)
        texts = [str(arg) for arg in args]
        return self._client.call(lambda: run(list(keys), texts))
