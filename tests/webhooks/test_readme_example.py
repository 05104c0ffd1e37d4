"""The README's "Webhooks" example runs as written against an emulator."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from drfulfill.testing import Emulator

README = Path(__file__).resolve().parents[2] / "README.md"


def webhooks_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Webhooks\n") :]
    section = section[: section.index("\n## ", 1)]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the Webhooks section has no python block"
    return match.group(1)


async def test_the_readme_webhooks_example_receives_its_event(tmp_path: Path) -> None:
    script = tmp_path / "webhook_app.py"
    script.write_text(webhooks_example(), encoding="utf-8")
    async with Emulator(rate_limit=None) as emu:
        order_id = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
        env = {
            **os.environ,
            "DR_BASE_URL": emu.url,
            "DR_API_KEY": "sk_test_readme",
            "ORDER_ID": order_id,
            "ITEM_ID": "i1",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-W",
            "error",
            str(script),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
        await emu.drain_webhooks()
        deliveries = emu.webhook_deliveries
    assert process.returncode == 0, err.decode()
    [fulfillment] = emu.fulfillments
    assert out.decode().split() == ["fulfillment.created", fulfillment["id"], "order", order_id]
    assert [(d.event_type, d.status) for d in deliveries] == [("fulfillment.created", 202)]
