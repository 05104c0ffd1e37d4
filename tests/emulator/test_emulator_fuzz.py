"""Schemathesis against the emulator with the spec extract: no 5xx, nothing off-spec.

Every operation gets generated requests, valid and invalid (schemathesis' positive and
negative modes), checked for: no server error, a declared status, the declared content type,
headers and body schema, and invalid data refused. Half of the cases get their ids replaced
by ids of seeded objects (chosen from the case's own content, so a run is reproducible), so
the 2xx paths and their response schemas are exercised too, not only 400/404.

The default run keeps to ``FAST_EXAMPLES`` cases per operation; ``-m slow`` runs the long one.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, NamedTuple

import aiohttp
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402  (schemathesis brings hypothesis)
from schemathesis import checks  # noqa: E402

from drfulfill.testing import Emulator  # noqa: E402
from tests._openapi import SPEC_PATH  # noqa: E402
from tests.emulator._helpers import auth  # noqa: E402

FAST_EXAMPLES = 40
SLOW_EXAMPLES = 400

schema = schemathesis.openapi.from_path(SPEC_PATH)
# Reproducible (the same cases every run) and nothing written to .hypothesis/.
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.unsupported_method,
    checks.allow_header_conformance,
    checks.missing_required_header,
    checks.ignored_auth,
]


class Seeded(NamedTuple):
    """A running emulator and the ids of what was made in it before fuzzing."""

    url: str
    emulator: Emulator
    orders: dict[str, list[str]]  # order id -> line ids
    fulfillment_orders: dict[str, list[str]]  # fulfillment order id -> line ids
    fulfillments: dict[str, list[str]]  # fulfillment id -> item ids
    returns: list[str]


async def _seed(emu: Emulator) -> Seeded:
    made = emu.seed(orders=20, items_per_order=2, quantity=1000, fulfillment_orders=10)
    orders = {o["id"]: [i["id"] for i in o["items"]] for o in emu.orders}
    fulfillment_orders = {f["id"]: [i["id"] for i in f["items"]] for f in emu.fulfillment_orders}
    async with aiohttp.ClientSession(headers=auth()) as session:
        for order_id in made.orders[:5]:
            body = {"orderId": order_id, "items": [{"itemId": orders[order_id][0], "quantity": 1}]}
            async with session.post(emu.url + "/fulfillments", json=body) as response:
                assert response.status == 201
        for fulfillment_order_id in made.fulfillment_orders[:5]:
            line = fulfillment_orders[fulfillment_order_id][0]
            body = {
                "fulfillmentOrderId": fulfillment_order_id,
                "items": [{"fulfillmentOrderItemId": line, "quantity": 1}],
            }
            async with session.post(emu.url + "/fulfillment-returns", json=body) as response:
                assert response.status == 201
    fulfillments = {f["id"]: [i["itemId"] for i in f["items"]] for f in emu.fulfillments}
    emu.clear_log()  # the log is then only the fuzzing's
    return Seeded(
        emu.url, emu, orders, fulfillment_orders, fulfillments, emu.fulfillment_returns.ids()
    )


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    """An emulator on its own thread and loop: schemathesis calls it synchronously."""
    ready: list[Seeded] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        async with Emulator(rate_limit=None) as emu:
            ready.append(await _seed(emu))
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(10), "the emulator did not start"
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


def _pick(options: list[str], salt: int) -> str:
    return options[salt % len(options)]


def with_seeded_ids(case: Any, seeded: Seeded) -> None:
    """Replace generated ids (where they are strings) by ids of existing objects."""
    salt = zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode())
    if salt % 2:
        return
    template = case.operation.path
    if "id" in case.path_parameters:
        ids = list(seeded.fulfillments) if template.startswith("/fulfillments") else seeded.returns
        case.path_parameters["id"] = _pick(ids, salt)
    body = case.body if isinstance(case.body, dict) else {}
    listed = body.get("items")
    items = [i for i in listed if isinstance(i, dict)] if isinstance(listed, list) else []
    if case.method.upper() == "POST" and template == "/fulfillments":
        if isinstance(body.get("orderId"), str):
            body["orderId"] = _pick(list(seeded.orders), salt)
            lines = seeded.orders[body["orderId"]]
            for n, item in enumerate(items):
                if isinstance(item.get("itemId"), str):
                    item["itemId"] = _pick(lines, salt + n)
    elif case.method.upper() == "POST" and template == "/fulfillments/{id}":
        lines = seeded.fulfillments.get(case.path_parameters.get("id", ""), [])
        for n, item in enumerate(items):
            if lines and isinstance(item.get("itemId"), str):
                item["itemId"] = _pick(lines, salt + n)
    elif case.method.upper() == "POST" and template == "/fulfillment-returns":
        if isinstance(body.get("fulfillmentOrderId"), str):
            body["fulfillmentOrderId"] = _pick(list(seeded.fulfillment_orders), salt)
            lines = seeded.fulfillment_orders[body["fulfillmentOrderId"]]
            for n, item in enumerate(items):
                if isinstance(item.get("fulfillmentOrderItemId"), str):
                    item["fulfillmentOrderItemId"] = _pick(lines, salt + n)
    if case.query and isinstance(case.query.get("orderId"), str):
        case.query["orderId"] = _pick(list(seeded.orders), salt)


def fuzz(case: Any, seeded: Seeded) -> None:
    with_seeded_ids(case, seeded)
    case.call_and_validate(base_url=seeded.url, headers=auth(), checks=CHECKS)


@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(max_examples=FAST_EXAMPLES, **SETTINGS)
def test_fuzz(case: Any, seeded: Seeded) -> None:
    fuzz(case, seeded)


@pytest.mark.slow
@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(max_examples=SLOW_EXAMPLES, **SETTINGS)
def test_fuzz_long(case: Any, seeded: Seeded) -> None:
    fuzz(case, seeded)


def test_the_fuzzing_reached_every_operation_and_some_successes(seeded: Seeded) -> None:
    """Runs after the fuzz tests of this module: they must have exercised real paths."""
    if not seeded.emulator.requests:
        pytest.skip("checks what the fuzz tests of this module sent: run it with them")
    seen = Counter(
        (r.method, r.path.count("/"), r.path.split("/")[1], (r.status or 0) // 100)
        for r in seeded.emulator.requests
    )
    for method, depth, resource in [
        ("GET", 1, "fulfillments"),
        ("POST", 1, "fulfillments"),
        ("GET", 2, "fulfillments"),
        ("POST", 2, "fulfillments"),
        ("GET", 1, "fulfillment-returns"),
        ("POST", 1, "fulfillment-returns"),
        ("GET", 2, "fulfillment-returns"),
    ]:
        assert seen[(method, depth, resource, 2)] > 0, (method, depth, resource, seen)
        assert seen[(method, depth, resource, 4)] > 0, (method, depth, resource, seen)
    assert not any(status == 5 for *_, status in seen), seen
