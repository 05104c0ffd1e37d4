import pytest

from drfulfill.testing import Emulator


@pytest.fixture
async def emu():
    async with Emulator(rate_limit=None) as emulator:
        yield emulator


@pytest.fixture
def emu_thread():
    from ._threaded import EmulatorThread

    served = EmulatorThread(rate_limit=None)
    yield served
    served.close()
