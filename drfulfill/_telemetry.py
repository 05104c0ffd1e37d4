"""What a call leaves behind: one DEBUG record per attempt on logger ``drfulfill``, an
OpenTelemetry span per call with counters (only with ``drfulfill[otel]``; a no-op without
it), and the record a raw-response call reads its status and headers from."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import attrs
from yarl import URL

from ._constants import VERSION

logger = logging.getLogger("drfulfill")

try:  # the optional extra: drfulfill[otel]
    from opentelemetry import metrics as _otel_metrics
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - exercised only where opentelemetry is absent
    _otel_metrics = None  # type: ignore[assignment]
    _otel_trace = None  # type: ignore[assignment]

LOG_ENV = "DRFULFILL_LOG"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


def log_level_from_env(value: str | None) -> int | None:
    """The level ``DRFULFILL_LOG`` asks for (``debug`` or ``info``), else None."""
    return None if value is None else _LEVELS.get(value.strip().lower())


def configure_logging(value: str | None) -> logging.Handler | None:
    """With ``DRFULFILL_LOG=debug|info``: a stderr handler on logger ``drfulfill`` at that
    level (added once however often this runs). Returns the handler, or None."""
    level = log_level_from_env(value)
    if level is None:
        return None
    for handler in logger.handlers:
        if getattr(handler, "drfulfill_env", False):
            break
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler.drfulfill_env = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    handler.setLevel(level)
    logger.setLevel(level)
    return handler


@attrs.define
class CallRecord:
    """One call through the funnel: its attempts and what the last one received."""

    span: Any = None  # the OpenTelemetry span, or None
    attempts: int = 0  # attempts sent
    status: int | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    request_id: str | None = None
    secrets: Sequence[str] = ()  # what to redact from ``headers`` before showing them


#: The record of the call running in this context (set by ``observe_call``).
_current: ContextVar[CallRecord | None] = ContextVar("drfulfill_call", default=None)
#: Where a raw-response call collects the records of the calls it makes.
_capture: ContextVar[list[CallRecord] | None] = ContextVar("drfulfill_capture", default=None)


@contextlib.contextmanager
def capture_calls() -> Iterator[list[CallRecord]]:
    """Collect the record of each call made inside the block, in order."""
    records: list[CallRecord] = []
    token = _capture.set(records)
    try:
        yield records
    finally:
        _capture.reset(token)


@contextlib.contextmanager
def observe_call(method: str, url: URL) -> Iterator[CallRecord]:
    """The span (with OpenTelemetry) and record of one call, its retries included."""
    record = CallRecord()
    captured = _capture.get()
    if captured is not None:
        captured.append(record)
    token = _current.set(record)
    try:
        tracer = _tracer()
        if tracer is None:
            yield record
            return
        with tracer.start_as_current_span(
            method, kind=_otel_trace.SpanKind.CLIENT, attributes=_span_attributes(method, url)
        ) as span:
            record.span = span
            try:
                yield record
            except Exception as error:
                span.set_attribute("error.type", type(error).__name__)
                raise
            finally:
                if record.attempts > 1:
                    span.set_attribute("http.request.resend_count", record.attempts - 1)
                span.set_attribute("dr.retry_count", max(0, record.attempts - 1))
    finally:
        _current.reset(token)


def _tracer() -> Any:
    """The tracer of the app's tracer provider; None without one (a span from the API's
    default provider records nothing, and costs about 20 µs a call)."""
    if _otel_trace is None:
        return None
    provider = _otel_trace.get_tracer_provider()
    if isinstance(provider, (_otel_trace.ProxyTracerProvider, _otel_trace.NoOpTracerProvider)):
        return None
    return provider.get_tracer("drfulfill", VERSION)


def _span_attributes(method: str, url: URL) -> dict[str, Any]:
    # The key travels in a header, and DR's queries carry only filters and cursors, so the
    # URL holds no secret; its user info, if any, is dropped all the same.
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.full": str(url.with_user(None)),
        "server.address": url.host or "",
    }
    if url.port is not None:
        attributes["server.port"] = url.port
    return attributes


def attempt_done(
    method: str,
    url: URL,
    status: int | None,
    headers: Mapping[str, str],
    request_id: str | None,
    elapsed: float,
    secrets: Sequence[str] = (),
) -> None:
    """After each attempt sent: the DEBUG record, the counters, the call's record and span.
    ``status`` None: no response (timeout, dropped connection). ``request_id`` is shown as
    it is: the caller redacted it (``errors.request_id_from``); ``headers`` are kept for
    ``APIResponse``, which redacts them of ``secrets``."""
    record = _current.get()
    attempt = 1
    if record is not None:
        record.attempts += 1
        attempt = record.attempts
        record.status, record.headers, record.request_id = status, headers, request_id
        record.secrets = secrets
        if record.span is not None:
            if status is not None:
                record.span.set_attribute("http.response.status_code", status)
            if request_id is not None:
                record.span.set_attribute("dr.request_id", request_id)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s %s -> %s in %.3fs (attempt %d, request id %s)",
            method,
            url.path,
            status if status is not None else "no response",
            elapsed,
            attempt,
            request_id,
        )
    _count("drfulfill.requests", 1, "{request}", "attempts sent")
    if status == 429:
        _count("drfulfill.rate_limited", 1, "{response}", "429 responses received")


def retried() -> None:
    """A failed attempt is to be repeated."""
    _count("drfulfill.retries", 1, "{retry}", "attempts repeated after a failure")


def limiter_waited(seconds: float) -> None:
    """The client-side rate limiter held an attempt back ``seconds``."""
    if seconds > 0:
        _count("drfulfill.limiter.wait", seconds, "s", "time spent waiting for the limiter")


_counters: dict[str, Any] = {}


def _count(name: str, amount: float, unit: str, description: str) -> None:
    if _otel_metrics is None:
        return
    counter = _counters.get(name)
    if counter is None:
        # The API's global meter forwards to whatever provider is set, even a later one.
        meter = _otel_metrics.get_meter("drfulfill", VERSION)
        counter = _counters[name] = meter.create_counter(name, unit=unit, description=description)
    counter.add(amount)
