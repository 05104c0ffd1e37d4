"""Value readers and writers for ``drfulfill._convert``: one wire value <-> one field value.

Two kinds of reader per type:

- *fast* readers ``value -> field value`` for the generated fast path (``_fastpath``): they
  take only the exact JSON type DR sends (never null: the fast path gives an optional
  field's null its default itself) and raise ``TypeError``/``ValueError`` for anything
  else, which sends the whole object to the tolerant reader;
- *tolerant* readers ``value -> field value`` for that fallback: they also accept plausible
  drift (``"2"`` for an integer, a JSON number for an id string) and raise one of
  ``UNREADABLE`` for a value they cannot read, which the caller keeps raw in ``extra``.

Money is bounded (``is_money``) on every path, so no amount can make encoding slow or fail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from ._deferred import Unbuilt
from .errors import ValidationError

MONEY_MAX_DIGITS_BEFORE_POINT = 15
MONEY_MAX_DECIMAL_PLACES = 18
"""Money bounds: below 10**15 (a float is exact there), at most 18 decimal places. DR
amounts have two or three decimals; 18 leaves room for float artefacts such as
``30.299999999999997`` while refusing ``1e5000`` or ``1e-999999999``, whose encoding would
take seconds and gigabytes."""

_MONEY_INT_LIMIT = 10**MONEY_MAX_DIGITS_BEFORE_POINT

# Errors a tolerant reader raises for a value it cannot read (InvalidOperation and
# OverflowError are ArithmeticErrors).
UNREADABLE = (TypeError, ValueError, ArithmeticError)


def is_money(amount: Decimal) -> bool:
    """Whether a Decimal is finite and within the money bounds above."""
    if not amount.is_finite():
        return False
    if amount and amount.adjusted() >= MONEY_MAX_DIGITS_BEFORE_POINT:
        return False
    exponent = amount.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -MONEY_MAX_DECIMAL_PLACES


# --- fast readers -------------------------------------------------------------------------
# Non-null wire value -> field value; any other value raises, which leaves the fast path.


def fast_money(value: Any) -> Decimal:
    cls = value.__class__
    if cls is int and -_MONEY_INT_LIMIT < value < _MONEY_INT_LIMIT:
        return Decimal(value)
    if cls is float and (0.01 <= abs(value) < _MONEY_INT_LIMIT or value == 0):
        # In this range repr() (at most 17 significant digits) keeps within 18 decimal
        # places, so the amount needs no is_money check; 10.1 -> Decimal("10.1").
        return Decimal(repr(value))
    raise TypeError("expected a JSON number of money")


def fast_enum_or_str(enum_cls: type[Enum]) -> Callable[[Any], Any]:
    members = {member.value: member for member in enum_cls}

    def read(value: Any) -> Any:
        if value.__class__ is str:
            return members.get(value, value)  # a new value is kept as the plain string
        raise TypeError("expected a string")

    return read


def fast_object(structure: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A nested object: a JSON object read by ``structure``."""

    def read(value: Any) -> Any:
        if value.__class__ is dict:
            return structure(value)
        raise TypeError("expected an object")

    return read


def fast_tuple_of(structure: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A JSON array of objects, each read by ``structure``."""

    def read(value: Any) -> tuple[Any, ...]:
        if value.__class__ is list:
            return tuple([structure(item) for item in value])
        raise TypeError("expected an array")

    return read


def fast_unbuilt_tuple_of(structure: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A JSON array of objects kept unbuilt (``_deferred``) until the field is first read;
    ``structure`` must not fail on any JSON object."""

    def read(value: Any) -> Any:
        if value.__class__ is not list:
            raise TypeError("expected an array")
        for item in value:
            if item.__class__ is not dict:
                raise TypeError("expected an array of objects")
        return Unbuilt(value, structure) if value else ()

    return read


# --- tolerant readers ---------------------------------------------------------------------


def read_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # DR examples send ids such as itemId as JSON numbers
    raise TypeError(f"expected a string, got {type(value).__name__}")


def read_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip())  # DR examples send quantities as "2"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


_BOOL_WORDS = {"true": True, "false": False}


def read_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.lower()]
    raise TypeError(f"expected a boolean, got {value!r}")


def read_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("expected a number, got bool")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        if not -_MONEY_INT_LIMIT < value < _MONEY_INT_LIMIT:
            raise ValueError("amount out of range")
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        amount = Decimal(value.strip())
    else:
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if not is_money(amount):
        raise ValueError(f"not an amount of money: {value!r}")
    return amount


def read_mapping(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def read_enum_or_str(enum_cls: type[Enum]) -> Callable[[Any], Any]:
    members = {member.value: member for member in enum_cls}

    def read(value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return members.get(value, value)

    return read


def read_tuple_of(read_item: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def read(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected an array, got {type(value).__name__}")
        return tuple([read_item(item) for item in value])

    return read


# --- writers ------------------------------------------------------------------------------


def write_decimal(value: Decimal) -> int | float:
    """Money as a JSON number (the spec's ``number``/``double``): int when whole."""
    if not is_money(value):
        # Models refuse such amounts at construction; a hand-built one must not hang here.
        raise ValidationError(f"cannot encode {value!r} as money")
    return int(value) if value == value.to_integral_value() else float(value)


def write_enum_or_str(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def write_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)  # a copy: the encoded body must not alias the model's dict


def write_sequence_of(write_item: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def write(value: Any) -> list[Any]:
        return [write_item(item) for item in value]

    return write
