"""Issue 13 item 3: a DEBUG record per attempt, DRFULFILL_LOG, OpenTelemetry span and counters.

OpenTelemetry is tested with opentelemetry-sdk's in-memory span exporter and metric reader
(skipped where the SDK is not installed)."""

import logging
import os
import subprocess
import sys

import pytest

from drfulfill import Client, NotFoundError
from drfulfill._telemetry import configure_logging, log_level_from_env

from .conftest import KEY, make_client


async def test_one_debug_record_per_attempt_without_key_or_body(emu, dr, caplog):
    created = await dr.fulfillments.create(
        order_id=emu.add_order(items=[{"item_id": "i1", "sku_id": "s1", "quantity": 3}]),
        items=[{"item_id": "i1", "quantity": 1}],
        tracking_number="SECRET-BODY-VALUE",
    )
    emu.add_fault("GET", "/fulfillments/*", status=503, times=1)
    emu.clear_log()
    with caplog.at_level(logging.DEBUG, logger="drfulfill"):
        await dr.fulfillments.retrieve(created.id)
    records = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(records) == 2  # one per attempt
    first, second = (r.getMessage() for r in records)
    path = f"/fulfillments/{created.id}"
    assert first.startswith(f"GET {path} -> 503 ") and "attempt 1" in first
    assert second.startswith(f"GET {path} -> 200 ") and "attempt 2" in second
    for message, logged in zip((first, second), emu.requests, strict=True):
        assert f"request id {logged.request_id}" in message
    text = caplog.text
    assert KEY not in text and "SECRET-BODY-VALUE" not in text


async def test_a_dropped_attempt_is_logged_without_status(emu, dr, caplog):
    # A POST: aiohttp itself resends a GET whose connection dropped, unseen by the SDK.
    emu.add_fault("POST", "/fulfillments/*", action="drop", times=1)
    with caplog.at_level(logging.DEBUG, logger="drfulfill"):
        with pytest.raises(NotFoundError):
            await dr.fulfillments.update("ful_x", tracking_number="T")
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert "no response" in debug[0] and "-> 404" in debug[1]


def test_log_level_from_env():
    assert log_level_from_env("debug") == logging.DEBUG
    assert log_level_from_env(" INFO ") == logging.INFO
    assert log_level_from_env("loud") is None and log_level_from_env(None) is None
    assert configure_logging(None) is None


def test_drfulfill_log_switches_logging_on_at_import():
    code = (
        "import logging, drfulfill; drfulfill.Client; "
        "log = logging.getLogger('drfulfill'); "
        "print(log.level, [h.level for h in log.handlers])"
    )
    env = {**os.environ, "DRFULFILL_LOG": "debug"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split(None, 1) == ["10", "[10]\n"], out.stderr
    env.pop("DRFULFILL_LOG")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout == "0 []\n", out.stderr


# OpenTelemetry ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def otel():
    pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # global, once per process
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return exporter, reader


def _sums(reader):
    totals = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                totals[metric.name] = sum(p.value for p in metric.data.data_points)
    return totals


async def test_one_span_per_call_covering_its_retries(emu, otel):
    exporter, reader = otel
    before = _sums(reader)
    emu.add_fault("GET", "/fulfillments/*", status=503, times=1)
    emu.add_fault("GET", "/fulfillments/*", status=429, retry_after=0, times=1)
    exporter.clear()
    async with make_client(emu) as dr:
        with pytest.raises(NotFoundError):
            await dr.fulfillments.retrieve("ful_x")
    (span,) = exporter.get_finished_spans()
    attributes = span.attributes
    assert span.name == "GET" and span.kind.name == "CLIENT"
    assert attributes["http.request.method"] == "GET"
    assert attributes["url.full"] == emu.url + "/fulfillments/ful_x"
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["http.response.status_code"] == 404
    assert attributes["dr.request_id"] == emu.requests[-1].request_id
    assert attributes["dr.retry_count"] == 2 and attributes["error.type"] == "NotFoundError"
    after = _sums(reader)
    grew = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert grew["drfulfill.requests"] == 3
    assert grew["drfulfill.retries"] == 2
    assert grew["drfulfill.rate_limited"] == 1


async def test_a_safe_create_is_one_span_and_the_limiter_wait_is_counted(emu, otel):
    exporter, reader = otel
    before = _sums(reader).get("drfulfill.limiter.wait", 0)
    order_id = emu.add_order(items=[{"item_id": "i1", "sku_id": "s1", "quantity": 3}])
    emu.add_fault("POST", "/fulfillments", status=500, times=1)
    exporter.clear()
    async with make_client(emu, settle=0, rate_limit=50) as dr:
        for _ in range(3):  # a burst of 3 at 50/s waits for slots
            await dr.fulfillments.create(
                order_id=order_id, items=[{"item_id": "i1", "quantity": 1}]
            )
    spans = exporter.get_finished_spans()
    assert [s.attributes["http.request.method"] for s in spans] == ["POST"] * 3
    assert spans[0].attributes["dr.retry_count"] == 2  # the 500, a lookup, the resend
    assert spans[0].attributes["http.response.status_code"] == 201
    assert _sums(reader)["drfulfill.limiter.wait"] > before


def test_without_opentelemetry_the_sdk_still_works():
    code = (
        "import sys; sys.modules['opentelemetry'] = None; "
        "from drfulfill import _telemetry as t; "
        "print(t._otel_trace is None); "
        "from yarl import URL\n"
        "with t.observe_call('GET', URL('http://127.0.0.1/x')) as r:\n"
        "    t.attempt_done('GET', URL('http://127.0.0.1/x'), 200, {}, 'rid', 0.1)\n"
        "t.retried(); t.limiter_waited(1.0); print(r.attempts)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout == "True\n1\n", out.stderr


async def test_the_span_gets_the_request_id_redacted(otel):
    # A gateway that echoes Authorization into x-dr-requestid (issue 19).
    from tests.hostile._server import HostileServer, json_response

    exporter, _ = otel
    fulfillment = {
        "id": "ful_1",
        "orderId": "o1",
        "createdTime": "2026-01-01T00:00:00Z",
        "items": [],
    }

    async def respond(request, writer):
        echo = f"req-9 {request.headers['authorization']}"
        writer.write(json_response(200, fulfillment, {"x-dr-requestid": echo}))

    exporter.clear()
    async with HostileServer(respond) as server:
        async with Client(KEY, base_url=server.url, rate_limit=None) as dr:
            await dr.fulfillments.retrieve("ful_1")
    (span,) = exporter.get_finished_spans()
    assert span.attributes["dr.request_id"] == "req-9 Bearer [redacted]"
