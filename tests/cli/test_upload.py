"""``drfulfill upload`` against the emulator: grouping, validation, journal, results, exit codes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from drfulfill import Client
from drfulfill.cli._upload import Outcome, upload, validate
from drfulfill.testing import Emulator
from tests.cli.conftest import API_KEY, Invoke, order_with, run_cli
from tests.cli.test_rows import label

HEADER = (
    "order_id,item_id,quantity,cancel_quantity,tracking_company,tracking_number,shipment_id,"
    "key,distributor_cost,currency\n"
)

# Five fulfillments from eight rows:
#   lines 2-3: order A, tracking T1 -> one fulfillment of two items
#   line 4:    order A, tracking T2 -> one item
#   lines 5-7: order B, key "box-1" -> three items (one cancels a unit), with costs
#   line 8:    order C, shipment S9 -> one item
#   line 9:    order C, nothing to group by -> a fulfillment of its own
GOOD_CSV = HEADER + (
    "A,a1,2,,FedEx,T1,,,,\n"
    "A,a2,1,,FedEx,T1,,,,\n"
    "A,a3,1,,UPS,T2,,,,\n"
    "B,b1,1,,,,,box-1,10.50,USD\n"
    "B,b2,,1,,,,box-1,,\n"
    "B,b3,3,1,,,,box-1,4,USD\n"
    "C,c1,1,,,,S9,,,\n"
    "C,c2,2,,,,,,,\n"
)


def seed_orders(emu: Emulator) -> None:
    order_with(emu, "A", "a1", "a2", "a3")
    order_with(emu, "B", "b1", "b2", "b3")
    order_with(emu, "C", "c1", "c2")


def write(tmp_path: Path, text: str, name: str = "shipments.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def items_by_key(emu: Emulator) -> dict[str, list[tuple[str, int, int]]]:
    return {
        label(f["metadata"]["drfulfillKey"]): sorted(
            (item["itemId"], item["quantity"], item["cancelQuantity"]) for item in f["items"]
        )
        for f in emu.fulfillments
    }


def read_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_upload_groups_rows_into_fulfillments(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    seed_orders(emu)
    shipments = write(tmp_path, GOOD_CSV)
    results = tmp_path / "out.jsonl"

    result = await invoke("upload", shipments, "--results", results)

    assert result.exit_code == 0, result.output
    assert items_by_key(emu) == {
        "A:t:T1": [("a1", 2, 0), ("a2", 1, 0)],
        "A:t:T2": [("a3", 1, 0)],
        "B:k:box-1": [("b1", 1, 0), ("b2", 0, 1), ("b3", 3, 1)],
        "C:s:S9": [("c1", 1, 0)],
        "C": [("c2", 2, 0)],
    }
    by_key = {label(f["metadata"]["drfulfillKey"]): f for f in emu.fulfillments}
    assert by_key["A:t:T1"]["trackingCompany"] == "FedEx"
    assert by_key["A:t:T1"]["trackingNumber"] == "T1"
    assert by_key["B:k:box-1"]["currency"] == "USD"
    assert by_key["C:s:S9"]["shipmentId"] == "S9"
    assert [item["distributorCost"] for item in by_key["B:k:box-1"]["items"][::2]] == [10.5, 4]

    rows = read_results(results)
    assert {label(row["key"]): row["lines"] for row in rows} == {
        "A:t:T1": [2, 3],
        "A:t:T2": [4],
        "B:k:box-1": [5, 6, 7],
        "C:s:S9": [8],
        "C": [9],
    }
    assert {row["status"] for row in rows} == {"created"}
    assert {row["fulfillment_id"] for row in rows} == {f["id"] for f in emu.fulfillments}
    assert (tmp_path / "shipments.csv.journal.db").exists()
    assert "5 created" in result.stderr


async def test_jsonl_input_and_csv_results(emu: Emulator, invoke: Invoke, tmp_path: Path) -> None:
    order_with(emu, "A", "a1", "a2")
    lines = [
        {"order_id": "A", "item_id": "a1", "quantity": 2, "tracking_number": "T1"},
        {"order_id": "A", "item_id": "a2", "quantity": "1", "tracking_number": "T1",
         "shipping_cost": 1.25, "currency": "EUR"},
    ]  # fmt: skip
    shipments = write(tmp_path, "\n".join(map(json.dumps, lines)) + "\n", "ship.ndjson")
    results = tmp_path / "out.csv"

    result = await invoke("upload", shipments, "--results", results, "--no-journal")

    assert result.exit_code == 0, result.output
    assert items_by_key(emu) == {"A:t:T1": [("a1", 2, 0), ("a2", 1, 0)]}
    assert emu.fulfillments[0]["items"][1]["shippingCost"] == 1.25
    header, row = results.read_text().splitlines()
    assert header == "key,lines,status,fulfillment_id,error"
    assert row.startswith("A:t:T1,") and ",1 2,created,ful_" in row
    assert not (tmp_path / "ship.ndjson.journal.db").exists()


BAD_CSV = HEADER + (
    "A,a1,2,,FedEx,T1,,,,\n"  # 2 fine
    "A,a2,-1,,FedEx,T1,,,,\n"  # 3 negative quantity
    ",a3,1,,,,,,,\n"  # 4 no order id
    "B,b1,,,,,,,,\n"  # 5 neither quantity
    "B,b2,1,,,,,,9.99,\n"  # 6 cost without currency
    "B,b3,one,,,,,,,\n"  # 7 not a number
    "C,c1,1,,DHL,T5,,,,\n"  # 8 fine
    "C,c2,1,,UPS,T5,,,,\n"  # 9 conflicting tracking company within the group
    'C,"c\n3",1,,,,,,,\n'  # 10-11 fine (a quoted field spanning two lines)
    "A,a3,1,,FedEx,T1,,,,\n"  # 12 group A/T1 again, not adjacent
)


async def test_bad_rows_are_reported_by_line_and_nothing_is_sent(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    seed_orders(emu)
    shipments = write(tmp_path, BAD_CSV)

    result = await invoke("upload", shipments)

    assert result.exit_code == 2
    errors = result.stderr
    assert "shipments.csv:3: quantity must be >= 0, got '-1'" in errors
    assert "shipments.csv:4: order_id is required" in errors
    assert "shipments.csv:5: quantity or cancel_quantity is required" in errors
    assert "shipments.csv:6: distributor_cost needs currency" in errors
    assert "shipments.csv:7: quantity must be a whole number >= 0, got 'one'" in errors
    assert "shipments.csv:9: tracking_company 'UPS' conflicts with 'DHL' on line 8" in errors
    assert "shipments.csv:12: rows of one fulfillment must be adjacent" in errors
    assert ":10:" not in errors and ":11:" not in errors and ":2:" not in errors
    assert "nothing was sent" in errors
    assert emu.requests == []
    assert len(emu.fulfillments) == 0
    assert not (tmp_path / "shipments.csv.journal.db").exists()


async def test_skip_invalid_sends_the_valid_fulfillments(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    seed_orders(emu)
    order_with(emu, "D", "d1")
    shipments = write(
        tmp_path,
        HEADER + "A,a1,2,,FedEx,T1,,,,\nA,a2,-1,,FedEx,T1,,,,\nB,b1,1,,,,,,,\nD,d1,x,,,,,,,\n",
    )
    results = tmp_path / "out.jsonl"

    result = await invoke("upload", shipments, "--skip-invalid", "--results", results)

    assert result.exit_code == 0, result.output
    # Line 3 invalidates its whole group (lines 2-3): a shipment is sent whole or not at all.
    assert items_by_key(emu) == {"B": [("b1", 1, 0)]}
    statuses = {label(row["key"]): (row["status"], row["lines"]) for row in read_results(results)}
    assert statuses == {
        "A:t:T1": ("invalid", [2, 3]),
        "B": ("created", [4]),
        "D:line:5": ("invalid", [5]),
    }
    assert "3 of 4 row(s) invalid" in result.stderr


async def test_server_side_failures_exit_1_and_a_rerun_resumes(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    order_with(emu, "A", "a1", "a2", "a3")  # order B is unknown to the server
    shipments = write(
        tmp_path, HEADER + "A,a1,1,,,T1,,,,\nA,a2,1,,,T1,,,,\nB,b1,1,,,,,,,\nA,a3,1,,,T2,,,,\n"
    )
    results = tmp_path / "out.jsonl"

    first = await invoke("upload", shipments, "--results", results, "--concurrency", "2")

    assert first.exit_code == 1
    assert "line(s) 4 (B:" in first.stderr and "invalid_parameter" in first.stderr
    assert "1 permanent failure(s)" in first.stderr
    failed = [row for row in read_results(results) if row["status"] == "failed"]
    assert [(label(row["key"]), row["lines"]) for row in failed] == [("B", [4])]
    assert len(emu.fulfillments) == 2

    order_with(emu, "B", "b1")
    second = await invoke("upload", shipments, "--results", results)

    assert second.exit_code == 0, second.output
    assert Counter(row["status"] for row in read_results(results)) == {"resumed": 2, "created": 1}
    assert len(emu.fulfillments) == 3
    assert "1 created, 2 already done" in second.stderr


async def test_interrupted_upload_resumes_without_duplicates(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    orders = [order_with(emu, f"O{n}", f"i{n}a", f"i{n}b") for n in range(30)]
    rows = "".join(
        f"{order},i{n}{item},1,,,T{n},,,,\n" for n, order in enumerate(orders) for item in "ab"
    )
    shipments = write(tmp_path, HEADER + rows)
    journal = tmp_path / "shipments.csv.journal.db"

    class Interrupted(Exception):
        pass

    def stop_after_ten(outcome: Outcome) -> None:
        if stop_after_ten.seen == 10:  # type: ignore[attr-defined]
            raise Interrupted
        stop_after_ten.seen += 1  # type: ignore[attr-defined]

    stop_after_ten.seen = 0  # type: ignore[attr-defined]
    validation = validate(shipments, "csv")
    async with Client(API_KEY, base_url=emu.url, rate_limit=None, settle=0.05) as client:
        with pytest.raises(Interrupted):
            await upload(
                client, shipments, "csv", total=validation.fulfillments, concurrency=4,
                journal=str(journal), on_outcome=stop_after_ten,
            )  # fmt: skip
    created_before = len(emu.fulfillments)
    assert 10 < created_before < 30  # some rows were done, some in flight, the rest never sent

    result = await invoke("upload", shipments)

    assert result.exit_code == 0, result.output
    keys = [f["metadata"]["drfulfillKey"] for f in emu.fulfillments]
    assert len(keys) == len(set(keys)) == 30
    assert all(order["items"][0]["fulfilledQuantity"] == 1 for order in emu.orders)
    assert "already done" in result.stderr


async def test_dry_run_sends_nothing(emu: Emulator, invoke: Invoke, tmp_path: Path) -> None:
    shipments = write(tmp_path, GOOD_CSV)

    result = await invoke("upload", shipments, "--dry-run")

    assert result.exit_code == 0, result.output
    planned = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(label(p["key"]), p["lines"]) for p in planned][:2] == [
        ("A:t:T1", [2, 3]),
        ("A:t:T2", [4]),
    ]
    first = planned[0]["request"]
    assert first["orderId"] == "A"
    assert first["metadata"] == {"drfulfillKey": planned[0]["key"]}
    assert [item["itemId"] for item in first["items"]] == ["a1", "a2"]
    assert "5 fulfillment(s) would be created; nothing sent" in result.stderr
    assert emu.requests == []
    assert not (tmp_path / "shipments.csv.journal.db").exists()


async def test_dry_run_needs_no_api_key(tmp_path: Path) -> None:
    result = await run_cli("upload", write(tmp_path, GOOD_CSV), "--dry-run")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("content", "name", "extra", "message"),
    [
        ("order_id,item,quantity\nA,a,1\n", "f.csv", (), "line 1: unknown column(s) 'item'"),
        ("order_id,quantity\nA,1\n", "f.csv", (), "missing required column(s) item_id"),
        ("", "f.csv", (), "f.csv is empty"),
        ("{}", "f.txt", (), "cannot tell the format"),
        (GOOD_CSV, "f.csv", ("--journal", "j.db", "--no-journal"), "exclude each other"),
        (GOOD_CSV, "f.csv", ("--concurrency", "0"), "--concurrency"),
    ],
)
async def test_usage_errors_exit_2(
    emu: Emulator,
    invoke: Invoke,
    tmp_path: Path,
    content: str,
    name: str,
    extra: tuple[str, ...],
    message: str,
) -> None:
    result = await invoke("upload", write(tmp_path, content, name), *extra)
    assert result.exit_code == 2
    assert message in result.stderr
    assert emu.requests == []


async def test_jsonl_line_errors(emu: Emulator, invoke: Invoke, tmp_path: Path) -> None:
    text = "\n".join(
        [
            '{"order_id": "A", "item_id": "a", "quantity": 1}',
            "",
            "not json",
            "[1]",
            '{"order_id": "A", "item_id": "b", "qty": 1}',
            '{"order_id": "A", "item_id": "c", "quantity": 1.5}',
        ]
    )
    result = await invoke("upload", write(tmp_path, text, "f.jsonl"))
    assert result.exit_code == 2
    assert "f.jsonl:3: is not valid JSON" in result.stderr
    assert "f.jsonl:4: must be a JSON object, got list" in result.stderr
    assert "f.jsonl:5: unknown field(s) 'qty'" in result.stderr
    assert "f.jsonl:6: quantity must be a whole number >= 0, got 1.5" in result.stderr
    assert emu.requests == []


async def test_missing_api_key_is_a_usage_error(tmp_path: Path) -> None:
    result = await run_cli("upload", write(tmp_path, GOOD_CSV))
    assert result.exit_code == 2
    assert "no API key" in result.stderr


async def test_sandbox_upload_creates_the_orders_it_needs(tmp_path: Path) -> None:
    result = await run_cli("--sandbox", "upload", write(tmp_path, GOOD_CSV))
    assert result.exit_code == 0, result.output
    assert "5 created" in result.stderr
    assert not (tmp_path / "shipments.csv.journal.db").exists()  # never for a sandbox


async def test_the_api_key_is_never_printed(emu: Emulator, invoke: Invoke, tmp_path: Path) -> None:
    order_with(emu, "A", "a1")
    shipments = write(tmp_path, HEADER + "A,a1,1,,,,,,,\nZ,z1,1,,,,,,,\n")
    result = await invoke("-v", "upload", shipments, "--results", tmp_path / "r.jsonl")
    assert result.exit_code == 1
    assert "drfulfill" in result.stderr  # -v logged something
    for text in (result.stdout, result.stderr, (tmp_path / "r.jsonl").read_text()):
        assert API_KEY not in text and "SECRET_4242" not in text


async def test_a_journal_is_bound_to_the_api_it_was_written_for(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    # Regression: the journal knew only keys, so uploading the same file to another API
    # (staging, then production) skipped every row as "already done" and exited 0.
    seed_orders(emu)
    shipments = write(tmp_path, GOOD_CSV)
    assert (await invoke("upload", shipments)).exit_code == 0

    async with Emulator(rate_limit=None) as other:
        seed_orders(other)
        refused = await run_cli(
            "--settle", "0.05", "--api-key", API_KEY, "--base-url", other.url, "upload", shipments
        )
        live = await run_cli(
            "--settle", "0.05", "--api-key", "sk_live_x", "--base-url", emu.url, "upload", shipments
        )
        fresh = await run_cli(
            "--settle",
            "0.05",
            "--api-key",
            API_KEY,
            "--base-url",
            other.url,
            "upload",
            shipments,
            "--no-journal",
        )

        assert refused.exit_code == live.exit_code == 2
        assert f"records a run against {emu.url} (test mode), not {other.url}" in refused.stderr
        assert "(live mode)" in live.stderr
        assert fresh.exit_code == 0, fresh.output
        assert len(other.fulfillments) == 5  # only the --no-journal run sent anything
    assert len(emu.fulfillments) == 5


@pytest.mark.parametrize("option", ["--results", "--journal"])
async def test_an_unwritable_results_or_journal_path_exits_2_before_sending(
    emu: Emulator, invoke: Invoke, tmp_path: Path, option: str
) -> None:
    # Regression: these were tracebacks (FileNotFoundError, sqlite3.OperationalError).
    seed_orders(emu)
    result = await invoke("upload", write(tmp_path, GOOD_CSV), option, tmp_path / "no" / "x.csv")
    assert result.exit_code == 2
    assert "Error: cannot " in result.stderr and "Traceback" not in result.output
    assert emu.requests == []


async def test_a_stopped_first_run_keeps_its_journal_when_a_create_is_in_doubt(
    emu: Emulator, tmp_path: Path
) -> None:
    # Issue 18: one create is answered 504 and commits later; another is refused 401 (a
    # rotated key) and stops the run. The journal is the only record that the first is in
    # doubt: it must be kept, so the re-run waits that create out instead of sending it.
    order_with(emu, "A", "a1")
    order_with(emu, "B", "b1")
    shipments = write(tmp_path, HEADER + "A,a1,1,,,TA,,,,\nB,b1,1,,,TB,,,,\n")
    journal = tmp_path / "shipments.csv.journal.db"
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=1.0)
    emu.add_fault("POST", "/fulfillments", status=401, code="unauthorized")
    base = ("--api-key", API_KEY, "--base-url", emu.url)

    first = await run_cli(*base, "--settle", "0.5", "upload", shipments, "--concurrency", "1")

    assert first.exit_code == 1 and "401" in first.stderr, first.output
    assert journal.exists()  # holds the create in doubt
    rerun = await run_cli(*base, "--settle", "1.5", "upload", shipments)
    await emu.commit_pending()
    assert rerun.exit_code == 0, rerun.output
    keys = Counter(f["metadata"]["drfulfillKey"] for f in emu.fulfillments)
    assert len(keys) == 2 and set(keys.values()) == {1}
