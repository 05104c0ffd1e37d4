"""A bulk row whose create was made, then cancelled while its fleet claim was released: found
by an adversarial review journalled 'failed' ("nothing was applied"), so a re-run created it
again."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter
from pathlib import Path

from drfulfill import Client
from drfulfill.redis import RedisCoordinator
from drfulfill.testing import Emulator

from ._proxy import CuttableProxy
from ._workers import until
from .conftest import RedisServer

API_KEY = "sk_test_release_cancelled"


def statuses(path: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return dict(db.execute("SELECT key, status FROM journal"))


async def test_a_row_made_then_stopped_during_its_release_is_not_journalled_failed(
    emu: Emulator, redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    # The row's create is answered 201; then the upload is stopped (Ctrl-C, aclose) while
    # the row releases its claim over a slow link. The release finishes (shielded) but the
    # row ends cancelled, and the run used to mark it 'failed': "a definite failure (a 4xx,
    # a create stopped before it went out)". A re-run treated it as never sent: one lookup,
    # no settle window; a list lagging the write missed it and the row was created again.
    # The client now remembers the fulfillment before the release, and the row stays
    # 'started' (in doubt: the re-run looks it up across a window).
    order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    journal = tmp_path / "upload.db"
    rows = [{"order_id": order_id, "items": [{"item_id": "i1", "quantity": 1}]}]
    async with CuttableProxy(redis_server.port) as link:
        async with (
            RedisCoordinator(link.url, lease=3, poll=(0.005, 0.02)) as coordinator,
            Client(
                API_KEY,
                base_url=emu.url,
                coordinator=coordinator,
                rate_limit=None,
                timeout=2,  # a fresh Redis's memory load waits out the timeout and settle
                settle=0.3,
            ) as dr,
        ):
            await dr.fulfillments.create(  # warm: connections, scripts, the fleet's memory
                order_id=order_id, items=[{"item_id": "i1", "quantity": 1}], key="warm"
            )
            link.reply_delay = 0.3
            upload = dr.fulfillments.bulk_create(rows, journal=journal)
            first = asyncio.ensure_future(anext(upload))
            await until(lambda: len(emu.fulfillments) == 2)  # the row's create is made
            first.cancel()  # the upload is stopped while the row releases its claim
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await first
            await upload.aclose()
    made = [f["metadata"]["drfulfillKey"] for f in emu.fulfillments]
    assert statuses(journal) == {made[1]: "started"}, (
        f"journal {statuses(journal)} for a row created as {emu.fulfillments[1]['id']}"
    )

    # The re-run (here by one process, without the fleet's Redis), DR's lists 2 s behind.
    emu.read_lag = 2.0
    async with Client(API_KEY, base_url=emu.url, rate_limit=None, settle=3) as dr:
        async for _ in dr.fulfillments.bulk_create(rows, journal=journal):
            pass
    keys = Counter(f["metadata"]["drfulfillKey"] for f in emu.fulfillments)
    assert keys[made[1]] == 1, f"the row was created {keys[made[1]]} times"
