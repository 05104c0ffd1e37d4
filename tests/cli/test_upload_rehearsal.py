"""``drfulfill upload``: ``--since`` (one sweep instead of a lookup per order), rehearsals on
``--sandbox`` with ``--auto-orders --faults``, and what a reused key tells the operator."""

from __future__ import annotations

from pathlib import Path

from drfulfill.testing import Emulator
from tests.cli.conftest import Invoke, order_with, run_cli
from tests.cli.test_upload import GOOD_CSV, HEADER, read_results, seed_orders, write


async def test_since_verifies_every_row_with_one_sweep(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    seed_orders(emu)
    shipments = write(tmp_path, GOOD_CSV)

    result = await invoke("upload", shipments, "--since", "2026-01-01T00:00:00Z", "--no-journal")

    assert result.exit_code == 0, result.output
    gets = [r for r in emu.requests if r.method == "GET"]
    posts = [r for r in emu.requests if r.method == "POST"]
    # Today: one lookup per order (3) before the creates; with --since, one sweep.
    assert len(posts) == 5 and len(gets) == 1
    names = {name for name, _ in gets[0].query}
    assert "createdTime[gte]" in names and "orderId" not in names


async def test_since_needs_a_time_zone(emu: Emulator, invoke: Invoke, tmp_path: Path) -> None:
    result = await invoke("upload", write(tmp_path, GOOD_CSV), "--since", "2026-01-01T00:00:00")
    assert result.exit_code == 2 and "time zone" in result.stderr
    assert emu.requests == []


async def test_auto_orders_and_faults_need_the_sandbox(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    for option in (["--auto-orders"], ["--faults", "0.1"]):
        result = await invoke("upload", write(tmp_path, GOOD_CSV), *option)
        assert result.exit_code == 2, result.output
        assert "need --sandbox" in result.stderr
    assert emu.requests == []


def rehearsal_file(tmp_path: Path, orders: int) -> Path:
    """Real-looking shipments of orders the sandbox has never heard of: two parcels for
    every third order (a second tracking number of the same order and item)."""
    rows = []
    for n in range(orders):
        rows.append(f"R{n},r{n}a,2,,UPS,TA{n},,,,")
        rows.append(f"R{n},r{n}b,1,1,UPS,TA{n},,,,")
        if n % 3 == 0:
            rows.append(f"R{n},r{n}a,1,,UPS,TB{n},,,,")
    return write(tmp_path, HEADER + "\n".join(rows) + "\n")


async def test_a_sandbox_rehearses_a_real_file_with_faults(tmp_path: Path) -> None:
    shipments = rehearsal_file(tmp_path, 24)  # 32 fulfillments of unknown orders
    results = tmp_path / "results.jsonl"

    result = await run_cli(
        "--sandbox", "upload", shipments, "--auto-orders", "--faults", "0.1",
        "--concurrency", "1", "--results", results,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    rows = read_results(results)
    assert len(rows) == 32 and {row["status"] for row in rows} == {"created"}
    ids = [row["fulfillment_id"] for row in rows]
    assert len(set(ids)) == 32  # each fulfillment once
    assert "32 created" in result.stderr
    # Without --auto-orders the sandbox seeds the file's orders first (today's behaviour).
    plain = await run_cli("--sandbox", "upload", shipments, "--concurrency", "4")
    assert plain.exit_code == 0, plain.output
    assert "32 created" in plain.stderr


async def test_a_reused_key_tells_the_operator_to_add_a_key_column(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    order_with(emu, "A", "a1", "a2")
    first = write(tmp_path, HEADER + "A,a1,1,,UPS,T1,,,,\n", "monday.csv")
    assert (await invoke("upload", first)).exit_code == 0
    # The next day another item ships on the same tracking number: the same key.
    second = write(tmp_path, HEADER + "A,a1,1,,UPS,T1,,,,\nA,a2,1,,UPS,T1,,,,\n", "tuesday.csv")
    results = tmp_path / "r.jsonl"

    failed = await invoke("upload", second, "--results", results)

    assert failed.exit_code == 1
    assert "KeyReuseError" in failed.stderr or "used for different content" in failed.stderr
    assert "give these rows a `key` column" in failed.stderr
    assert "give these rows a `key` column" in read_results(results)[0]["error"]
    assert len(emu.fulfillments) == 1

    # As advised: a key column makes the new shipment a fulfillment of its own.
    fixed = write(
        tmp_path,
        "order_id,item_id,quantity,tracking_number,key\nA,a2,1,T1,tuesday\n",
        "tuesday-fixed.csv",
    )
    result = await invoke("upload", fixed)
    assert result.exit_code == 0, result.output
    assert [[item["itemId"] for item in f["items"]] for f in emu.fulfillments] == [["a1"], ["a2"]]
