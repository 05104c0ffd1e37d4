"""Late commits: a request answered (or dropped) now and applied later, as a DR backend that
commits after its gateway gave up would."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from drfulfill.testing import Emulator, LateCommit
from tests.emulator._helpers import Api, error_of

ORDER_ID = "100000010336"
ORDER_BODY = {"orderId": ORDER_ID, "items": [{"itemId": "1", "quantity": 1}]}


@pytest.fixture
def order(emu: Emulator) -> str:
    return emu.add_order("100000010336", items=[{"item_id": "1", "quantity": 50}])


async def test_respond_then_commit_answers_504_and_applies_later(
    emu: Emulator, api: Api, order: str
) -> None:
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=60)
    reply = await api.post("/fulfillments", ORDER_BODY)
    assert error_of(reply)[:2] == (504, "gateway_timeout")
    assert "x-dr-requestid" in reply.headers
    assert len(emu.fulfillments) == 0
    assert emu.pending_commits == 1
    assert (await api.get("/fulfillments", {"orderId": order})).body["data"] == []

    [commit] = await emu.commit_pending()
    assert emu.pending_commits == 0
    assert isinstance(commit, LateCommit)
    assert (commit.status, commit.applied, commit.pending) == (201, True, False)
    assert commit.request is emu.requests[0]
    assert commit.request.status == 504  # what the client was told
    assert emu.fulfillments.ids() == [commit.body["id"]]
    assert emu.orders[order]["items"][0]["openQuantity"] == 49
    listed = await api.get("/fulfillments", {"orderId": order})
    assert [f["id"] for f in listed.body["data"]] == emu.fulfillments.ids()
    assert emu.late_commits == [commit]


async def test_any_error_status_code_and_retry_after(emu: Emulator, api: Api, order: str) -> None:
    emu.add_fault(
        "POST",
        "/fulfillments",
        action="respond_then_commit",
        status=502,
        code="upstream_error",
        retry_after=3,
        commit_after=60,
    )
    reply = await api.post("/fulfillments", ORDER_BODY)
    assert error_of(reply) == (502, "upstream_error", None)
    assert reply.headers["Retry-After"] == "3"
    await emu.commit_pending()
    assert len(emu.fulfillments) == 1


async def test_commits_on_the_event_loop_after_commit_after(
    emu: Emulator, api: Api, order: str
) -> None:
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0.05)
    assert (await api.post("/fulfillments", ORDER_BODY)).status == 504
    assert len(emu.fulfillments) == 0
    for _ in range(100):  # the commit is due 0.05 s after the request: wait at most 1 s
        if emu.pending_commits == 0:
            break
        await asyncio.sleep(0.01)
    assert len(emu.fulfillments) == 1
    assert emu.late_commits[0].applied


async def test_validation_happens_at_commit_time(emu: Emulator, api: Api) -> None:
    order = emu.add_order("100000010336", items=[{"item_id": "1", "quantity": 1}])
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=60)
    assert (await api.post("/fulfillments", ORDER_BODY)).status == 504
    assert (await api.post("/fulfillments", ORDER_BODY)).status == 201  # the resend wins
    [commit] = await emu.commit_pending()
    # The late one finds the order closed: refused, nothing applied, the refusal recorded.
    assert (commit.status, commit.applied) == (409, False)
    assert commit.body["errors"][0]["code"] == "order_fulfilled"
    assert len(emu.fulfillments) == 1
    assert emu.orders[order]["items"][0]["openQuantity"] == 0


async def test_a_request_refused_before_the_backend_is_never_committed(
    emu: Emulator, api: Api, order: str
) -> None:
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0)
    unauthenticated = await api.post("/fulfillments", ORDER_BODY, headers={"Authorization": ""})
    assert unauthenticated.status == 401
    assert emu.pending_commits == 0 and emu.late_commits == []


async def test_client_timeout_while_the_server_waits(emu: Emulator, api: Api, order: str) -> None:
    # The client gives up after 0.02 s; the backend commits at once; the gateway would
    # answer 504 only after 10 s (the server task is cancelled when the emulator closes).
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=0, latency=10)
    with pytest.raises(asyncio.TimeoutError):
        await api.post("/fulfillments", ORDER_BODY, timeout=aiohttp.ClientTimeout(total=0.02))
    for _ in range(100):  # on a loaded machine the server may see it after the client gave up
        if emu.late_commits:
            break
        await asyncio.sleep(0.01)
    await emu.commit_pending()
    assert len(emu.fulfillments) == 1
    assert emu.requests[-1].status is None  # no answer was ever sent


async def test_drop_then_commit_closes_now_and_applies_later(
    emu: Emulator, api: Api, order: str
) -> None:
    emu.add_fault("POST", "/fulfillments", action="drop_then_commit", commit_after=60)
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.post("/fulfillments", ORDER_BODY)
    assert len(emu.fulfillments) == 0 and emu.pending_commits == 1
    assert emu.requests[-1].status is None
    await emu.commit_pending()
    assert len(emu.fulfillments) == 1


async def test_commit_pending_applies_in_due_order(emu: Emulator, api: Api, order: str) -> None:
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=90)
    emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=30)
    first = {**ORDER_BODY, "shipmentId": "late"}
    second = {**ORDER_BODY, "shipmentId": "early"}
    await api.post("/fulfillments", first)
    await api.post("/fulfillments", second)
    applied = await emu.commit_pending()
    assert [c.body["shipmentId"] for c in applied] == ["early", "late"]
    assert [f["shipmentId"] for f in emu.fulfillments] == ["early", "late"]


async def test_update_and_return_creates_commit_late_too(emu: Emulator, api: Api) -> None:
    order = emu.add_order("100000010336", items=[{"item_id": "1", "quantity": 5}])
    fulfillment = (await api.post("/fulfillments", ORDER_BODY)).body
    emu.add_fault("POST", "/fulfillments/*", action="respond_then_commit", commit_after=60)
    reply = await api.post(f"/fulfillments/{fulfillment['id']}", {"trackingNumber": "1Z"})
    assert reply.status == 504
    assert "trackingNumber" not in emu.fulfillments[fulfillment["id"]]
    await emu.commit_pending()
    assert emu.fulfillments[fulfillment["id"]]["trackingNumber"] == "1Z"
    assert emu.orders[order]["items"][0]["openQuantity"] == 4


async def test_close_applies_pending_commits() -> None:
    async with Emulator(rate_limit=None) as emu, aiohttp.ClientSession() as session:
        emu.add_order("100000010336", items=[{"item_id": "1", "quantity": 5}])
        emu.add_fault("POST", "/fulfillments", action="respond_then_commit", commit_after=3600)
        async with session.post(
            emu.url + "/fulfillments",
            json=ORDER_BODY,
            headers={"Authorization": "Bearer sk_test_x"},
        ) as response:
            assert response.status == 504
        assert emu.pending_commits == 1
    assert (emu.pending_commits, len(emu.fulfillments)) == (0, 1)
    loop_tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert loop_tasks == []


async def late_outcomes(seed: int) -> tuple[list[int], list[float]]:
    async with Emulator(rate_limit=None, seed=seed) as emu, aiohttp.ClientSession() as session:
        emu.add_order(ORDER_ID, items=[{"item_id": "1", "quantity": 500}])
        emu.add_fault(
            "POST",
            "/fulfillments",
            action="respond_then_commit",
            commit_after=(50, 200),  # far enough that none is due while the test runs
            rate=0.1,
            times=None,
        )
        statuses = []
        start = asyncio.get_running_loop().time()
        for _ in range(300):
            async with session.post(
                emu.url + "/fulfillments",
                json=ORDER_BODY,
                headers={"Authorization": "Bearer sk_test_x"},
            ) as response:
                statuses.append(response.status)
        end = asyncio.get_running_loop().time()
        # Each commit is due 50-200 s after its request, which came between start and end.
        assert all(start + 50 <= c.due <= end + 200 for c in emu.late_commits)
        delays = [commit.due - start for commit in emu.late_commits]
        assert emu.pending_commits == len(emu.late_commits) == statuses.count(504)
        assert emu.faults_injected == statuses.count(504)
        await emu.commit_pending()
        assert len(emu.fulfillments) == 300  # every one applied, late or not
        return statuses, delays


async def test_a_rate_and_a_commit_after_range_make_seeded_random_late_commits() -> None:
    statuses, delays = await late_outcomes(seed=3)
    assert set(statuses) == {201, 504}
    assert 15 <= statuses.count(504) <= 50  # about 10% of 300
    assert max(delays) - min(delays) > 50  # drawn, not one fixed delay
    again, _ = await late_outcomes(seed=3)
    assert again == statuses  # the same seed, the same requests met the fault


@pytest.mark.parametrize(
    "kwargs",
    [
        {"action": "respond_then_commit", "commit_after": (2, 1)},
        {"action": "respond_then_commit", "commit_after": (-1, 1)},
        {"action": "respond", "status": 503, "rate": 0},
        {"action": "respond", "status": 503, "rate": 1.5},
        {"action": "drop_then_commit", "status": 504},
        {"action": "drop_then_commit", "code": "x"},
        {"action": "respond_then_commit", "status": 200},
        {"action": "respond_then_commit", "commit_after": -1},
        {"action": "respond_then_commit", "commit_after": float("nan")},
        {"action": "respond", "status": 503, "commit_after": 1},
        {"action": "drop", "commit_after": 1},
    ],
)
def test_add_fault_rejects_nonsense_late_commits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Emulator().add_fault("POST", "/fulfillments", **kwargs)
