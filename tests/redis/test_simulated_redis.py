"""The simulation's Redis (``drfulfill.testing.simulate._redis``) against a real redis-server:
every claim script's Python twin gives the same replies and leaves the same keys as the Lua
script, over random sequences of operations."""

from __future__ import annotations

import random
import time

import pytest
from redis.asyncio import Redis

from drfulfill.redis import _scripts
from drfulfill.testing.simulate._redis import RedisStore

PREFIX = "twin:{x}"
TOKENS = ["t1", "t2", "t3"]
KEYS = ["a", "b"]
TTL = 100_000  # ms: nothing expires during a test


def keys_of(key: str) -> list[str]:
    return [f"{PREFIX}:{kind}:{key}" for kind in ("claim", "started", "done")]


MEMORY = f"{PREFIX}:memory"
LOADING = f"{PREFIX}:loading"


def operation(rng: random.Random) -> tuple[str, list[str], list[str]]:
    key = rng.choice(KEYS)
    claim, started, done = keys_of(key)
    token = rng.choice(TOKENS)
    age = rng.choice(["", str(rng.randint(-5_000_000, 5_000_000))])
    kind = rng.choice(["acquire", "fence", "renew", "release", "record", "mark", "keep", "raw"])
    if kind == "acquire":
        return kind, [claim, started, done, MEMORY], [token, str(TTL), rng.choice(["1", ""])]
    if kind == "fence":
        return kind, [claim, started], [token, str(TTL), str(-rng.randint(0, 9_000_000)), str(TTL)]
    if kind == "renew":
        return kind, [claim, started, done], [token, str(TTL), age, str(TTL)]
    if kind == "release":
        done_id = rng.choice(["", "ful_1", "ful_2"])
        return kind, [claim, started, done], [token, done_id, age, str(TTL)]
    if kind == "record":
        chosen = rng.sample(KEYS, rng.randint(1, 2))
        ids = [f"ful_{k}{rng.randint(0, 3)}" for k in chosen]
        return kind, [keys_of(k)[2] for k in chosen], [*ids, str(TTL)]
    if kind == "mark":
        return kind, [LOADING, MEMORY], [token]
    if kind == "keep":
        return kind, [LOADING], [token, str(TTL)]
    # Raw writes: a marker, a load's token, a claim lapsing, an old drfulfill's marker.
    target = rng.choice([claim, started, done, MEMORY, LOADING, LOADING])
    value = rng.choice(
        ["", "deleted", "old-token", rng.choice(TOKENS), str(int(time.time() * 1e6))]
    )
    return kind, [target], [value]


SCRIPTS = {
    "acquire": _scripts.ACQUIRE_CLAIM,
    "fence": _scripts.FENCE_CLAIM,
    "renew": _scripts.RENEW_CLAIM,
    "release": _scripts.RELEASE_CLAIM,
    "record": _scripts.RECORD_DONE,
    "mark": _scripts.MARK_MEMORY,
    "keep": _scripts.KEEP_LOADING,
}


def normal(reply: object) -> object:
    if isinstance(reply, list):
        return [normal(part) for part in reply]
    return reply


def close(a: object, b: object, *, within: int) -> bool:
    """Equal, or both numbers (as text) within ``within`` (times and TTLs differ by the
    milliseconds between the two calls)."""
    if a == b:
        return True
    try:
        return abs(int(a) - int(b)) <= within  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


@pytest.mark.parametrize("seed", range(8))
async def test_every_claim_script_twin_matches_redis(redis_url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = RedisStore(time.time)
    async with Redis.from_url(redis_url) as real:
        for step in range(150):
            kind, keys, args = operation(rng)
            if kind == "raw":
                (target,), (value,) = keys, args
                if value == "deleted":
                    await real.delete(target)
                    store.delete(target)
                elif value:
                    await real.set(target, value, px=TTL)
                    store.set(target, value, px=TTL)
                continue
            expected = normal(await real.eval(SCRIPTS[kind], len(keys), *keys, *args))
            got = normal(store.script(SCRIPTS[kind])(keys, args))
            where = f"seed {seed} step {step}: {kind} {keys} {args}"
            if isinstance(expected, list):
                assert isinstance(got, list) and len(got) == len(expected), where
                for e, g in zip(expected, got, strict=True):
                    assert close(e, g, within=200_000), (where, expected, got)
            else:
                assert expected == got, (where, expected, got)
            for key in [MEMORY, LOADING, *(k for name in KEYS for k in keys_of(name))]:
                real_value, twin_value = await real.get(key), store.get(key)
                assert (real_value is None) == (twin_value is None), (where, key)
                if real_value is not None and twin_value is not None:
                    assert close(real_value, twin_value, within=200_000), (where, key)
