"""SyncClient against an emulator on its own thread, over loopback: every method, the same
models and exceptions, threads sharing one client, a running loop in the calling thread,
calls from the portal's own thread, and iterators left early."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from drfulfill import (
    APIResponse,
    BulkFailure,
    BulkSuccess,
    DigitalRiverError,
    Fulfillment,
    FulfillmentReturn,
    FulfillmentReturnState,
    NotFoundError,
    Page,
    SyncClient,
    SyncPager,
    ValidationError,
)
from drfulfill._portal import portal

from ._scripts import KEY
from ._threaded import EmulatorThread


def make(emu: EmulatorThread, **options: Any) -> SyncClient:
    options.setdefault("rate_limit", None)
    options.setdefault("settle", 0.05)
    return SyncClient(KEY, base_url=emu.url, **options)


def add_order(emu: EmulatorThread, quantity: int = 50) -> str:
    return emu.call(emu.emulator.add_order, items=[{"item_id": "i1", "quantity": quantity}])


ONE = [{"item_id": "i1", "quantity": 1}]


def test_every_method_runs_the_async_client(emu_thread: EmulatorThread) -> None:
    order = add_order(emu_thread)
    fo = emu_thread.call(
        emu_thread.emulator.add_fulfillment_order,
        upstream_id=order,
        items=[{"id": "foi", "shipped_quantity": 3}],
    )
    with make(emu_thread) as dr:
        f = dr.fulfillments.create(order_id=order, items=ONE, key="k1")
        assert isinstance(f, Fulfillment) and f.metadata == {"drfulfillKey": "k1"}
        # Exactly once: a repeat is fetched by id (so it carries order_details too).
        assert dr.fulfillments.create(order_id=order, items=ONE, key="k1").id == f.id
        assert dr.fulfillments.retrieve(f.id).order_details is not None
        assert dr.fulfillments.update(f.id, tracking_number="1Z").tracking_number == "1Z"
        assert dr.fulfillments.find_by_key(order, "k1") is not None
        pager = dr.fulfillments.list(order_id=order, limit=1)
        assert isinstance(pager, SyncPager) and [x.id for x in pager] == [f.id]
        assert [p.has_more for p in dr.fulfillments.list(limit=1).pages()] == [False]
        assert dr.fulfillments.list().first_page().data[0].id == f.id
        rows = [{"order_id": order, "items": ONE}, {"order_id": "", "items": ONE}]
        results = sorted(dr.fulfillments.bulk_create(rows), key=lambda r: r.index)
        assert [type(r) for r in results] == [BulkSuccess, BulkFailure]
        r = dr.fulfillment_returns.create(
            fulfillment_order_id=fo, items=[{"fulfillment_order_item_id": "foi", "quantity": 1}]
        )
        assert isinstance(r, FulfillmentReturn) and r.state is FulfillmentReturnState.CREATED
        assert dr.fulfillment_returns.retrieve(r.id) == r
        assert [x.id for x in dr.fulfillment_returns.list()] == [r.id]
        raw = dr.with_raw_response.fulfillments.retrieve(f.id)
        assert isinstance(raw, APIResponse) and raw.status == 200 and raw.data.id == f.id
        raw_pages = list(dr.with_raw_response.fulfillment_returns.list())
        assert isinstance(raw_pages[0].data, Page) and raw_pages[0].status == 200
        view = dr.with_options(timeout=5, max_retries=0)
        assert isinstance(view, SyncClient) and view.retry_policy.max_retries == 0
        assert view.fulfillments.retrieve(f.id).id == f.id
        assert dr.stats is view.stats and dr.stats.requests > 10
        assert dr.target.endswith("(test mode)") and KEY not in repr(dr)


def test_the_same_exceptions(emu_thread: EmulatorThread) -> None:
    with make(emu_thread) as dr:
        with pytest.raises(NotFoundError) as caught:
            dr.fulfillments.retrieve("ful_nope")
        assert caught.value.status == 404 and caught.value.request_id
        with pytest.raises(ValidationError):
            dr.fulfillments.list(limit=0)
        with pytest.raises(ValidationError):
            dr.with_options(timeout=-1)
    with pytest.raises(ValidationError):
        SyncClient(KEY, base_url="http://example.com")  # checked at construction
    with pytest.raises(ValidationError, match="session"):
        SyncClient(KEY, session=object())  # type: ignore[arg-type]
    closed = make(emu_thread)
    closed.close()
    closed.close()
    with pytest.raises(DigitalRiverError, match="closed"):
        closed.fulfillments.retrieve("ful_1")


def test_threads_share_one_client_its_pool_and_its_limiter() -> None:
    # DR's 25/s for a test key, enforced by the emulator: eight threads on one client stay
    # under it because they share the client's limiter (a Client per call drew 429s).
    emu = EmulatorThread()
    try:
        order = add_order(emu, 100)
        with SyncClient(KEY, base_url=emu.url, max_retries=0) as dr:
            f = dr.fulfillments.create(order_id=order, items=ONE)

            def work(_: int) -> None:
                for _ in range(5):
                    assert dr.fulfillments.retrieve(f.id).id == f.id

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(work, range(8)))
            assert dr.stats.requests == 41 and dr.stats.rate_limited == 0
        assert emu.call(lambda: emu.emulator.rate_limited) == 0
    finally:
        emu.close()


def test_a_running_loop_in_the_calling_thread_is_no_obstacle(emu_thread: EmulatorThread) -> None:
    order = add_order(emu_thread)
    with make(emu_thread) as dr:

        async def notebook_cell() -> str:  # Jupyter runs cells inside a running loop
            return dr.fulfillments.create(order_id=order, items=ONE).id

        created = asyncio.run(notebook_cell())
        assert dr.fulfillments.retrieve(created).id == created


def test_a_call_from_the_portals_own_thread_raises_instead_of_hanging(
    emu_thread: EmulatorThread,
) -> None:
    order = add_order(emu_thread)
    outcome: list[BaseException | str] = []
    with make(emu_thread) as dr:

        def on_progress(_: object) -> None:  # drfulfill runs it on the portal's thread
            dr.fulfillments.retrieve("ful_1")

        def run() -> None:
            try:
                list(
                    dr.fulfillments.bulk_create(
                        [{"order_id": order, "items": ONE}], on_progress=on_progress
                    )
                )
                outcome.append("no error")
            except BaseException as error:
                outcome.append(error)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "the call hung"
        assert isinstance(outcome[0], DigitalRiverError)
        assert "own event-loop thread" in str(outcome[0])
        assert dr.fulfillments.list().first_page().data  # still usable


async def _tasks_on_the_loop() -> int:
    return len(asyncio.all_tasks()) - 1  # not this one


def test_iterators_left_early_close_their_async_side() -> None:
    emu = EmulatorThread(rate_limit=None, latency=0.05)  # pages in flight while we leave
    try:
        order = add_order(emu)
        with make(emu) as dr:
            for _ in range(4):
                dr.fulfillments.create(order_id=order, items=ONE)
            for pager in (
                dr.fulfillments.list(limit=1, prefetch=True),
                dr.fulfillments.list(limit=1),
            ):
                for _ in pager:
                    break
                assert portal().call(_tasks_on_the_loop) == 0
            pages = dr.fulfillments.list(limit=1, prefetch=True).pages()
            next(pages)
            pages.close()  # type: ignore[attr-defined]
            assert portal().call(_tasks_on_the_loop) == 0
            rows = (
                {"order_id": order, "items": [{"item_id": "i1", "quantity": n}]} for n in (1, 2, 3)
            )
            for _ in dr.fulfillments.bulk_create(rows, concurrency=1):
                break
            assert portal().call(_tasks_on_the_loop) == 0
            assert len(list(dr.fulfillments.list(limit=100))) >= 4  # still usable
    finally:
        emu.close()
