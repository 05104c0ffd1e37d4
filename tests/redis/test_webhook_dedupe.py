"""Issue 19: webhook events de-duplicated across replicas through a RedisCoordinator's Redis
(a real redis-server), each replica a real aiohttp.web app on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from drfulfill import CoordinationError, ValidationError
from drfulfill.redis import RedisCoordinator
from drfulfill.webhooks import (
    SIGNATURE_HEADER,
    Deduplicator,
    Event,
    RedisDeduplicator,
    WebhookHandler,
    webhook_handler,
)
from tests.webhooks._vectors import BODY, SECRET, hand_header

EVENT_ID = "2bde7b4a-3c1e-4e0d-9f4f-5d1c0b6e9a11"


async def serve(handler: WebhookHandler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hooks", handler.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.05)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/hooks"


async def post(url: str, body: bytes, header: str) -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        http.post(url, data=body, headers={SIGNATURE_HEADER: header}) as response,
    ):
        return response.status


def signed(offset: int = 0, body: bytes = BODY) -> str:
    return hand_header(secret=SECRET, timestamp=int(time.time()) + offset, body=body)


@pytest.fixture
async def replicas(
    redis_url: str,
) -> AsyncIterator[tuple[list[str], list[str], list[WebhookHandler]]]:
    """Three replicas of one app, each with its own coordinator (its own connections)."""
    handled: list[str] = []

    async def on_event(event: Event) -> None:
        handled.append(event.id)

    coordinators = [RedisCoordinator(redis_url) for _ in range(3)]
    hooks = [
        webhook_handler(SECRET, on_event, dedupe=RedisDeduplicator(coordinator))
        for coordinator in coordinators
    ]
    served = [await serve(hook) for hook in hooks]
    yield [url for _, url in served], handled, hooks
    for hook in hooks:
        await hook.wait_pending()
    for runner, _ in served:
        await runner.cleanup()
    for coordinator in coordinators:
        await coordinator.close()


async def test_each_event_runs_once_across_replicas(replicas, raw: Redis) -> None:
    urls, handled, hooks = replicas
    other = json.dumps({**json.loads(BODY), "id": "evt_2"}).encode()
    # DR's deliveries of one event, each signed anew, reach different replicas, two at once.
    statuses = await asyncio.gather(post(urls[0], BODY, signed(0)), post(urls[1], BODY, signed(1)))
    statuses += [await post(urls[2], BODY, signed(2)), await post(urls[1], other, signed(0, other))]
    for hook in hooks:
        await hook.wait_pending()
    assert statuses == [202, 202, 202, 202]
    assert sorted(handled) == sorted([EVENT_ID, "evt_2"])
    keys = sorted(key.decode() for key in await raw.keys("*"))
    assert len(keys) == 2 and all(
        key.startswith("drfulfill:webhook-events:default:") for key in keys
    )
    assert all(EVENT_ID not in key for key in keys)  # a digest, never the id itself
    assert 0 < await raw.ttl(keys[0]) <= 4 * 24 * 3600


async def test_the_redis_deduplicator_api(redis_url: str, raw: Redis) -> None:
    async with RedisCoordinator(redis_url, namespace="shop") as coordinator:
        dedupe = RedisDeduplicator(coordinator, name="returns", ttl=30)
        assert isinstance(dedupe, Deduplicator)
        assert dedupe.key("e1").startswith("shop:webhook-events:returns:")
        assert await dedupe.first_delivery("e1") and not await dedupe.first_delivery("e1")
        assert 0 < await raw.pttl(dedupe.key("e1")) <= 30_000
        other_endpoint = RedisDeduplicator(coordinator, name="orders")
        assert await other_endpoint.first_delivery("e1")  # another endpoint, its own ids
        await dedupe.forget("e1")
        assert await dedupe.first_delivery("e1")


@pytest.mark.parametrize("options", [{"name": ""}, {"ttl": 0}, {"timeout": float("nan")}])
async def test_options_are_validated(redis_url: str, options: dict[str, object]) -> None:
    async with RedisCoordinator(redis_url) as coordinator:
        with pytest.raises(ValidationError):
            RedisDeduplicator(coordinator, **options)  # type: ignore[arg-type]


async def test_a_redis_that_never_answers_gets_503_in_time() -> None:
    # A server that accepts connections and never answers (until the client hangs up).
    connections: list[asyncio.Task[None]] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while await reader.read(1 << 16):
                pass
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    handled: list[str] = []

    async def on_event(event: Event) -> None:
        handled.append(event.id)

    hanging = Redis(host="127.0.0.1", port=port)  # no socket timeout of its own
    coordinator = RedisCoordinator(hanging)
    dedupe = RedisDeduplicator(coordinator, timeout=0.2)
    with pytest.raises(CoordinationError, match=r"did not answer within 0\.2s"):
        await dedupe.first_delivery("e1")
    hook = webhook_handler(SECRET, on_event, dedupe=dedupe)
    runner, url = await serve(hook)
    try:
        header = signed()
        assert await post(url, BODY, header) == 503
        assert await post(url, BODY, header) == 503  # not a replay: it was not taken on
    finally:
        await runner.cleanup()
        await hanging.aclose()  # drops the connections whose commands still wait
        await asyncio.gather(*connections)
        server.close()
        await server.wait_closed()
    assert handled == []
