"""One async ``Client`` reused by ``asyncio.run`` per job prints nothing (issue 20, item 2)."""

from __future__ import annotations

from pathlib import Path

from drfulfill.testing import Emulator

from ._scripts import run_script

JOBS = """
import asyncio
from drfulfill import Client

dr = Client()

async def job(order_id):
    f = await dr.fulfillments.create(order_id=order_id, items=[{"item_id": "i1", "quantity": 1}])
    async for _ in dr.fulfillments.list(order_id=order_id):
        pass
    return f.id

for _ in range(3):
    print(asyncio.run(job(ORDER)))
asyncio.run(dr.close())
"""


async def test_a_client_used_by_asyncio_run_per_job_prints_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    order = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    status, out, err = await run_script(JOBS.replace("ORDER", repr(order)), emu.url, tmp_path)
    assert status == 0, err
    assert len(out.split()) == 3 and len(emu.fulfillments) == 3
    assert err == ""  # no "Unclosed connector", no ResourceWarning


async def test_a_client_left_unclosed_after_asyncio_run_prints_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    order = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    code = JOBS.replace("ORDER", repr(order)).replace("asyncio.run(dr.close())", "")
    status, _, err = await run_script(code, emu.url, tmp_path)
    assert status == 0 and err == "", err
