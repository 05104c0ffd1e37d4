"""Validation for drfulfill's request models: attrs validators and converters that raise
``ValidationError`` naming the field, and the one dict -> model path (``from_mapping``).

A ValidationError carries where it happened as (text before, field path, text after), so
that a container can re-raise an item's error with the item's position prefixed to the
path: "quantity must be >= 0" becomes "items[2].quantity must be >= 0".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs

from ._constants import METADATA_MAX_KEY_LENGTH, METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from ._convert import EXTRA_FIELD
from ._readers import MONEY_MAX_DECIMAL_PLACES, MONEY_MAX_DIGITS_BEFORE_POINT, is_money
from .errors import ValidationError

__all__ = [
    "copy_if_mapping",
    "describe",
    "from_mapping",
    "invalid",
    "non_empty_str",
    "optional_count",
    "optional_currency",
    "optional_metadata",
    "optional_money",
    "optional_non_empty_str",
    "optional_str",
    "optional_uniform_metadata",
    "positive_count",
    "to_decimal_if_numeric",
    "tuple_of",
]

M = TypeVar("M")


_LOCATION = "_drfulfill_location"


def _located_error(before: str, path: str, after: str) -> ValidationError:
    error = ValidationError(f"{before}{path}{after}")
    setattr(error, _LOCATION, (before, path, after))
    return error


def invalid(path: str, problem: str) -> ValidationError:
    return _located_error("", path, f" {problem}")


def _nested(error: ValidationError, prefix: str) -> ValidationError:
    before, path, after = getattr(error, _LOCATION, ("", "", f": {error}"))
    return _located_error(before, f"{prefix}.{path}" if path else prefix, after)


def _short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters; never raises."""
    try:
        text = repr(value)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        text = "<too long to show>"
    return text if len(text) <= 60 else text[:60] + "..."


def describe(value: Any) -> str:
    return f"{type(value).__name__} {_short(value)}"


def non_empty_str(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise invalid(attribute.name, f"must be a non-empty string, got {describe(value)}")


def optional_non_empty_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        non_empty_str(instance, attribute, value)


def optional_str(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise invalid(attribute.name, f"must be a string, got {describe(value)}")


def _check_int(path: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(path, f"must be an int, got {describe(value)}")
    if value < minimum:
        raise invalid(path, f"must be >= {minimum}, got {value}")


def optional_count(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _check_int(attribute.name, value, 0)


def positive_count(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _check_int(attribute.name, value, 1)


_CURRENCY_CODE = re.compile(r"[A-Za-z]{3}")


def optional_currency(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not (isinstance(value, str) and _CURRENCY_CODE.fullmatch(value)):
        raise invalid(attribute.name, f"must be a 3-letter ISO 4217 code, got {value!r}")


def to_decimal_if_numeric(value: Any) -> Any:
    """Money given as int, float or str becomes a Decimal; anything else (or an int too
    large to be money, kept out of Decimal so it costs nothing) is left for the validator
    to reject with the field's name."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return value
    if isinstance(value, int):
        return Decimal(value) if abs(value) < _MONEY_INT_LIMIT else value
    try:
        return Decimal(repr(value) if isinstance(value, float) else value.strip())
    except (InvalidOperation, ValueError):
        return value


_MONEY_INT_LIMIT = 10**MONEY_MAX_DIGITS_BEFORE_POINT


def optional_money(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    too_large = isinstance(value, int) and not isinstance(value, bool)  # kept out of Decimal
    if not too_large and (not isinstance(value, Decimal) or not value.is_finite()):
        raise invalid(attribute.name, f"must be a number, got {describe(value)}")
    if not too_large and value < 0:
        raise invalid(attribute.name, f"must be >= 0, got {value}")
    if too_large or not is_money(value):
        raise invalid(
            attribute.name,
            f"must be below 10^{MONEY_MAX_DIGITS_BEFORE_POINT} with at most "
            f"{MONEY_MAX_DECIMAL_PLACES} decimal places, got {describe(value)}",
        )


# Metadata (DR "Metadata" rules): at most 20 keys of at most 40 characters. On create
# (``Metadata``: "string, boolean or integer types") values are strings of at most 500
# characters, integers or booleans; an update (``StringMetadata``/``NumberMetadata``/
# ``BooleanMetadata``) takes all strings, all numbers (floats too) or all booleans.
# Integers are 64-bit, as DR's (Java) backend stores them.
_METADATA_KINDS: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "float"}
_INT64 = 2**63


def copy_if_mapping(value: Any) -> Any:
    """A private copy, so later changes to the caller's dict cannot reach a frozen model."""
    return dict(value) if isinstance(value, Mapping) else value


def _metadata_kind(key: str, value: Any, *, floats: bool) -> str:
    kind = next((kind for cls, kind in _METADATA_KINDS.items() if isinstance(value, cls)), None)
    path = f"metadata[{key!r}]"
    allowed = "a string, number or boolean" if floats else "a string, integer or boolean"
    if kind is None or (kind == "float" and not floats):
        raise invalid(path, f"must be {allowed}, got {describe(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid(path, f"must be a finite number, got {value!r}")
    if kind == "integer" and not -_INT64 <= value < _INT64:
        raise invalid(path, f"must fit in 64 bits, got {describe(value)}")
    if isinstance(value, str) and len(value) > METADATA_MAX_VALUE_LENGTH:
        raise invalid(
            path,
            f"is {len(value)} characters long; at most {METADATA_MAX_VALUE_LENGTH} are allowed",
        )
    return "number" if kind in ("integer", "float") else kind


def _check_metadata(metadata: Any, *, floats: bool) -> set[str]:
    """Validate DR's metadata limits; return the kinds of value present."""
    if not isinstance(metadata, Mapping):
        raise invalid("metadata", f"must be a dict, got {describe(metadata)}")
    if len(metadata) > METADATA_MAX_KEYS:
        raise invalid(
            "metadata", f"has {len(metadata)} keys; at most {METADATA_MAX_KEYS} are allowed"
        )
    kinds = set()
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise invalid("metadata", f"keys must be non-empty strings, got {describe(key)}")
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise invalid(
                f"metadata[{key[:60]!r}]",
                f"key is {len(key)} characters long; at most {METADATA_MAX_KEY_LENGTH} are allowed",
            )
        kinds.add(_metadata_kind(key, value, floats=floats))
    return kinds


def optional_metadata(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _check_metadata(value, floats=False)


def optional_uniform_metadata(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    """Update bodies take StringMetadata, NumberMetadata or BooleanMetadata: one value kind."""
    if value is None:
        return
    kinds = _check_metadata(value, floats=True)
    if len(kinds) > 1:
        raise invalid(
            "metadata",
            "values of an update must be all strings, all numbers or all booleans, "
            f"got {' and '.join(sorted(kinds))}",
        )


_init_keys_by_class: dict[type, tuple[frozenset[str], tuple[str, ...]]] = {}


def _init_keys(cls: type) -> tuple[frozenset[str], tuple[str, ...]]:
    """(accepted dict keys, required dict keys) for building ``cls`` from a dict."""
    keys = _init_keys_by_class.get(cls)
    if keys is None:
        fields = [f for f in attrs.fields(cls) if f.init and f.name != EXTRA_FIELD]
        accepted = frozenset(f.alias or f.name for f in fields)
        required = tuple(f.alias or f.name for f in fields if f.default is attrs.NOTHING)
        keys = _init_keys_by_class[cls] = (accepted, required)
    return keys


def from_mapping(cls: type[M], data: Mapping[str, Any]) -> M:
    """Build a model from a dict of its snake_case field names, validating as the
    constructor does.

    The one dict -> model path of the SDK (nested items, ``create(dict)``, CLI rows). Every
    problem is a ``ValidationError`` naming the field: ``unknown field 'bogus' in
    FulfillmentRequest``, ``order_id is required``, ``items[0].quantity must be >= 0, got -1``.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a {cls.__name__} or a dict, got {describe(data)}")
    return _from_dict(cls, data, "")


def _from_dict(cls: type[M], data: Mapping[Any, Any], path: str) -> M:
    accepted, required = _init_keys(cls)
    for key in data:
        if key not in accepted:
            if not path:
                raise ValidationError(f"unknown field {_short(key)} in {cls.__name__}")
            raise _located_error(f"unknown field {_short(key)} in ", path, "")
    for key in required:
        if key not in data:
            raise invalid(f"{path}.{key}" if path else key, "is required")
    try:
        return cls(**data)
    except ValidationError as error:
        raise (_nested(error, path) if path else error) from None


def tuple_of(cls: type[M], field_name: str, value: Any, *, optional: bool) -> tuple[M, ...] | None:
    """An iterable of ``cls`` instances or dicts -> tuple (the list fields' attrs converters).

    A required field must not be empty; an optional one maps None or empty to None.
    """
    if value is None and optional:
        return None
    if value is None or isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise invalid(field_name, f"must be a list of {cls.__name__}, got {describe(value)}")
    items = tuple(_as_model(cls, item, f"{field_name}[{i}]") for i, item in enumerate(value))
    if items:
        return items
    if optional:
        return None
    raise invalid(field_name, "must not be empty")


def _as_model(cls: type[M], item: Any, path: str) -> M:
    if isinstance(item, cls):
        return item
    if isinstance(item, Mapping):
        return _from_dict(cls, item, path)
    raise invalid(path, f"must be a {cls.__name__} or a dict, got {describe(item)}")
