"""bulk_create against an in-memory stand-in for ``client.fulfillments``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from drfulfill import (
    BadRequestError,
    BulkResult,
    DigitalRiverError,
    Fulfillment,
    FulfillmentItem,
    FulfillmentRequest,
    ValidationError,
)
from drfulfill import _journal as journal_module
from drfulfill import bulk as bulk_module
from drfulfill._constants import BULK_ROWS_PER_SLOT, DEFAULT_BULK_CONCURRENCY
from drfulfill._safecreate import Outcome
from drfulfill._safecreate_core import content_mismatch, key_reuse_error
from drfulfill.bulk import bulk_create, request_key

FIELD = "drfulfillKey"


class FakeFulfillments:
    """``client.fulfillments`` whose safe-create component is a dict, with hooks to fail,
    delay or block rows. ``find_calls``: the orders (and keys) verified with "DR"."""

    def __init__(
        self, field: str | None = FIELD, target: str = "http://dr.test (test mode)"
    ) -> None:
        self.safe_create = self if field is not None else None
        self.field = field
        self.target = target
        self.settle = 0.0
        self.by_key: dict[str, Fulfillment] = {}
        self.create_calls: list[str] = []
        self.find_calls: list[str] = []
        self.sweeps: list[datetime] = []
        self.failing_orders: set[str] = set()
        self.blocked_orders: set[str] = set()  # their creates never return
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0  # creates and lookups in flight
        self.max_requests = 0
        self.delays: dict[str, int] = {}  # order id -> event-loop turns a create takes
        self.out: set[str] = set()  # keys whose create is out
        self.doubts: dict[str, float] = {}  # keys whose create was cancelled while out
        self.coordinated = False

    def clock(self) -> float:
        return 0.0

    def knows(self, key: str) -> bool:
        return key in self.by_key

    def doubt_since(self, key: str) -> float | None:
        return self.doubts.get(key)  # a create cancelled while it was out

    def sending(self, key: str) -> bool:
        return key in self.out

    def with_priority(self, priority: str) -> FakeFulfillments:
        return self  # no limiter here: the lane changes nothing

    def check(self, request: FulfillmentRequest, key: str, found: Fulfillment) -> Fulfillment:
        mismatch = content_mismatch(request, found)
        if mismatch is not None:
            raise key_reuse_error(key, found, mismatch)
        return found

    async def create_or_find(
        self, request: FulfillmentRequest, key: str, *, options: Any, slots: Any = None
    ) -> Outcome:
        if not options.verified:  # the component looks the key up itself
            self.find_calls.append(key)
            await asyncio.sleep(0)
            if key in self.by_key:
                return Outcome(self.check(request, key, self.by_key[key]), found=True)
        async with slots if slots is not None else contextlib.nullcontext():
            return Outcome(await self._create(request, key), found=False)

    async def _create(self, request: FulfillmentRequest, key: str) -> Fulfillment:
        self.create_calls.append(key)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._request_starts()
        self.out.add(key)
        try:
            if request.order_id in self.blocked_orders:
                await asyncio.Event().wait()
            for _ in range(self.delays.get(request.order_id, 1)):
                await asyncio.sleep(0)
            if request.order_id in self.failing_orders:
                raise BadRequestError(400, request_id="req_fake")
            assert key not in self.by_key, f"created twice: {key}"
            fulfillment = Fulfillment(
                id=f"ful_{len(self.by_key)}",
                created_time=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
                order_id=request.order_id,
                items=tuple(
                    FulfillmentItem(
                        item_id=item.item_id,
                        quantity=item.quantity,
                        cancel_quantity=item.cancel_quantity,
                        distributor_cost=Decimal("1.50"),
                    )
                    for item in request.items
                ),
                metadata={FIELD: key},
            )
            self.by_key[key] = fulfillment
            return fulfillment
        except asyncio.CancelledError:
            self.doubts[key] = 0.0  # cancelled while out: its outcome is unknown
            raise
        finally:
            self.out.discard(key)
            self.in_flight -= 1
            self.requests -= 1

    def _request_starts(self) -> None:
        self.requests += 1
        self.max_requests = max(self.max_requests, self.requests)

    async def keys_of_order(self, order_id: str) -> dict[str, Fulfillment]:
        self.find_calls.append(order_id)
        self._request_starts()
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            return {k: f for k, f in self.by_key.items() if f.order_id == order_id}
        finally:
            self.requests -= 1

    async def sweep(self, since: datetime) -> dict[str, Fulfillment]:
        self.sweeps.append(since)
        await asyncio.sleep(0)
        return dict(self.by_key)


def row(i: int, **extra: object) -> dict[str, object]:
    return {
        "order_id": f"ord_{i}",
        "items": [{"item_id": "i1", "quantity": 1}],
        "tracking_number": f"TN{i}",
        **extra,
    }


async def collect(results: AsyncIterator[BulkResult]) -> list[BulkResult]:
    return [result async for result in results]


def journal_rows(path: object) -> dict[str, tuple[str, str | None]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {
            key: (status, fid)
            for key, status, fid in db.execute("SELECT key, status, fulfillment_id FROM journal")
        }


@pytest.fixture
def fake() -> FakeFulfillments:
    return FakeFulfillments()


# --- keys -----------------------------------------------------------------------------


def test_request_key_is_a_stable_hash_of_the_wire_request():
    as_dict = row(1)
    as_model = FulfillmentRequest(**row(1))
    key = request_key(as_dict)
    assert key == request_key(as_model)
    assert len(key) == 32 and int(key, 16) >= 0
    # The canonical form is fixed: a re-run with a later version must give the same keys.
    canonical = '{"items":[{"itemId":"i1","quantity":1}],"orderId":"ord_1","trackingNumber":"TN1"}'
    assert key == hashlib.sha256(canonical.encode()).hexdigest()[:32]
    assert request_key(row(2)) != key


def test_request_key_ignores_the_key_field_and_empty_metadata():
    key = request_key(row(1))
    assert request_key(row(1, metadata={})) == key
    assert request_key(row(1, metadata={FIELD: "whatever"})) == key
    assert request_key(row(1, metadata={"k": "v"})) != key
    assert request_key(row(1, metadata={"k": "v", "other": "x"}), "other") == request_key(
        row(1, metadata={"k": "v"}), "other"
    )


async def test_default_keys_hash_the_request(fake):
    results = await collect(bulk_create(fake, [row(0), FulfillmentRequest(**row(1))]))
    assert {r.key for r in results} == {request_key(row(0)), request_key(row(1))}
    assert sorted(fake.create_calls) == sorted(r.key for r in results)


async def test_key_function(fake):
    results = await collect(bulk_create(fake, [row(0), row(1)], key=lambda r: "k-" + r.order_id))
    assert sorted(r.key for r in results) == ["k-ord_0", "k-ord_1"]
    assert sorted(fake.by_key) == ["k-ord_0", "k-ord_1"]


async def test_key_field_name(fake):
    results = await collect(bulk_create(fake, [row(0), row(1)], key="tracking_number"))
    assert sorted(r.key for r in results) == ["TN0", "TN1"]


async def test_key_field_missing_fails_only_that_row(fake):
    rows = [row(0), row(1, shipment_id=None), row(2)]
    rows[0]["shipment_id"] = "S0"
    rows[2]["shipment_id"] = "S2"
    results = {r.index: r for r in await collect(bulk_create(fake, rows, key="shipment_id"))}
    assert results[0].ok and results[0].key == "S0"
    assert results[2].ok and results[2].key == "S2"
    assert not results[1].ok and isinstance(results[1].error, ValidationError)
    assert "shipment_id" in str(results[1].error)
    assert sorted(fake.create_calls) == ["S0", "S2"]


async def test_a_key_in_metadata_wins(fake):
    results = await collect(
        bulk_create(fake, [row(0, metadata={FIELD: "mine", "x": 1})], key="tracking_number")
    )
    assert results[0].key == "mine" and fake.create_calls == ["mine"]


async def test_a_failing_key_function_fails_the_row(fake):
    def key(request: FulfillmentRequest) -> str:
        if request.order_id == "ord_1":
            raise KeyError("no line id")
        return request.order_id

    results = {r.index: r for r in await collect(bulk_create(fake, [row(0), row(1)], key=key))}
    assert results[0].ok
    assert isinstance(results[1].error, KeyError) and results[1].key == ""


async def test_a_key_that_is_not_a_string_fails_the_row(fake):
    results = await collect(bulk_create(fake, [row(0)], key=lambda r: 42))
    assert not results[0].ok and isinstance(results[0].error, ValidationError)


@pytest.mark.parametrize(
    "kwargs",
    [{"key": "items"}, {"key": "no_such_field"}, {"key": 3}, {"concurrency": 0}],
)
def test_bad_arguments_raise_up_front(fake, kwargs):
    with pytest.raises(ValidationError):
        bulk_create(fake, [row(0)], **kwargs)
    assert not fake.create_calls


@pytest.mark.parametrize("requests", [row(0), "rows.csv", 7])
def test_requests_must_be_an_iterable_of_rows(fake, requests):
    with pytest.raises(ValidationError, match="iterable"):
        bulk_create(fake, requests)


def test_without_the_safe_create_protocol_bulk_create_refuses():
    with pytest.raises(ValidationError, match="idempotency_field"):
        bulk_create(FakeFulfillments(field=None), [row(0)])


# --- streaming, laziness, concurrency --------------------------------------------------


async def test_input_is_pulled_lazily(fake):
    pulled = 0

    def endless() -> Iterator[dict[str, object]]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield row(i)

    concurrency, wanted = 8, 50
    got = 0
    async with contextlib.aclosing(bulk_create(fake, endless(), concurrency=concurrency)) as rs:
        async for _ in rs:
            got += 1
            if got == wanted:
                break
    # Rows in flight: a few per request slot (rows waiting out a settle window hold none).
    in_flight = concurrency * BULK_ROWS_PER_SLOT
    assert wanted <= pulled <= wanted + in_flight
    assert len(fake.create_calls) <= wanted + in_flight


async def test_async_iterable_input(fake):
    async def rows() -> AsyncIterator[dict[str, object]]:
        for i in range(20):
            await asyncio.sleep(0)
            yield row(i)

    results = await collect(bulk_create(fake, rows(), concurrency=4))
    assert sorted(r.index for r in results) == list(range(20))
    assert all(r.ok and not r.resumed for r in results)


async def test_results_come_as_they_complete_with_their_index(fake):
    for i in range(10):
        fake.delays[f"ord_{i}"] = 10 - i  # later rows finish first
    results = await collect(bulk_create(fake, [row(i) for i in range(10)], concurrency=10))
    indexes = [r.index for r in results]
    assert sorted(indexes) == list(range(10)) and indexes != sorted(indexes)
    for r in results:
        assert r.request.order_id == f"ord_{r.index}"
        assert r.fulfillment is not None and r.fulfillment.order_id == r.request.order_id


async def test_concurrency_bounds_creates_in_flight(fake):
    results = await collect(bulk_create(fake, (row(i) for i in range(100)), concurrency=5))
    assert len(results) == 100
    assert fake.max_in_flight == 5


async def test_concurrency_bounds_lookups_and_creates_together(fake):
    # Found by review: the per-order lookups ran outside the request slots.
    results = await collect(bulk_create(fake, (row(i) for i in range(100)), concurrency=5))
    assert len(results) == 100 and len(fake.find_calls) == 100
    assert fake.max_requests <= 5


async def test_default_concurrency(fake):
    await collect(bulk_create(fake, [row(i) for i in range(100)]))
    assert fake.max_in_flight == DEFAULT_BULK_CONCURRENCY


async def test_progress_callback_sees_every_row_once(fake):
    seen: list[BulkResult] = []
    results = await collect(
        bulk_create(
            fake, [row(i) for i in range(30)] + [{"order_id": "x"}], on_progress=seen.append
        )
    )
    assert seen == results and len(seen) == 31


# --- failures --------------------------------------------------------------------------


async def test_an_invalid_row_fails_alone(fake):
    rows = [row(0), row(1, items=[{"item_id": "i1", "quantity": -1}]), {"oops": 1}, row(3)]
    results = {r.index: r for r in await collect(bulk_create(fake, rows))}
    assert [i for i, r in sorted(results.items()) if r.ok] == [0, 3]
    assert isinstance(results[1].error, ValidationError) and "quantity" in str(results[1].error)
    assert isinstance(results[2].error, ValidationError)
    assert results[2].request == {"oops": 1} and results[2].key == ""
    assert len(fake.create_calls) == 2


async def test_an_api_failure_fails_alone(fake):
    fake.failing_orders = {"ord_2"}
    results = {r.index: r for r in await collect(bulk_create(fake, [row(i) for i in range(5)]))}
    assert isinstance(results[2].error, BadRequestError) and not results[2].ok
    assert all(results[i].ok for i in (0, 1, 3, 4))


async def test_stop_on_error_stops_reading_and_ends_after_the_rows_in_flight(fake):
    fake.failing_orders = {"ord_3"}
    pulled = 0

    def rows() -> Iterator[dict[str, object]]:
        nonlocal pulled
        for i in range(100):
            pulled += 1
            yield row(i)

    results = await collect(bulk_create(fake, rows(), concurrency=4, stop_on_error=True))
    failed = [r for r in results if not r.ok]
    assert [r.index for r in failed] == [3]
    # Rows 0..3 + the rows in flight at most were pulled, all of them reported, none after.
    assert pulled <= 3 + 4 * BULK_ROWS_PER_SLOT
    assert sorted(r.index for r in results) == list(range(pulled))


async def test_stop_on_error_counts_invalid_rows(fake):
    rows = [row(0), {"bad": True}, row(2), row(3)]
    results = await collect(bulk_create(fake, rows, concurrency=1, stop_on_error=True))
    assert sorted((r.index, r.ok) for r in results) == [(0, True), (1, False)]


async def test_without_stop_on_error_failures_do_not_stop_the_run(fake):
    fake.failing_orders = {f"ord_{i}" for i in range(0, 50, 2)}
    results = await collect(bulk_create(fake, [row(i) for i in range(50)], concurrency=3))
    assert sum(r.ok for r in results) == 25 and len(results) == 50


# --- exactly once: journal, re-runs, duplicate keys ------------------------------------


async def test_journal_rerun_resumes_everything_and_creates_nothing(fake, tmp_path):
    journal = tmp_path / "upload.db"
    first = await collect(bulk_create(fake, [row(i) for i in range(20)], journal=journal))
    assert all(r.ok and not r.resumed for r in first)
    # A fresh journal proves nothing: every row was verified (one lookup per order).
    assert sorted(fake.find_calls) == sorted(f"ord_{i}" for i in range(20))
    fake.find_calls.clear()
    rows = journal_rows(journal)
    assert {k: v[0] for k, v in rows.items()} == {r.key: "done" for r in first}
    assert {k: v[1] for k, v in rows.items()} == {r.key: r.fulfillment.id for r in first}

    calls = len(fake.create_calls)
    second = await collect(bulk_create(fake, (row(i) for i in range(20)), journal=journal))
    assert len(fake.create_calls) == calls and fake.find_calls == []
    assert all(r.ok and r.resumed for r in second)
    by_index = {r.index: r.fulfillment for r in first}
    for r in second:
        assert r.fulfillment == by_index[r.index]  # rebuilt from the journal, Decimal and all


async def test_journal_started_rows_are_checked_before_creating(fake, tmp_path):
    journal = tmp_path / "j.db"
    first = {
        r.index: r for r in await collect(bulk_create(fake, [row(0), row(1)], journal=journal))
    }
    # As if the last run died with both rows in flight, and only row 0's create had landed.
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        db.execute("UPDATE journal SET status = 'started', fulfillment_json = NULL")
    del fake.by_key[first[1].key]
    fake.create_calls.clear()
    fake.find_calls.clear()

    second = {
        r.index: r for r in await collect(bulk_create(fake, [row(0), row(1)], journal=journal))
    }
    assert sorted(fake.find_calls) == sorted([first[0].key, first[1].key])
    assert fake.create_calls == [first[1].key]
    assert second[0].resumed and second[0].fulfillment == first[0].fulfillment
    assert second[1].ok and not second[1].resumed
    assert {status for status, _ in journal_rows(journal).values()} == {"done"}


async def test_journal_failed_rows_are_retried(fake, tmp_path):
    journal = tmp_path / "j.db"
    fake.failing_orders = {"ord_1"}
    first = {
        r.index: r for r in await collect(bulk_create(fake, [row(0), row(1)], journal=journal))
    }
    status, _ = journal_rows(journal)[first[1].key]
    assert status == "failed"
    with contextlib.closing(sqlite3.connect(journal)) as db:
        (error,) = db.execute("SELECT error FROM journal WHERE status = 'failed'").fetchone()
    assert error.startswith("BadRequestError: HTTP 400")

    fake.failing_orders = set()
    fake.find_calls.clear()
    second = {
        r.index: r for r in await collect(bulk_create(fake, [row(0), row(1)], journal=journal))
    }
    assert second[0].resumed and second[1].ok and not second[1].resumed
    # A 'failed' row is a definite refusal (one left in doubt stays 'started'): it is
    # verified with DR like a row without an entry, by its order.
    assert fake.find_calls == ["ord_1"]
    assert len(fake.by_key) == 2


async def test_without_a_journal_each_row_is_checked_and_a_rerun_creates_nothing(fake):
    first = await collect(bulk_create(fake, [row(i) for i in range(10)]))
    assert sorted(fake.find_calls) == sorted(r.request.order_id for r in first)
    assert all(r.ok and not r.resumed for r in first)
    second = await collect(bulk_create(fake, [row(i) for i in range(10)]))
    assert len(fake.create_calls) == 10
    assert all(r.ok and r.resumed for r in second)


@pytest.mark.parametrize("use_journal", [False, True])
async def test_duplicate_keys_in_one_run_are_created_once(fake, tmp_path, use_journal):
    fake.delays["ord_0"] = 20  # still in flight when its duplicates arrive
    rows = [row(0), row(1), row(0), row(0), row(2)]
    journal = tmp_path / "j.db" if use_journal else None
    results = {r.index: r for r in await collect(bulk_create(fake, rows, journal=journal))}
    assert sorted(fake.create_calls) == sorted({request_key(r) for r in rows})
    assert not results[0].resumed and results[2].resumed and results[3].resumed
    assert results[0].fulfillment is results[2].fulfillment is results[3].fulfillment
    assert results[0].key == results[2].key == results[3].key


async def test_a_duplicate_after_its_first_row_finished_is_resumed(fake):
    results = await collect(bulk_create(fake, [row(0), row(0)], concurrency=1))
    assert [(r.index, r.resumed) for r in results] == [(0, False), (1, True)]
    assert len(fake.create_calls) == 1


async def test_a_duplicate_shares_the_first_rows_failure(fake):
    fake.failing_orders = {"ord_0"}
    fake.delays["ord_0"] = 5
    results = await collect(bulk_create(fake, [row(0), row(0)], concurrency=2))
    assert [r.ok for r in results] == [False, False]
    assert len(fake.create_calls) == 1


async def test_one_key_for_two_orders_fails_the_later_row(fake, tmp_path):
    fake.delays["ord_0"] = 5
    rows = [row(0, tracking_number="same"), row(1, tracking_number="same")]
    results = {r.index: r for r in await collect(bulk_create(fake, rows, key="tracking_number"))}
    assert results[0].ok
    assert isinstance(results[1].error, ValidationError) and "ord_0" in str(results[1].error)

    fresh, journal = FakeFulfillments(), tmp_path / "j.db"
    await collect(bulk_create(fresh, rows[:1], key="tracking_number", journal=journal))
    (again,) = await collect(bulk_create(fresh, rows[1:], key="tracking_number", journal=journal))
    assert isinstance(again.error, ValidationError) and "ord_0" in str(again.error)
    assert len(fresh.by_key) == 1


# --- stopping early --------------------------------------------------------------------


async def test_break_cancels_rows_in_flight_and_leaves_the_journal_consistent(fake, tmp_path):
    journal = tmp_path / "j.db"
    fake.blocked_orders = {f"ord_{i}" for i in range(5, 40, 7)}
    got: list[BulkResult] = []
    async with contextlib.aclosing(
        bulk_create(fake, (row(i) for i in range(40)), concurrency=8, journal=journal)
    ) as results:
        async for result in results:
            got.append(result)
            if len(got) == 20:
                break
    assert asyncio.all_tasks() == {asyncio.current_task()}  # nothing left running
    statuses = journal_rows(journal)
    assert set(s for s, _ in statuses.values()) <= {"done", "started", "failed"}
    done = {k for k, (s, _) in statuses.items() if s == "done"}
    assert {r.key for r in got} <= done
    assert done == set(fake.by_key)  # 'done' exactly when created
    # 'started' exactly for the creates cut off while out (in doubt); rows stopped before
    # their create went out are 'failed' ("stopped before its create was sent").
    started = {k for k, (s, _) in statuses.items() if s == "started"}
    assert started == set(fake.doubts) and request_key(row(5)) in started

    fake.blocked_orders = set()
    fake.create_calls.clear()
    fake.find_calls.clear()
    second = await collect(bulk_create(fake, (row(i) for i in range(40)), journal=journal))
    assert all(r.ok for r in second) and len(second) == 40
    # 'started' rows are looked up by key; rows without an entry by their order.
    assert sorted(c for c in fake.find_calls if not c.startswith("ord_")) == sorted(started)
    assert sorted(fake.create_calls) == sorted(set(fake.by_key) - done)
    assert sum(r.resumed for r in second) == len(done)


async def test_cancelling_the_consumer_cancels_rows_in_flight(fake, tmp_path):
    journal = tmp_path / "j.db"
    fake.blocked_orders = {"ord_3"}
    got: list[BulkResult] = []
    both_done = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(
            bulk_create(fake, [row(i) for i in range(6)], concurrency=6, journal=journal)
        ) as results:
            async for result in results:
                got.append(result)
                if len(got) == 5:
                    both_done.set()

    task = asyncio.create_task(consume())
    await both_done.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.all_tasks() == {asyncio.current_task()}
    statuses = journal_rows(journal)  # the lock is released: the journal is closed
    assert statuses[request_key(row(3))][0] == "started"
    assert sorted(s for s, _ in statuses.values()) == ["done"] * 5 + ["started"]


async def test_an_error_in_the_input_ends_the_run_cleanly(fake, tmp_path):
    journal = tmp_path / "j.db"

    def rows() -> Iterator[dict[str, object]]:
        yield row(0)
        yield row(1)
        raise RuntimeError("bad CSV line 3")

    with pytest.raises(RuntimeError, match="CSV"):
        await collect(bulk_create(fake, rows(), concurrency=4, journal=journal))
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert set(s for s, _ in journal_rows(journal).values()) <= {"started", "done"}


async def test_a_journal_in_use_by_a_running_run_is_refused(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "LOCK_WAIT", 0.2)
    journal = tmp_path / "j.db"
    fake.blocked_orders = {"ord_0"}
    first = bulk_create(fake, [row(0), row(1)], journal=journal)
    async with contextlib.aclosing(first):
        await anext(first)  # row 1 done; row 0 still in flight, journal open
        with pytest.raises(DigitalRiverError, match="in use"):
            await collect(bulk_create(fake, [row(0)], journal=journal))
    assert len(fake.create_calls) == 2


async def test_a_journal_is_bound_to_the_api_it_was_first_used_with(tmp_path):
    # Regression: a journal knew only keys, so a run against production after one against
    # staging reported every row resumed (with staging's fulfillments) and created nothing.
    journal = tmp_path / "j.db"
    staging = FakeFulfillments(target="https://staging.test (test mode)")
    production = FakeFulfillments(target="https://api.test (live mode)")
    await collect(bulk_create(staging, [row(0)], journal=journal))

    with pytest.raises(ValidationError, match=r"staging.test \(test mode\), not https://api"):
        await collect(bulk_create(production, [row(0)], journal=journal))
    with pytest.raises(ValidationError, match="staging"):
        bulk_module.claim_journal(journal, production.target)
    bulk_module.claim_journal(journal, staging.target)  # the same API: fine
    assert production.create_calls == production.find_calls == []
    again = await collect(bulk_create(staging, [row(0)], journal=journal))
    assert [r.resumed for r in again] == [True]


async def test_a_journal_holding_only_started_rows_is_still_bound_to_its_api(tmp_path):
    # A run cut off while its creates were out leaves only 'started' rows: each a create
    # that may have landed at staging. Used against production, the journal would settle
    # them there (finding nothing) and then bind to production, losing the doubt.
    journal = tmp_path / "j.db"
    staging = FakeFulfillments(target="https://staging.test (test mode)")
    staging.blocked_orders = {"ord_0", "ord_1"}
    async with contextlib.aclosing(bulk_create(staging, [row(0), row(1)], journal=journal)) as rs:
        task = asyncio.ensure_future(anext(rs))
        while staging.in_flight < 2:  # noqa: ASYNC110 (polling a counter)
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await task
    assert {s for s, _ in journal_rows(journal).values()} == {"started"}
    production = FakeFulfillments(target="https://api.test (live mode)")
    with pytest.raises(ValidationError, match="staging"):
        await collect(bulk_create(production, [row(0)], journal=journal))
    assert bulk_module.journal_in_doubt(journal) == 2


async def test_a_journal_of_definite_failures_only_binds_nothing(tmp_path):
    # A wrong key refused every row: nothing is true of that API, so the corrected run
    # against another API may use the journal.
    journal = tmp_path / "j.db"
    wrong = FakeFulfillments(target="https://staging.test (test mode)")
    wrong.failing_orders = {"ord_0"}
    assert [r.ok for r in await collect(bulk_create(wrong, [row(0)], journal=journal))] == [False]
    fixed = FakeFulfillments(target="https://api.test (live mode)")
    assert [r.ok for r in await collect(bulk_create(fixed, [row(0)], journal=journal))] == [True]


async def test_a_journal_that_cannot_be_opened_is_a_validation_error(fake, tmp_path):
    with pytest.raises(ValidationError, match="cannot open the journal"):
        await collect(bulk_create(fake, [row(0)], journal=tmp_path / "missing" / "j.db"))
    assert fake.create_calls == []


async def test_a_rerun_waits_for_a_broken_off_run_to_close(fake, tmp_path):
    """``break`` without aclosing: the old generator is finalized soon, not at once."""
    journal = tmp_path / "j.db"
    fake.blocked_orders = {"ord_0"}
    async for _ in bulk_create(fake, [row(0), row(1)], journal=journal):
        break
    fake.blocked_orders = set()
    results = await collect(bulk_create(fake, [row(0), row(1)], journal=journal))
    assert sorted((r.index, r.resumed) for r in results) == [(0, False), (1, True)]
    assert len(fake.by_key) == 2


async def test_an_async_source_that_waits_does_not_hold_back_rows_already_pulled(fake):
    created = asyncio.Event()
    create = fake.create_or_find

    async def create_and_tell(request: FulfillmentRequest, key: str, **options: Any) -> Outcome:
        outcome = await create(request, key, **options)
        created.set()
        return outcome

    fake.create_or_find = create_and_tell  # type: ignore[method-assign]

    async def live_feed() -> AsyncIterator[dict[str, object]]:
        yield row(0)
        await created.wait()  # the next row arrives only once the first one is created
        yield row(1)

    # wait_for only turns a regression (a deadlock) into a failure.
    results = await asyncio.wait_for(collect(bulk_create(fake, live_feed(), concurrency=8)), 10)
    assert sorted(r.index for r in results) == [0, 1]
