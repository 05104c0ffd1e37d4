"""Fixtures for the emulator tests: an emulator with a fake clock, and a validating client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from drfulfill.testing import Emulator
from tests.emulator._helpers import Api, FakeClock, auth


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emu(clock: FakeClock) -> AsyncIterator[Emulator]:
    async with Emulator(rate_limit=None, clock=clock) as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=auth()) as client_session:
        yield client_session


@pytest.fixture
def api(emu: Emulator, session: aiohttp.ClientSession) -> Api:
    return Api(session, emu.url)
