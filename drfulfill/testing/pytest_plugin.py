"""pytest fixtures that run your Digital River code against the in-process emulator.

drfulfill registers this module as a pytest plugin (entry point ``pytest11``), so with
drfulfill and pytest-asyncio installed the fixtures are available in any test suite::

    async def test_ships_the_order(dr_emulator, dr_client):
        order_id = dr_emulator.add_order(items=[{"item_id": "1", "quantity": 2}])
        fulfillment = await dr_client.fulfillments.create(
            order_id=order_id, items=[{"item_id": "1", "quantity": 2}]
        )
        assert dr_emulator.fulfillments[fulfillment.id]["items"][0]["quantity"] == 2

- ``dr_emulator``: a started ``drfulfill.testing.Emulator`` (rate limit off) on 127.0.0.1,
  closed after the test. Point your own code at ``dr_emulator.url`` with any ``sk_test_`` key.
- ``dr_client``: a ``drfulfill.Client`` for that emulator (key ``sk_test_emulator``,
  client-side rate limiter off), closed after the test.

The fixtures are async: install ``drfulfill[pytest]`` (pytest and pytest-asyncio) and use
``asyncio_mode = "auto"`` or mark the tests ``@pytest.mark.asyncio``. Without pytest-asyncio
this module still imports, but the fixtures need some other plugin that runs async fixtures.

pytest imports this module in every run of every project that has drfulfill installed, so
it imports nothing of drfulfill's until a fixture is used (``drfulfill`` and
``drfulfill.testing`` load their names lazily): no aiohttp, cattrs, tenacity or emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from drfulfill import Client
    from drfulfill.testing import Emulator

_F = TypeVar("_F", bound=Callable[..., Any])

if TYPE_CHECKING:

    def async_fixture(function: _F) -> _F: ...  # what both decorators below do to a fixture

else:
    try:
        from pytest_asyncio import fixture as async_fixture
    except ImportError:  # pragma: no cover - depends on the user's environment
        async_fixture = pytest.fixture

EMULATOR_TEST_KEY = "sk_test_emulator"


@async_fixture
async def dr_emulator() -> AsyncIterator[Emulator]:
    """A running Digital River emulator with the rate limit switched off."""
    from drfulfill.testing import Emulator  # imported late: plugin loading stays cheap

    async with Emulator(rate_limit=None) as emulator:
        yield emulator


@async_fixture
async def dr_client(dr_emulator: Emulator) -> AsyncIterator[Client]:
    """A ``drfulfill.Client`` talking to ``dr_emulator``."""
    from drfulfill import Client

    async with Client(
        api_key=EMULATOR_TEST_KEY, base_url=dr_emulator.url, rate_limit=None
    ) as client:
        yield client
