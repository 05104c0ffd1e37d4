"""The pure parts, without HTTP: seeding, ids, ordering keys, gateway decisions."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timezone

import pytest

from drfulfill.testing import Emulator, Records
from drfulfill.testing._bodies import validate_metadata
from drfulfill.testing._commits import LateCommits
from drfulfill.testing._errors import ErrorReply
from drfulfill.testing._gateway import RateLimiter, api_key_from, path_matches, redact_headers
from drfulfill.testing._log import LoggedRequest
from drfulfill.testing._server import InvalidBody, parse_json
from drfulfill.testing._state import EmulatorState
from tests.emulator._helpers import FakeClock


def test_seed_is_deterministic_and_shapes_the_data() -> None:
    first, second, other = Emulator(), Emulator(), Emulator()
    seeded = first.seed(orders=3, items_per_order=2, quantity=4, fulfillment_orders=2, seed=5)
    assert seeded == second.seed(
        orders=3, items_per_order=2, quantity=4, fulfillment_orders=2, seed=5
    )
    assert seeded != other.seed(
        orders=3, items_per_order=2, quantity=4, fulfillment_orders=2, seed=6
    )
    assert len(seeded.orders) == 3 and len(seeded.fulfillment_orders) == 2
    assert all(order_id.isdigit() and order_id.endswith("0336") for order_id in seeded.orders)
    orders = [first.orders[order_id] for order_id in seeded.orders]
    assert [[line["quantity"] for line in order["items"]] for order in orders] == [[4, 4]] * 3
    skus = {tuple(line["skuId"] for line in order["items"]) for order in orders}
    assert len(skus) == 1  # line k of every order sells the same SKU
    fulfillment_orders = [first.fulfillment_orders[i] for i in seeded.fulfillment_orders]
    assert [fo["upstreamId"] for fo in fulfillment_orders] == seeded.orders[:2]
    assert [line["shippedQuantity"] for line in fulfillment_orders[0]["items"]] == [4, 4]


def test_seeding_twice_never_reuses_an_id() -> None:
    emu = Emulator()
    first = emu.seed(orders=5, seed=1)
    second = emu.seed(orders=5, seed=1)
    assert not set(first.orders) & set(second.orders)
    assert len(emu.orders) == 10


def test_add_order_and_fulfillment_order_validate_their_input() -> None:
    emu = Emulator()
    emu.add_order("1")
    with pytest.raises(ValueError):
        emu.add_order("1")
    with pytest.raises(ValueError):
        emu.add_order(items=[{"quantity": 0}])
    with pytest.raises(ValueError):
        emu.add_order(items=[])
    with pytest.raises(ValueError):
        emu.add_order(items=[{"item_id": "a"}, {"item_id": "a"}])
    with pytest.raises(ValueError):
        emu.add_fulfillment_order(items=[{"shipped_quantity": -1}])
    order_id = emu.add_order(items=[{"quantity": 2}, {"item_id": "x", "sku_id": "s"}])
    order = emu.orders[order_id]  # a snapshot, taken now
    assert [line["quantity"] for line in order["items"]] == [2, 1]
    assert order["items"][1]["id"] == "x" and order["items"][1]["skuId"] == "s"


def test_records_view_is_a_sequence_and_a_mapping() -> None:
    records = Records({"a": {"id": "a"}, "b": {"id": "b"}})
    assert len(records) == 2
    assert records[0] == {"id": "a"} and records[-1] == {"id": "b"}
    assert records["b"] == {"id": "b"}
    assert records[0:1] == [{"id": "a"}]
    assert "a" in records and {"id": "a"} in records
    assert "c" not in records and {"id": "c"} not in records
    assert [r["id"] for r in records] == records.ids() == ["a", "b"]
    assert records.get("zzz") is None


def test_clock_must_be_timezone_aware() -> None:
    state = EmulatorState(clock=lambda: datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        state.add_order()


def test_created_time_is_whole_utc_seconds() -> None:
    clock = FakeClock(datetime(2024, 5, 6, 7, 8, 9, 999_999, tzinfo=timezone.utc))
    state = EmulatorState(clock=clock)
    order_id = state.add_order(items=[{"item_id": "1", "quantity": 1}])
    created = state.create_fulfillment(
        {"orderId": order_id, "items": [{"itemId": "1", "quantity": 1}]}, live=False
    )
    assert created["createdTime"] == "2024-05-06T07:08:09Z"


def test_state_errors_carry_dr_bodies() -> None:
    state = EmulatorState()
    with pytest.raises(ErrorReply) as caught:
        state.retrieve_fulfillment("ful_x")
    assert caught.value.status == 404
    assert caught.value.body() == {
        "type": "not_found",
        "errors": [
            {"code": "not_found", "parameter": "id", "message": "Fulfillment 'ful_x' not found"}
        ],
    }


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer sk_test_1", "sk_test_1"),
        ("bearer  sk_live", "sk_live"),
        ("Basic " + base64.b64encode(b"sk_test_2:").decode(), "sk_test_2"),
        ("Basic " + base64.b64encode(b"sk_3").decode(), "sk_3"),
        ("Bearer pk_test_1", None),
        ("Basic ???", None),
        ("Digest sk_test_1", None),
        (None, None),
    ],
)
def test_api_key_from(header: str | None, key: str | None) -> None:
    assert api_key_from(header) == key


def test_redact_headers_keeps_the_scheme_only() -> None:
    assert redact_headers(
        {"Authorization": "Bearer sk_test_1", "X-Api-Key": "sk_1", "Accept": "*/*"}
    ) == {"Authorization": "Bearer [redacted]", "X-Api-Key": "[redacted]", "Accept": "*/*"}


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/fulfillments", "/fulfillments", True),
        ("/fulfillments", "/fulfillments/x", False),
        ("/fulfillments/*", "/fulfillments/ful_1", True),
        ("/fulfillments/*", "/fulfillments", False),
        ("/fulfillments/*", "/fulfillments/", False),
        ("/fulfillments/*", "/fulfillment-returns/ret_1", False),
        ("/fulfillments/*", "/fulfillments/a/b", False),
        ("*", "/anything", True),
    ],
)
def test_path_matches(pattern: str, path: str, matches: bool) -> None:
    assert path_matches(pattern, path) is matches


def test_rate_limiter_buckets_are_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(lambda key: 3.0 if key == "a" else 1.0, lambda: now[0])
    assert [limiter.acquire("a") for _ in range(4)] == [None, None, None, 1]
    assert [limiter.acquire("b") for _ in range(2)] == [None, 1]
    now[0] = 0.5
    assert limiter.acquire("a") == 1  # still blocked
    now[0] = 1.0
    assert limiter.acquire("a") is None


# --------------------------------------------------------------------------- late commits


async def test_late_commits_run_on_the_loop_or_all_at_once_in_due_order() -> None:
    def request(name: str) -> LoggedRequest:
        return LoggedRequest("POST", "/fulfillments", [], name, {}, name)

    applied: list[str] = []
    commits = LateCommits()
    late = commits.schedule(request("late"), lambda: (applied.append("late"), (201, "L"))[1], 60)
    refused = commits.schedule(request("refused"), lambda: (409, {"type": "conflict"}), 30)
    now = commits.schedule(request("now"), lambda: (applied.append("now"), (201, "N"))[1], 0)
    assert commits.pending == 3 and late.pending and not late.applied
    for _ in range(10):  # a few loop turns: the commit due at once runs by itself
        if commits.pending == 2:
            break
        await asyncio.sleep(0)
    assert (applied, commits.pending, now.status, now.body) == (["now"], 2, 201, "N")
    assert commits.apply_all() == [refused, late]
    assert (refused.status, refused.applied, late.applied, applied) == (
        409,
        False,
        True,
        ["now", "late"],
    )
    assert commits.pending == 0 and list(commits.all) == [late, refused, now]
    assert commits.apply_all() == []


# --------------------------------------------------------------------------- bodies


def test_parse_json_is_strict_and_survives_deep_nesting() -> None:
    assert parse_json(b"") is None
    assert parse_json(b'{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    for raw, reason in [
        (b"[" * 100_000, "nested too deeply"),
        (b'{"a": ' * 100_000, "nested too deeply"),
        (b"NaN", "not valid JSON"),
        (b'{"a": Infinity}', "not valid JSON"),
        (b"{oops", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ]:
        parsed = parse_json(raw)
        assert isinstance(parsed, InvalidBody) and reason in parsed.reason, raw[:20]


@pytest.mark.parametrize(
    ("metadata", "update", "bad"),
    [
        ({"s": "x", "i": 1, "b": True}, False, None),
        ({"f": 100.8}, False, "f"),
        ({"f": 100.8, "i": 2}, True, None),
        ({"s": "x", "t": "y"}, True, None),
        ({"b": True, "c": False}, True, None),
        ({"b": True, "i": 1}, True, "i"),
        ({"i": 1, "b": True}, True, "b"),
        ({"s": "x", "i": 1}, True, "i"),
        ({"n": float("inf")}, True, "n"),
        ({"s": "v" * 501}, True, "s"),
    ],
)
def test_metadata_value_kinds(metadata: dict[str, object], update: bool, bad: str | None) -> None:
    if bad is None:
        assert validate_metadata(metadata, update=update) == metadata
    else:
        with pytest.raises(ErrorReply) as caught:
            validate_metadata(metadata, update=update)
        assert (caught.value.code, caught.value.parameter) == (
            "invalid_metadata_value",
            f"metadata.{bad}",
        )
