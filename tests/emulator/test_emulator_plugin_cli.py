"""The pytest plugin's fixtures, and ``python -m drfulfill.testing``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp

from drfulfill import Client
from drfulfill.testing import Emulator

ROOT = Path(__file__).resolve().parents[2]


async def test_dr_emulator_fixture_runs_without_a_rate_limit(dr_emulator: Emulator) -> None:
    assert dr_emulator.url.startswith("http://127.0.0.1:")
    headers = {"Authorization": "Bearer sk_test_emulator"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(30):  # more than the 25/s a test key gets by default
            async with session.get(dr_emulator.url + "/fulfillments") as response:
                assert response.status == 200
    assert dr_emulator.rate_limited == 0


async def test_dr_client_fixture_talks_to_the_emulator(
    dr_emulator: Emulator, dr_client: Client
) -> None:
    from drfulfill import FulfillmentRequestItem

    order_id = dr_emulator.add_order(items=[{"item_id": "1", "quantity": 2}])
    fulfillment = await dr_client.fulfillments.create(
        order_id=order_id, items=[FulfillmentRequestItem(item_id="1", quantity=2)]
    )
    assert fulfillment.live_mode is False
    assert dr_emulator.fulfillments[fulfillment.id]["items"][0]["quantity"] == 2


def run_module(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "drfulfill.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,  # type: ignore[arg-type]
    )


def test_cli_help() -> None:
    process = run_module("--help")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    for option in ("--port", "--seed-orders", "--latency-ms", "--fault-rate", "--rate-limit"):
        assert option in out


def test_cli_serves_seeded_orders_until_interrupted() -> None:
    process = run_module("--port", "0", "--seed-orders", "2", "--rate-limit", "off")
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Digital River emulator on http://127.0.0.1:"), first
        url = first.split(" on ")[1].strip()
        assert process.stdout.readline().strip() == "API key: sk_test_emulator"
        seeded = process.stdout.readline()
        assert seeded.startswith("2 orders: ")
        order_id = seeded.removeprefix("2 orders: ").split(",")[0].strip()
        request = urllib.request.Request(
            f"{url}/fulfillments?orderId={order_id}",
            headers={"Authorization": "Bearer sk_test_emulator"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.headers["x-dr-requestid"]
            assert json.load(response) == {"hasMore": False, "data": []}
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
