"""Per-call cost of drfulfill's telemetry hooks (the span and record of a call, one attempt's
DEBUG check and counters), with opentelemetry-api installed but no tracer provider set,
against the same hooks with opentelemetry treated as absent, side by side.

    python -m benchmarks.bench_telemetry
"""

from __future__ import annotations

import time

from yarl import URL

from drfulfill import _telemetry

N = 20_000
URL_ = URL("http://127.0.0.1:8787/fulfillments/ful_1")


def one_call() -> None:
    with _telemetry.observe_call("GET", URL_):
        _telemetry.attempt_done("GET", URL_, 200, {}, "request-id", 0.001)


def per_call() -> float:
    for _ in range(1000):
        one_call()
    started = time.perf_counter()
    for _ in range(N):
        one_call()
    return (time.perf_counter() - started) / N * 1e6


def main() -> None:
    trace, metrics = _telemetry._otel_trace, _telemetry._otel_metrics
    if trace is None:
        raise SystemExit("install opentelemetry-api (drfulfill[otel]) to compare")
    rounds = []
    for _ in range(3):
        _telemetry._otel_trace, _telemetry._otel_metrics = trace, metrics
        with_api = per_call()
        _telemetry._otel_trace = _telemetry._otel_metrics = None  # as if not installed
        without = per_call()
        rounds.append((with_api, without))
    _telemetry._otel_trace, _telemetry._otel_metrics = trace, metrics
    with_api, without = sorted(rounds)[1]
    print(f"calls={N} rounds=3 (median)")
    print(f"opentelemetry-api, no provider set  {with_api:6.1f} us per call")
    print(f"opentelemetry absent                {without:6.1f} us per call")


if __name__ == "__main__":
    main()
