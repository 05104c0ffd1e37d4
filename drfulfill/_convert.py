"""The one cattrs converter: Digital River's camelCase JSON <-> drfulfill's attrs models.

Decoding follows the tolerant-reader rule (DESIGN.md, fact 3): a response model is built
from *any* mapping without raising. Keys the model does not know go to ``extra``; so does
a known key whose value cannot be read as the declared type (the field stays None), so no
information is ever dropped. Plausible drift is absorbed on the way: ``"2"`` for an integer,
a JSON number for an id string, an unknown enum value (kept as the plain string), and
either spelling of ``liveMode``/``livemode``.

Encoding omits unset fields, None or an empty tuple (Digital River rejects ``null`` for
non-nullable fields), turns ``Decimal`` money into JSON numbers and datetimes into
``...Z`` strings, and re-emits a response model's ``extra`` so that decode -> encode
round-trips.

Each model's structure and unstructure functions are generated once, from its resolved
field types, into a flat per-key table; the hot path (a 100-item list page) does no
reflection. Wire names are ``to_camel(field name)`` unless a field's metadata says
otherwise (``{"wire": "livemode", "aliases": ("liveMode",)}``).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import attrs
import cattrs

from .errors import ValidationError

__all__ = [
    "converter",
    "format_datetime",
    "parse_datetime",
    "structure",
    "to_camel",
    "unstructure",
]

T = TypeVar("T")

EXTRA_FIELD = "extra"
"""Name of the field that holds a response model's unknown wire keys."""

converter = cattrs.Converter()

# Errors a field reader raises for a value it cannot read (InvalidOperation, OverflowError
# are ArithmeticErrors).
_UNREADABLE = (TypeError, ValueError, ArithmeticError)


# --- names -----------------------------------------------------------------------------


def to_camel(name: str) -> str:
    """``cancel_quantity`` -> ``cancelQuantity``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --- datetimes -------------------------------------------------------------------------

_ISO_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(?:(?P<zulu>[Zz])|(?P<sign>[+-])(\d{2}):?(\d{2})?)?",
    re.ASCII,
)


def parse_datetime(value: Any) -> datetime:
    """Read a Digital River timestamp as an aware datetime in UTC.

    Accepts ISO-8601 with ``Z`` or a ``±hh:mm`` offset and a fraction of any length
    (digits past microseconds are truncated), and the serialised Java ``OffsetDateTime``
    object that older DR reference pages show. A string without an offset is taken as UTC,
    DR's documented time zone. Anything else raises TypeError, ValueError or (for a date
    out of datetime's range) OverflowError.
    """
    if isinstance(value, str):
        return _parse_iso(value)
    if isinstance(value, Mapping):
        return _parse_java_offset_datetime(value)
    raise TypeError(f"expected an ISO-8601 string, got {type(value).__name__}")


def has_utc_offset(text: str) -> bool:
    """Whether an ISO-8601 date-time names its zone (``Z`` or an offset)."""
    match = _ISO_DATETIME.fullmatch(text.strip())
    return match is not None and (match["zulu"] is not None or match["sign"] is not None)


def _parse_iso(text: str) -> datetime:
    match = _ISO_DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 datetime: {text!r}")
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    parsed = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        micros,
        tzinfo=timezone.utc,
    )
    if sign is None:
        return parsed
    hours, minutes = int(off_h), int(off_m or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"not a UTC offset in {text!r}")
    offset = timedelta(hours=hours, minutes=minutes)
    # The fields were read as UTC; shift by the offset to get the same instant in UTC.
    return parsed - offset if sign == "+" else parsed + offset


def _parse_java_offset_datetime(obj: Mapping[str, Any]) -> datetime:
    missing = [key for key in ("year", "monthValue", "dayOfMonth") if key not in obj]
    if missing:
        raise ValueError(f"not a date-time object, missing {', '.join(missing)}")
    offset = obj.get("offset")
    offset_seconds = offset.get("totalSeconds", 0) if isinstance(offset, Mapping) else 0
    local = datetime(
        int(obj["year"]),
        int(obj["monthValue"]),
        int(obj["dayOfMonth"]),
        int(obj.get("hour", 0)),
        int(obj.get("minute", 0)),
        int(obj.get("second", 0)),
        int(obj.get("nano", 0)) // 1000,
        tzinfo=timezone(timedelta(seconds=int(offset_seconds))),
    )
    return local.astimezone(timezone.utc)


def format_datetime(value: datetime) -> str:
    """An aware datetime as DR's UTC form: ``2024-01-01T00:00:00Z``.

    Fractional seconds appear only when present: milliseconds when that is exact,
    otherwise microseconds. A naive datetime raises ValueError (its instant is unknown).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {value.isoformat()}")
    utc = value.astimezone(timezone.utc)
    text = utc.replace(tzinfo=None, microsecond=0).isoformat()
    if utc.microsecond:
        fraction = f"{utc.microsecond:06d}"
        text += "." + (fraction[:3] if fraction.endswith("000") else fraction)
    return text + "Z"


# --- readers: one wire value -> one field value; raise _UNREADABLE on a misfit -----------


def _read_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # DR examples send ids such as itemId as JSON numbers
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _read_int(value: Any) -> int:
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


def _read_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.lower()]
    raise TypeError(f"expected a boolean, got {value!r}")


def _read_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("expected a number, got bool")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, (int, float)):
        amount = Decimal(str(value))  # str() keeps 10.1 as 10.1, not 10.0999999...
    elif isinstance(value, str):
        amount = Decimal(value.strip())
    else:
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if not amount.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return amount


def _read_mapping(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _read_enum_or_str(enum_cls: type[Enum]) -> Callable[[Any], Any]:
    members = {member.value: member for member in enum_cls}

    def read(value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return members.get(value, value)  # a new value is kept as the plain string

    return read


def _read_tuple_of(read_item: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def read(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected an array, got {type(value).__name__}")
        return tuple([read_item(item) for item in value])

    return read


def _identity(value: Any) -> Any:
    return value


# --- writers: one field value -> one JSON value ----------------------------------------


def _write_decimal(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _write_enum_or_str(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _write_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)  # a copy: the encoded body must not alias the model's dict


def _write_sequence_of(write_item: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def write(value: Any) -> list[Any]:
        return [write_item(item) for item in value]

    return write


# --- per-type plans ----------------------------------------------------------------------

_SCALAR_READERS: dict[Any, Callable[[Any], Any]] = {
    str: _read_str,
    int: _read_int,
    bool: _read_bool,
    Decimal: _read_decimal,
    datetime: parse_datetime,
}

_SCALAR_WRITERS: dict[Any, Callable[[Any], Any]] = {
    str: _identity,
    int: _identity,
    bool: _identity,
    Decimal: _write_decimal,
    datetime: format_datetime,
}

_UNION_ORIGINS = (typing.Union, types.UnionType)


def _without_none(tp: Any) -> Any:
    """``X | None`` -> ``X``; other types unchanged."""
    if typing.get_origin(tp) in _UNION_ORIGINS:
        args = tuple(arg for arg in typing.get_args(tp) if arg is not type(None))
        if len(args) == 1:
            return args[0]
        return typing.Union[args]  # noqa: UP007 - rebuilding a union from a tuple of types
    return tp


def _enum_in_str_union(tp: Any) -> type[Enum] | None:
    """The Enum of an ``SomeEnum | str`` union (a tolerant enum field), else None."""
    if typing.get_origin(tp) not in _UNION_ORIGINS:
        return None
    args = typing.get_args(tp)
    enums = [arg for arg in args if isinstance(arg, type) and issubclass(arg, Enum)]
    return enums[0] if len(enums) == 1 and str in args else None


def _reader_for(tp: Any) -> Callable[[Any], Any]:
    tp = _without_none(tp)
    if tp in _SCALAR_READERS:
        return _SCALAR_READERS[tp]
    enum_cls = _enum_in_str_union(tp)
    if enum_cls is not None:
        return _read_enum_or_str(enum_cls)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _read_enum_or_str(tp)
    if attrs.has(tp):
        return _structure_fn(tp)
    origin = typing.get_origin(tp)
    if origin is tuple:
        return _read_tuple_of(_reader_for(typing.get_args(tp)[0]))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return _read_mapping
    raise TypeError(f"drfulfill._convert has no reader for {tp!r}")


def _writer_for(tp: Any) -> Callable[[Any], Any]:
    tp = _without_none(tp)
    if tp in _SCALAR_WRITERS:
        return _SCALAR_WRITERS[tp]
    if _enum_in_str_union(tp) is not None or (isinstance(tp, type) and issubclass(tp, Enum)):
        return _write_enum_or_str
    if attrs.has(tp):
        return _unstructure_fn(tp)
    origin = typing.get_origin(tp)
    if origin is tuple and typing.get_args(tp)[1:] == (...,):
        return _write_sequence_of(_writer_for(typing.get_args(tp)[0]))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return _write_mapping
    # Generic parameters (Page[T].data), Any, exceptions: decide by the runtime value.
    return converter.unstructure


def _wire_names(field: attrs.Attribute) -> tuple[str, ...]:
    """The field's wire name first, then any alternative spellings it is read from."""
    wire = field.metadata.get("wire", to_camel(field.name))
    return (wire, *field.metadata.get("aliases", ()))


def _model_fields(cls: type) -> list[attrs.Attribute]:
    attrs.resolve_types(cls)  # models use string annotations (PEP 563)
    return [field for field in attrs.fields(cls) if field.name != EXTRA_FIELD]


def _has_extra(cls: type) -> bool:
    return EXTRA_FIELD in attrs.fields_dict(cls)


_structure_fns: dict[type, Callable[..., Any]] = {}
_unstructure_fns: dict[type, Callable[[Any], dict[str, Any]]] = {}


def _structure_fn(cls: type) -> Callable[..., Any]:
    """The (cached) function that builds ``cls`` from a camelCase wire mapping."""
    fn = _structure_fns.get(cls)
    if fn is None:
        fn = _structure_fns[cls] = _make_structure_fn(cls)
    return fn


class _NoFastPath:
    """Stands in for "no type is taken as is": no wire value has this type."""


# Plain str/int/bool fields take a value of exactly that type without a reader call: the
# common case, and the hot loop of a list page.
_FAST_PATH_TYPES = (str, int, bool)

_FieldReader = tuple[str, Callable[[Any], Any], type]  # (field name, reader, fast-path type)


def _make_structure_fn(cls: type) -> Callable[..., Any]:
    readers: dict[str, _FieldReader] = {}
    for field in _model_fields(cls):
        read = _reader_for(field.type)
        declared = _without_none(field.type)
        fast_type = declared if declared in _FAST_PATH_TYPES else _NoFastPath
        for wire in _wire_names(field):
            readers[wire] = (field.name, read, fast_type)
    if _has_extra(cls):
        return _tolerant_structure_fn(cls, readers)
    return _strict_structure_fn(cls, readers)


def _tolerant_structure_fn(cls: type, readers: dict[str, _FieldReader]) -> Callable[..., Any]:
    """Response models: never raise for a mapping; misfits go to ``extra``."""

    def structure_response(data: Any, _cls: Any = None) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} needs a JSON object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            reader = readers.get(key)
            if reader is None:
                extra[key] = value
            elif value is not None:  # null means absent: the field keeps its default
                name, read, fast_type = reader
                if type(value) is fast_type:
                    kwargs[name] = value
                    continue
                try:
                    kwargs[name] = read(value)
                except _UNREADABLE:
                    extra[key] = value
        if extra:
            kwargs[EXTRA_FIELD] = extra
        return cls(**kwargs)

    structure_response.__qualname__ = f"structure_{cls.__name__}"
    return structure_response


def _strict_structure_fn(cls: type, readers: dict[str, _FieldReader]) -> Callable[..., Any]:
    """Request models read back from the wire: unknown or unreadable keys are errors."""
    required = [field.name for field in _model_fields(cls) if field.default is attrs.NOTHING]

    def structure_request(data: Any, _cls: Any = None) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} needs a JSON object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            reader = readers.get(key)
            if reader is None:
                raise ValidationError(f"unknown field {key!r} in {cls.__name__}")
            if value is None:
                continue
            name, read, _fast_type = reader
            try:
                kwargs[name] = read(value)
            except _UNREADABLE as exc:
                raise ValidationError(f"{name} is unreadable: {exc}") from None
        for name in required:
            if name not in kwargs:
                raise ValidationError(f"{name} is required")
        return cls(**kwargs)

    structure_request.__qualname__ = f"structure_{cls.__name__}"
    return structure_request


def _unstructure_fn(cls: type) -> Callable[[Any], dict[str, Any]]:
    """The (cached) function that encodes a ``cls`` instance as a camelCase wire dict."""
    fn = _unstructure_fns.get(cls)
    if fn is None:
        fn = _unstructure_fns[cls] = _make_unstructure_fn(cls)
    return fn


def _make_unstructure_fn(cls: type) -> Callable[[Any], dict[str, Any]]:
    plan = [
        (field.name, _wire_names(field)[0], _writer_for(field.type)) for field in _model_fields(cls)
    ]
    with_extra = _has_extra(cls)

    def unstructure_model(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, wire, write in plan:
            value = getattr(obj, name)
            if value is not None and value != ():  # unset means omitted, never null
                out[wire] = write(value)
        if with_extra:
            for key, value in obj.extra.items():
                out.setdefault(key, value)  # a typed field wins over a stale raw copy
        return out

    unstructure_model.__qualname__ = f"unstructure_{cls.__name__}"
    return unstructure_model


converter.register_structure_hook_factory(attrs.has, _structure_fn)
converter.register_unstructure_hook_factory(attrs.has, _unstructure_fn)
converter.register_unstructure_hook(Decimal, _write_decimal)
converter.register_unstructure_hook(datetime, format_datetime)


# --- entry points ------------------------------------------------------------------------


def structure(data: Mapping[str, Any], cls: type[T]) -> T:
    """Decode a camelCase wire object into ``cls``.

    For response models this never raises on a mapping (see the module docstring); a
    non-mapping raises TypeError, which callers report as a DecodeError.
    """
    result: T = _structure_fn(cls)(data)
    return result


def unstructure(obj: Any) -> dict[str, Any]:
    """Encode a model as a camelCase wire dict, None fields omitted."""
    result: dict[str, Any] = _unstructure_fn(type(obj))(obj)
    return result
