"""Reading and grouping shipment files, without I/O beyond the file (``drfulfill.cli._rows``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drfulfill.cli._records import FileFormatError, ReadOptions, detect_format, sniff_delimiter
from drfulfill.cli._rows import iter_groups, safe_create_key
from drfulfill.models import FulfillmentRequest


def label(key: str) -> str:
    """A valid group's key without its content digest (an invalid group's key has none)."""
    head, _, digest = key.rpartition(":")
    return head if len(digest) == 16 and head else key


def groups_of(
    tmp_path: Path, text: str, name: str = "f.csv", options: ReadOptions | None = None
) -> list[tuple[str, list[int], list]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    groups = iter_groups(path, detect_format(path), options or ReadOptions())
    return [(label(g.key), g.lines, g.errors) for g in groups]


def keys_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "k.csv"
    path.write_text(text, encoding="utf-8")
    return [g.key for g in iter_groups(path, "csv")]


def test_the_grouping_value_is_key_then_tracking_then_shipment(tmp_path: Path) -> None:
    text = (
        "order_id,item_id,quantity,key,tracking_number,shipment_id\n"
        "A,1,1,K,T,S\n"  # key wins
        "A,2,1,K,,\n"  # same key: same fulfillment (an empty cell agrees with T)
        "A,3,1,,T,S\n"  # tracking number
        "A,4,1,,,S\n"  # shipment id
        "B,1,1,K,,\n"  # the same key in another order: another fulfillment
        "B,2,1,,,\n"  # nothing to group by
        "B,3,1,,,\n"
    )
    assert groups_of(tmp_path, text) == [
        ("A:k:K", [2, 3], []),
        ("A:t:T", [4], []),
        ("A:s:S", [5], []),
        ("B:k:K", [6], []),
        ("B", [7], []),
        ("B", [8], []),
    ]


def test_group_level_checks(tmp_path: Path) -> None:
    text = (
        "order_id,item_id,quantity,tracking_number,currency,shipping_cost\n"
        "A,1,1,T,USD,1\n"
        "A,1,1,T,USD,\n"  # the same item twice in one fulfillment
        "A,2,1,T,EUR,\n"  # another currency
        "B,1,1,,US,1\n"  # not an ISO code
    )
    [(_, _, a_errors), (_, _, b_errors)] = groups_of(tmp_path, text)
    assert a_errors == [
        (3, "item 1 is already in this fulfillment (line 2)"),
        (4, "currency 'EUR' conflicts with 'USD' on line 2 of the same fulfillment"),
    ]
    assert b_errors == [(5, "currency must be a 3-letter ISO 4217 code, got 'US'")]


def test_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    text = 'order_id,item_id,quantity\n\nA,"multi\nline",1\n\nB,1,-2\nC,1,1,extra\n'
    assert groups_of(tmp_path, text) == [
        ("A", [3], []),
        ("B:line:6", [6], [(6, "quantity must be >= 0, got '-2'")]),
        ("line:7", [7], [(7, "has 4 fields but the header has 3")]),
    ]


def test_a_bom_and_spaces_are_tolerated(tmp_path: Path) -> None:
    text = "\ufefforder_id , item_id,quantity\n A , 1 , 2 \n"
    assert groups_of(tmp_path, text) == [("A", [2], [])]


def test_long_keys_become_digests() -> None:
    request = FulfillmentRequest(order_id="A", items=[{"item_id": "1", "quantity": 1}])
    key = safe_create_key(("A", "k", "x" * 300), request)
    assert key.startswith("sha256:") and len(key) == 7 + 64
    assert label(safe_create_key(("A", "t", "T1"), request)) == "A:t:T1"


HEADER = "order_id,item_id,quantity,cancel_quantity,tracking_number\n"


def test_a_key_comes_from_content_not_from_the_line(tmp_path: Path) -> None:
    day_one = keys_of(tmp_path, HEADER + "A,a1,1,,\nB,b1,1,,T\nB,b2,2,,T\n")
    # The same shipments further down, the group's rows in another order: the same keys.
    moved = keys_of(tmp_path, HEADER + "Z,z1,1,,\nB,b2,2,,T\nB,b1,1,,T\nA,a1,1,,\n")
    assert moved[1:] == [day_one[1], day_one[0]]
    # Another day: another item (or quantity) on the same line of the same order.
    day_two = keys_of(tmp_path, HEADER + "A,a2,1,,\nB,b1,1,,T\nB,b2,3,,T\n")
    assert day_two[0] != day_one[0]
    assert keys_of(tmp_path, HEADER + "A,a1,,1,\n")[0] != day_one[0]  # cancel, not ship
    # A shipment is its tracking number: changed lines keep the key, so the SDK refuses
    # them (KeyReuseError) instead of capturing the shipment's items a second time.
    assert day_two[1] == day_one[1] == "B:t:T"


def test_two_ungrouped_rows_that_ship_the_same_are_refused(tmp_path: Path) -> None:
    groups = groups_of(tmp_path, HEADER + "A,a1,1,,\nA,a2,1,,\nA,a1,1,,\n")
    assert [errors for _key, _lines, errors in groups][:2] == [[], []]
    [(line, reason)] = groups[2][2]
    assert line == 4 and "ships the same as an earlier row of order A" in reason


def test_a_semicolon_file_is_sniffed_and_a_delimiter_can_be_given(tmp_path: Path) -> None:
    text = "order_id;item_id;quantity\nA;1;2\n"
    assert groups_of(tmp_path, text) == [("A", [2], [])]
    tabbed = "order_id\titem_id\tquantity\nA\t1\t2\n"
    assert groups_of(tmp_path, tabbed, options=ReadOptions(delimiter="\t")) == [("A", [2], [])]
    assert sniff_delimiter("order_id,item_id;x") == ","  # a tie is a comma
    with pytest.raises(FileFormatError, match="--delimiter"):
        groups_of(tmp_path, "order_id:item_id:quantity\nA:1:2\n")


def test_unknown_columns_are_refused_unless_ignored(tmp_path: Path) -> None:
    text = "order_id,warehouse,item_id,quantity\nA,rotterdam,1,2\n"
    with pytest.raises(FileFormatError, match="--ignore-unknown-columns"):
        groups_of(tmp_path, text)
    ignored = groups_of(tmp_path, text, options=ReadOptions(ignore_unknown_columns=True))
    assert ignored == [("A", [2], [])]
    jsonl = '{"order_id": "A", "item_id": "1", "quantity": 1, "note": "x"}\n'
    [(_, _, errors)] = groups_of(tmp_path, jsonl, "f.jsonl")
    assert "unknown field(s) 'note'" in errors[0][1]
    assert groups_of(
        tmp_path, jsonl, "f.jsonl", options=ReadOptions(ignore_unknown_columns=True)
    ) == [("A", [1], [])]


def test_encodings_and_decoding_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_bytes("order_id,item_id,quantity,tracking_number\nA,1,1,Kön\nB,1,1,Zoë\n"
                     .encode("cp1252"))  # fmt: skip
    with pytest.raises(FileFormatError, match=r"line 2: not valid utf-8 .*--encoding cp1252"):
        list(iter_groups(path, "csv"))
    groups = list(iter_groups(path, "csv", ReadOptions(encoding="cp1252")))
    assert [label(g.key) for g in groups] == ["A:t:Kön", "B:t:Zoë"]


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [("a.CSV", None, "csv"), ("a.jsonl", None, "jsonl"), ("a.ndjson", None, "jsonl"),
     ("a.txt", "csv", "csv")],
)  # fmt: skip
def test_detect_format(name: str, given: str | None, expected: str) -> None:
    assert detect_format(name, given) == expected


def test_detect_format_refuses_an_unknown_extension() -> None:
    with pytest.raises(FileFormatError, match="--format"):
        detect_format("a.txt")
