"""What a fleet's memory load is told to wait out: the longest send and widest settle window
of the client and every view of it, not those of the call that happened to start it."""

from __future__ import annotations

from typing import Any

import pytest

from drfulfill import Client, CoordinationError

ITEMS = [{"item_id": "i1", "quantity": 1}]


class RecordingClaims:
    """A claim store that records the memory each acquire is given, then fails (nothing is
    sent)."""

    def __init__(self) -> None:
        self.memories: list[tuple[float | None, float]] = []

    async def acquire(self, key: str, *, max_wait: float | None, memory: Any = None) -> Any:
        self.memories.append((memory.longest_send, memory.settle))
        raise CoordinationError("recorded; nothing was sent")


class RecordingCoordinator:
    def __init__(self) -> None:
        self.store = RecordingClaims()

    def limiter(self, api_key: str, rate: float) -> Any:  # pragma: no cover - no rate limit
        raise AssertionError("not used")

    def claims(self, api_key: str) -> RecordingClaims:
        return self.store


async def test_a_load_started_by_a_short_view_waits_out_the_clients_longest_send() -> None:
    # Before: the view that started the load was passed as the memory, so a call made with
    # timeout=1, settle=0.1 had the whole fleet's load wait 1.1 s, while this client's
    # other calls (timeout 60, settle 10) could have a send in flight for 60 s.
    coordinator = RecordingCoordinator()
    async with Client(
        "sk_test_memory",
        base_url="http://127.0.0.1:9",
        coordinator=coordinator,  # type: ignore[arg-type]
        rate_limit=None,
        timeout=60,
        settle=10,
    ) as dr:
        quick = dr.with_options(timeout=1, settle=0.1)
        with pytest.raises(CoordinationError):
            await quick.fulfillments.create(order_id="o1", items=ITEMS, key="k1")
        dr.with_options(timeout=120)  # a view made later widens it too
        with pytest.raises(CoordinationError):
            await quick.fulfillments.create(order_id="o1", items=ITEMS, key="k2")
    assert coordinator.store.memories == [(60.0, 10.0), (120.0, 10.0)]
