"""bulk_create and the safe-create protocol against the emulator, over loopback, with faults.

The emulator's random faults (``fault_rate``, seeded) are 503, 500, 429 (``Retry-After: 0``),
dropped connections and, on creates, "commit then drop": the fulfillment is created but the
response never arrives, which only the safe-create protocol can resolve.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drfulfill import APIConnectionError, BulkResult, Client, ValidationError
from drfulfill.testing import Emulator

ORDERS = 400
ITEMS_PER_ORDER = 5  # 2,000 rows: one row per order line, quantity 1
FIELD = "drfulfillKey"


def client_for(emu: Emulator, **options: object) -> Client:
    # max_retries=8: with 10% faults a row fails only if 9 attempts in a row meet one.
    # settle=1: the emulator lists a commit at once, so a short window is enough here and
    # every create in doubt does not hold the run for the default 10 s.
    return Client(
        "sk_test_bulk",
        base_url=emu.url,
        rate_limit=None,
        backoff_base=0,
        timeout=5,
        max_retries=8,
        settle=1,
        **options,
    )


def seed_orders(emu: Emulator) -> list[dict[str, object]]:
    """Seed the orders; return the 2,000 rows that fulfil every line once."""
    rows = []
    for o in range(ORDERS):
        lines = [f"7{o:04d}{j}" for j in range(ITEMS_PER_ORDER)]
        order_id = emu.add_order(items=[{"item_id": line, "quantity": 1} for line in lines])
        rows += [
            {
                "order_id": order_id,
                "items": [{"item_id": line, "quantity": 1}],
                "tracking_company": "Fedex",
                "tracking_number": f"1Z{line}",
            }
            for line in lines
        ]
    return rows


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(rate_limit=None, fault_rate=0.1, seed=4, log_limit=None) as emulator:
        yield emulator


async def run(client: Client, rows: list[dict[str, object]], **options: object) -> list[BulkResult]:
    return [r async for r in client.fulfillments.bulk_create(iter(rows), **options)]


def emulator_keys(emu: Emulator) -> Counter[str]:
    return Counter(f["metadata"][FIELD] for f in emu.fulfillments)


def journal_rows(path: Path) -> dict[str, tuple[str, str | None]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT key, status, fulfillment_id FROM journal")
        return {key: (status, fulfillment_id) for key, status, fulfillment_id in rows}


def assert_exactly_once(emu: Emulator, results: list[BulkResult], rows: list[dict]) -> None:
    assert sorted(r.index for r in results) == list(range(len(rows)))
    assert [r for r in results if not r.ok] == []
    assert len(emu.fulfillments) == len(rows)
    keys = emulator_keys(emu)
    assert max(keys.values()) == 1  # no key twice
    assert set(keys) == {r.key for r in results}
    for order in emu.orders:  # every line fulfilled exactly once
        assert all(line["fulfilledQuantity"] == 1 for line in order["items"]), order


async def test_2000_creates_with_faults_are_exactly_once_and_the_journal_agrees(emu, tmp_path):
    rows = seed_orders(emu)
    journal = tmp_path / "upload.db"
    async with client_for(emu) as dr:
        results = await run(dr, rows, concurrency=48, journal=journal)
        stats = dr.stats

    assert_exactly_once(emu, results, rows)
    assert not any(r.resumed for r in results)
    # Faults of every kind were met, and commit-then-drop creates were reconciled.
    statuses = Counter(request.status for request in emu.requests)
    assert statuses[500] and statuses[503] and statuses[429] and statuses[None]
    assert stats.reconciled > 0 and stats.recreated > 0 and stats.rate_limited > 0
    # The journal agrees with the emulator, key by key.
    by_key = {f["metadata"][FIELD]: f["id"] for f in emu.fulfillments}
    assert journal_rows(journal) == {key: ("done", fid) for key, fid in by_key.items()}
    assert {r.key: r.fulfillment.id for r in results} == by_key


async def test_a_rerun_with_the_journal_creates_nothing_and_resumes_every_row(emu, tmp_path):
    rows = seed_orders(emu)
    journal = tmp_path / "upload.db"
    async with client_for(emu) as dr:
        first = await run(dr, rows, concurrency=48, journal=journal)
        emu.clear_log()
        again = await run(dr, rows, concurrency=48, journal=journal)

    assert emu.requests == []  # not a single request: every row came from the journal
    assert len(again) == 2000 and all(r.ok and r.resumed for r in again)
    first_ids = {r.index: r.fulfillment.id for r in first}
    assert {r.index: r.fulfillment.id for r in again} == first_ids
    assert_exactly_once(emu, again, rows)


async def test_a_rerun_without_a_journal_checks_each_row_and_creates_nothing(emu, tmp_path):
    rows = seed_orders(emu)
    async with client_for(emu) as dr:
        await run(dr, rows, concurrency=48, journal=tmp_path / "elsewhere.db")
        emu.clear_log()
        again = await run(dr, rows, concurrency=48)

    assert {request.method for request in emu.requests} == {"GET"}  # find_by_key per row
    assert all(r.ok and r.resumed for r in again)
    assert_exactly_once(emu, again, rows)


@pytest.mark.parametrize("use_journal", [True, False], ids=["journal", "no-journal"])
async def test_a_run_broken_off_half_way_then_rerun_creates_each_row_once(
    emu, tmp_path, use_journal
):
    rows = seed_orders(emu)
    journal = tmp_path / "upload.db" if use_journal else None
    async with client_for(emu) as dr:
        seen = 0
        async with contextlib.aclosing(
            dr.fulfillments.bulk_create(iter(rows), concurrency=48, journal=journal)
        ) as results:
            async for _ in results:
                seen += 1
                if seen == 1000:
                    break
        created_before = len(emu.fulfillments)
        assert 1000 <= created_before < 2000
        if use_journal:
            statuses = Counter(status for status, _ in journal_rows(journal).values())
            # 'started': cut off while its create was out (in doubt); 'failed': stopped
            # before its create went out.
            assert set(statuses) <= {"done", "started", "failed"} and statuses["done"] >= 1000

        again = await run(dr, rows, concurrency=48, journal=journal)

    assert_exactly_once(emu, again, rows)
    # Rows created before the break, even those cut off in flight, are found, not re-created.
    assert sum(r.resumed for r in again) >= created_before
    if use_journal:
        assert set(journal_rows(journal).values()) == {("done", f["id"]) for f in emu.fulfillments}


async def test_with_the_protocol_off_an_ambiguous_create_raises_and_is_not_retried():
    async with Emulator(rate_limit=None) as emu:
        order_id = emu.add_order(items=[{"item_id": "1001", "quantity": 3}])
        emu.add_fault("POST", "/fulfillments", action="commit_then_drop")
        async with client_for(emu, idempotency_field=None) as dr:
            with pytest.raises(APIConnectionError):
                await dr.fulfillments.create(
                    order_id=order_id, items=[{"item_id": "1001", "quantity": 1}]
                )
            with pytest.raises(ValidationError, match="idempotency_field"):
                dr.fulfillments.bulk_create([{"order_id": order_id, "items": []}])

        assert len(emu.fulfillments) == 1
        assert [r.method for r in emu.requests] == ["POST"]  # no retry, no lookup
        (created,) = emu.fulfillments
        assert "metadata" not in created or FIELD not in created["metadata"]
