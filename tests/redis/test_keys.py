"""What the coordinator keeps in Redis: namespaced by a hash of the API key, never the key."""

from __future__ import annotations

import hashlib

from drfulfill.redis import RedisCoordinator

KEYS = ["sk_live_0123456789abcdef", "sk_test_fedcba9876543210"]


async def test_redis_keys_never_contain_the_api_key(redis_url, raw):
    async with RedisCoordinator(redis_url, namespace="fleet-a", lease=0.2) as coordinator:
        held = []
        for api_key in KEYS:
            limiter = coordinator.limiter(api_key, 50)
            for _ in range(12):
                await limiter.acquire()
            await limiter.pause(0.5)
            claims = coordinator.claims(api_key)
            await (await claims.acquire("order-1", max_wait=None)).release("ful_1")
            held.append(await claims.acquire("order-2", max_wait=None))
            await held[-1].fence(1.0)  # a send of order-2 may be in flight: its marker
        keys = [key.decode() async for key in raw.scan_iter()]
        for claim in held:
            await claim.release(None)
        values = [await raw.get(key) for key in keys if await raw.type(key) == b"string"]
    # Per API key: rate:tat, rate:pause, done:order-1, claim:order-2, started:order-2.
    for api_key in KEYS:
        digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        assert sum(key.startswith(f"fleet-a:{{{digest}}}:") for key in keys) >= 5
        for text in [*keys, *(v.decode() for v in values if v is not None)]:
            assert api_key not in text and api_key[8:] not in text
    assert all(key.startswith("fleet-a:{") for key in keys)


async def test_namespaces_keep_fleets_apart(redis_url):
    async with (
        RedisCoordinator(redis_url, namespace="a") as a,
        RedisCoordinator(redis_url, namespace="b") as b,
    ):
        await (await a.claims(KEYS[0]).acquire("k", max_wait=None)).release("ful_a")
        seen = await b.claims(KEYS[0]).acquire("k", max_wait=0)
        assert seen.done_id is None
        await seen.release(None)
