"""The exact wire requests of every operation, and decoding of their responses."""

import json
import re
from datetime import datetime, timezone
from decimal import Decimal

import aiohttp
import pytest
from yarl import URL

from drfulfill import (
    Client,
    CreatedTime,
    Fulfillment,
    FulfillmentRequest,
    FulfillmentRequestItem,
    FulfillmentReturnItemRequest,
    FulfillmentReturnState,
    UpdateFulfillmentItem,
    ValidationError,
)
from drfulfill._wire import encode_path, encode_query

from .conftest import BASE, KEY, sent, url_pattern

FULFILLMENT = {
    "id": "ful_14776912-d0ff-4f11-974f-17b0f2830ea2",
    "createdTime": "2022-07-01T17:55:58Z",
    "items": [{"quantity": 2, "cancelQuantity": 0, "skuId": "b0fd7334", "itemId": "158140150336"}],
    "orderId": "231388420336",
    "liveMode": False,
}
RETURN = {
    "id": "ret_5823594809",
    "createdTime": "2018-04-25T20:36:00Z",
    "fulfillmentOrderId": "ord_6645940010",
    "upstreamId": "ord_6645940010",
    "items": [
        {
            "fulfillmentOrderItemId": "99341140336",
            "inventoryItemId": "inv_1",
            "quantity": 1,
            "quantityAccepted": 0,
            "state": "pending",
        }
    ],
    "reason": "requested_by_customer",
    "state": "created",
    "type": "client",
    "livemode": False,
}
LIST = {"hasMore": False, "data": [FULFILLMENT]}
WHEN = datetime(2024, 1, 1, tzinfo=timezone.utc)


def only_request(mock):
    (call,) = sent(mock)
    return call


def body_of(kwargs):
    return json.loads(kwargs["data"])


async def test_create_sends_the_documented_body_with_a_safe_create_key(dr, mock):
    mock.post(BASE + "/fulfillments", status=201, payload=FULFILLMENT)
    f = await dr.fulfillments.create(
        order_id="231388420336",
        items=[FulfillmentRequestItem(item_id="158140150336", quantity=2)],
        tracking_company="Fedex",
        tracking_number="1Z999",
    )
    method, url, kwargs = only_request(mock)
    assert (method, url) == ("POST", URL(BASE + "/fulfillments"))
    body = body_of(kwargs)
    key = body["metadata"].pop("drfulfillKey")
    assert isinstance(key, str) and len(key) >= 16
    assert body == {
        "orderId": "231388420336",
        "items": [{"itemId": "158140150336", "quantity": 2}],
        "trackingCompany": "Fedex",
        "trackingNumber": "1Z999",
        "metadata": {},
    }
    assert isinstance(f, Fulfillment)
    assert f.id == FULFILLMENT["id"] and f.order_id == "231388420336"
    assert f.created_time == datetime(2022, 7, 1, 17, 55, 58, tzinfo=timezone.utc)
    assert f.live_mode is False
    assert f.items[0].quantity == 2 and f.items[0].cancel_quantity == 0


async def test_create_accepts_a_request_object_and_dict_items(dr, mock):
    mock.post(BASE + "/fulfillments", status=201, payload=FULFILLMENT)
    request = FulfillmentRequest(
        order_id="o1",
        items=[{"item_id": "i1", "cancel_quantity": 1, "distributor_cost": "10.50"}],
        currency="EUR",
        metadata={"batch": "7"},
    )
    await dr.fulfillments.create(request)
    body = body_of(only_request(mock)[2])
    key = body["metadata"].pop("drfulfillKey")
    assert re.fullmatch("[0-9a-f]{32}", key)  # a random key: nobody can have used it
    assert body == {
        "orderId": "o1",
        "items": [{"itemId": "i1", "cancelQuantity": 1, "distributorCost": 10.5}],
        "currency": "EUR",
        "metadata": {"batch": "7"},
    }


async def test_create_without_the_protocol_sends_no_key(mock):
    mock.post(BASE + "/fulfillments", status=201, payload=FULFILLMENT)
    async with Client(KEY, base_url=BASE, rate_limit=None, idempotency_field=None) as dr:
        await dr.fulfillments.create(order_id="o1", items=[{"item_id": "i1", "quantity": 1}])
    assert "metadata" not in body_of(only_request(mock)[2])


async def test_a_custom_idempotency_field(mock):
    mock.get(re.compile(re.escape(BASE) + r"/fulfillments\?.*"), payload={"data": []})
    mock.post(BASE + "/fulfillments", status=201, payload=FULFILLMENT)
    async with Client(KEY, base_url=BASE, rate_limit=None, idempotency_field="myKey") as dr:
        await dr.fulfillments.create(
            order_id="o1", items=[{"item_id": "i1", "quantity": 1}], key="abc"
        )
    posts = [call for call in sent(mock) if call[0] == "POST"]
    assert body_of(posts[0][2])["metadata"] == {"myKey": "abc"}


async def test_standard_headers(dr, mock):
    mock.get(BASE + "/fulfillments/ful_1", payload=FULFILLMENT)
    await dr.fulfillments.retrieve("ful_1")
    headers = only_request(mock)[2]["headers"]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("drfulfill/")
    assert "Python/" in headers["User-Agent"] and "aiohttp/" in headers["User-Agent"]


async def test_retrieve_keeps_order_details_as_a_mapping(dr, mock):
    details = {"id": "231388420336", "currency": "USD", "items": [{"id": "158140150336"}]}
    mock.get(BASE + "/fulfillments/ful_1", payload={**FULFILLMENT, "orderDetails": details})
    f = await dr.fulfillments.retrieve("ful_1")
    assert f.order_details == details
    assert "orderDetails" not in f.extra


async def test_a_path_id_is_always_one_segment(dr, mock):
    mock.get(re.compile(".*"), payload=FULFILLMENT)
    await dr.fulfillments.retrieve("a/../b?x=1#y")
    assert only_request(mock)[1].raw_path == "/fulfillments/a%2F..%2Fb%3Fx%3D1%23y"
    assert encode_path("fulfillments", "a/../b?x=1#y") == "/fulfillments/a%2F..%2Fb%3Fx%3D1%23y"


async def test_update_sends_tracking_items_and_metadata(dr, mock):
    mock.post(BASE + "/fulfillments/ful_1", payload=FULFILLMENT)
    await dr.fulfillments.update(
        "ful_1",
        tracking_number="Z101",
        metadata={"k": "v"},
        items=[UpdateFulfillmentItem(item_id="158140150336", tracking_number="Z102")],
    )
    method, url, kwargs = only_request(mock)
    assert (method, url.path) == ("POST", "/fulfillments/ful_1")
    assert body_of(kwargs) == {
        "trackingNumber": "Z101",
        "items": [{"itemId": "158140150336", "trackingNumber": "Z102"}],
        "metadata": {"k": "v"},
    }


async def test_list_sends_every_filter(dr, mock):
    mock.get(url_pattern("/fulfillments"), payload=LIST)
    found = [
        f
        async for f in dr.fulfillments.list(
            order_id="231388420336",
            sku_id="sku1",
            tracking_company="Fedex",
            tracking_number="1Z",
            ids=["ful_a", "ful_b"],
            created_time=CreatedTime(gte=WHEN, lt=datetime(2024, 2, 1, tzinfo=timezone.utc)),
            limit=100,
        )
    ]
    assert [f.id for f in found] == [FULFILLMENT["id"]]
    method, url, _ = only_request(mock)
    assert method == "GET" and url.path == "/fulfillments"
    assert sorted(url.query.items()) == sorted(
        [
            ("orderId", "231388420336"),
            ("skuId", "sku1"),
            ("trackingCompany", "Fedex"),
            ("trackingNumber", "1Z"),
            ("ids", "ful_a"),
            ("ids", "ful_b"),
            ("createdTime[gte]", "2024-01-01T00:00:00Z"),
            ("createdTime[lt]", "2024-02-01T00:00:00Z"),
            ("limit", "100"),
        ]
    )


def test_query_encoding_keeps_dr_notation():
    assert (
        encode_query([("createdTime[gte]", "2024-01-01T00:00:00Z"), ("ids", "a b&c"), ("ids", "d")])
        == "createdTime[gte]=2024-01-01T00:00:00Z&ids=a%20b%26c&ids=d"
    )


async def test_list_pages_follow_the_cursor(dr, mock):
    second = {**FULFILLMENT, "id": "ful_2"}
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": True, "data": [FULFILLMENT]})
    mock.get(url_pattern("/fulfillments"), payload={"hasMore": False, "data": [second]})
    pages = [page async for page in dr.fulfillments.list(tracking_company="Fedex").pages()]
    assert [[f.id for f in page.data] for page in pages] == [[FULFILLMENT["id"]], ["ful_2"]]
    urls = [url for _, url, _ in sent(mock)]
    assert urls[1].query.get("startingAfter") == FULFILLMENT["id"]
    assert all(url.query.get("trackingCompany") == "Fedex" for url in urls)


async def test_created_time_eq_is_refused_on_fulfillments(dr, mock):
    with pytest.raises(ValidationError, match="eq"):
        dr.fulfillments.list(created_time=CreatedTime(eq=WHEN))
    assert sent(mock) == []


async def test_return_create_body(dr, mock):
    mock.post(BASE + "/fulfillment-returns", status=201, payload=RETURN)
    r = await dr.fulfillment_returns.create(
        fulfillment_order_id="6645940010",
        upstream_id="231388420336",
        reason="requested_by_customer",
        items=[FulfillmentReturnItemRequest(fulfillment_order_item_id="99341140336", quantity=1)],
    )
    method, url, kwargs = only_request(mock)
    assert (method, url) == ("POST", URL(BASE + "/fulfillment-returns"))
    assert body_of(kwargs) == {
        "fulfillmentOrderId": "6645940010",
        "upstreamId": "231388420336",
        "reason": "requested_by_customer",
        "items": [{"fulfillmentOrderItemId": "99341140336", "quantity": 1}],
    }
    assert r.state is FulfillmentReturnState.CREATED or r.state == "created"
    assert r.live_mode is False


async def test_return_retrieve_and_list_filters(dr, mock):
    mock.get(BASE + "/fulfillment-returns/ret_1", payload=RETURN)
    mock.get(url_pattern("/fulfillment-returns"), payload={"hasMore": False, "data": [RETURN]})
    r = await dr.fulfillment_returns.retrieve("ret_1")
    assert r.id == "ret_5823594809"
    listed = [
        r
        async for r in dr.fulfillment_returns.list(
            state="pending",
            fulfillment_order_id="fo1",
            inventory_item_id="inv1",
            upstream_ids=["u1", "u2"],
            ids=("ret_1",),
            created_time=CreatedTime(eq=WHEN),
        )
    ]
    assert len(listed) == 1
    url = next(url for _, url, _ in sent(mock) if url.path == "/fulfillment-returns")
    assert sorted(url.query.items()) == sorted(
        [
            ("state", "pending"),
            ("fulfillmentOrderId", "fo1"),
            ("inventoryItemId", "inv1"),
            ("upstreamIds", "u1"),
            ("upstreamIds", "u2"),
            ("ids", "ret_1"),
            ("createdTime[eq]", "2024-01-01T00:00:00Z"),
            ("limit", "10"),
        ]
    )


async def test_state_filter_takes_the_enum(dr, mock):
    mock.get(url_pattern("/fulfillment-returns"), payload={"hasMore": False, "data": []})
    assert [
        r async for r in dr.fulfillment_returns.list(state=FulfillmentReturnState.ACCEPTED)
    ] == []
    assert only_request(mock)[1].query["state"] == "accepted"


async def test_unknown_fields_and_values_decode(dr, mock):
    payload = {
        **FULFILLMENT,
        "brandNew": {"x": 1},
        "items": [{**FULFILLMENT["items"][0], "distributorCost": 10.1, "wow": True}],
    }
    mock.get(BASE + "/fulfillments/ful_1", payload=payload)
    f = await dr.fulfillments.retrieve("ful_1")
    assert f.extra == {"brandNew": {"x": 1}}
    assert f.items[0].extra == {"wow": True}
    assert f.items[0].distributor_cost == Decimal("10.1")


@pytest.mark.parametrize(
    "call",
    [
        lambda dr: dr.fulfillments.retrieve(""),
        lambda dr: dr.fulfillments.retrieve(None),
        lambda dr: dr.fulfillment_returns.retrieve("  "),
        lambda dr: dr.fulfillments.update("ful_1"),
        lambda dr: dr.fulfillments.update("", tracking_number="x"),
        lambda dr: dr.fulfillments.create(order_id="o1", items=[]),
        lambda dr: dr.fulfillments.create(items=[{"item_id": "i", "quantity": 1}]),
        lambda dr: dr.fulfillments.create(order_id="o1", items=[{"item_id": "i", "quantity": -1}]),
        lambda dr: dr.fulfillments.create(order_id="o1", items=[{"item_id": "i"}]),
        lambda dr: dr.fulfillments.create(
            order_id="o1", items=[{"item_id": "i", "quantity": 1, "shipping_cost": 2}]
        ),
        lambda dr: dr.fulfillments.create(
            FulfillmentRequest(order_id="o1", items=[FulfillmentRequestItem("i", 1)]), order_id="o2"
        ),
        lambda dr: dr.fulfillments.create(
            order_id="o1",
            items=[{"item_id": "i", "quantity": 1}],
            metadata={f"k{n}": "v" for n in range(20)},
        ),
        lambda dr: dr.fulfillment_returns.create(fulfillment_order_id="fo", items=[]),
    ],
)
async def test_bad_input_is_rejected_before_any_request(dr, mock, call):
    with pytest.raises(ValidationError):
        await call(dr)
    assert sent(mock) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 101},
        {"order_id": ""},
        {"ids": []},
        {"ids": ["a", ""]},
        {"created_time": "2024-01-01"},
    ],
)
async def test_bad_list_arguments_are_rejected_when_list_is_called(dr, mock, kwargs):
    with pytest.raises(ValidationError):
        dr.fulfillments.list(**kwargs)
    assert sent(mock) == []


def test_a_naive_datetime_is_rejected():
    with pytest.raises(ValidationError, match=r"created_time\.gte"):
        CreatedTime(gte=datetime(2024, 1, 1))


async def test_missing_key_is_a_clear_error_at_the_first_request(monkeypatch, mock):
    monkeypatch.delenv("DR_API_KEY", raising=False)
    async with Client(base_url=BASE) as dr:
        with pytest.raises(ValidationError, match="DR_API_KEY"):
            await dr.fulfillments.retrieve("ful_1")
    assert sent(mock) == []


async def test_key_and_base_url_come_from_the_environment(monkeypatch, mock):
    monkeypatch.setenv("DR_API_KEY", "sk_test_fromenv")
    monkeypatch.setenv("DR_BASE_URL", "http://127.0.0.1:9")
    mock.get("http://127.0.0.1:9/fulfillments/ful_1", payload=FULFILLMENT)
    async with Client() as dr:
        assert dr.rate_limit == 25
        await dr.fulfillments.retrieve("ful_1")
    assert only_request(mock)[2]["headers"]["Authorization"] == "Bearer sk_test_fromenv"


def test_rate_limit_defaults_by_key():
    assert Client("sk_test_x").rate_limit == 25
    assert Client("sk_live").rate_limit == 250
    assert Client("sk_x", rate_limit=3).rate_limit == 3
    assert Client("sk_x", rate_limit=None).rate_limit is None


def test_repr_never_shows_the_key():
    assert "sk_test" not in repr(Client("sk_test_secret", base_url=BASE))


async def test_a_caller_owned_session_is_used_and_left_open(mock):
    mock.get(BASE + "/fulfillments/ful_1", payload=FULFILLMENT)
    async with aiohttp.ClientSession() as session:
        async with Client(KEY, base_url=BASE, session=session, rate_limit=None) as dr:
            await dr.fulfillments.retrieve("ful_1")
        assert not session.closed
    assert len(sent(mock)) == 1


async def test_our_session_is_created_lazily_and_closed(mock):
    mock.get(BASE + "/fulfillments/ful_1", payload=FULFILLMENT)
    dr = Client(KEY, base_url=BASE, rate_limit=None)
    assert dr._transport._pool._session is None
    await dr.fulfillments.retrieve("ful_1")
    session = dr._transport._pool._session
    await dr.close()
    assert session.closed
    await dr.close()  # twice is fine


def test_a_connection_error_message_never_shows_request_headers():
    from multidict import CIMultiDict

    from drfulfill._wire import request_error

    info = aiohttp.RequestInfo(
        URL(BASE), "GET", CIMultiDict({"Authorization": f"Bearer {KEY}"}), URL(BASE)
    )
    error = request_error(aiohttp.ClientResponseError(info, (), status=500), [KEY])
    assert KEY not in str(error) and "ClientResponseError" in str(error)
