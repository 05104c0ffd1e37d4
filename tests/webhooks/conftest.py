"""A real aiohttp.web receiver on 127.0.0.1 and a client on the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from drfulfill import Client
from drfulfill.testing import Emulator

KEY = "sk_test_webhooks"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Receiver:
    """Serves one POST route; ``handler`` can be swapped by a test."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.app = web.Application()
        self.app.router.add_post("/hooks", self._dispatch)
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.05)
        self.url = ""

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        assert self.handler is not None
        return await self.handler(request)

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hooks"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.runner.cleanup()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(rate_limit=None) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[Client]:
    async with Client(KEY, base_url=emu.url, rate_limit=None, backoff_base=0, settle=0.5) as dr:
        yield dr
