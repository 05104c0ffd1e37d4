"""``drfulfill upload`` as production runs it (issue 14, issue 9 item 5): content keys, runs
that must stop, logs, foot-guns, exit codes, real-world files, ``--failed``."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drfulfill.cli import _upload
from drfulfill.cli._progress import LogProgress, Meter
from drfulfill.cli._results import Outcome, is_permanent
from drfulfill.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    CoordinationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from drfulfill.testing import Emulator
from tests.cli.conftest import API_KEY, Invoke, order_with, run_cli

HEADER = "order_id,item_id,quantity,tracking_number\n"


def write(folder: Path, text: str, name: str = "ship.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def creates(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "POST" and r.path == "/fulfillments")


# --- keys from content (issue 9 item 5) ------------------------------------------------------


async def test_a_new_days_file_with_another_item_on_the_same_line_is_shipped(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    # 0.1.0 keyed an ungrouped row "ORDER:line:N": day two's a2 was reported resumed, exit 0,
    # and never shipped.
    order_with(emu, "A", "a1", "a2")
    shipments = write(tmp_path, HEADER + "A,a1,1,\n")
    assert (await invoke("upload", shipments)).exit_code == 0

    shipments.write_text(HEADER + "A,a2,1,\n", encoding="utf-8")  # same name, same journal
    second = await invoke("upload", shipments)

    assert second.exit_code == 0, second.output
    assert "1 created, 0 already done" in second.stderr
    shipped = sorted(item["itemId"] for f in emu.fulfillments for item in f["items"])
    assert shipped == ["a1", "a2"]


async def test_a_copied_file_uploaded_again_is_resumed_never_created_twice(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    # Orders with units left, so that a second create would succeed (no 409 to hide it).
    order_with(emu, "A", "a1", "a2", quantity=5)
    order_with(emu, "B", "b1", quantity=5)
    text = HEADER + "A,a1,1,T1\nA,a2,1,T1\nB,b1,1,\n"
    original = write(tmp_path / "monday", text)
    assert (await invoke("upload", original)).exit_code == 0
    assert len(emu.fulfillments) == 2

    copy = tmp_path / "archive" / "shipments-final.csv"
    copy.parent.mkdir()
    shutil.copy(original, copy)  # another name, another folder: no journal next to it
    results = tmp_path / "again.jsonl"
    again = await invoke("upload", copy, "--results", results)

    assert again.exit_code == 0, again.output
    assert len(emu.fulfillments) == 2
    statuses = [json.loads(line)["status"] for line in results.read_text().splitlines()]
    assert statuses == ["resumed", "resumed"]


async def test_a_copied_file_maps_to_the_same_keys(tmp_path: Path) -> None:
    # What the test above relies on, and what this branch guarantees on its own.
    text = HEADER + "A,a1,1,T1\nA,a2,1,T1\nB,b1,1,\n"
    original = write(tmp_path / "a", text)
    moved = write(tmp_path / "b", HEADER + "Z,z1,1,\nB,b1,1,\nA,a2,1,T1\nA,a1,1,T1\n", "x.csv")
    first = await run_cli("upload", original, "--dry-run")
    second = await run_cli("upload", moved, "--dry-run")
    keys = [json.loads(line)["key"] for line in first.stdout.splitlines()]
    moved_keys = [json.loads(line)["key"] for line in second.stdout.splitlines()]
    assert moved_keys[1:] == [keys[1], keys[0]]


# --- errors that are not about a row stop the run ---------------------------------------------


def big_file(emu: Emulator, folder: Path, rows: int = 60) -> Path:
    for n in range(rows):
        order_with(emu, f"O{n}", "i")
    return write(folder, HEADER + "".join(f"O{n},i,1,\n" for n in range(rows)))


@pytest.mark.parametrize(("status", "words"), [(401, "API key was refused"), (403, "may not")])
async def test_a_refused_key_stops_at_once_and_leaves_no_bound_journal(
    emu: Emulator, invoke: Invoke, tmp_path: Path, status: int, words: str
) -> None:
    # 0.1.0 sent every row (2,305 creates in 10 s), each a 401, and bound the journal.
    shipments = big_file(emu, tmp_path, rows=30)
    emu.add_fault("POST", "/fulfillments", status=status, times=None)

    result = await invoke("upload", shipments, "--concurrency", "4")

    assert result.exit_code == 1
    assert words in result.stderr and "stopped" in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        line for line in result.stderr.splitlines() if "stopped" in line
    ]
    # At most the rows in flight when the first answer came and the slots refilled meanwhile.
    assert creates(emu) <= 2 * 4
    assert not (tmp_path / "ship.csv.journal.db").exists()

    # The corrected run (here: the same API, faults gone) is not blocked by that run.
    emu.clear_faults()
    fixed = await invoke("upload", shipments, "--concurrency", "4")
    assert fixed.exit_code == 0, fixed.output
    assert len(emu.fulfillments) == 30


async def test_a_wrong_key_at_another_api_does_not_block_the_live_run(
    emu: Emulator, tmp_path: Path
) -> None:
    # The wrong key was a live one: the failed run must not bind the journal to live mode.
    shipments = big_file(emu, tmp_path, rows=5)
    emu.add_fault("POST", "/fulfillments", status=401, times=None)
    failed = await run_cli(
        "--settle", "0.05", "--api-key", "sk_live_wrong", "--base-url", emu.url, "upload", shipments
    )
    assert failed.exit_code == 1
    emu.clear_faults()
    fixed = await run_cli(
        "--settle", "0.05", "--api-key", API_KEY, "--base-url", emu.url, "upload", shipments
    )
    assert fixed.exit_code == 0, fixed.output


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_api_stops_the_run(tmp_path: Path) -> None:
    shipments = write(tmp_path, HEADER + "".join(f"O{n},i,1,\n" for n in range(200)))
    url = f"http://127.0.0.1:{closed_port()}"

    result = await run_cli(
        "--settle", "0.05", "--api-key", API_KEY, "--base-url", url, "upload", shipments
    )

    assert result.exit_code == 1
    assert "cannot reach the API" in result.stderr and "--base-url" in result.stderr
    assert "0 created" in result.stderr
    assert not (tmp_path / "ship.csv.journal.db").exists()


class RaisingFulfillments:
    """``bulk_create`` as the lead's bulk layer will behave: it raises an error that is not
    about a row out of the iteration instead of yielding a failed result per row."""

    async def _results(self, requests: Any) -> AsyncIterator[Any]:
        next(iter(requests))  # one row pulled, as a real run would
        raise APIConnectionError("could not connect: refused", sent=False)
        yield  # pragma: no cover - makes this an async generator

    def bulk_create(self, requests: Any, **_options: Any) -> AsyncIterator[Any]:
        return self._results(requests)


class RaisingClient:
    idempotency_field = "drfulfillKey"
    fulfillments = RaisingFulfillments()


async def test_a_stop_raised_by_bulk_create_itself_is_handled_too(tmp_path: Path) -> None:
    shipments = write(tmp_path, HEADER + "A,a1,1,\nB,b1,1,\n")
    report = _upload.UploadReport()
    with pytest.raises(_upload.UploadStopped) as stop:
        await _upload.send(
            RaisingClient(),  # type: ignore[arg-type]
            _upload.valid_groups(shipments, "csv"),
            total=2,
            report=report,
        )
    assert isinstance(stop.value.error, APIConnectionError)
    assert stop.value.report is report and report.failed == report.created == 0


def test_what_stops_a_run() -> None:
    stops = _upload.stops_the_run
    assert stops(APIConnectionError("refused", sent=False))
    # The rule is bulk_create's (is_fatal): a timeout, sent or not (no rate-limit slot or
    # claim in time, a connect timeout), fails its row, never the run.
    assert not stops(APITimeoutError("connect timed out", sent=False))
    assert stops(CoordinationError("Redis failed"))
    assert not stops(APITimeoutError("read timed out", sent=True))  # about this create
    assert not stops(APIConnectionError("reset", sent=True))
    assert not stops(ServerError(503))
    assert stops(AuthenticationError(401)) and stops(PermissionDeniedError(403))
    assert not stops(ValidationError("bad row"))


async def test_a_journal_of_another_api_names_the_way_out(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    shipments = big_file(emu, tmp_path, rows=2)
    assert (await invoke("upload", shipments)).exit_code == 0
    live = await run_cli("--api-key", "sk_live_x", "--base-url", emu.url, "upload", shipments)
    assert live.exit_code == 2
    message = " ".join(live.stderr.split())
    assert "--journal PATH" in message and "--no-journal" in message
    assert "deleting it is safe" in message  # it holds no create in doubt


# --- logs --------------------------------------------------------------------------------------


async def test_progress_lines_when_stderr_is_not_a_terminal(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    shipments = big_file(emu, tmp_path, rows=6)
    result = await invoke("upload", shipments, "--progress-interval", "0")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert len(lines) >= 6  # one per finished row at interval 0, and the last one
    assert lines[-1].startswith("progress: 6/6 done (6 created, 0 resumed), 0 failed, ")
    assert "/s, ETA " in lines[-1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_every_interval_and_rate_counts_new_creates_only() -> None:
    clock, stream = FakeClock(), io.StringIO()
    progress = LogProgress(stream, interval=5, clock=clock)
    progress.start(1000)
    for _ in range(900):  # a resume: 900 rows from the journal, at once
        progress.advance(Outcome("k", [1], "resumed"))
    assert stream.getvalue().count("progress:") == 0  # no time has passed
    for _ in range(10):
        clock.now += 1
        progress.advance(Outcome("k", [1], "created"))
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("progress:")]
    assert len(lines) == 2  # at 5 s and 10 s
    # 10 new creates in 10 s: 1/s, and 90 rows left: 90 s; the 900 resumed count for neither.
    assert lines[-1] == (
        "progress: 910/1,000 done (10 created, 900 resumed), 0 failed, 1/s, ETA 0:01:30"
    )


async def test_progress_lines_go_on_while_no_row_finishes() -> None:
    # An API that stalls (retries, a slow gateway): the log must still show the run is alive.
    clock, stream = FakeClock(), io.StringIO()

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        if clock.now > 100 + 3 * 5:
            raise asyncio.CancelledError

    progress = LogProgress(stream, interval=5, clock=clock, sleep=sleep)
    progress.start(10)
    with pytest.raises(asyncio.CancelledError):
        await progress.heartbeat()
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("progress:")]
    assert lines == ["progress: 0/10 done (0 created, 0 resumed), 0 failed, -/s, ETA -:--:--"] * 3


def test_meter_before_any_send() -> None:
    meter = Meter(clock=FakeClock())
    meter.start(5)
    assert meter.rate() is None and meter.eta_text() == "-:--:--"


async def test_error_lines_are_never_wrapped(emu: Emulator, invoke: Invoke, tmp_path: Path) -> None:
    long_value = "x" * 150
    shipments = write(tmp_path, HEADER + f"A,i,{long_value},\n")
    result = await invoke("upload", shipments)
    assert result.exit_code == 2
    expected = f"ship.csv:2: quantity must be a whole number >= 0, got '{long_value}'"
    assert expected in result.stderr.splitlines()


# --- foot-guns -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["input", "journal"])
@pytest.mark.parametrize("option", ["--results", "--failed"])
async def test_an_output_naming_the_input_or_the_journal_exits_2_touching_nothing(
    emu: Emulator, invoke: Invoke, tmp_path: Path, target: str, option: str
) -> None:
    shipments = big_file(emu, tmp_path, rows=2)
    journal = tmp_path / "j.db"
    journal.write_bytes(b"journal bytes")
    before = shipments.read_bytes()
    path = shipments if target == "input" else journal
    # Named another way (./x, a relative path): still the same file.
    other_name = Path(str(path.parent) + "/./" + path.name)

    result = await invoke("upload", shipments, "--journal", journal, option, other_name)

    assert result.exit_code == 2
    assert "choose another path" in result.stderr
    assert shipments.read_bytes() == before and journal.read_bytes() == b"journal bytes"
    assert emu.requests == []


# --- exit codes --------------------------------------------------------------------------------


async def test_ctrl_c_while_validating_exits_130(
    emu: Emulator, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_upload, "validate", interrupted)
    result = await invoke("upload", big_file(emu, tmp_path, rows=1))
    assert result.exit_code == 130
    assert "Aborted" not in result.output and "nothing was sent" in result.stderr


async def test_help_lists_every_exit_code() -> None:
    for args in (["--help"], ["upload", "--help"]):
        result = await run_cli(*args)
        text = " ".join(result.stdout.split())
        assert "130" in text and " 0 " in text and " 2 " in text, args


async def test_skip_invalid_never_reports_one_fulfillment_invalid_and_created(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    # Group A/T1 reappears further down (not adjacent): 0.1.0 created lines 2-3 and
    # reported line 5 invalid, for the same fulfillment.
    order_with(emu, "A", "a1", "a2", "a3")
    order_with(emu, "B", "b1")
    text = HEADER + "A,a1,1,T1\nA,a2,1,T1\nB,b1,1,\nA,a3,1,T1\n"
    results = tmp_path / "r.jsonl"
    result = await invoke("upload", write(tmp_path, text), "--skip-invalid", "--results", results)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted((row["status"], row["lines"]) for row in rows) == [
        ("created", [4]),
        ("invalid", [2, 3]),
        ("invalid", [5]),
    ]
    assert [f["orderId"] for f in emu.fulfillments] == ["B"]
    assert "sending 1 fulfillment(s)" in result.stderr


# --- real files --------------------------------------------------------------------------------


async def test_a_cp1252_semicolon_file_with_extra_columns(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    order_with(emu, "A", "a1")
    path = tmp_path / "excel.csv"
    path.write_bytes("order_id;item_id;quantity;Lager\nA;a1;1;Köln\n".encode("cp1252"))

    refused = await invoke("upload", path, "--encoding", "cp1252")
    assert refused.exit_code == 2 and "--ignore-unknown-columns" in refused.stderr

    refused = await invoke("upload", path, "--ignore-unknown-columns")
    assert refused.exit_code == 2 and "line 2: not valid utf-8" in refused.stderr
    assert "--encoding cp1252" in refused.stderr

    done = await invoke(
        "upload", path, "--encoding", "cp1252", "--ignore-unknown-columns", "--delimiter", ";"
    )
    assert done.exit_code == 0, done.output
    assert len(emu.fulfillments) == 1 and creates(emu) == 1  # the refused runs sent nothing
    assert (await invoke("upload", path, "--encoding", "nope")).exit_code == 2


async def test_failed_rows_file_holds_exactly_the_failed_rows_and_can_be_sent_again(
    emu: Emulator, invoke: Invoke, tmp_path: Path
) -> None:
    order_with(emu, "A", "a1", "a2")  # order B does not exist yet
    text = "order_id;item_id;quantity;tracking_number;note\n" + (
        "A;a1;1;T1;x\nA;a2;1;T1;y\nB;b1;1;T9;z\nB;b2;1;T9;w\n"
    )
    shipments = write(tmp_path, text)
    failed = tmp_path / "failed.csv"

    first = await invoke("upload", shipments, "--ignore-unknown-columns", "--failed", failed)

    assert first.exit_code == 1
    lines = failed.read_text().splitlines()
    assert lines[0] == "order_id;item_id;quantity;tracking_number;note;failure_reason"
    assert [line.split(";")[:5] for line in lines[1:]] == [
        ["B", "b1", "1", "T9", "z"],
        ["B", "b2", "1", "T9", "w"],
    ]
    assert "invalid_parameter" in lines[1]
    assert "1 permanent failure(s)" in first.stderr and f"in {failed}" in first.stderr

    order_with(emu, "B", "b1", "b2")
    again = await invoke("upload", failed, "--ignore-unknown-columns")
    assert again.exit_code == 0, again.output
    assert sorted(f["orderId"] for f in emu.fulfillments) == ["A", "B"]


def test_permanent_and_retryable_failures() -> None:
    assert is_permanent(ValidationError("bad"))
    assert is_permanent(BadRequestError(400)) and is_permanent(ConflictError(409))
    assert not is_permanent(RateLimitError(429)) and not is_permanent(ServerError(503))
    assert not is_permanent(APITimeoutError("slow", sent=True))
