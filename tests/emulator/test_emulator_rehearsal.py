"""Rehearsing an upload on your own data: orders from a file, ``auto_orders``, and a banner
that shows item ids (so a create can be made from what it prints)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drfulfill import BadRequestError, Client
from drfulfill.testing import Emulator
from drfulfill.testing._launcher import build, main, parser

KEY = "sk_test_rehearsal"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_orders_from_a_csv_with_extra_columns_hold_the_summed_units(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        "order_id,item_id,quantity,tracking_number\nA1,I1,2,T1\nA1,I2,1,T1\nA1,I1,1,T2\nB2,I9,4,\n",
    )
    async with Emulator(rate_limit=None) as emu:
        assert emu.add_orders_from(path) == ["A1", "B2"]
        units = {item["id"]: item["quantity"] for item in emu.orders["A1"]["items"]}
        assert units == {"I1": 3, "I2": 1}
        async with Client(KEY, base_url=emu.url) as dr:
            created = await dr.fulfillments.create(
                order_id="B2", items=[{"item_id": "I9", "quantity": 4}]
            )
        assert created.order_id == "B2"


async def test_orders_from_json_lines(tmp_path):
    rows = [
        {"order_id": "J1", "item_id": "X", "quantity": 2},
        {"order_id": "J1", "item_id": "Y", "quantity": "3", "note": "ignored"},
    ]
    path = write(tmp_path / "orders.jsonl", "\n".join(map(json.dumps, rows)) + "\n\n")
    emu = Emulator()
    assert emu.add_orders_from(path) == ["J1"]
    assert [item["quantity"] for item in emu.orders["J1"]["items"]] == [2, 3]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("o.csv", "order_id,item_id,quantity\nA,I,2\nA,I,0\n", "o.csv:3: quantity"),
        ("o.csv", "order_id,item_id,quantity\nA,,2\n", "o.csv:2: item_id"),
        ("o.csv", "order_id,item_id\nA,I\n", "o.csv:1: no column quantity"),
        ("o.jsonl", '{"order_id": "A", "item_id": "I", "quantity": 1}\n[1]\n', "o.jsonl:2"),
        ("o.jsonl", '{"order_id": "A", "item_id": "I", "quantity": 1.5}\n', "o.jsonl:1"),
        ("o.txt", "order_id,item_id,quantity\n", ".csv, .jsonl or .ndjson"),
        ("o.csv", "order_id,item_id,quantity\n", "no orders"),
    ],
)
def test_a_bad_orders_file_adds_nothing_and_names_the_line(tmp_path, name, text, message):
    emu = Emulator()
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        emu.add_orders_from(write(tmp_path / name, text))
    assert len(emu.orders) == 0


def test_an_order_already_held_adds_nothing(tmp_path):
    emu = Emulator()
    emu.add_order("A2", [{"item_id": "I", "quantity": 1}])
    path = write(tmp_path / "o.csv", "order_id,item_id,quantity\nA1,I,1\nA2,I,1\n")
    with pytest.raises(ValueError, match="'A2' is already"):
        emu.add_orders_from(path)
    assert [order["id"] for order in emu.orders] == ["A2"]


async def test_auto_orders_is_off_by_default():
    async with Emulator(rate_limit=None) as emu, Client(KEY, base_url=emu.url) as dr:
        assert emu.auto_orders is False
        with pytest.raises(BadRequestError) as caught:
            await dr.fulfillments.create(order_id="nope", items=[{"item_id": "i", "quantity": 1}])
        assert caught.value.code == "invalid_parameter"


async def test_auto_orders_makes_unknown_orders_and_grows_only_those():
    async with Emulator(rate_limit=None, auto_orders=True) as emu:
        emu.add_order("mine", [{"item_id": "m1", "quantity": 1}])
        async with Client(KEY, base_url=emu.url) as dr:
            await dr.fulfillments.create(
                order_id="new", items=[{"item_id": "a", "quantity": 2, "cancel_quantity": 1}]
            )
            order = emu.orders["new"]
            assert [(i["id"], i["quantity"], i["openQuantity"]) for i in order["items"]] == [
                ("a", 3, 0)
            ]
            # A second parcel of the same order: another item, and more of the first.
            await dr.fulfillments.create(
                order_id="new",
                items=[{"item_id": "a", "quantity": 1}, {"item_id": "b", "quantity": 4}],
            )
            units = {
                i["id"]: (i["quantity"], i["fulfilledQuantity"]) for i in emu.orders["new"]["items"]
            }
            assert units == {"a": (4, 3), "b": (4, 4)}
            # An order you added is never changed: over-fulfilling it is refused as ever.
            with pytest.raises(BadRequestError):
                await dr.fulfillments.create(
                    order_id="mine", items=[{"item_id": "m1", "quantity": 2}]
                )
        assert len(emu.fulfillments) == 2


def test_the_banner_shows_the_seeded_item_ids_and_the_file_orders(tmp_path):
    path = write(tmp_path / "o.csv", "order_id,item_id,quantity\nF1,FI,7\n")
    emu, lines = build(
        parser().parse_args(["--seed-orders", "2", "--orders", str(path), "--auto-orders"])
    )
    assert lines[0].startswith("2 orders: ")
    seeded = lines[0].removeprefix("2 orders: ").split(", ")
    items_line = lines[1]
    for order_id in seeded:
        for item in emu.orders[order_id]["items"]:
            assert f"{item['id']} x5" in items_line  # today: only the order ids
    assert f"1 orders from {path}: F1" in lines
    assert "items (id x units): F1: FI x7" in lines
    assert emu.auto_orders and any(line.startswith("auto-orders: on") for line in lines)


async def test_a_shipments_line_with_only_cancelled_units_holds_them(tmp_path):
    # A shipments file's line may cancel units and ship none (quantity empty): before, the
    # orders reader refused it ("quantity must be an integer >= 1"), so such a file could
    # not serve as it is.
    path = write(
        tmp_path / "o.csv",
        "order_id,item_id,quantity,cancel_quantity\nC1,I1,,3\nC1,I2,2,1\n",
    )
    async with Emulator(rate_limit=None) as emu:
        emu.add_orders_from(path)
        units = {item["id"]: item["quantity"] for item in emu.orders["C1"]["items"]}
    assert units == {"I1": 3, "I2": 3}


def test_a_bad_orders_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = write(tmp_path / "o.csv", "order_id,item_id,quantity\nA,I,x\n")
    with pytest.raises(SystemExit) as caught:
        main(["--port", "0", "--orders", str(path)])
    assert caught.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.endswith(f"error: {path}:2: quantity must be an integer >= 0, got 'x'")
