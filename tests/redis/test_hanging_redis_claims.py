"""A Redis that accepts connections and never answers (issue 19): every claim round trip is
bounded by the call's deadline and fails as ``CoordinationError``, nothing sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from drfulfill import APITimeoutError, Client, CoordinationError
from drfulfill.redis import RedisCoordinator
from drfulfill.redis._claims import poll_wait
from drfulfill.testing import Emulator


@pytest.fixture
async def black_hole() -> AsyncIterator[int]:
    """A port that accepts connections, reads what it is sent and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.transport.abort()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("made_from", ["your own client", "a URL"])
async def test_a_create_gives_up_within_its_deadline_and_sends_nothing(
    black_hole: int, made_from: str
) -> None:
    loop = asyncio.get_running_loop()
    async with Emulator(rate_limit=None) as emu:
        order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
        if made_from == "a URL":
            coordinator = RedisCoordinator(f"redis://127.0.0.1:{black_hole}/0")
        else:  # no socket timeout of its own: only the call's deadline bounds the wait
            coordinator = RedisCoordinator(Redis(host="127.0.0.1", port=black_hole))
        try:
            async with Client(
                "sk_test_hang", base_url=emu.url, coordinator=coordinator, rate_limit=None
            ) as dr:
                began = loop.time()
                with pytest.raises(CoordinationError, match="nothing was sent") as caught:
                    await dr.with_options(deadline=0.5).fulfillments.create(
                        order_id=order_id, items=[{"item_id": "i1", "quantity": 1}], key="K"
                    )
                took = loop.time() - began
        finally:
            if made_from != "a URL":
                await coordinator.redis.aclose(close_connection_pool=True)
            await coordinator.close()
    assert not isinstance(caught.value, APITimeoutError)  # no "sent=True" for nothing sent
    assert took < 1.0
    assert emu.requests == []


def test_waiting_for_a_claim_never_overflows() -> None:
    # 2.0 ** attempt grew without bound and raised OverflowError after ~1,000 polls.
    assert poll_wait(5000, first=0.01, cap=0.25, lease_left=10.0, left=None) == 0.25
