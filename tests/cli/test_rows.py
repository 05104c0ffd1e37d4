"""Reading and grouping shipment files, without I/O beyond the file (``drfulfill.cli._rows``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drfulfill.cli._rows import FileFormatError, detect_format, iter_groups, safe_create_key


def groups_of(tmp_path: Path, text: str, name: str = "f.csv") -> list[tuple[str, list[int], list]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return [(g.key, g.lines, g.errors) for g in iter_groups(path, detect_format(path))]


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
        ("B:line:7", [7], []),
        ("B:line:8", [8], []),
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
        ("A:line:3", [3], []),
        ("B:line:6", [6], [(6, "quantity must be >= 0, got '-2'")]),
        ("line:7", [7], [(7, "has 4 fields but the header has 3")]),
    ]


def test_a_bom_and_spaces_are_tolerated(tmp_path: Path) -> None:
    text = "\ufefforder_id , item_id,quantity\n A , 1 , 2 \n"
    assert groups_of(tmp_path, text) == [("A:line:2", [2], [])]


def test_long_keys_become_digests() -> None:
    key = safe_create_key(("A", "k", "x" * 300))
    assert key.startswith("sha256:") and len(key) == 7 + 64
    assert safe_create_key(("A", "t", "T1")) == "A:t:T1"


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
