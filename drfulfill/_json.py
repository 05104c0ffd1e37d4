"""The SDK's JSON codec: orjson when installed (``pip install 'drfulfill[speed]'``), else the
standard library, with the same results either way.

Both ``loads`` and ``dumps`` raise ``ValueError`` (never ``RecursionError`` or an
orjson-specific type) for input they cannot handle. ``loads`` takes UTF-8 bytes and, on
both paths, refuses what orjson refuses: a byte-order mark, invalid UTF-8, ``NaN`` and
``Infinity``, numbers that overflow a double, lone surrogate escapes (``"\\ud800"``) and
nesting deeper than about 1,000 levels (orjson: 1,024; the stdlib: the interpreter's
recursion limit). ``dumps`` writes compact UTF-8 (no spaces, non-ASCII kept as is) and
refuses non-finite floats and lone surrogates on both paths. One difference remains:
orjson reads an integer beyond 64 bits as a float and refuses to write one; the stdlib
keeps it exact. Digital River sends no such number.

Set the environment variable ``DRFULFILL_JSON=stdlib`` (read at import) to use the
standard library even when orjson is installed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["BACKEND", "CODEC", "ORJSON", "STDLIB", "Codec", "dumps", "loads"]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} overflows a double")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _stdlib_loads(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")  # strict: invalid UTF-8 and encoded surrogates refused
        if text.startswith("\ufeff"):
            raise ValueError("a UTF-8 byte-order mark is not valid JSON")
        value = _DECODER.decode(text)
        if "\\" in text and "\\u" in text:  # the 1-character test is memchr: ~100x cheaper
            # A lone surrogate escape decodes to a str that UTF-8 cannot hold; re-encoding
            # (in C) finds it, as orjson does while parsing.
            _ENCODER.encode(value).encode("utf-8")
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeError
        raise ValueError(f"invalid JSON: {error}") from None
    return value


def _stdlib_dumps(obj: Any) -> bytes:
    try:
        return _ENCODER.encode(obj).encode("utf-8")
    except RecursionError:
        raise ValueError("value nested too deeply to encode as JSON") from None
    except (TypeError, ValueError) as error:  # unencodable type, NaN, lone surrogate
        raise ValueError(f"cannot encode as JSON: {error}") from None


class Codec(NamedTuple):
    """One JSON implementation: its name and its two functions."""

    name: str
    loads: Callable[[bytes], Any]
    dumps: Callable[[Any], bytes]


STDLIB = Codec("stdlib", _stdlib_loads, _stdlib_dumps)


def _orjson_codec() -> Codec | None:
    try:
        import orjson
    except ImportError:
        return None

    def orjson_loads(data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise ValueError(f"invalid JSON: {error}") from None

    def orjson_dumps(obj: Any) -> bytes:
        try:
            encoded = orjson.dumps(obj)
        except orjson.JSONEncodeError as error:
            raise ValueError(f"cannot encode as JSON: {error}") from None
        if b"null" in encoded:
            # orjson writes NaN and Infinity as null: let the stdlib path decide (None is
            # null there too, a non-finite float a ValueError). Rare: unstructure omits None.
            return _stdlib_dumps(obj)
        return encoded

    return Codec("orjson", orjson_loads, orjson_dumps)


ORJSON = _orjson_codec()
"""The orjson codec, or None when orjson is not installed."""

_FORCE_STDLIB = os.environ.get("DRFULFILL_JSON", "").strip().lower() == "stdlib"
CODEC = STDLIB if ORJSON is None or _FORCE_STDLIB else ORJSON
"""The codec this process uses."""

BACKEND = CODEC.name
"""``"orjson"`` or ``"stdlib"``."""

loads = CODEC.loads
"""Decode UTF-8 JSON bytes; ValueError for anything unreadable."""

dumps = CODEC.dumps
"""Encode as compact UTF-8 JSON bytes; ValueError for anything unencodable."""
