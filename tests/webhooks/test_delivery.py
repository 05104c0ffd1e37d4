"""The emulator delivers signed events to a real aiohttp.web app that uses webhook_handler."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiohttp import web

from drfulfill import Client, Fulfillment, FulfillmentReturn
from drfulfill.testing import Emulator
from drfulfill.webhooks import Event, webhook_handler
from tests.webhooks._vectors import hand_signature
from tests.webhooks.conftest import KEY, Receiver

SECRET = "whsec_e2e"


def hand_verify(delivery: Any, secret: str = SECRET) -> None:
    """Check a delivery's signature with hmac directly (not with the code under test)."""
    stamp, signature = delivery.signature.split(", ")
    assert signature == hand_signature(secret, stamp, delivery.body)


async def settle(emu: Emulator, *hooks: Any) -> None:
    await emu.drain_webhooks()
    for hook in hooks:
        await hook.wait_pending()


async def test_end_to_end_fulfillment_created(
    emu: Emulator, client: Client, receiver: Receiver
) -> None:
    events: list[Event] = []

    async def on_event(event: Event) -> None:
        events.append(event)

    hook = webhook_handler(SECRET, on_event)
    receiver.handler = hook.handle
    emu.add_webhook(receiver.url, SECRET)
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 2}])

    created = await client.fulfillments.create(
        order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]
    )
    await settle(emu, hook)

    [delivery] = emu.webhook_deliveries
    assert (delivery.status, delivery.attempt, delivery.event_type) == (
        202,
        1,
        "fulfillment.created",
    )
    hand_verify(delivery)
    [event] = events
    assert event.type == "fulfillment.created" and event.id == delivery.event_id
    assert isinstance(event.object, Fulfillment)
    assert event.object.id == created.id
    assert event.object.items[0].quantity == 1
    assert event.object.order_details is not None and event.object.order_details["id"] == order_id
    assert event.live_mode is False
    assert event.created_time is not None


async def test_return_lifecycle_events_with_previous_state(
    emu: Emulator, client: Client, receiver: Receiver
) -> None:
    events: list[Event] = []

    async def on_event(event: Event) -> None:
        events.append(event)

    hook = webhook_handler(SECRET, on_event)
    receiver.handler = hook.handle
    emu.add_webhook(receiver.url, SECRET)
    fo = emu.add_fulfillment_order(items=[{"id": "foi1", "shipped_quantity": 2}])

    returned = await client.fulfillment_returns.create(
        fulfillment_order_id=fo, items=[{"fulfillment_order_item_id": "foi1", "quantity": 1}]
    )
    await settle(emu, hook)  # one at a time: DR guarantees no order, neither does the emulator
    assert returned.id is not None
    emu.advance_return(returned.id, "pending")
    await settle(emu, hook)
    emu.advance_return(returned.id, "accepted")
    await settle(emu, hook)

    assert [e.type for e in events] == [
        "fulfillment_return.created",
        "fulfillment_return.pending",
        "fulfillment_return.accepted",
    ]
    assert all(isinstance(e.object, FulfillmentReturn) for e in events)
    assert [e.object.state for e in events] == ["created", "pending", "accepted"]  # type: ignore[union-attr]
    assert [e.data.previous_attributes for e in events] == [
        None,
        {"state": "created"},
        {"state": "pending"},
    ]
    for delivery in emu.webhook_deliveries:
        hand_verify(delivery)


async def test_an_event_is_a_snapshot(emu: Emulator, client: Client, receiver: Receiver) -> None:
    async def accept(request: web.Request) -> web.Response:
        return web.Response(status=200)

    receiver.handler = accept
    emu.add_webhook(receiver.url, SECRET)
    fo = emu.add_fulfillment_order(items=[{"id": "foi1", "shipped_quantity": 1}])
    returned = await client.fulfillment_returns.create(
        fulfillment_order_id=fo, items=[{"fulfillment_order_item_id": "foi1", "quantity": 1}]
    )
    assert returned.id is not None
    emu.advance_return(returned.id, "rejected")  # before the first delivery went out
    await emu.drain_webhooks()
    states = {
        d.event_type: json.loads(d.body)["data"]["object"]["state"] for d in emu.webhook_deliveries
    }
    assert states == {
        "fulfillment_return.created": "created",
        "fulfillment_return.rejected": "rejected",
    }


async def test_failed_deliveries_are_retried_with_a_new_timestamp_and_signature(
    receiver: Receiver,
) -> None:
    answers = [500, 302, 202]

    async def flaky(request: web.Request) -> web.Response:
        return web.Response(status=answers.pop(0), headers={"Location": "/elsewhere"})

    receiver.handler = flaky
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ticks = iter(range(100))

    def clock() -> datetime:  # each reading is 10 s later: each attempt gets a new timestamp
        return start + timedelta(seconds=10 * next(ticks))

    async with Emulator(rate_limit=None, clock=clock) as emu:
        emu.add_webhook(receiver.url, SECRET, attempts=5, backoff=0)
        order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
        async with Client(KEY, base_url=emu.url, rate_limit=None) as client:
            await client.fulfillments.create(
                order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]
            )
        await emu.drain_webhooks()
        deliveries = emu.webhook_deliveries

    assert [(d.attempt, d.status) for d in deliveries] == [(1, 500), (2, 302), (3, 202)]
    assert [d.ok for d in deliveries] == [False, False, True]
    assert len({d.event_id for d in deliveries}) == 1
    assert len({d.body for d in deliveries}) == 1  # the same event...
    assert len({d.signature.split(", ")[0] for d in deliveries}) == 3  # ...new timestamps
    assert len({d.signature for d in deliveries}) == 3
    for delivery in deliveries:
        hand_verify(delivery)


async def test_attempts_are_bounded(emu: Emulator, client: Client, receiver: Receiver) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503)

    receiver.handler = broken
    emu.add_webhook(receiver.url, SECRET, attempts=3, backoff=0)
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    await client.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])
    await emu.drain_webhooks()
    assert [(d.attempt, d.status) for d in emu.webhook_deliveries] == [(1, 503), (2, 503), (3, 503)]


async def test_a_slow_endpoint_counts_as_failed_and_is_retried(
    emu: Emulator, client: Client, receiver: Receiver
) -> None:
    calls = 0

    async def slow_then_fast(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # never answers; the emulator gives up
        return web.Response(status=204)

    receiver.handler = slow_then_fast
    emu.add_webhook(receiver.url, SECRET, backoff=0, timeout=0.05)
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    await client.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])
    await emu.drain_webhooks()
    first, second = emu.webhook_deliveries
    assert first.status is None and first.error is not None and "Timeout" in first.error
    assert (second.attempt, second.status) == (2, 204)


async def test_an_unreachable_endpoint_is_recorded(emu: Emulator, client: Client) -> None:
    emu.add_webhook("http://127.0.0.1:9/nothing", SECRET, attempts=2, backoff=0)
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    await client.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])
    await emu.drain_webhooks()
    assert [(d.attempt, d.status) for d in emu.webhook_deliveries] == [(1, None), (2, None)]
    assert all(d.error for d in emu.webhook_deliveries)


async def test_types_filter_and_no_webhook_no_delivery(
    emu: Emulator, client: Client, receiver: Receiver
) -> None:
    async def accept(request: web.Request) -> web.Response:
        return web.Response(status=200)

    receiver.handler = accept
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 2}])
    await client.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])
    emu.add_webhook(receiver.url, SECRET, types=["fulfillment_return.accepted"])
    await client.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])
    await emu.drain_webhooks()
    assert emu.webhook_deliveries == []


async def test_close_cancels_pending_deliveries(receiver: Receiver) -> None:
    called = asyncio.Event()

    async def broken(request: web.Request) -> web.Response:
        called.set()
        return web.Response(status=500)

    receiver.handler = broken
    async with Emulator(rate_limit=None) as emu:
        emu.add_webhook(receiver.url, SECRET, attempts=3, backoff=3600)
        order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
        async with Client(KEY, base_url=emu.url, rate_limit=None) as client:
            await client.fulfillments.create(
                order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]
            )
        await called.wait()  # the first attempt is out; the next one waits an hour
        await asyncio.wait_for(emu.close(), timeout=5)  # cancelled, not awaited
    assert len(emu.webhook_deliveries) <= 1


async def test_register_over_http(emu: Emulator, receiver: Receiver) -> None:
    async def accept(request: web.Request) -> web.Response:
        return web.Response(status=200)

    receiver.handler = accept
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        ok = await http.post(
            emu.url + "/_emulator/webhooks",
            json={"url": receiver.url, "secret": SECRET, "types": ["fulfillment.created"]},
        )
        assert ok.status == 201
        assert await ok.json() == {"url": receiver.url, "types": ["fulfillment.created"]}
        bad_bodies: list[object] = [
            {"url": "ftp://x", "secret": "s"},
            {"url": receiver.url},
            [],
            {"url": receiver.url, "secret": "s", "types": "x"},
        ]
        for bad in bad_bodies:
            refused = await http.post(emu.url + "/_emulator/webhooks", json=bad)
            assert refused.status == 400
            body = await refused.json()
            assert body["errors"][0]["code"] == "invalid_parameter"
        order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
        created = await http.post(
            emu.url + "/fulfillments",
            json={"orderId": order_id, "items": [{"itemId": "i1", "quantity": 1}]},
        )
        assert created.status == 201
    await emu.drain_webhooks()
    [delivery] = emu.webhook_deliveries
    assert delivery.status == 200
    hand_verify(delivery)


async def test_events_follow_commits_not_responses(
    emu: Emulator, client: Client, receiver: Receiver
) -> None:
    async def accept(request: web.Request) -> web.Response:
        return web.Response(status=200)

    receiver.handler = accept
    emu.add_webhook(receiver.url, SECRET, backoff=0)
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 2}])
    # Refused before it was applied: no fulfillment, no event. The client retries the 503.
    emu.add_fault("POST", "/fulfillments", status=503)
    # Applied, then the connection dropped: the client never saw the 201, DR still emits.
    emu.add_fault("POST", "/fulfillments", action="commit_then_drop")
    first = await client.fulfillments.create(
        order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]
    )
    await emu.drain_webhooks()
    assert len(emu.fulfillments) == 1
    [delivery] = emu.webhook_deliveries
    assert json.loads(delivery.body)["data"]["object"]["id"] == first.id
