import inspect
import re

import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core

from drfulfill import Client

BASE = "https://api.test"
KEY = "sk_test_unitkey123"


def url_pattern(path):
    """Any query on ``path``."""
    return re.compile("^" + re.escape(BASE + path) + r"(\?.*)?$")


class Sleeps(list):
    async def __call__(self, seconds):
        self.append(seconds)


class _SentRequest:
    output_size = 0


class _CompatResponse(ClientResponse):
    """aiohttp 3.14 made ``stream_writer`` required; aioresponses 0.7.9 does not pass it
    (pnuckowski/aioresponses#289). Supply a finished writer so mocked responses build."""

    def __init__(self, *args, stream_writer=None, **kwargs):
        super().__init__(*args, stream_writer=stream_writer or _SentRequest(), **kwargs)


if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
    aioresponses_core.ClientResponse = _CompatResponse


@pytest.fixture
def mock():
    with aioresponses() as m:
        yield m


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
async def dr(sleeps):
    async with Client(KEY, base_url=BASE, rate_limit=None, settle=0) as client:
        client._transport.sleep = sleeps
        client._transport.random = lambda: 0.5
        yield client


def sent(mock):
    """Every request the mock saw, in order: (method, yarl.URL, kwargs)."""
    calls = [
        (method, url, call.kwargs)
        for (method, url), call_list in mock.requests.items()
        for call in call_list
    ]
    return calls


class FakeTime:
    """A clock that moves only when something sleeps on it."""

    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def clock(self):
        return self.now

    async def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds
