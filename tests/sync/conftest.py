import pytest

from drfulfill.testing import Emulator


@pytest.fixture
async def emu():
    async with Emulator(rate_limit=None) as emulator:
        yield emulator
