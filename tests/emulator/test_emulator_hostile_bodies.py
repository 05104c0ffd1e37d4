"""Bodies an adversary sends: deep nesting, non-JSON numbers, oversized bodies; 405 `Allow`;
metadata value types as the spec declares them."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import pytest

from drfulfill.testing import Emulator
from tests._openapi import validate_component
from tests.emulator._helpers import Api, error_of

ORDER_ID = "100000010336"
VALID = {"orderId": ORDER_ID, "items": [{"itemId": "1", "quantity": 1}]}


@pytest.fixture
def order(emu: Emulator) -> str:
    return emu.add_order(ORDER_ID, items=[{"item_id": "1", "quantity": 50}])


async def raw_post(session: aiohttp.ClientSession, url: str, data: Any) -> tuple[int, Any, Any]:
    async with session.post(url, data=data, headers={"Content-Type": "application/json"}) as r:
        assert r.content_type == "application/json"
        return r.status, await r.json(), r.headers


@pytest.mark.parametrize("path", ["/fulfillments", "/fulfillments/ful_x", "/fulfillment-returns"])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
async def test_deeply_nested_json_is_a_dr_400(
    emu: Emulator, session: aiohttp.ClientSession, path: str, opener: str
) -> None:
    status, body, headers = await raw_post(session, emu.url + path, opener * 100_000)
    assert (status, body["errors"][0]["code"]) == (400, "invalid_parameter")
    assert "nested too deeply" in body["errors"][0]["message"]
    validate_component("Errors", body)
    assert headers["x-dr-requestid"] == emu.requests[-1].request_id
    assert emu.requests[-1].status == 400


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_non_json_constants_are_refused(
    emu: Emulator, session: aiohttp.ClientSession, order: str, constant: str
) -> None:
    body = f'{{"orderId": "{ORDER_ID}", "items": [{{"itemId": "1", "quantity": 1, '
    body += f'"distributorCost": {constant}}}], "currency": "USD"}}'
    status, reply, _ = await raw_post(session, emu.url + "/fulfillments", body)
    assert (status, reply["errors"][0]["code"]) == (400, "invalid_parameter")
    assert len(emu.fulfillments) == 0


@pytest.mark.parametrize("cost", ["1e400", "-1e400"])
async def test_an_overflowing_cost_is_refused(
    emu: Emulator, session: aiohttp.ClientSession, order: str, cost: str
) -> None:
    body = f'{{"orderId": "{ORDER_ID}", "currency": "USD", '
    body += f'"items": [{{"itemId": "1", "quantity": 1, "distributorCost": {cost}}}]}}'
    status, reply, _ = await raw_post(session, emu.url + "/fulfillments", body)
    assert (status, reply["errors"][0].get("parameter")) == (400, "items[0].distributorCost")


async def test_a_huge_integer_cost_is_an_amount_not_a_crash(
    emu: Emulator, api: Api, order: str
) -> None:
    item = {"itemId": "1", "quantity": 1, "distributorCost": 10**400}
    reply = await api.post("/fulfillments", {**VALID, "currency": "USD", "items": [item]})
    assert reply.status == 201


async def test_an_oversized_body_is_a_dr_400(emu: Emulator, session: aiohttp.ClientSession) -> None:
    status, body, headers = await raw_post(
        session, emu.url + "/fulfillments", io.BytesIO(b" " * 2**21)
    )
    assert (status, body["errors"][0]["code"]) == (400, "invalid_parameter")
    assert "x-dr-requestid" in headers


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/fulfillments", {"GET", "POST"}),
        ("PUT", "/fulfillments/ful_x", {"GET", "POST"}),
        ("PATCH", "/fulfillment-returns/ret_x", {"GET"}),
    ],
)
async def test_405_carries_allow(api: Api, method: str, path: str, allowed: set[str]) -> None:
    reply = await api.request(method, path)
    assert error_of(reply)[:2] == (405, "method_not_allowed")
    assert {m.strip() for m in reply.headers["Allow"].split(",")} == allowed


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    "metadata",
    [{"s": "iOS", "i": 3, "b": True, "neg": -2}, {}, {"big": 10**30}],
)
async def test_create_metadata_takes_strings_integers_booleans(
    emu: Emulator, api: Api, order: str, metadata: dict[str, Any]
) -> None:
    reply = await api.post("/fulfillments", {**VALID, "metadata": metadata})
    assert (reply.status, reply.body.get("metadata", {})) == (201, metadata)


@pytest.mark.parametrize("value", [100.8, 1.0, None, [], {"x": 1}])
async def test_create_metadata_refuses_floats_and_structures(
    emu: Emulator, api: Api, order: str, value: Any
) -> None:
    reply = await api.post("/fulfillments", {**VALID, "metadata": {"ok": "x", "k": value}})
    assert error_of(reply) == (400, "invalid_metadata_value", "metadata.k")


async def created(api: Api) -> dict[str, Any]:
    reply = await api.post("/fulfillments", {**VALID, "metadata": {"first": "x"}})
    assert reply.status == 201
    body: dict[str, Any] = reply.body
    return body


@pytest.mark.parametrize(
    "metadata",
    [
        {"coupon": 100.8, "n": 2},  # NumberMetadata: integers and floats are numbers
        {"coupon": "iOS", "other": ""},
        {"coupon": True, "other": False},
        {},
    ],
)
async def test_update_metadata_is_string_number_or_boolean_map(
    emu: Emulator, api: Api, order: str, metadata: dict[str, Any]
) -> None:
    fulfillment = await created(api)
    reply = await api.post(f"/fulfillments/{fulfillment['id']}", {"metadata": metadata})
    assert (reply.status, reply.body["metadata"]) == (200, {"first": "x", **metadata})


@pytest.mark.parametrize(
    "metadata",
    [
        {"a": "x", "k": 1},
        {"a": 1, "k": "x"},
        {"a": 1.5, "k": True},  # a boolean is not a JSON number
        {"a": True, "k": 0},
        {"a": "x", "k": None},
        {"a": 1, "k": [1]},
    ],
)
async def test_update_metadata_refuses_mixed_maps(
    emu: Emulator, api: Api, order: str, metadata: dict[str, Any]
) -> None:
    fulfillment = await created(api)
    reply = await api.post(f"/fulfillments/{fulfillment['id']}", {"metadata": metadata})
    assert error_of(reply) == (400, "invalid_metadata_value", "metadata.k")
    assert emu.fulfillments[0]["metadata"] == {"first": "x"}
