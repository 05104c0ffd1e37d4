"""What decoding a 100-item list page costs, against ``json.loads`` of the same bytes.

No network: the page is DR-shaped bytes in memory (100 fulfillments of two items each, with
money, metadata and tracking), so the figures are the decode path alone. Each round times,
side by side:

- ``json.loads``: the stdlib parse alone;
- ``json.loads + dict access``: the parse plus reading every field an untyped caller would
  (the issue's baseline for "raw code");
- ``orjson.loads`` (when installed);
- ``drfulfill``: ``drfulfill._json.loads`` + envelope + the decoder the pager uses
  (``_convert.decoder(Fulfillment)``: items left unbuilt until read) for every object, with
  the codec this process selected (``DRFULFILL_JSON=stdlib`` forces the stdlib);
- ``drfulfill + read every field``: the same, then reading every field of every
  fulfillment and of every item (so the items deferred to their first read are built),
  which is the like-for-like comparison with ``json.loads + dict access``;
- ``cattrs make_dict_structure_fn``: the fast path drfulfill used before its own generated
  one, rebuilt here with the same field readers (items deferred the same way), behind the
  same stdlib parse: what the generated function saves over cattrs' own.

- with ``--compare-rev REV``: the decoder of git revision REV (its whole ``drfulfill``
  package, extracted with ``git archive`` and imported beside today's as
  ``drfulfill_<REV>``) + ``json.loads``, with and without reading every field, for a
  before/after in one run.

Prints the best and the median per-page cost over the rounds and ``baseline time / this
time`` from the best rounds (higher is faster; >= 0.8x against "json.loads + dict access" is
the issue's floor with the stdlib codec). Best-of-rounds, because other work on a shared
machine only ever adds time.

    python -m benchmarks.bench_decode [--pages 300] [--rounds 7] [--compare-rev REV] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import types
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from drfulfill import _json
from drfulfill._convert import EXTRA_FIELD, decoder, field_plans
from drfulfill._fastpath import FieldPlan
from drfulfill.models import Fulfillment, FulfillmentItem


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


DECODE = decoder(Fulfillment)


def sdk_decode() -> object:
    body = _json.loads(PAGE)
    data = body["data"]
    if not isinstance(data, list):
        raise TypeError("data is not a list")
    return [DECODE(raw) for raw in data], body.get("hasMore") is True


def sdk_decode_and_read() -> object:
    fulfillments, has_more = sdk_decode()  # type: ignore[misc]
    return read_every_field(fulfillments), has_more


def read_every_field(fulfillments: list[Any]) -> list[list[object]]:
    out = []
    for ful in fulfillments:
        row = [getattr(ful, field.name) for field in FULFILLMENT_FIELDS]
        row.extend(getattr(item, field.name) for item in ful.items for field in ITEM_MODEL_FIELDS)
        out.append(row)
    return out


FULFILLMENT_FIELDS = attrs.fields(Fulfillment)
ITEM_MODEL_FIELDS = attrs.fields(FulfillmentItem)


def _cattrs_hook(plan: FieldPlan) -> Callable[[Any, Any], Any]:
    """The plan's check or reader as a cattrs hook ``(value, type) -> field value``."""
    exact, read, optional = plan.exact, plan.read, not plan.required

    def hook(value: Any, _type: Any) -> Any:
        if value is None and optional:
            return plan.default
        if exact is not None:
            if value.__class__ is not exact:
                raise TypeError(plan.wire)
            return value
        assert read is not None
        return read(value)

    return hook


def cattrs_fast_path() -> Callable[[Any], Any]:
    """cattrs' generated structure function for Fulfillment with drfulfill's readers."""
    plans = field_plans(Fulfillment)
    overrides = {
        plan.name: override(rename=plan.wire, struct_hook=_cattrs_hook(plan)) for plan in plans
    }
    overrides[EXTRA_FIELD] = override(omit=True)
    generated = make_dict_structure_fn(
        Fulfillment, cattrs.Converter(), _cattrs_detailed_validation=False, **overrides
    )
    known = frozenset(plan.wire for plan in plans)

    def decode() -> object:
        body = json.loads(PAGE)
        out = []
        for raw in body["data"]:
            if not raw.keys() <= known:
                raise TypeError("unknown key")
            out.append(generated(raw))
        return out

    return decode


def package_at(rev: str, into: str) -> types.ModuleType:
    """The ``drfulfill`` package of git revision ``rev``, imported as ``drfulfill_<rev>``."""
    name = f"drfulfill_{rev[:12]}"
    archive = subprocess.run(
        ["git", "archive", rev, "drfulfill"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)  # our own repository's archive
    os.rename(os.path.join(into, "drfulfill"), os.path.join(into, name))
    sys.path.insert(0, into)
    return importlib.import_module(name)


def decode_with(package: types.ModuleType, read: bool) -> Callable[[], object]:
    structure_at = importlib.import_module(f"{package.__name__}._convert").structure
    fulfillment_at = importlib.import_module(f"{package.__name__}.models").Fulfillment

    def decode() -> object:
        body = json.loads(PAGE)
        fulfillments = [structure_at(raw, fulfillment_at) for raw in body["data"]]
        return read_every_field(fulfillments) if read else fulfillments

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
        old = package_at(compare_rev, tempfile.mkdtemp(prefix="drfulfill-bench-"))
        scenarios[f"drfulfill@{compare_rev} + json.loads"] = decode_with(old, read=False)
        scenarios[f"drfulfill@{compare_rev} + read every field"] = decode_with(old, read=True)
    scenarios["cattrs make_dict_structure_fn"] = cattrs_fast_path()
    scenarios[f"drfulfill (codec={_json.BACKEND})"] = sdk_decode
    scenarios[f"drfulfill + read every field ({_json.BACKEND})"] = sdk_decode_and_read
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
