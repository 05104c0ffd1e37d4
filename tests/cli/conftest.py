"""Fixtures for the CLI tests: an emulator on loopback and a way to run the CLI against it.

The CLI runs its own event loop (``asyncio.run``), so ``invoke`` runs it in a worker thread
while the test's loop keeps serving the emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drfulfill.cli._app import cli
from drfulfill.testing import Emulator

API_KEY = "sk_test_cli_SECRET_4242"
CLEAN_ENV = {"DR_API_KEY": None, "DR_BASE_URL": None}

Invoke = Callable[..., Awaitable[Result]]


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(rate_limit=None) as emulator:
        yield emulator


async def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """``drfulfill ARGS`` in a thread, isolated from the real environment (plus ``env``)."""
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke,
        cli,
        [str(arg) for arg in args],
        env={**CLEAN_ENV, **(env or {})},
        catch_exceptions=False,
    )


@pytest.fixture
def invoke(emu: Emulator) -> Invoke:
    """``await invoke("upload", path)``: the CLI with --api-key/--base-url for ``emu``."""

    async def call(*args: str | Path) -> Result:
        return await run_cli("--api-key", API_KEY, "--base-url", emu.url, "--settle", "0.05", *args)

    return call


def order_with(emu: Emulator, order_id: str, *item_ids: str, quantity: int = 5) -> str:
    return emu.add_order(order_id, [{"item_id": item, "quantity": quantity} for item in item_ids])
