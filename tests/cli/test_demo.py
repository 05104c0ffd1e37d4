"""``drfulfill demo``: the summary it prints is the emulator's state, checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drfulfill.cli import _demo
from drfulfill.cli._demo import DemoError, DemoSummary, run_demo, write_sample_csv
from drfulfill.cli._upload import UploadReport, upload, validate
from drfulfill.resources.fulfillments import Fulfillments
from drfulfill.testing import Emulator
from tests.cli.conftest import run_cli


async def test_run_demo_summary_matches_the_emulator(emu: Emulator) -> None:
    summary = await run_demo(rows=41, emulator=emu)

    assert isinstance(summary, DemoSummary)
    assert summary.rows == 41
    assert summary.fulfillments == summary.created == len(emu.fulfillments) == summary.listed
    keys = {f["metadata"]["drfulfillKey"] for f in emu.fulfillments}
    assert len(keys) == len(emu.fulfillments)  # nothing created twice
    fulfilled = sum(item["fulfilledQuantity"] for order in emu.orders for item in order["items"])
    assert summary.units_fulfilled == summary.units_in_file == fulfilled
    assert summary.failed == 0 and summary.runs == 1 and summary.exactly_once
    assert summary.return_states == ["created", "pending", "accepted"]
    assert emu.fulfillment_returns[summary.return_id]["state"] == "accepted"
    assert summary.requests == len(emu.requests)
    assert summary.retries == summary.reconciled == 0


def test_sample_csv_groups_items_of_a_parcel(tmp_path: Path) -> None:
    emulator = Emulator()  # seeding needs no server
    path = tmp_path / "s.csv"

    fulfillments, units = write_sample_csv(path, emulator, rows=8)

    validation = validate(path, "csv")
    assert validation.ok and validation.rows == 8
    assert validation.fulfillments == fulfillments == 5  # orders 0-2 ship one parcel, 3 two
    assert units > 0


async def test_demo_with_faults_still_creates_exactly_once() -> None:
    summary = await run_demo(rows=200, faults=0.15, seed=7)

    assert summary.faults_injected > 0
    assert summary.retries > 0
    assert summary.reconciled + summary.recreated > 0
    assert summary.exactly_once and summary.duplicates == 0
    assert summary.created == summary.emulator_fulfillments == summary.fulfillments


async def test_demo_command_prints_the_summary() -> None:
    result = await run_cli("demo", "--rows", "30")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "drfulfill demo" in out
    assert "fulfillments created" in out and "exactly once" in out and "yes" in out
    assert "created → pending → accepted" in out
    assert "Uploading" in result.stderr  # the progress bar


async def test_the_demo_catches_a_listing_that_repeats_items(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: the demo counted distinct ids, so a pager yielding an item twice passed.
    original = Fulfillments.list

    def twice(self: Fulfillments, **options: Any) -> AsyncIterator[Any]:
        async def items() -> AsyncIterator[Any]:
            async for fulfillment in original(self, **options):
                yield fulfillment
                yield fulfillment

        return items()

    monkeypatch.setattr(Fulfillments, "list", twice)
    with pytest.raises(DemoError, match="twice"):
        await run_demo(rows=6, emulator=emu)


async def test_throughput_counts_only_what_this_run_created_over_every_upload_run(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three creates refused with a Retry-After beyond max_retry_after fail the first run
    # (retryable); the second run creates them and resumes the rest from the journal.
    emu.add_fault("POST", "/fulfillments", status=429, retry_after=1000, times=3)
    runs: list[UploadReport] = []

    async def recorded(*args: Any, **kwargs: Any) -> UploadReport:
        report = await upload(*args, **kwargs)
        runs.append(report)
        return report

    monkeypatch.setattr(_demo, "upload", recorded)
    summary = await run_demo(rows=40, emulator=emu)

    assert summary.runs == len(runs) == 2 and runs[0].failed == 3 and runs[1].created == 3
    assert summary.exactly_once
    # Before: the last run's created + resumed (every fulfillment) over the last run's
    # seconds only, so a re-run that resumed most rows reported a rate many times too high.
    assert summary.upload_seconds == pytest.approx(runs[0].elapsed + runs[1].elapsed)
    assert summary.throughput == pytest.approx(
        (runs[0].created + runs[1].created) / summary.upload_seconds
    )
