"""What decoding a 100-item list page costs, against ``json.loads`` of the same bytes.

No network: the page is DR-shaped bytes in memory (100 fulfillments of two items each, with
money, metadata and tracking), so the figures are the decode path alone. Each round times,
side by side:

- ``json.loads``: the stdlib parse alone;
- ``json.loads + dict access``: the parse plus reading every field an untyped caller would
  (the issue's baseline for "raw code");
- ``orjson.loads`` (when installed);
- ``drfulfill``: ``drfulfill._json.loads`` + envelope + ``structure`` of every item, with the
  codec this process selected (``DRFULFILL_JSON=stdlib`` forces the stdlib).

- with ``--compare-rev REV``: the converter of git revision REV (``drfulfill/_convert.py``
  as it was there, loaded beside today's) + ``json.loads``, for a before/after in one run.

Prints the best and the median per-page cost over the rounds and ``baseline time / this
time`` from the best rounds (higher is faster; >= 0.8x against "json.loads + dict access" is
the issue's floor with the stdlib codec). Best-of-rounds, because other work on a shared
machine only ever adds time.

    python -m benchmarks.bench_decode [--pages 300] [--rounds 7] [--compare-rev REV] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import pstats
import statistics
import subprocess
import time
import types
from collections.abc import Callable
from typing import Any

from drfulfill import _json
from drfulfill._convert import structure
from drfulfill.models import Fulfillment


def fulfillment(n: int) -> dict[str, Any]:
    return {
        "id": f"ful_{n:08d}-d0ff-4f11-974f-17b0f2830ea2",
        "createdTime": "2022-07-01T17:55:58Z",
        "orderId": "231388420336",
        "shipmentId": f"shp_{n}",
        "currency": "USD",
        "liveMode": False,
        "trackingCompany": "Fedex",
        "trackingNumber": f"1Z{n}",
        "trackingUrl": f"https://track.example/1Z{n}",
        "metadata": {"drfulfillKey": f"k{n}"},
        "items": [
            {
                "itemId": "158140150336",
                "skuId": "b0fd7334",
                "quantity": 2,
                "cancelQuantity": 0,
                "distributorCost": 20.5,
                "shippingCost": 4,
            },
            {
                "itemId": "158140150337",
                "skuId": "b0fd7335",
                "quantity": 1,
                "cancelQuantity": 0,
                "distributorCost": 10,
                "shippingCost": 0,
            },
        ],
    }


PAGE = json.dumps({"hasMore": True, "data": [fulfillment(n) for n in range(100)]}).encode()

FIELDS = tuple(fulfillment(0))
ITEM_FIELDS = tuple(fulfillment(0)["items"][0])


def raw_parse() -> object:
    return json.loads(PAGE)


def raw_parse_and_access() -> object:
    body = json.loads(PAGE)
    out = []
    for obj in body["data"]:
        row = [obj.get(name) for name in FIELDS]
        row.extend(item.get(name) for item in obj["items"] for name in ITEM_FIELDS)
        out.append(row)
    return out, body.get("hasMore") is True


def orjson_parse() -> object:
    import orjson

    return orjson.loads(PAGE)


def sdk_decode() -> object:
    body = _json.loads(PAGE)
    data = body["data"]
    if not isinstance(data, list):
        raise TypeError("data is not a list")
    return [structure(raw, Fulfillment) for raw in data], body.get("hasMore") is True


def converter_at(rev: str) -> types.ModuleType:
    """``drfulfill/_convert.py`` of git revision ``rev``, imported as a sibling module."""
    source = subprocess.run(
        ["git", "show", f"{rev}:drfulfill/_convert.py"], capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader(f"drfulfill._convert_at_{rev[:12]}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "drfulfill"  # its relative imports (.errors) resolve to today's
    exec(compile(source, f"{rev}:drfulfill/_convert.py", "exec"), module.__dict__)
    return module


def decode_with(module: types.ModuleType) -> Callable[[], object]:
    def decode() -> object:
        body = json.loads(PAGE)
        return [module.structure(raw, Fulfillment) for raw in body["data"]]

    return decode


def per_page(fn: Callable[[], object], pages: int) -> float:
    start = time.perf_counter()
    for _ in range(pages):
        fn()
    return (time.perf_counter() - start) / pages


def main(pages: int, rounds: int, profile: bool, compare_rev: str | None) -> None:
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(pages):
            sdk_decode()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return
    scenarios: dict[str, Callable[[], object]] = {
        "json.loads": raw_parse,
        "json.loads + dict access": raw_parse_and_access,
    }
    try:
        import orjson  # noqa: F401

        scenarios["orjson.loads"] = orjson_parse
    except ImportError:
        pass
    if compare_rev:
        scenarios[f"converter@{compare_rev} + json.loads"] = decode_with(converter_at(compare_rev))
    scenarios[f"drfulfill (codec={_json.BACKEND})"] = sdk_decode
    times: dict[str, list[float]] = {name: [] for name in scenarios}
    for fn in scenarios.values():
        fn()  # warm-up: generated functions, caches
    for _ in range(rounds):
        for name, fn in scenarios.items():
            times[name].append(per_page(fn, pages))
    best = {name: min(values) for name, values in times.items()}
    medians = {name: statistics.median(values) for name, values in times.items()}
    base_parse = best["json.loads"]
    base_access = best["json.loads + dict access"]
    print(f"page={len(PAGE)} bytes, 100 fulfillments x 2 items; pages={pages} rounds={rounds}")
    print(
        f"{'scenario':40} {'best us':>8} {'median us':>10} {'vs json.loads':>14}"
        f" {'vs loads+access':>16}"
    )
    for name, fastest in best.items():
        print(
            f"{name:40} {fastest * 1e6:8.0f} {medians[name] * 1e6:10.0f}"
            f" {base_parse / fastest:13.2f}x {base_access / fastest:15.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the SDK decode")
    parser.add_argument("--compare-rev", help="also time the converter of this git revision")
    args = parser.parse_args()
    main(args.pages, args.rounds, args.profile, args.compare_rev)
