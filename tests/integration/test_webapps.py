"""Issue 13 items 1, 2 and 4 against the emulator: with_options, with_raw_response, proxies."""

import pickle

import aiohttp
import pytest
from aiohttp import web

from drfulfill import (
    APIError,
    APIResponse,
    APITimeoutError,
    Client,
    Fulfillment,
    FulfillmentReturn,
    NotFoundError,
    Page,
    ServerError,
    ValidationError,
)

from .conftest import KEY, make_client

REQUEST_ID = "x-dr-requestid"


def _order(emu):
    return emu.add_order(items=[{"item_id": "i1", "sku_id": "s1", "quantity": 9}])


async def _fulfillment(dr, order_id, quantity=1):
    return await dr.fulfillments.create(
        order_id=order_id, items=[{"item_id": "i1", "quantity": quantity}]
    )


# 1. with_options ------------------------------------------------------------------------


async def test_with_options_timeout_applies_to_the_view_only(emu, dr):
    created = await _fulfillment(dr, _order(emu))
    emu.add_fault("GET", "/fulfillments/*", latency=0.25, times=None)
    quick = dr.with_options(timeout=0.05, max_retries=0)
    with pytest.raises(APITimeoutError):
        await quick.fulfillments.retrieve(created.id)
    emu.clear_faults()
    assert (await dr.fulfillments.retrieve(created.id)).id == created.id
    assert dr._transport.timeout != 0.05  # the client itself is unchanged


async def test_with_options_max_retries_and_shared_session_and_stats(emu, dr):
    created = await _fulfillment(dr, _order(emu))
    emu.add_fault("GET", "/fulfillments/*", status=503, times=1)
    once = dr.with_options(max_retries=0)
    with pytest.raises(ServerError):
        await once.fulfillments.retrieve(created.id)
    emu.add_fault("GET", "/fulfillments/*", status=503, times=1)
    assert (await dr.fulfillments.retrieve(created.id)).id == created.id  # retried
    # One pool, one stats: the view's request counts on the client, through one session.
    assert once.stats is dr.stats and dr.stats.requests == 4
    assert once._transport._pool is dr._transport._pool
    assert once.retry_policy.max_retries == 0 and dr.retry_policy.max_retries > 0


async def test_with_options_settle_and_retries_reach_the_safe_create(emu, dr):
    order_id = _order(emu)
    emu.add_fault("POST", "/fulfillments", status=503, times=1)
    view = dr.with_options(settle=0)
    emu.clear_log()
    await _fulfillment(view, order_id)
    # settle=0: one lookup proves the failed create absent, then it is sent again.
    assert [r.method for r in emu.requests] == ["POST", "GET", "POST"]

    emu.add_fault("POST", "/fulfillments", status=503, times=1)
    with pytest.raises(ServerError):
        await _fulfillment(dr.with_options(max_retries=0), order_id)


async def test_with_options_validates_like_the_client(dr):
    for bad in (
        {"timeout": 0},
        {"connect_timeout": -1},
        {"deadline": 0},
        {"max_retries": -1},
        {"max_retries": True},
        {"settle": -1},
    ):
        with pytest.raises(ValidationError):
            dr.with_options(**bad)
    view = dr.with_options(deadline=None, timeout=None)
    assert view.retry_policy.deadline is None and view._transport.timeout is None
    assert view.settle == dr.settle


# 2. with_raw_response ---------------------------------------------------------------------


async def test_raw_retrieve_has_status_headers_request_id_retries(emu, dr):
    created = await _fulfillment(dr, _order(emu))
    emu.add_fault("GET", "/fulfillments/*", status=503, times=1)
    raw = await dr.with_raw_response.fulfillments.retrieve(created.id)
    assert isinstance(raw, APIResponse)
    assert raw.status == 200 and raw.retries == 1 and raw.elapsed > 0
    assert isinstance(raw.data, Fulfillment) and raw.data.id == created.id
    assert raw.request_id == emu.requests[-1].request_id
    assert raw.headers[REQUEST_ID] == raw.request_id


async def test_raw_create_update_find_and_returns(emu, dr):
    order_id = _order(emu)
    raw = await dr.with_raw_response.fulfillments.create(
        order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]
    )
    assert raw.status == 201 and isinstance(raw.data, Fulfillment)
    updated = await dr.with_raw_response.fulfillments.update(raw.data.id, tracking_number="T")
    assert updated.status == 200 and updated.data.tracking_number == "T"
    key = raw.data.metadata["drfulfillKey"]
    found = await dr.with_raw_response.fulfillments.find_by_key(order_id, key)
    assert found.status == 200 and found.data.id == raw.data.id

    fo = emu.add_fulfillment_order(
        upstream_id="ord_1",
        items=[{"id": "foi_1", "inventory_item_id": "inv_1", "shipped_quantity": 2}],
    )
    ret = await dr.with_raw_response.fulfillment_returns.create(
        fulfillment_order_id=fo, items=[{"fulfillment_order_item_id": "foi_1", "quantity": 1}]
    )
    assert ret.status == 201 and isinstance(ret.data, FulfillmentReturn)
    again = await dr.with_raw_response.fulfillment_returns.retrieve(ret.data.id)
    assert again.request_id == emu.requests[-1].request_id
    pages = [p async for p in dr.with_raw_response.fulfillment_returns.list()]
    assert [len(p.data.data) for p in pages] == [1]


async def test_raw_list_yields_one_response_per_page(emu, dr):
    order_id = _order(emu)
    for _ in range(3):
        await _fulfillment(dr, order_id)
    emu.clear_log()
    pages = [p async for p in dr.with_raw_response.fulfillments.list(order_id=order_id, limit=2)]
    assert [len(p.data.data) for p in pages] == [2, 1]
    assert all(isinstance(p.data, Page) and p.status == 200 for p in pages)
    assert [p.request_id for p in pages] == [r.request_id for r in emu.requests]
    with pytest.raises(ValidationError):
        dr.with_raw_response.fulfillments.list(prefetch=True)


async def test_api_error_carries_the_response_headers(emu, dr):
    with pytest.raises(NotFoundError) as caught:
        await dr.fulfillments.retrieve("ful_missing")
    error: APIError = caught.value
    assert error.headers[REQUEST_ID] == error.request_id == emu.requests[-1].request_id
    assert not any(name.lower() == "authorization" for name in error.headers)
    assert error.headers["X-DR-RequestId"] == error.request_id  # case-insensitive


# 4. proxies ---------------------------------------------------------------------------------


@pytest.fixture
async def proxy():
    """A forward proxy for http:// targets on 127.0.0.1 that records what went through it."""
    seen = []
    upstream = aiohttp.ClientSession(trust_env=False)

    async def forward(request):
        seen.append(str(request.url))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with upstream.request(
            request.method, str(request.url), headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            keep = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type",)}
            keep[REQUEST_ID] = answer.headers.get(REQUEST_ID, "")
            return web.Response(status=answer.status, body=body, headers=keep)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()
    await upstream.close()


async def test_proxy_option_sends_through_the_proxy(emu, proxy):
    url, seen = proxy
    async with make_client(emu, proxy=url) as dr:
        with pytest.raises(NotFoundError):
            await dr.fulfillments.retrieve("ful_x")
    assert seen == [emu.url + "/fulfillments/ful_x"]


async def test_http_proxy_environment_is_honoured_and_no_proxy_too(emu, proxy, monkeypatch):
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with make_client(emu) as dr:
        with pytest.raises(NotFoundError):
            await dr.fulfillments.retrieve("ful_x")
    assert seen == [emu.url + "/fulfillments/ful_x"]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with make_client(emu) as dr:
        with pytest.raises(NotFoundError):
            await dr.fulfillments.retrieve("ful_y")
    assert len(seen) == 1


def test_proxy_option_is_validated():
    for bad in ("socks5://127.0.0.1:1080", "127.0.0.1:8080", "http://", 8080, "http://[::1"):
        with pytest.raises(ValidationError):
            Client(KEY, proxy=bad)
    assert Client(KEY, proxy="http://user:pw@proxy.example:3128")._transport._proxy


async def test_api_error_headers_survive_pickling(emu, dr):
    with pytest.raises(NotFoundError) as caught:
        await dr.fulfillments.retrieve("ful_missing")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.headers["X-DR-RequestId"] == caught.value.request_id
