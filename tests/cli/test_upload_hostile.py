"""Issue 19, input: hostile shipment files get ``FILE:LINE: reason`` and exit 2 with nothing
sent, and the CSV files an upload writes hold no cell a spreadsheet runs as a formula."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from drfulfill.cli._records import FORMULA_STARTS
from drfulfill.cli._results import neutralise
from drfulfill.testing import Emulator
from tests.cli.conftest import API_KEY, Invoke, order_with, run_cli
from tests.cli.test_upload import write


async def test_a_deeply_nested_json_lines_row_is_a_line_error(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    deep = '{"order_id": "A", "item_id": ' + "[" * 100_000 + "]" * 100_000 + ', "quantity": 1}'
    good = '{"order_id": "A", "item_id": "a1", "quantity": 1}'
    path = write(tmp_path, f"{good}\n{deep}\n{good.replace('a1', 'a2')}\n", "f.jsonl")
    result = await invoke("upload", path)
    assert result.exit_code == 2, result.output
    assert "f.jsonl:2: is nested too deeply" in result.stderr
    assert "Traceback" not in result.output and emu.requests == []


async def test_a_csv_field_over_the_limit_is_a_line_error(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    huge = "x" * (200 * 1024)
    text = (
        "order_id,item_id,quantity,tracking_number\n"
        "A,a1,1,T1\n"
        f"A,a2,1,{huge}\n"
        f'A,a3,1,"{huge}"\n'
        "B,b1,1,T2\n"
    )
    result = await invoke("upload", write(tmp_path, text))
    assert result.exit_code == 2, result.output
    assert "shipments.csv:3: a field is longer than 131072 characters" in result.stderr
    assert "shipments.csv:4: a field is longer than 131072 characters" in result.stderr
    assert ":5:" not in result.stderr and ":2:" not in result.stderr  # read on after the error
    assert "Traceback" not in result.output and emu.requests == []


@pytest.mark.parametrize("escape", ["\\ud83d", "\\udc00", "\\ud83d\\u0041"])
async def test_a_lone_surrogate_escape_is_a_line_error(
    emu: Emulator, invoke: Invoke, tmp_path: Path, escape: str
) -> None:
    rows = [
        '{"order_id": "A", "item_id": "a1", "quantity": 1}',
        '{"order_id": "A", "item_id": "a2", "quantity": 1, "tracking_number": "T' + escape + '"}',
    ]
    path = write(tmp_path, "\n".join(rows) + "\n", "f.jsonl")
    result = await invoke("upload", path)
    assert result.exit_code == 2, result.output
    assert "f.jsonl:2: holds a lone surrogate" in result.stderr
    assert "Traceback" not in result.output and emu.requests == []


async def test_a_lone_surrogate_row_skipped_goes_to_the_failed_file(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    order_with(emu, "A", "a1")
    rows = [
        '{"order_id": "A", "item_id": "a1", "quantity": 1}',
        '{"order_id": "B", "item_id": "\\ud83d", "quantity": 1}',
    ]
    path = write(tmp_path, "\n".join(rows) + "\n", "f.jsonl")
    failed = tmp_path / "failed.jsonl"
    result = await invoke("upload", path, "--skip-invalid", "--failed", failed, "--no-journal")
    assert result.exit_code == 0, result.output
    assert len(emu.fulfillments) == 1
    (line,) = failed.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["failure_reason"].startswith("line 2: holds a lone surrogate")


# --- CSV injection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1-555", "'+1-555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("", ""),
        ("a=b", "a=b"),
        ("'quoted", "'quoted"),
        ("'=1", "''=1"),  # reads back as "'=1"
    ],
)
def test_neutralise_prefixes_a_quote_as_owasp_advises(cell: str, shown: str) -> None:
    assert neutralise(cell) == shown


async def test_results_and_failed_csv_hold_no_formula_and_the_failed_file_round_trips(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    order_with(emu, "A", "a1")  # order -B is unknown: its rows fail (400 invalid_parameter)
    text = (
        "order_id,item_id,quantity,tracking_number,key\n"
        'A,a1,1,=HYPERLINK("http://evil"),@key\n'
        "-B,+b1,1,=1+2,=cmd|' /C calc'!A0\n"
        "-B,@b2,1,=1+2,=cmd|' /C calc'!A0\n"
    )
    shipments = write(tmp_path, text)
    results, failed = tmp_path / "results.csv", tmp_path / "failed.csv"

    first = await invoke("upload", shipments, "--results", results, "--failed", failed)

    assert first.exit_code == 1, first.output
    for path in (results, failed):
        with path.open(newline="", encoding="utf-8") as file:
            cells = [cell for row in csv.reader(file) for cell in row]
        assert cells and not [cell for cell in cells if cell.startswith(FORMULA_STARTS)], path
    failed_rows = list(csv.reader(failed.read_text(encoding="utf-8").splitlines()))
    assert failed_rows[1][:4] == ["'-B", "'+b1", "1", "'=1+2"]

    # The quotes are taken off again on reading: the failed rows are the file's rows.
    order_with(emu, "-B", "+b1", "@b2")
    again = await invoke("upload", failed)
    assert again.exit_code == 0, again.output
    created = {f["orderId"]: f for f in emu.fulfillments}
    assert sorted(item["itemId"] for item in created["-B"]["items"]) == ["+b1", "@b2"]
    assert created["-B"]["trackingNumber"] == "=1+2"
    assert created["A"]["trackingNumber"] == '=HYPERLINK("http://evil")'


async def test_a_base_url_password_is_never_printed(tmp_path: Path) -> None:
    url = "https://svc:pw-s3cret@gateway.internal"
    listed = await run_cli("--api-key", API_KEY, "--base-url", url, "fulfillments", "list")
    uploaded = await run_cli(
        "upload",
        write(tmp_path, "order_id,item_id,quantity\nA,a1,1\n"),
        "--no-journal",
        env={"DR_API_KEY": API_KEY, "DR_BASE_URL": url},
    )
    for result in (listed, uploaded):
        assert result.exit_code == 2, result.output
        assert "pw-s3cret" not in result.output and "user name or password" in result.output
