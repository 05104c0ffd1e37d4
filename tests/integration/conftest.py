import pytest

from drfulfill import Client
from drfulfill.testing import Emulator

KEY = "sk_test_integration"


@pytest.fixture
async def emu():
    async with Emulator(rate_limit=None) as emulator:
        yield emulator


def make_client(emu, **options):
    """A client on the emulator that never really sleeps between retries."""
    options.setdefault("rate_limit", None)
    options.setdefault("backoff_base", 0)
    options.setdefault("settle", 0.05)  # the emulator commits at once unless told otherwise
    client = Client(options.pop("api_key", KEY), base_url=emu.url, **options)
    sleeps = []

    async def record_sleep(seconds):
        sleeps.append(seconds)

    client._transport.sleep = record_sleep
    client.sleeps = sleeps
    return client


@pytest.fixture
async def dr(emu):
    async with make_client(emu) as client:
        yield client
