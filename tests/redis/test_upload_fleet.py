"""``drfulfill upload --redis URL`` (or ``$DRFULFILL_REDIS_URL``) joins the fleet: its
creates are claimed in the same Redis as the workers' and web apps', on a real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from drfulfill.redis import key_prefix
from drfulfill.testing import Emulator
from tests.cli.conftest import API_KEY, run_cli
from tests.cli.test_upload import GOOD_CSV, seed_orders, write


@pytest.fixture
async def emu():
    async with Emulator(rate_limit=None) as emulator:
        seed_orders(emulator)
        yield emulator


def upload(emu: Emulator, *args: str | Path, env: dict[str, str] | None = None):
    return run_cli(
        "--api-key", API_KEY, "--base-url", emu.url, "--settle", "0.05",
        # A fresh Redis's memory load waits out the longest send (the timeout) and settle.
        "--timeout", "2", "upload", *args, env=env
    )  # fmt: skip


async def done_keys(raw: Redis) -> list[str]:
    prefix = key_prefix("drfulfill", API_KEY)
    return [key.decode() async for key in raw.scan_iter(f"{prefix}:done:*")]


@pytest.mark.parametrize("how", ["option", "environment"])
async def test_an_upload_claims_its_creates_in_the_fleets_redis(emu, raw, redis_url, tmp_path, how):
    shipments = write(tmp_path, GOOD_CSV)
    if how == "option":
        result = await upload(emu, shipments, "--redis", redis_url)
    else:
        result = await upload(emu, shipments, env={"DRFULFILL_REDIS_URL": redis_url})

    assert result.exit_code == 0, result.output
    assert "5 created" in result.stderr
    # Every create went through a fleet claim, recorded as done: a worker or a second
    # upload with the same keys gets these fulfillments and sends nothing.
    assert len(await done_keys(raw)) == 5


async def test_an_upload_after_a_fleet_created_its_rows_sends_no_create(emu, redis_url, tmp_path):
    shipments = write(tmp_path, GOOD_CSV)
    first = await upload(emu, shipments, "--redis", redis_url, "--no-journal")
    assert first.exit_code == 0, first.output
    posts_before = sum(r.method == "POST" for r in emu.requests)

    again = await upload(emu, shipments, "--redis", redis_url, "--no-journal")

    assert again.exit_code == 0, again.output
    assert sum(r.method == "POST" for r in emu.requests) == posts_before == 5


async def test_an_unreachable_redis_stops_the_upload_before_anything_is_sent(emu, tmp_path):
    url = "redis://:hunter2secret@127.0.0.1:1/0"
    result = await upload(emu, write(tmp_path, GOOD_CSV), "--redis", url)

    assert result.exit_code == 1
    assert "cannot reach Redis" in result.stderr and "nothing was sent" in result.stderr
    assert "hunter2secret" not in result.output
    assert emu.requests == []


async def test_a_redis_url_that_is_not_one_is_a_usage_error(emu, tmp_path):
    result = await upload(emu, write(tmp_path, GOOD_CSV), "--redis", "http://user:pw@host/0")
    assert result.exit_code == 2
    assert "redis://" in result.stderr and "pw@" not in result.output
    assert emu.requests == []
