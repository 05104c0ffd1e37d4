"""Issue 19, emulator fidelity: every log the emulator keeps is bounded (a day-long
``drfulfill emulator`` must not eat memory), and a port in use is one line, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from drfulfill.testing import Emulator
from drfulfill.testing._launcher import build, parser
from tests.emulator._helpers import auth

ROOT = Path(__file__).resolve().parents[2]
ITEMS = [{"item_id": "i1", "quantity": 100}]


@pytest.fixture
async def receiver() -> AsyncIterator[str]:
    """A webhook endpoint that answers 200 to everything."""

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response()

    app = web.Application()
    app.router.add_post("/hooks", ok)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.05)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/hooks"
    await runner.cleanup()


async def create(session: aiohttp.ClientSession, url: str, order_id: str, n: int) -> int:
    body = {
        "orderId": order_id,
        "items": [{"itemId": "i1", "quantity": 1}],
        "trackingNumber": f"{n}",
    }
    async with session.post(url + "/fulfillments", json=body) as response:
        return response.status


async def test_webhook_deliveries_keep_the_newest_log_limit(receiver: str) -> None:
    async with (
        Emulator(rate_limit=None, log_limit=3) as emu,
        aiohttp.ClientSession(headers=auth()) as session,
    ):
        emu.add_webhook(receiver, "whsec_logs")
        order_id = emu.add_order(items=ITEMS)
        for n in range(5):
            assert await create(session, emu.url, order_id, n) == 201
        await emu.drain_webhooks()
        deliveries = emu.webhook_deliveries
        assert len(deliveries) == 3 and len(emu.requests) == 3
        newest = [f["id"] for f in emu.fulfillments][2:]
        assert [d.event_type for d in deliveries] == ["fulfillment.created"] * 3
        assert all(fid.encode() in d.body for d, fid in zip(deliveries, newest, strict=True))


async def test_late_commits_keep_the_newest_log_limit() -> None:
    async with (
        Emulator(rate_limit=None, log_limit=2) as emu,
        aiohttp.ClientSession(headers=auth()) as session,
    ):
        order_id = emu.add_order(items=ITEMS)
        emu.add_fault("POST", "/fulfillments", status=504, action="respond_then_commit", times=None)
        for n in range(4):
            assert await create(session, emu.url, order_id, n) == 504
        assert len(emu.late_commits) == 2 and emu.pending_commits == 4
        await emu.commit_pending()
        assert len(emu.fulfillments) == 4 and len(emu.late_commits) == 2


def test_the_launched_emulator_keeps_a_bounded_log() -> None:
    emulator, _ = build(parser().parse_args(["--port", "0", "--seed-orders", "0"]))
    assert emulator.log_limit == 10_000


# --- a port already in use -------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["-m", "drfulfill.testing"], ["-m", "drfulfill.cli", "emulator"]],
    ids=["python -m drfulfill.testing", "drfulfill emulator"],
)
def test_a_port_in_use_is_one_line_and_exit_1(command: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, *command, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0]
    assert "Traceback" not in done.stderr
