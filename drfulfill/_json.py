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
from typing import Any

__all__ = ["BACKEND", "dumps", "loads"]


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
        if "\\u" in text:
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


def _orjson_codec() -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]] | None:
    if os.environ.get("DRFULFILL_JSON", "").strip().lower() == "stdlib":
        return None
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

    return orjson_loads, orjson_dumps


_ORJSON = _orjson_codec()
BACKEND = "stdlib" if _ORJSON is None else "orjson"
"""Which codec this process uses: ``"orjson"`` or ``"stdlib"``."""

loads: Callable[[bytes], Any] = _stdlib_loads if _ORJSON is None else _ORJSON[0]
"""Decode UTF-8 JSON bytes; ValueError for anything unreadable."""

dumps: Callable[[Any], bytes] = _stdlib_dumps if _ORJSON is None else _ORJSON[1]
"""Encode as compact UTF-8 JSON bytes; ValueError for anything unencodable."""
