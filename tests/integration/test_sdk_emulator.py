"""The SDK against the emulator over loopback: every operation, filters, errors, retries."""

import asyncio
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from drfulfill import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    CreatedTime,
    Fulfillment,
    FulfillmentRequest,
    FulfillmentRequestItem,
    FulfillmentReturnItemRequest,
    FulfillmentReturnState,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UpdateFulfillmentItem,
)
from drfulfill.testing import Emulator

from .conftest import make_client


async def test_create_retrieve_update_list(emu, dr):
    order_id = emu.add_order(items=[{"item_id": "i1", "sku_id": "s1", "quantity": 3}])
    created = await dr.fulfillments.create(
        order_id=order_id,
        items=[FulfillmentRequestItem(item_id="i1", quantity=2)],
        tracking_company="Fedex",
        tracking_number="1Z1",
        metadata={"batch": "b1"},
    )
    assert isinstance(created, Fulfillment)
    assert created.order_id == order_id and created.live_mode is False
    assert created.items[0].item_id == "i1" and created.items[0].quantity == 2
    assert created.items[0].sku_id == "s1"
    assert created.metadata["batch"] == "b1" and created.metadata["drfulfillKey"]
    assert created.created_time.tzinfo is not None

    fetched = await dr.fulfillments.retrieve(created.id)
    assert fetched.id == created.id
    assert fetched.order_details["id"] == order_id

    updated = await dr.fulfillments.update(
        created.id,
        tracking_url="https://track/1Z1",
        metadata={"dock": "7"},
        items=[UpdateFulfillmentItem(item_id="i1", tracking_number="1Z1-a")],
    )
    assert updated.tracking_url == "https://track/1Z1"
    assert updated.metadata["dock"] == "7" and updated.metadata["batch"] == "b1"
    assert updated.items[0].tracking_number == "1Z1-a"

    listed = [f async for f in dr.fulfillments.list(order_id=order_id)]
    assert [f.id for f in listed] == [created.id]


async def test_money_fields_round_trip_as_decimal(emu, dr):
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    f = await dr.fulfillments.create(
        FulfillmentRequest(
            order_id=order_id,
            currency="EUR",
            items=[
                FulfillmentRequestItem(
                    item_id="i1",
                    quantity=1,
                    subfulfiller_id="d1",
                    distributor_cost=Decimal("400.25"),
                    shipping_cost=Decimal("10"),
                )
            ],
        )
    )
    assert f.currency == "EUR"
    assert f.items[0].distributor_cost == Decimal("400.25")
    assert f.items[0].shipping_cost == Decimal("10")


async def test_live_keys_see_live_mode(emu):
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    async with make_client(emu, api_key="sk_live_integration") as live:
        f = await live.fulfillments.create(
            order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]
        )
    assert f.live_mode is True


async def test_fulfillment_returns_lifecycle(emu, dr):
    fo_id = emu.add_fulfillment_order(
        upstream_id="ord_1",
        items=[{"id": "foi_1", "inventory_item_id": "inv_1", "shipped_quantity": 2}],
    )
    r = await dr.fulfillment_returns.create(
        fulfillment_order_id=fo_id,
        upstream_id="ord_1",
        reason="requested_by_customer",
        items=[FulfillmentReturnItemRequest(fulfillment_order_item_id="foi_1", quantity=1)],
    )
    assert r.state == FulfillmentReturnState.CREATED and r.type == "client"
    assert r.items[0].state == "pending" and r.items[0].inventory_item_id == "inv_1"
    assert r.live_mode is False
    emu.advance_return(r.id, "pending")
    r = await dr.fulfillment_returns.retrieve(r.id)
    assert r.state is FulfillmentReturnState.PENDING
    assert r.location is not None and r.location.address is not None
    emu.advance_return(r.id, "accepted")
    r = await dr.fulfillment_returns.retrieve(r.id)
    assert r.state is FulfillmentReturnState.ACCEPTED
    assert r.items[0].state == "accepted" and r.items[0].quantity_accepted == 1
    assert [x.id async for x in dr.fulfillment_returns.list(state="accepted")] == [r.id]
    assert [x.id async for x in dr.fulfillment_returns.list(state="pending")] == []


async def _create_many(dr, emu, count, *, orders=10):
    order_ids = [
        emu.add_order(items=[{"item_id": f"i{o}", "sku_id": f"s{o % 3}", "quantity": count}])
        for o in range(orders)
    ]
    semaphore = asyncio.Semaphore(32)

    async def create(n):
        async with semaphore:
            o = n % orders
            return await dr.fulfillments.create(
                order_id=order_ids[o],
                items=[{"item_id": f"i{o}", "quantity": 1}],
                tracking_company="Fedex" if n % 2 else "UPS",
                tracking_number=f"T{n}",
            )

    created = []
    for n in range(count):  # sequential ids in creation order; creates run concurrently
        created.append(asyncio.ensure_future(create(n)))
    return [await task for task in created], order_ids


class SteppingClock:
    """createdTime in steps of one second, every 3 objects sharing a second (ties)."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=self.calls // 3)


async def test_1000_fulfillments_forward_and_backward_in_exact_order():
    async with Emulator(rate_limit=None, clock=SteppingClock()) as emu:
        async with make_client(emu) as dr:
            await _create_many(dr, emu, 1000)
            newest_first = [f["id"] for f in reversed(list(emu.fulfillments))]
            forward = [f.id async for f in dr.fulfillments.list(limit=100)]
            assert forward == newest_first

            oldest = newest_first[-1]
            backward = [f.id async for f in dr.fulfillments.list(limit=100, ending_before=oldest)]
            assert backward == list(reversed(newest_first[:-1]))

            pages = [p async for p in dr.fulfillments.list(limit=100).pages()]
            assert [len(p.data) for p in pages] == [100] * 10
            assert [p.has_more for p in pages] == [True] * 9 + [False]

            capped = [f.id async for f in dr.fulfillments.list(limit=30, max_items=95)]
            assert capped == newest_first[:95]

            middle = newest_first[500]
            after = [f.id async for f in dr.fulfillments.list(limit=100, starting_after=middle)]
            assert after == newest_first[501:]


async def test_every_fulfillment_filter(emu, dr):
    created, order_ids = await _create_many(dr, emu, 40, orders=4)
    by_id = {f.id: f for f in created}

    async def ids(**filters):
        return {f.id async for f in dr.fulfillments.list(limit=7, **filters)}

    assert await ids(order_id=order_ids[1]) == {f.id for f in created if f.order_id == order_ids[1]}
    assert await ids(tracking_company="UPS") == {
        f.id for f in created if f.tracking_company == "UPS"
    }
    assert await ids(tracking_number="T5") == {f.id for f in created if f.tracking_number == "T5"}
    assert await ids(sku_id="s1") == {f.id for f in created if f.items[0].sku_id == "s1"}
    some = list(by_id)[:3]
    assert await ids(ids=some) == set(some)
    times = sorted({f.created_time for f in created})
    cut = times[len(times) // 2]
    assert await ids(created_time=CreatedTime(gte=cut)) == {
        f.id for f in created if f.created_time >= cut
    }
    assert await ids(created_time=CreatedTime(lt=cut)) == {
        f.id for f in created if f.created_time < cut
    }
    assert await ids(order_id=order_ids[0], tracking_company="UPS") == {
        f.id for f in created if f.order_id == order_ids[0] and f.tracking_company == "UPS"
    }


async def test_every_return_filter(emu, dr):
    fo = [
        emu.add_fulfillment_order(
            upstream_id=f"up{n}",
            items=[{"id": f"foi{n}", "inventory_item_id": f"inv{n}", "shipped_quantity": 5}],
        )
        for n in range(3)
    ]
    made = []
    for n in range(6):
        made.append(
            await dr.fulfillment_returns.create(
                fulfillment_order_id=fo[n % 3],
                upstream_id=f"up{n % 3}",
                items=[{"fulfillment_order_item_id": f"foi{n % 3}", "quantity": 1}],
            )
        )
    emu.advance_return(made[0].id, "pending")

    async def ids(**filters):
        return {r.id async for r in dr.fulfillment_returns.list(limit=2, **filters)}

    assert await ids(state="pending") == {made[0].id}
    assert await ids(state=FulfillmentReturnState.CREATED) == {r.id for r in made[1:]}
    assert await ids(fulfillment_order_id=fo[1]) == {made[1].id, made[4].id}
    assert await ids(inventory_item_id="inv2") == {made[2].id, made[5].id}
    assert await ids(upstream_ids=["up0", "up1"]) == {r.id for r in made if r.upstream_id != "up2"}
    assert await ids(ids=[made[3].id]) == {made[3].id}
    exact = made[2].created_time
    assert made[2].id in await ids(created_time=CreatedTime(eq=exact))


async def test_error_classes(emu, dr):
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    with pytest.raises(BadRequestError) as bad:
        await dr.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 5}])
    assert bad.value.code == "invalid_quantity_amount" and bad.value.request_id

    await dr.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])
    with pytest.raises(ConflictError) as conflict:
        await dr.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])
    assert conflict.value.code == "order_fulfilled"

    with pytest.raises(NotFoundError):
        await dr.fulfillments.retrieve("ful_nope")
    with pytest.raises(NotFoundError):
        await dr.fulfillment_returns.retrieve("ret_nope")

    async with make_client(emu, api_key="not-a-key") as anonymous:
        with pytest.raises(AuthenticationError) as auth:
            await anonymous.fulfillments.retrieve("ful_nope")
    assert "not-a-key" not in str(auth.value)

    emu.add_fault("GET", "/fulfillments/*", status=403)
    with pytest.raises(PermissionDeniedError):
        await dr.fulfillments.retrieve("ful_nope")


async def test_rate_limit_and_server_errors_surface_after_retries(emu):
    async with make_client(emu, max_retries=1) as dr:
        emu.add_fault("GET", "/fulfillments", status=503, times=2)
        with pytest.raises(ServerError) as server:
            [f async for f in dr.fulfillments.list()]
        assert server.value.status == 503
        emu.add_fault("GET", "/fulfillments", status=429, retry_after=1, times=2)
        with pytest.raises(RateLimitError) as limited:
            [f async for f in dr.fulfillments.list()]
        assert limited.value.retry_after == 1
        assert dr.sleeps == [0.0, 1.0]


async def test_retries_under_injected_faults(emu, dr):
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    f = await dr.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])
    emu.add_fault("GET", "/fulfillments/*", status=503, times=2)
    emu.add_fault("GET", "/fulfillments/*", status=429, retry_after=2, times=1)
    assert (await dr.fulfillments.retrieve(f.id)).id == f.id
    assert dr.stats.retries == 3 and dr.sleeps[-1] == 2.0
    emu.add_fault("GET", "/fulfillments/*", action="drop", times=1)
    assert (await dr.fulfillments.retrieve(f.id)).id == f.id
    emu.add_fault("POST", "/fulfillments/*", status=502, times=1)
    updated = await dr.fulfillments.update(f.id, tracking_number="again")
    assert updated.tracking_number == "again"


async def test_a_slow_response_times_out_and_is_retried(emu):
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    async with make_client(emu, timeout=0.2) as dr:
        f = await dr.fulfillments.create(
            order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]
        )
        emu.add_fault("GET", "/fulfillments/*", latency=30, times=1)
        assert (await dr.fulfillments.retrieve(f.id)).id == f.id
        emu.add_fault("GET", "/fulfillments/*", latency=30, times=1)
        async with make_client(emu, timeout=0.2, max_retries=0) as once:
            with pytest.raises(APITimeoutError):
                await once.fulfillments.retrieve(f.id)


@pytest.mark.parametrize(
    ("fault", "reconciled", "recreated"),
    [
        ({"action": "commit_then_drop"}, 1, 0),
        ({"action": "drop"}, 0, 1),
        ({"status": 503}, 0, 1),
        ({"status": 500}, 0, 1),
        ({"latency": 30}, 0, 1),
    ],
)
async def test_safe_create_is_exactly_once_under_ambiguous_failures(
    emu, fault, reconciled, recreated
):
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 2}])
    emu.add_fault("POST", "/fulfillments", **fault)
    async with make_client(emu, timeout=0.3) as dr:
        f = await dr.fulfillments.create(
            order_id=order_id, items=[{"item_id": "i1", "quantity": 2}]
        )
        assert (dr.stats.reconciled, dr.stats.recreated) == (reconciled, recreated)
    assert [x["id"] for x in emu.fulfillments] == [f.id]
    assert emu.orders[order_id]["items"][0]["fulfilledQuantity"] == 2


async def test_without_the_protocol_a_commit_then_drop_raises_and_is_not_retried(emu):
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 2}])
    emu.add_fault("POST", "/fulfillments", action="commit_then_drop")
    async with make_client(emu, idempotency_field=None) as dr:
        with pytest.raises(APIConnectionError) as caught:
            await dr.fulfillments.create(
                order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]
            )
    assert caught.value.sent is True
    assert len(emu.fulfillments) == 1


async def test_the_emulators_rate_limit_answers_429_without_a_client_limiter():
    async with Emulator(rate_limit=200) as emu:
        async with make_client(emu, max_retries=0) as dr:
            results = await asyncio.gather(
                *(dr.fulfillments.retrieve("ful_missing") for _ in range(300)),
                return_exceptions=True,
            )
    limited = [r for r in results if isinstance(r, RateLimitError)]
    assert limited and all(r.retry_after >= 1 for r in limited)
    assert emu.rate_limited == len(limited)


async def test_the_client_limiter_keeps_under_the_emulators_limit():
    async with Emulator(rate_limit=200) as emu:
        async with make_client(emu, max_retries=0, rate_limit=200) as dr:
            results = await asyncio.gather(
                *(dr.fulfillments.retrieve("ful_missing") for _ in range(150)),
                return_exceptions=True,
            )
    assert all(isinstance(r, NotFoundError) for r in results)
    assert emu.rate_limited == 0


async def test_a_caller_owned_session(emu):
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with make_client(emu, session=session) as dr:
            with pytest.raises(NotFoundError):
                await dr.fulfillments.retrieve("ful_x")
        assert not session.closed


async def test_a_caller_session_that_raises_for_status_still_gives_typed_errors(emu):
    # raise_for_status=True used to turn every 4xx/5xx into an APIConnectionError (sent:
    # ambiguous for a create, retried for a GET) whose message showed the Bearer key.
    import aiohttp

    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with make_client(emu, session=session) as dr:
            with pytest.raises(NotFoundError) as caught:
                await dr.fulfillments.retrieve("ful_x")
            assert "sk_test" not in str(caught.value)
            with pytest.raises(BadRequestError):
                await dr.fulfillments.create(
                    order_id=order_id, items=[{"item_id": "i1", "quantity": 5}]
                )
    assert [r.method for r in emu.requests] == ["GET", "POST"]
