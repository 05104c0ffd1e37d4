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


US_WITHIN = 200_000  # microsecond times and ages: the two calls run some ms apart
MS_WITHIN = 200  # millisecond TTLs, likewise


def close(a: object, b: object, *, within: int) -> bool:
    """Equal, or both numbers (as text) within ``within`` (times and TTLs differ by the
    milliseconds between the two calls)."""
    if a == b:
        return True
    try:
        return abs(int(a) - int(b)) <= within  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def same_reply(kind: str, expected: object, got: object) -> bool:
    """Every field exact, but the two that are read off the clock: ``acquire``'s doubt age
    (microseconds) and its held claim's lease left (a PTTL in milliseconds)."""
    if not (isinstance(expected, list) and isinstance(got, list)):
        return expected == got
    if len(expected) != len(got) or expected[:1] != got[:1]:
        return False
    within = (
        {b"doubt": US_WITHIN, b"held": MS_WITHIN}.get(expected[0]) if kind == "acquire" else None
    )
    if within is None:
        return expected == got
    # The age or TTL is field 1; the rest (the status, earned) are exact.
    return close(expected[1], got[1], within=within) and expected[2:] == got[2:]


def same_ttl(expected: int, got: int) -> bool:
    """PTTLs: -2 (no key) and -1 (no expiry) exact, the milliseconds left within MS_WITHIN."""
    if expected < 0 or got < 0:
        return expected == got
    return abs(expected - got) <= MS_WITHIN


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
            assert same_reply(kind, expected, got), (where, expected, got)
            for key in [MEMORY, LOADING, *(k for name in KEYS for k in keys_of(name))]:
                real_value, twin_value = await real.get(key), store.get(key)
                # Only ``started`` holds a time (microseconds) the scripts compute.
                within = US_WITHIN if key.split(":")[-2] == "started" else 0
                assert close(real_value, twin_value, within=within), (
                    where,
                    key,
                    real_value,
                    twin_value,
                )
                assert same_ttl(await real.pttl(key), store.pttl(key)), (where, key)
