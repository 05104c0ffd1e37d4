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
from tests.redis._proxy import CuttableProxy
from tests.redis.conftest import RedisServer
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
    # DR's deliveries of one event, each signed anew, reach different replicas, two at once:
    # one takes the event on; the other is a duplicate (202), or is answered 503 if it came
    # while the first was still pending (DR then delivers it again later).
    statuses = await asyncio.gather(post(urls[0], BODY, signed(0)), post(urls[1], BODY, signed(1)))
    assert sorted(statuses) in ([202, 202], [202, 503])
    statuses = [await post(urls[2], BODY, signed(2)), await post(urls[1], other, signed(0, other))]
    for hook in hooks:
        await hook.wait_pending()
    assert statuses == [202, 202]
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


class Recorded:
    """``on_event`` that records the ids it ran."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, event: Event) -> None:
        self.ids.append(event.id)


async def test_a_late_answer_to_the_first_set_does_not_lose_the_event(
    redis_server: RedisServer, redis_url: str, raw: Redis
) -> None:
    # A congested link: Redis applies each command at once and its reply arrives after the
    # deduplicator's timeout. The delivery is answered 503; DR's redelivery, once Redis
    # answers in time again, must run the event (not be answered 202 as "already taken
    # on", which would lose it for the ttl: 4 days).
    on_event = Recorded()
    async with CuttableProxy(redis_server.port) as proxy:
        client = Redis(host="127.0.0.1", port=proxy.port)  # no socket timeout of its own
        coordinator = RedisCoordinator(client)
        dedupe = RedisDeduplicator(coordinator, timeout=0.2)
        dedupe.pending_ttl = 1.0  # 5 s by default
        hook_key = dedupe.key(EVENT_ID)
        hook = webhook_handler(SECRET, on_event, dedupe=dedupe)
        runner, url = await serve(hook)
        try:
            await client.ping()  # connected while replies are fast
            proxy.reply_delay = 0.6
            assert await post(url, BODY, signed(0)) == 503
            await asyncio.sleep(0.7)  # every late reply has arrived (or been dropped)
            mark = await raw.get(hook_key)  # never "done" after a 503: at most a pending mark
            assert mark is None or mark.startswith(b"pending:")
            proxy.reply_delay = 0
            # The release of the mark was lost too (reconnecting timed out): a redelivery
            # meanwhile is answered 503, and DR delivers again later.
            await asyncio.sleep(0.4)  # the pending mark has expired
            assert await post(url, BODY, signed(1)) == 202  # DR delivers it again
            await hook.wait_pending()
        finally:
            await runner.cleanup()
            await coordinator.close()
            await client.aclose()
    assert on_event.ids == [EVENT_ID]
    (key,) = await raw.keys("*")
    assert await raw.get(key) == b"done" and await raw.ttl(key) > 3 * 24 * 3600


async def test_a_delivery_seen_while_another_is_pending_is_not_a_duplicate(
    redis_url: str, raw: Redis
) -> None:
    # Another replica has set its pending mark and not yet confirmed it (it may still
    # fail): this delivery is answered 503, so DR delivers again later, not 202.
    on_event = Recorded()
    async with RedisCoordinator(redis_url) as coordinator:
        dedupe = RedisDeduplicator(coordinator)
        await raw.set(dedupe.key(EVENT_ID), b"pending:another-replica", px=60_000)
        with pytest.raises(CoordinationError, match="another delivery of this event"):
            await dedupe.first_delivery(EVENT_ID)
        hook = webhook_handler(SECRET, on_event, dedupe=dedupe)
        runner, url = await serve(hook)
        try:
            assert await post(url, BODY, signed(0)) == 503
            assert on_event.ids == []
            await raw.delete(dedupe.key(EVENT_ID))  # the other one failed; its mark is gone
            assert await post(url, BODY, signed(1)) == 202
            await hook.wait_pending()
            assert await post(url, BODY, signed(2)) == 202  # now a duplicate
            await hook.wait_pending()
        finally:
            await runner.cleanup()
    assert on_event.ids == [EVENT_ID]


async def test_a_pending_mark_is_short_lived_and_confirmed_for_the_ttl(
    redis_url: str, raw: Redis
) -> None:
    async with RedisCoordinator(redis_url) as coordinator:
        dedupe = RedisDeduplicator(coordinator, timeout=0.1)
        assert dedupe.pending_ttl == 5.0
        assert RedisDeduplicator(coordinator, timeout=2).pending_ttl == 8.0
        # A mark left by a delivery whose answers were all lost expires on its own.
        await raw.set(dedupe.key("e1"), b"pending:lost", px=200)
        with pytest.raises(CoordinationError):
            await dedupe.first_delivery("e1")
        await asyncio.sleep(0.3)
        assert await dedupe.first_delivery("e1")
        assert await raw.get(dedupe.key("e1")) == b"done"
        assert await raw.pttl(dedupe.key("e1")) > 3 * 24 * 3600 * 1000
        # A record of an older release ("1") is a delivery taken on.
        await raw.set(dedupe.key("e2"), b"1", px=60_000)
        assert not await dedupe.first_delivery("e2")


class LostRelease(RedisCoordinator):
    """A coordinator on a link that fails after its first command has reached Redis: the
    pending mark is set, its answer is lost, and the release of it never reaches Redis."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)
        self.commands = 0

    async def command(self, call, timeout):  # type: ignore[no-untyped-def]
        self.commands += 1
        if self.commands == 1:
            await super().command(call, timeout)
            raise CoordinationError("Redis did not answer within 0.2s")
        if self.commands == 2:
            call.close()  # never sent
            raise CoordinationError("Redis failed (Connection reset by peer)")
        return await super().command(call, timeout)


async def test_a_mark_whose_answer_and_release_were_lost_expires(
    redis_url: str, raw: Redis
) -> None:
    async with Redis.from_url(redis_url) as client:
        coordinator = LostRelease(client)
        dedupe = RedisDeduplicator(coordinator)
        dedupe.pending_ttl = 0.3  # 5 s by default
        with pytest.raises(CoordinationError, match="did not answer"):
            await dedupe.first_delivery("e1")
        assert coordinator.commands == 2
        assert (await raw.get(dedupe.key("e1"))).startswith(b"pending:")
        # A redelivery meanwhile is answered 503, not 202: the event is not lost.
        with pytest.raises(CoordinationError, match="is being taken on"):
            await dedupe.first_delivery("e1")
        await asyncio.sleep(0.4)
        assert await dedupe.first_delivery("e1")
        await coordinator.close()


class LateSecondAnswer(RedisCoordinator):
    """A coordinator whose link slows down just before its second command: the confirmation
    of a pending mark is applied by Redis and its answer is lost."""

    def __init__(self, redis: Redis, proxy: CuttableProxy) -> None:
        super().__init__(redis)
        self.proxy = proxy
        self.commands = 0

    async def command(self, call, timeout):  # type: ignore[no-untyped-def]
        self.commands += 1
        if self.commands == 2:
            self.proxy.reply_delay = 0.5
        return await super().command(call, timeout)


async def test_a_lost_answer_to_the_confirmation_still_takes_the_event_on(
    redis_server: RedisServer, redis_url: str, raw: Redis
) -> None:
    # The mark is ours (the first answer came): whether or not the confirmation landed, the
    # event is taken on. Answering 503 instead could leave a "done" mark that turns DR's
    # redelivery away.
    async with CuttableProxy(redis_server.port) as proxy:
        client = Redis(host="127.0.0.1", port=proxy.port)
        coordinator = LateSecondAnswer(client, proxy)
        dedupe = RedisDeduplicator(coordinator, timeout=0.2)
        try:
            assert await dedupe.first_delivery("e1")
            assert coordinator.commands == 2
            await asyncio.sleep(0.6)
            proxy.reply_delay = 0
            assert await raw.get(dedupe.key("e1")) == b"done"  # the confirmation landed
            assert not await dedupe.first_delivery("e1")
        finally:
            await coordinator.close()
            await client.aclose()


async def test_a_closed_coordinator_fails_first_delivery(redis_url: str) -> None:
    coordinator = RedisCoordinator(redis_url)
    dedupe = RedisDeduplicator(coordinator)
    await coordinator.close()
    with pytest.raises(CoordinationError, match="closed"):
        await dedupe.first_delivery("e1")


async def test_the_command_method_bounds_a_call(silent_redis, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    async with RedisCoordinator(redis_url) as coordinator:
        assert await coordinator.command(coordinator.redis.set("k", b"v"), 1) is True
        assert await coordinator.command(coordinator.redis.get("k"), 1) == b"v"
    hanging = Redis(host="127.0.0.1", port=silent_redis.port)
    coordinator = RedisCoordinator(hanging)
    try:
        with pytest.raises(CoordinationError, match=r"did not answer within 0\.1s"):
            await coordinator.command(hanging.get("k"), 0.1)
    finally:
        await coordinator.close()
        await hanging.aclose()
