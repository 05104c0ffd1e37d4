"""GET /fulfillments: ordering, Stripe-style cursors, filters and query validation."""

from __future__ import annotations

from typing import Any

import pytest

from drfulfill.testing import Emulator
from tests.emulator._helpers import Api, FakeClock, error_of


async def create(api: Api, order_id: str, item_id: str, **fields: Any) -> str:
    reply = await api.post(
        "/fulfillments",
        {"orderId": order_id, "items": [{"itemId": item_id, "quantity": 1}], **fields},
    )
    assert reply.status == 201, reply.body
    return reply.body["id"]


@pytest.fixture
async def made(emu: Emulator, api: Api, clock: FakeClock) -> list[str]:
    """25 fulfillments over orders A and B; three per second, so createdTime ties."""
    emu.add_order("A", items=[{"item_id": "a1", "sku_id": "sku-a", "quantity": 100}])
    emu.add_order("B", items=[{"item_id": "b1", "sku_id": "sku-b", "quantity": 100}])
    ids = []
    for n in range(25):
        if n and n % 3 == 0:
            clock.advance(1)
        order, item = ("A", "a1") if n % 2 == 0 else ("B", "b1")
        tracking = {"trackingCompany": "Fedex" if n % 5 == 0 else "UPS"}
        ids.append(await create(api, order, item, **tracking))
    return ids


def newest_first(ids: list[str]) -> list[str]:
    return ids[::-1]  # the clock never went back, so later-created is newer or a tie


async def listed(api: Api, params: Any) -> tuple[list[str], bool]:
    reply = await api.get("/fulfillments", params)
    assert reply.status == 200, reply.body
    return [f["id"] for f in reply.body["data"]], reply.body["hasMore"]


async def test_default_page_is_ten_newest(api: Api, made: list[str]) -> None:
    assert await listed(api, {}) == (newest_first(made)[:10], True)


async def test_list_items_are_fulfillments_without_order_details(api: Api, made: list[str]) -> None:
    reply = await api.get("/fulfillments", {"limit": 1})
    assert "orderDetails" not in reply.body["data"][0]
    assert reply.body["data"][0]["id"] == made[-1]


async def test_forward_paging_visits_everything_once_in_order(api: Api, made: list[str]) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 7}
    pages = []
    while True:
        ids, has_more = await listed(api, params)
        pages.append((len(ids), has_more))
        seen += ids
        if not has_more:
            break
        params["startingAfter"] = ids[-1]
    assert seen == newest_first(made)
    assert pages == [(7, True), (7, True), (7, True), (4, False)]


async def test_backward_paging_returns_the_items_just_before_the_cursor(
    api: Api, made: list[str]
) -> None:
    order = newest_first(made)
    ids, has_more = await listed(api, {"endingBefore": order[-1], "limit": 7})
    assert (ids, has_more) == (order[-8:-1], True)
    ids, has_more = await listed(api, {"endingBefore": ids[0], "limit": 7})
    assert (ids, has_more) == (order[-15:-8], True)
    ids, has_more = await listed(api, {"endingBefore": order[4], "limit": 7})
    assert (ids, has_more) == (order[:4], False)
    assert await listed(api, {"endingBefore": order[0]}) == ([], False)


async def test_ending_before_wins_over_starting_after(api: Api, made: list[str]) -> None:
    order = newest_first(made)
    params = {"endingBefore": order[10], "startingAfter": order[2], "limit": 3}
    assert await listed(api, params) == (order[7:10], True)


async def test_later_created_is_listed_first_even_when_its_clock_was_earlier(
    emu: Emulator, api: Api, clock: FakeClock
) -> None:
    emu.add_order("C", items=[{"item_id": "c1", "quantity": 9}])
    first = await create(api, "C", "c1")
    clock.advance(-60)  # an injected clock may go back: createdTime still decides
    second = await create(api, "C", "c1")
    clock.advance(60)
    third = await create(api, "C", "c1")  # ties with `first`: created later, listed first
    assert await listed(api, {}) == ([third, first, second], False)
    assert await listed(api, {"startingAfter": first}) == ([second], False)
    assert await listed(api, {"endingBefore": second, "limit": 1}) == ([first], True)


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"orderId": "A"}, lambda n: n % 2 == 0),
        ({"skuId": "sku-b"}, lambda n: n % 2 == 1),
        ({"trackingCompany": "Fedex"}, lambda n: n % 5 == 0),
        ({"trackingCompany": "Fedex", "orderId": "B"}, lambda n: n % 10 == 5),
        ({"orderId": "nobody"}, lambda n: False),
    ],
)
async def test_filters(api: Api, made: list[str], params: Any, predicate: Any) -> None:
    expected = [made[n] for n in reversed(range(25)) if predicate(n)]
    assert await listed(api, {**params, "limit": 100}) == (expected, False)


async def test_tracking_number_filter_sees_updates(api: Api, made: list[str]) -> None:
    await api.post(f"/fulfillments/{made[3]}", {"trackingNumber": "1Z"})
    await api.post(
        f"/fulfillments/{made[5]}", {"items": [{"itemId": "b1", "trackingNumber": "1Z"}]}
    )
    assert await listed(api, {"trackingNumber": "1Z"}) == ([made[5], made[3]], False)


async def test_ids_are_repeated_keys_and_a_comma_joined_value_is_one_id(
    api: Api, made: list[str]
) -> None:
    params = [("ids", made[1]), ("ids", made[7]), ("ids", "ful_unknown")]
    assert await listed(api, params) == ([made[7], made[1]], False)
    assert await listed(api, {"ids": f"{made[1]},{made[7]}"}) == ([], False)


async def test_filtered_page_with_cursor(api: Api, made: list[str]) -> None:
    # Order A has made[0], made[2], ..., made[24]; page through it three at a time.
    a_ids = [made[n] for n in range(24, -1, -2)]
    ids, has_more = await listed(api, {"orderId": "A", "limit": 3, "startingAfter": a_ids[2]})
    assert (ids, has_more) == (a_ids[3:6], True)
    ids, has_more = await listed(api, {"orderId": "A", "limit": 3, "endingBefore": a_ids[2]})
    assert (ids, has_more) == (a_ids[:2], False)


async def test_a_filtered_out_cursor_keeps_its_place_in_the_full_list(
    api: Api, made: list[str]
) -> None:
    cursor = made[13]  # order B
    after = [made[n] for n in (12, 10, 8)]
    assert await listed(api, {"orderId": "A", "startingAfter": cursor, "limit": 3}) == (
        after,
        True,
    )
    before = [made[n] for n in (18, 16, 14)]
    assert await listed(api, {"orderId": "A", "endingBefore": cursor, "limit": 3}) == (
        before,
        True,
    )


@pytest.mark.parametrize("cursor", ["startingAfter", "endingBefore"])
async def test_unknown_cursor_is_invalid(api: Api, made: list[str], cursor: str) -> None:
    reply = await api.get("/fulfillments", {cursor: "ful_gone"})
    assert error_of(reply) == (400, "invalid_parameter", cursor)


async def test_created_time_ranges(emu: Emulator, api: Api, made: list[str]) -> None:
    # made[n] was created at 12:00:00 + n // 3 seconds.
    def between(first: int, last: int) -> list[str]:
        return [made[n] for n in reversed(range(25)) if first <= n // 3 <= last]

    at = "2024-01-01T12:00:0{}Z".format
    cases = [
        ([("createdTime[gte]", at(2)), ("createdTime[lt]", at(4))], between(2, 3)),
        ([("createdTime[gt]", at(2)), ("createdTime[lte]", at(4))], between(3, 4)),
        ([("createdTime[gt]", "2024-01-01T12:00:02.5Z")], between(3, 8)),
        ([("createdTime[gte]", "2024-01-01T12:00:02.5Z")], between(3, 8)),
        ([("createdTime[lte]", "2024-01-01T13:00:02+01:00")], between(0, 2)),
        ([("createdTime", at(5))], between(5, 5)),
        ([("createdTime", "2024-01-01T12:00:05.5Z")], []),
        ([("createdTime[gt]", at(4)), ("createdTime[lt]", at(4))], []),
    ]
    for params, expected in cases:
        assert await listed(api, [*params, ("limit", "100")]) == (expected, False), params


@pytest.mark.parametrize(
    ("params", "code", "parameter"),
    [
        ({"limit": "0"}, "invalid_parameter", "limit"),
        ({"limit": "101"}, "invalid_parameter", "limit"),
        ({"limit": "ten"}, "invalid_parameter", "limit"),
        ({"limit": ""}, "invalid_parameter", "limit"),
        ([("limit", "5"), ("limit", "6")], "invalid_parameter", "limit"),
        ([("orderId", "A"), ("orderId", "B")], "invalid_parameter", "orderId"),
        ({"orderId": ""}, "invalid_parameter", "orderId"),
        ({"ids": ""}, "invalid_parameter", "ids"),
        ({"order_id": "A"}, "unknown_parameter", "order_id"),
        ({"upstreamIds": "x"}, "unknown_parameter", "upstreamIds"),
        ({"createdTime[eq]": "2024-01-01T12:00:00Z"}, "invalid_parameter", "createdTime[eq]"),
        ({"createdTime[after]": "2024-01-01T12:00:00Z"}, "invalid_parameter", "createdTime[after]"),
        ({"createdTime[gte]": "yesterday"}, "invalid_parameter", "createdTime[gte]"),
        ({"createdTime": "2024-13-01"}, "invalid_parameter", "createdTime"),
    ],
)
async def test_query_validation(api: Api, params: Any, code: str, parameter: str) -> None:
    reply = await api.get("/fulfillments", params)
    assert error_of(reply) == (400, code, parameter)


async def test_limit_bounds_are_inclusive(api: Api, made: list[str]) -> None:
    assert await listed(api, {"limit": 1}) == (made[-1:], True)
    ids, has_more = await listed(api, {"limit": 100})
    assert (len(ids), has_more) == (25, False)
