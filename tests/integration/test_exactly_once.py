"""Exactly once under the faults real DR shows (issue 9), against the emulator on loopback.

Each test makes the emulator misbehave the way Digital River does - a create committed after
its 504, a dropped connection or a client timeout; lists that lag writes; a key sent twice or
reused; a journal lost between runs - and checks that exactly one fulfillment exists. The
settle windows and commit delays are short (tenths of a second) so the default run stays fast;
the 1,000-row soak with DR-like delays is marked slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from drfulfill import (
    BadRequestError,
    Client,
    ConflictError,
    DigitalRiverError,
    FulfillmentRequest,
    KeyReuseError,
    ServerError,
)
from drfulfill.testing import Emulator

from .conftest import make_client

ITEM = "i1"


def order(emu: Emulator, quantity: int = 5, items: tuple[str, ...] = (ITEM,)) -> str:
    return emu.add_order(items=[{"item_id": item, "quantity": quantity} for item in items])


def keys(emu: Emulator) -> Counter[str]:
    return Counter(f["metadata"]["drfulfillKey"] for f in emu.fulfillments)


async def test_a_504_committed_later_is_found_not_created_again(emu: Emulator) -> None:
    order_id = order(emu)
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0.2)
    async with make_client(emu, settle=0.6) as dr:
        f = await dr.fulfillments.create(
            order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}]
        )
    await emu.commit_pending()  # a resend would show as a second fulfillment now
    assert len(emu.fulfillments) == 1 and f.id == emu.fulfillments[0]["id"]
    assert dr.stats.reconciled == 1 and dr.stats.recreated == 0


async def test_a_dropped_connection_committed_later_is_found(emu: Emulator) -> None:
    order_id = order(emu)
    emu.add_fault("POST", "/fulfillments", action="drop_then_commit", commit_after=0.2)
    async with make_client(emu, settle=0.6) as dr:
        await dr.fulfillments.create(order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}])
    await emu.commit_pending()
    assert len(emu.fulfillments) == 1


async def test_a_client_timeout_committed_later_is_found(emu: Emulator) -> None:
    order_id = order(emu)
    # The server holds the answer past the client's timeout and commits meanwhile, late.
    emu.add_fault(
        "POST", "/fulfillments", action="respond_then_commit", commit_after=0.25, latency=1.0
    )
    async with make_client(emu, settle=0.6, timeout=0.1) as dr:
        await dr.fulfillments.create(order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}])
    await emu.commit_pending()
    assert len(emu.fulfillments) == 1


async def test_a_lagging_list_does_not_make_a_committed_create_look_absent() -> None:
    async with Emulator(rate_limit=None, read_lag=0.3) as emu:
        order_id = order(emu)
        emu.add_fault("POST", "/fulfillments", action="commit_then_drop")
        async with make_client(emu, settle=0.6) as dr:
            await dr.fulfillments.create(
                order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}]
            )
        assert len(emu.fulfillments) == 1


async def test_a_409_after_a_resend_is_reconciled_by_key() -> None:
    # The first create lands late, after the resend was decided; the list lags behind it,
    # so the resend is refused 409 order_fulfilled while the fulfillment exists.
    async with Emulator(rate_limit=None, read_lag=0.35) as emu:
        order_id = order(emu, quantity=1)
        emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0.02)
        async with make_client(emu, settle=0.3) as dr:
            f = await dr.fulfillments.create(
                order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}]
            )
        assert [x["id"] for x in emu.fulfillments] == [f.id]


async def test_a_genuine_409_is_still_raised(emu: Emulator) -> None:
    order_id = order(emu, quantity=1)
    async with make_client(emu) as dr:
        await dr.fulfillments.create(order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}])
        with pytest.raises(ConflictError):
            await dr.fulfillments.create(
                order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}]
            )


async def test_the_same_key_twice_is_one_fulfillment_in_one_client_and_across_clients(
    emu: Emulator,
) -> None:
    order_id = order(emu)
    items = [{"item_id": ITEM, "quantity": 1}]
    async with make_client(emu) as dr:
        first = await dr.fulfillments.create(order_id=order_id, items=items, key="K")
        emu.clear_log()
        again = await dr.fulfillments.create(order_id=order_id, items=items, key="K")
        # A key this client made costs one GET by id (it keeps ids, not models), never a POST.
        assert [(r.method, r.path) for r in emu.requests] == [("GET", f"/fulfillments/{first.id}")]
    async with make_client(emu) as other:  # another process: it looks the key up first
        third = await other.fulfillments.create(order_id=order_id, items=items, key="K")
    assert first.id == again.id == third.id and len(emu.fulfillments) == 1


async def test_a_key_reused_for_different_content_is_refused(emu: Emulator) -> None:
    order_id = order(emu, items=("i1", "i2"))
    async with make_client(emu) as dr:
        await dr.fulfillments.create(
            order_id=order_id, items=[{"item_id": "i1", "quantity": 1}], key="K"
        )
    async with make_client(emu) as other:
        with pytest.raises(KeyReuseError) as caught:
            await other.fulfillments.create(
                order_id=order_id, items=[{"item_id": "i2", "quantity": 1}], key="K"
            )
    assert "different content" in str(caught.value)
    assert len(emu.fulfillments) == 1


async def test_with_a_zero_settle_window_a_late_commit_is_duplicated(emu: Emulator) -> None:
    # The limit the README states: a commit later than the settle window is not waited for.
    # This is what 0.1.0 did with every create (its lookup ran after one short backoff).
    order_id = order(emu)
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0.2)
    async with make_client(emu, settle=0) as dr:
        await dr.fulfillments.create(order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}])
    await emu.commit_pending()
    assert len(emu.fulfillments) == 2


# --- bulk_create: the journal is an optimisation, never the source of truth ---------------


def rows_for(emu: Emulator, count: int) -> list[dict[str, Any]]:
    return [
        {"order_id": order(emu), "items": [{"item_id": ITEM, "quantity": 1}]} for _ in range(count)
    ]


async def run(dr: Client, rows: list[dict[str, Any]], **options: Any) -> list[Any]:
    async with contextlib.aclosing(dr.fulfillments.bulk_create(rows, **options)) as results:
        return [result async for result in results]


@pytest.mark.parametrize("second_journal", ["another", "none", "truncated", "moved"])
async def test_a_rerun_with_a_lost_journal_creates_nothing_again(
    emu: Emulator, tmp_path: Path, second_journal: str
) -> None:
    rows = rows_for(emu, 20)
    first_path = tmp_path / "a.db"
    async with make_client(emu) as dr:
        first = await run(dr, rows, journal=str(first_path))
    assert all(r.ok and not r.resumed for r in first)
    journal: str | None
    if second_journal == "another":
        journal = str(tmp_path / "b.db")
    elif second_journal == "none":
        journal = None
    elif second_journal == "truncated":
        first_path.write_bytes(b"")
        journal = str(first_path)
    else:
        moved = tmp_path / "elsewhere" / "a.db"
        moved.parent.mkdir()
        shutil.move(first_path, moved)
        (tmp_path / "a.db-wal").unlink(missing_ok=True)
        journal = str(tmp_path / "a.db")  # the run looks where the file used to be
    async with make_client(emu) as dr:
        second = await run(dr, rows, journal=journal)
    assert all(r.ok and r.resumed for r in second)
    assert len(emu.fulfillments) == 20 and set(keys(emu).values()) == {1}


@pytest.mark.parametrize("journal", ["none", "deleted"])
async def test_a_rerun_with_no_record_of_an_earlier_runs_doubt_waits_it_out(
    emu: Emulator, tmp_path: Path, journal: str
) -> None:
    # Run 1's row is answered 504 and DR commits it 0.8 s later; the run's deadline ends the
    # row in doubt, a fact its client held in memory only (no journal, or one deleted after
    # the run). Run 2, a new client started at once, cannot tell: on the old code it looked
    # the row up at once ("not found") and created it again. A commit within the settle
    # window of the failure is within the promise, so run 2 verifies no row before a
    # window has passed since it started.
    rows = rows_for(emu, 1)
    path = tmp_path / "upload.db"
    first_journal = str(path) if journal == "deleted" else None
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0.8)
    async with make_client(emu, settle=1.0, deadline=0.3) as dr:
        (first,) = await run(dr, rows, journal=first_journal)
    assert not first.ok and isinstance(first.error, ServerError)
    if first_journal is not None:
        path.unlink()  # the user "cleans up" the run's journal
    async with make_client(emu, settle=1.0) as dr:
        (second,) = await run(dr, rows, journal=first_journal)
    await emu.commit_pending()
    assert second.ok and second.resumed
    assert list(keys(emu).values()) == [1]


async def test_a_journal_written_by_the_previous_version_keeps_its_doubts(
    emu: Emulator, tmp_path: Path
) -> None:
    # The previous version wrote 'failed' for a create whose outcome was unknown too (a
    # 504, a timeout), and read 'failed' as "may still land". This version writes 'failed'
    # only for a definite failure; read as one, an old journal's ambiguous row was looked
    # up at once ("not found": DR commits 0.8 s later) and created again. A journal
    # without this version's mark has its 'failed' rows taken as in doubt.
    rows = rows_for(emu, 1)
    path = tmp_path / "upload.db"
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0.8)
    async with make_client(emu, settle=1.0, deadline=0.3) as dr:
        (first,) = await run(dr, rows, journal=str(path))
    assert not first.ok
    with contextlib.closing(sqlite3.connect(path)) as db:  # as the previous version left it
        db.execute("UPDATE journal SET status = 'failed'")
        db.execute("PRAGMA user_version = 0")
        db.commit()
    async with make_client(emu, settle=1.0) as dr:
        (second,) = await run(dr, rows, journal=str(path))
    await emu.commit_pending()
    assert second.ok and second.resumed
    assert list(keys(emu).values()) == [1]


async def test_a_row_in_doubt_whose_key_holds_other_content_is_settled_in_the_journal(
    emu: Emulator, tmp_path: Path
) -> None:
    # A row the journal holds 'started' finds its key on a fulfillment of other content:
    # KeyReuseError, and the key is settled (it exists). Before, the row stayed 'started'
    # for ever: every re-run waited a settle window for it, and the CLI never let the
    # journal go ("it holds 1 create in doubt").
    order_id = order(emu)
    path = tmp_path / "upload.db"
    first = {"order_id": order_id, "items": [{"item_id": ITEM, "quantity": 1}]}
    async with make_client(emu, settle=0.2) as dr:
        (made,) = await run(dr, [first], journal=str(path), key=lambda _: "shipment-1")
    assert made.ok
    with contextlib.closing(sqlite3.connect(path)) as db:  # a create in doubt, say
        db.execute("UPDATE journal SET status = 'started'")
        db.commit()
    second = {"order_id": order_id, "items": [{"item_id": ITEM, "quantity": 2}]}
    async with make_client(emu, settle=0.2) as dr:
        (result,) = await run(dr, [second], journal=str(path), key=lambda _: "shipment-1")
    assert isinstance(result.error, KeyReuseError)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT status FROM journal").fetchall() == [("failed",)]
    assert len(emu.fulfillments) == 1


async def test_a_rerun_with_a_complete_journal_sends_nothing(emu: Emulator, tmp_path: Path) -> None:
    rows = rows_for(emu, 10)
    async with make_client(emu) as dr:
        await run(dr, rows, journal=str(tmp_path / "j.db"))
        emu.clear_log()
        again = await run(dr, rows, journal=str(tmp_path / "j.db"))
    assert all(r.resumed for r in again) and emu.requests == []


async def test_with_since_one_sweep_verifies_every_row(emu: Emulator, tmp_path: Path) -> None:
    rows = rows_for(emu, 30)
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    async with make_client(emu) as dr:
        await run(dr, rows[:10])
        emu.clear_log()
        results = await run(dr, rows, since=since, journal=str(tmp_path / "fresh.db"))
    gets = [r for r in emu.requests if r.method == "GET"]
    posts = [r for r in emu.requests if r.method == "POST"]
    assert len(gets) == 1 and len(posts) == 20  # one sweep page, then only creates
    assert sum(r.resumed for r in results) == 10 and len(emu.fulfillments) == 30


async def test_a_row_reusing_a_key_for_new_content_is_refused(emu: Emulator) -> None:
    order_id = order(emu, items=("i1", "i2"))
    async with make_client(emu) as dr:
        await run(dr, [{"order_id": order_id, "items": [{"item_id": "i1", "quantity": 1}],
                        "shipment_id": "S1"}], key="shipment_id")  # fmt: skip
        (result,) = await run(
            dr,
            [
                {
                    "order_id": order_id,
                    "items": [{"item_id": "i2", "quantity": 1}],
                    "shipment_id": "S1",
                }
            ],
            key="shipment_id",
        )
    assert isinstance(result.error, KeyReuseError) and len(emu.fulfillments) == 1


async def bulk_under_late_commits_and_lag(
    rows: int, commit_after: tuple[float, float], read_lag: float, settle: float
) -> None:
    async with Emulator(rate_limit=None, read_lag=read_lag) as emu:
        requests = [
            FulfillmentRequest(order_id=order(emu), items=[{"item_id": ITEM, "quantity": 1}])
            for _ in range(rows)
        ]
        emu.add_fault(
            "POST",
            "/fulfillments",
            action="respond_then_commit",
            commit_after=commit_after,
            rate=0.1,
            times=None,
        )
        async with make_client(emu, settle=settle) as dr:
            async with contextlib.aclosing(
                dr.fulfillments.bulk_create(requests, concurrency=32)
            ) as results:
                outcomes = [r async for r in results]
        await emu.commit_pending()  # anything still landing would show as a duplicate
        assert all(r.ok for r in outcomes), [r.error for r in outcomes if not r.ok][:3]
        assert emu.faults_injected > 0
        assert len(emu.fulfillments) == rows and set(keys(emu).values()) == {1}


async def test_bulk_with_late_commits_and_a_lagging_list_is_exactly_once() -> None:
    # settle well past commit + lag (0.3 s), so a loaded CI machine cannot outrun it.
    await bulk_under_late_commits_and_lag(100, (0.05, 0.2), read_lag=0.1, settle=1.0)


@pytest.mark.slow
async def test_1000_rows_with_10_percent_late_commits_and_half_a_second_of_lag() -> None:
    await bulk_under_late_commits_and_lag(1000, (0.5, 2.0), read_lag=0.5, settle=3.0)


async def test_bulk_a_late_commit_is_not_a_server_error_for_the_row(emu: Emulator) -> None:
    rows = rows_for(emu, 3)
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0.1)
    async with make_client(emu, settle=0.3) as dr:
        results = await run(dr, rows)
    await emu.commit_pending()
    assert all(r.ok for r in results), [r.error for r in results]
    assert not any(isinstance(r.error, ServerError) for r in results)
    assert len(emu.fulfillments) == 3


# --- found by an adversarial review ---------------------------------------------------------


async def test_concurrent_creates_of_one_key_in_one_client_are_one_fulfillment(
    emu: Emulator,
) -> None:
    order_id = order(emu)
    items = [{"item_id": ITEM, "quantity": 1}]
    async with make_client(emu) as dr:
        made = await asyncio.gather(
            *(dr.fulfillments.create(order_id=order_id, items=items, key="K") for _ in range(3))
        )
    assert len({f.id for f in made}) == 1 and len(emu.fulfillments) == 1


async def test_a_call_joining_a_create_that_is_cancelled_goes_on_with_its_own(
    emu: Emulator,
) -> None:
    # Found by review: the joiner of a cancelled leader ended cancelled itself, although
    # nobody had cancelled it.
    order_id = order(emu)
    items = [{"item_id": ITEM, "quantity": 1}]
    hanging = emu.add_fault("POST", "/fulfillments", latency=5)  # the leader's create hangs
    async with make_client(emu, settle=0.2) as dr:
        leader = asyncio.create_task(
            dr.fulfillments.create(order_id=order_id, items=items, key="K")
        )

        async def until_sent() -> None:
            while not hanging.hits:  # noqa: ASYNC110 (polling the fault's counter)
                await asyncio.sleep(0.001)

        await asyncio.wait_for(until_sent(), timeout=5)  # the leader's create is out
        joiner = asyncio.create_task(
            dr.fulfillments.create(order_id=order_id, items=items, key="K")
        )
        await asyncio.sleep(0)  # the joiner awaits the leader
        leader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leader
        made = await joiner  # its own attempt, after the doubt the leader left
    await emu.commit_pending()
    assert [f["id"] for f in emu.fulfillments] == [made.id]


async def test_a_retry_after_an_unsettled_create_waits_out_its_window(emu: Emulator) -> None:
    order_id = order(emu)
    items = [{"item_id": ITEM, "quantity": 1}]
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0.3)
    emu.add_fault("GET", "/fulfillments", latency=0.0)  # the lookup before the send passes
    emu.add_fault("GET", "/fulfillments", status=503, times=None)
    async with make_client(emu, settle=0.6, max_retries=1) as dr:
        with pytest.raises(ServerError):  # the lookups fail: the outcome is unknown
            await dr.fulfillments.create(order_id=order_id, items=items, key="K")
        emu.clear_faults()
        again = await dr.fulfillments.create(order_id=order_id, items=items, key="K")
    await emu.commit_pending()
    assert [f["id"] for f in emu.fulfillments] == [again.id]


async def test_a_retry_after_a_cancelled_create_waits_out_its_window(emu: Emulator) -> None:
    order_id = order(emu)
    items = [{"item_id": ITEM, "quantity": 1}]
    emu.add_fault(
        "POST", "/fulfillments", action="respond_then_commit", commit_after=0.3, latency=5
    )
    async with make_client(emu, settle=0.6) as dr:
        with pytest.raises(asyncio.TimeoutError):  # the caller gives up while it is sent
            await asyncio.wait_for(
                dr.fulfillments.create(order_id=order_id, items=items, key="K"), 0.1
            )
        again = await dr.fulfillments.create(order_id=order_id, items=items, key="K")
    await emu.commit_pending()
    assert [f["id"] for f in emu.fulfillments] == [again.id]


@pytest.mark.parametrize("status", [520, 524, 599])
async def test_any_5xx_is_a_doubt_not_a_refusal(emu: Emulator, status: int) -> None:
    order_id = order(emu)
    emu.add_fault(
        "POST", "/fulfillments", action="respond_then_commit", status=status, commit_after=0.1
    )
    async with make_client(emu, settle=0.4) as dr:
        f = await dr.fulfillments.create(
            order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}]
        )
    await emu.commit_pending()
    assert [x["id"] for x in emu.fulfillments] == [f.id]


async def test_the_window_counts_from_when_the_create_left_not_from_the_limiter_wait(
    emu: Emulator,
) -> None:
    order_id = order(emu)
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0.3)
    async with make_client(emu, settle=0.5, rate_limit=100) as dr:
        limiter = dr._transport.limiter
        assert limiter is not None
        await limiter.pause(0.6)  # a 429 elsewhere holds every request back
        f = await dr.fulfillments.create(
            order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}]
        )
    await emu.commit_pending()
    assert [x["id"] for x in emu.fulfillments] == [f.id]


async def test_an_unsettled_journal_row_fails_the_row_not_the_run(
    emu: Emulator, tmp_path: Path
) -> None:
    rows = rows_for(emu, 2)
    journal = tmp_path / "j.db"
    async with make_client(emu) as dr:
        await run(dr, rows, journal=str(journal))
    with sqlite3.connect(journal) as db:  # as if the last run died with both rows in flight
        db.execute("UPDATE journal SET status = 'started', fulfillment_json = NULL")
    db.close()
    emu.add_fault("GET", "/fulfillments", status=503, times=None)
    async with make_client(emu, settle=0.2, max_retries=1) as dr:
        results = await run(dr, rows, journal=str(journal))
    assert [r.ok for r in results] == [False, False]
    assert all(isinstance(r.error, DigitalRiverError) for r in results)
    assert len(emu.fulfillments) == 2


async def test_since_tolerates_a_dr_clock_behind_this_machines() -> None:
    def behind() -> datetime:  # Digital River's clock, a minute slow
        return datetime.now(timezone.utc) - timedelta(minutes=1)

    async with Emulator(rate_limit=None, clock=behind) as emu:
        rows = rows_for(emu, 5)
        started = datetime.now(timezone.utc)  # this machine's clock, when run 1 began
        async with make_client(emu) as dr:
            await run(dr, rows)
        async with make_client(emu) as dr:  # a new client: nothing remembered
            again = await run(dr, rows, since=started)
        assert all(r.resumed for r in again) and len(emu.fulfillments) == 5


# --- issue 18: doubt timed from the failure, a lookup right before every resend ----------


async def test_a_504_answered_after_the_window_is_settled_from_the_answer(emu: Emulator) -> None:
    # DR's gateway answers 504 only after longer than the settle window (11 s against
    # 10 s, scaled down) and the backend commits just after that answer. Timed from the
    # send, the window had passed when the failure was seen: one lookup, a resend, two.
    order_id = order(emu)
    emu.add_fault(
        "POST", "/fulfillments", action="respond_then_commit", latency=0.35, commit_after=0.45
    )
    async with make_client(emu, settle=0.3) as dr:
        f = await dr.fulfillments.create(
            order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}]
        )
    await emu.commit_pending()
    assert [x["id"] for x in emu.fulfillments] == [f.id]
    assert dr.stats.recreated == 0


async def test_a_resend_after_a_retry_after_is_preceded_by_a_lookup() -> None:
    # DR answers 503 Retry-After: 1 and commits after the settle window has passed but
    # before the Retry-After is over: the lookup right before the resend finds it.
    async with Emulator(rate_limit=None) as emu:
        order_id = order(emu)
        emu.add_fault(
            "POST",
            "/fulfillments",
            action="respond_then_commit",
            status=503,
            retry_after=1,
            commit_after=0.6,
        )
        async with make_client(emu, settle=0.3) as dr:
            dr._transport.sleep = asyncio.sleep  # really wait: the commit is on a timer
            f = await dr.fulfillments.create(
                order_id=order_id, items=[{"item_id": ITEM, "quantity": 1}]
            )
        await emu.commit_pending()
        assert [x["id"] for x in emu.fulfillments] == [f.id]
        posts = [r for r in emu.requests if r.method == "POST"]
        assert len(posts) == 1 and dr.stats.reconciled == 1


async def test_an_unknown_order_after_one_503_is_raised_after_one_window(emu: Emulator) -> None:
    # The 503 needs its window; the definitive 400 (an unknown order) after the resend
    # says nothing about earlier sends: raised at once, not after a second window.
    emu.add_fault("POST", "/fulfillments", status=503)
    loop = asyncio.get_running_loop()
    async with make_client(emu, settle=0.5) as dr:
        dr._transport.sleep = asyncio.sleep  # really wait, to time the windows
        began = loop.time()
        with pytest.raises(BadRequestError) as caught:
            await dr.fulfillments.create(
                order_id="no-such-order", items=[{"item_id": ITEM, "quantity": 1}]
            )
        took = loop.time() - began
    assert caught.value.code == "invalid_parameter"
    assert 0.5 <= took < 1.0  # one window, not two


async def test_a_cancelled_create_counts_its_window_from_the_cancellation(emu: Emulator) -> None:
    # Cancelled while sent; the server commits later. The next create of the key must
    # look it up across a window from the cancellation, not from the send.
    order_id = order(emu)
    items = [{"item_id": ITEM, "quantity": 1}]
    emu.add_fault(
        "POST", "/fulfillments", action="respond_then_commit", commit_after=0.6, latency=5
    )
    async with make_client(emu, settle=0.4) as dr:
        dr._transport.sleep = asyncio.sleep  # really wait: the commit is on a timer
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                dr.fulfillments.create(order_id=order_id, items=items, key="K"), 0.3
            )
        again = await dr.fulfillments.create(order_id=order_id, items=items, key="K")
    await emu.commit_pending()
    assert [f["id"] for f in emu.fulfillments] == [again.id]


async def test_bulk_remembers_a_key_created_more_than_10000_rows_earlier() -> None:
    # With since= and no journal, a row repeated after more rows than the client's cache
    # of known keys holds (10,000, plus the 256 rows a run at concurrency 64 has in
    # flight): the sweep predates the first create, the cache has dropped it.
    async with Emulator(rate_limit=None, log_limit=0) as emu:
        order_id = emu.add_order(items=[{"item_id": "first", "quantity": 5}])
        first = {"order_id": order_id, "items": [{"item_id": "first", "quantity": 1}]}
        others = emu.add_order(items=[{"item_id": "x", "quantity": 20_000}])
        rows = (
            [first]
            + [
                {
                    "order_id": others,
                    "items": [{"item_id": "x", "quantity": 1}],
                    "shipment_id": f"s{n}",
                }
                for n in range(10_400)
            ]
            + [first]
        )
        async with make_client(emu) as dr:
            since = datetime.now(timezone.utc)
            results = await run(dr, rows, since=since, concurrency=64)
        assert all(r.ok for r in results)
        assert len(emu.fulfillments) == 10_401
        repeat = next(r for r in results if r.index == len(rows) - 1)
        assert repeat.resumed and repeat.fulfillment is not None
