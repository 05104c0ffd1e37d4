"""The one cattrs converter: Digital River's camelCase JSON <-> drfulfill's attrs models.

Decoding a response model takes one of two paths:

1. the *fast path*, a function generated per model by ``_fastpath`` (each field read
   from its wire name with a reader from ``_readers``), which accepts exactly what DR's
   servers send: known keys only, each value of its JSON type, times in DR's ``...Z``
   form. Tuples of nested models (``Fulfillment.items``, ``FulfillmentReturn.items``) are
   checked and left unbuilt until first read (``_deferred``);
2. the *tolerant reader* (DESIGN.md, fact 3), taken only when the fast path meets anything
   else. Keys the model does not know go to ``extra``; so does a known key whose value
   cannot be read as the declared type (the field keeps its default), so no information is
   dropped. Plausible drift is absorbed: ``"2"`` for an integer, a JSON number for an id
   string, an unknown enum value (kept as the plain string), either spelling of
   ``liveMode``/``livemode``, any ISO-8601 time form (``_datetimes.parse_datetime``).

Fields DR always sends have no default (``Fulfillment.id``, ``created_time``, ``order_id``,
``items``; ``FulfillmentReturn.id``, ``created_time``): a body without one, with ``null``
there or with a value that cannot be read is a ``DecodeError``. So is anything but a JSON
object. ``structure`` raises nothing else for a response model.

Encoding (cattrs' generated unstructure function, ``make_dict_unstructure_fn`` with each
field renamed to its wire name) omits fields at their default (None or
an empty tuple: DR rejects ``null`` for non-nullable fields), writes ``Decimal`` money as
JSON numbers and datetimes as ``...Z`` strings, and re-emits a response model's ``extra``
so that decode -> encode round-trips.

Wire names are ``to_camel(field name)`` unless a field's metadata says otherwise
(``{"wire": "livemode", "aliases": ("liveMode",)}``).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.fns import identity
from cattrs.gen import make_dict_unstructure_fn, override

from . import _readers as r
from ._datetimes import format_datetime, has_utc_offset, parse_datetime, parse_fast_utc
from ._deferred import BuiltOnRead
from ._fastpath import FieldPlan, NotBuildable, compile_fast_path
from .errors import DecodeError, ValidationError

__all__ = [
    "EXTRA_FIELD",
    "converter",
    "decoder",
    "field_plans",
    "format_datetime",
    "has_utc_offset",
    "parse_datetime",
    "structure",
    "to_camel",
    "unstructure",
]

T = TypeVar("T")

EXTRA_FIELD = "extra"
"""Name of the field that holds a response model's unknown wire keys."""

converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=True)

# What the fast path raises when it meets something unusual: a missing key (KeyError), a
# value of another type, a non-object where an object belongs (AttributeError: no keys()).
_FAST_PATH_MISSES = (
    KeyError,
    TypeError,
    ValueError,
    ArithmeticError,
    AttributeError,
    DecodeError,
)
# A nested object that fails its own required fields is unreadable, kept raw in ``extra``.
_UNREADABLE = (*r.UNREADABLE, DecodeError)


def to_camel(name: str) -> str:
    """``cancel_quantity`` -> ``cancelQuantity``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --- field types ---------------------------------------------------------------------------

_UNION_ORIGINS = (typing.Union, types.UnionType)


def _without_none(tp: Any) -> Any:
    """``X | None`` -> ``X``; other types unchanged."""
    if typing.get_origin(tp) in _UNION_ORIGINS:
        args = tuple(arg for arg in typing.get_args(tp) if arg is not type(None))
        if len(args) == 1:
            return args[0]
        return typing.Union[args]  # noqa: UP007 - rebuilding a union from a tuple of types
    return tp


def _enum_of(tp: Any) -> type[Enum] | None:
    """The Enum of an ``SomeEnum | str`` union (a tolerant enum field) or of an Enum."""
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp
    if typing.get_origin(tp) not in _UNION_ORIGINS:
        return None
    args = typing.get_args(tp)
    enums = [arg for arg in args if isinstance(arg, type) and issubclass(arg, Enum)]
    return enums[0] if len(enums) == 1 and str in args else None


def _is_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) in (dict, Mapping) or tp in (dict, Mapping)


def _tuple_item(tp: Any) -> Any:
    """``X`` of ``tuple[X, ...]``, else None."""
    args = typing.get_args(tp)
    return args[0] if typing.get_origin(tp) is tuple and args[1:] == (...,) else None


_SCALAR_READERS: dict[Any, Callable[[Any], Any]] = {
    str: r.read_str,
    int: r.read_int,
    bool: r.read_bool,
    Decimal: r.read_decimal,
    datetime: parse_datetime,
}

_SCALAR_WRITERS: dict[Any, Callable[[Any], Any]] = {
    str: identity,
    int: identity,
    bool: identity,
    Decimal: r.write_decimal,
    datetime: format_datetime,
}


def _reader_for(tp: Any) -> Callable[[Any], Any]:
    """The tolerant reader of one field type."""
    tp = _without_none(tp)
    if tp in _SCALAR_READERS:
        return _SCALAR_READERS[tp]
    enum_cls = _enum_of(tp)
    if enum_cls is not None:
        return r.read_enum_or_str(enum_cls)
    if attrs.has(tp):
        return _structure_fn(tp)
    item = _tuple_item(tp)
    if item is not None:
        return r.read_tuple_of(_reader_for(item))
    if _is_mapping(tp):
        return r.read_mapping
    raise TypeError(f"drfulfill._convert has no reader for {tp!r}")


def field_plans(cls: type) -> list[FieldPlan]:
    """How the fast path reads each field of response model ``cls`` (``extra`` aside)."""
    return [_fast_plan(cls, field) for field in _model_fields(cls)]


def _fast_plan(cls: type, field: attrs.Attribute[Any]) -> FieldPlan:
    """How the fast path reads one response-model field."""
    tp = _without_none(field.type)
    required = _is_required(field)
    plan = functools.partial(
        FieldPlan,
        field.name,
        _wire_names(field)[0],
        required,
        default=None if required else field.default,
    )
    if tp in (str, int, bool):
        return plan(exact=tp)
    if _is_mapping(tp):
        return plan(exact=dict)
    if tp is Decimal:
        return plan(read=r.fast_money)
    if tp is datetime:
        return plan(read=parse_fast_utc)
    enum_cls = _enum_of(tp)
    if enum_cls is not None:
        return plan(read=r.fast_enum_or_str(enum_cls))
    if attrs.has(tp):
        return plan(read=r.fast_object(_structure_fn(tp)))
    item = _tuple_item(tp)
    if item is not None and attrs.has(item):
        if not _built_on_read(cls, field.name):
            return plan(read=r.fast_tuple_of(_structure_fn(item)))
        if any(_is_required(part) for part in _model_fields(item)):
            raise TypeError(f"{cls.__name__}.{field.name}: {item.__name__} may fail to build")
        return plan(read=r.fast_unbuilt_tuple_of(_structure_fn(item)))
    raise TypeError(f"drfulfill._convert has no fast reader for {tp!r}")


def _writer_for(tp: Any) -> Callable[[Any], Any]:
    tp = _without_none(tp)
    if tp in _SCALAR_WRITERS:
        return _SCALAR_WRITERS[tp]
    if _enum_of(tp) is not None:
        return r.write_enum_or_str
    if attrs.has(tp):
        return _unstructure_fn(tp)
    item = _tuple_item(tp)
    if item is not None:
        return r.write_sequence_of(_writer_for(item))
    if _is_mapping(tp):
        return r.write_mapping
    # Generic parameters (Page[T].data), Any, exceptions: decide by the runtime value.
    return converter.unstructure


# --- models ------------------------------------------------------------------------------


def _wire_names(field: attrs.Attribute[Any]) -> tuple[str, ...]:
    """The field's wire name first, then any alternative spellings it is read from."""
    wire = field.metadata.get("wire", to_camel(field.name))
    return (wire, *field.metadata.get("aliases", ()))


def _model_fields(cls: type) -> list[attrs.Attribute[Any]]:
    attrs.resolve_types(cls)  # models use string annotations (PEP 563)
    return [field for field in attrs.fields(cls) if field.name != EXTRA_FIELD]


def _has_extra(cls: type) -> bool:
    return EXTRA_FIELD in attrs.fields_dict(cls)


def _excerpt(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 2000 else text[:2000] + "..."


_structure_fns: dict[type, Callable[..., Any]] = {}
_complete_fns: dict[type, Callable[..., Any]] = {}
_unstructure_fns: dict[type, Callable[[Any], dict[str, Any]]] = {}


def _structure_fn(cls: type) -> Callable[..., Any]:
    """The (cached) function that builds ``cls`` from a camelCase wire mapping."""
    fn = _structure_fns.get(cls)
    if fn is None:
        fn = _structure_fns[cls] = _make_structure_fn(cls)
    return fn


_FieldReader = tuple[str, Callable[[Any], Any]]  # (field name, tolerant reader)


def _make_structure_fn(cls: type) -> Callable[..., Any]:
    fields = _model_fields(cls)
    readers: dict[str, _FieldReader] = {}
    for field in fields:
        read = _reader_for(field.type)
        for wire in _wire_names(field):
            readers[wire] = (field.name, read)
    if not _has_extra(cls):
        return _strict_structure_fn(cls, readers)
    required = [(field.name, _wire_names(field)[0]) for field in fields if _is_required(field)]
    # Only the primary wire names: an alias or an unknown key takes the tolerant reader.
    known = [_wire_names(field)[0] for field in fields]
    tolerant = _tolerant_structure_fn(cls, readers, required)
    try:
        return compile_fast_path(
            cls,
            field_plans(cls),
            known=known,
            extra_field=EXTRA_FIELD,
            fallback=tolerant,
            misses=_FAST_PATH_MISSES,
        )
    except NotBuildable:  # e.g. a caller's unslotted attrs class: correct, only slower
        return lambda data, _cls=None: tolerant(data)


def _built_on_read(cls: type, name: str) -> bool:
    return isinstance(inspect.getattr_static(cls, name, None), BuiltOnRead)


def _complete_fn(cls: type) -> Callable[..., Any]:
    """The (cached) function that decodes ``cls`` with nothing left unbuilt: for objects
    the caller holds and may change later, which unbuilt items would still refer to."""
    fn = _complete_fns.get(cls)
    if fn is None:
        fn = _complete_fns[cls] = _make_complete_fn(cls)
    return fn


def _make_complete_fn(cls: type) -> Callable[..., Any]:
    build = _structure_fn(cls)
    if not attrs.has(cls):
        return build
    deferred = [field.name for field in attrs.fields(cls) if _built_on_read(cls, field.name)]
    if not deferred:
        return build

    def structure_completely(data: Any, _cls: Any = None) -> Any:
        obj = build(data)
        for name in deferred:
            getattr(obj, name)  # builds it now, from the wire objects as they are now
        return obj

    structure_completely.__qualname__ = f"structure_{cls.__name__}_completely"
    return structure_completely


def _is_required(field: attrs.Attribute[Any]) -> bool:
    return field.default is attrs.NOTHING


def _tolerant_structure_fn(
    cls: type, readers: dict[str, _FieldReader], required: list[tuple[str, str]]
) -> Callable[[Any], Any]:
    """Response models off the fast path: misfits go to ``extra``; a missing or unreadable
    required field, or a non-object, is a DecodeError."""

    def structure_tolerantly(data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise DecodeError(
                f"{cls.__name__} needs a JSON object, got {type(data).__name__}",
                text=_excerpt(data),
            )
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            reader = readers.get(key)
            if reader is None:
                extra[key] = value
            elif value is not None:  # null means absent: the field keeps its default
                name, read = reader
                try:
                    kwargs[name] = read(value)
                except _UNREADABLE:
                    extra[key] = value
        for name, wire in required:
            if name not in kwargs:
                problem = "an unreadable" if wire in extra else "no"
                raise DecodeError(f"{cls.__name__} with {problem} {wire!r}", text=_excerpt(data))
        if extra:
            kwargs[EXTRA_FIELD] = extra
        return cls(**kwargs)

    return structure_tolerantly


def _strict_structure_fn(cls: type, readers: dict[str, _FieldReader]) -> Callable[..., Any]:
    """Request models read back from the wire: unknown or unreadable keys are errors."""
    required = [field.name for field in _model_fields(cls) if _is_required(field)]

    def structure_request(data: Any, _cls: Any = None) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError(f"{cls.__name__} needs a JSON object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            reader = readers.get(key)
            if reader is None:
                raise ValidationError(f"unknown field {key!r} in {cls.__name__}")
            if value is None:
                continue
            name, read = reader
            try:
                kwargs[name] = read(value)
            except r.UNREADABLE as exc:
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
    overrides: dict[str, Any] = {
        field.name: override(
            rename=_wire_names(field)[0],
            # "any type": a field that may hold another type than declared (a bulk row's
            # input as given) is encoded by its value's runtime type.
            unstruct_hook=(
                converter.unstructure if field.metadata.get("any_type") else _writer_for(field.type)
            ),
        )
        for field in _model_fields(cls)
    }
    with_extra = _has_extra(cls)
    if with_extra:
        overrides[EXTRA_FIELD] = override(omit=True)
    # Unset means omitted, never null: every optional field defaults to None or ().
    fields_only: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
        cls, converter, _cattrs_omit_if_default=True, **overrides
    )
    if not with_extra:
        return fields_only

    def unstructure_response(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = fields_only(obj)
        for key, value in obj.extra.items():
            out.setdefault(key, value)  # a typed field wins over a stale raw copy
        return out

    unstructure_response.__qualname__ = f"unstructure_{cls.__name__}"
    return unstructure_response


converter.register_structure_hook_factory(attrs.has, _complete_fn)
converter.register_unstructure_hook_factory(attrs.has, _unstructure_fn)
converter.register_unstructure_hook(Decimal, r.write_decimal)
converter.register_unstructure_hook(datetime, format_datetime)
# An error in a model (a bulk row's): its type and message, which never hold a key.
converter.register_unstructure_hook(BaseException, lambda error: f"{type(error).__name__}: {error}")


# --- entry points ------------------------------------------------------------------------


def decoder(cls: type[T]) -> Callable[[Any], T]:
    """The function that decodes a wire object into ``cls`` as ``structure`` does, except
    that tuples of nested models (``Fulfillment.items``) are left unbuilt, referring to the
    wire objects, until first read: only for objects the SDK parsed itself and hands to
    nobody else (response bodies)."""
    return _structure_fn(cls)


def structure(data: Mapping[str, Any], cls: type[T]) -> T:
    """Decode a camelCase wire object into ``cls``.

    For a response model, raises only DecodeError (not an object, or a field DR always
    sends missing or unreadable); for a request model, only ValidationError. Nothing is
    left unbuilt (unlike ``decoder``): ``data`` may be the caller's, changed later.
    """
    result: T = _complete_fn(cls)(data)
    return result


def unstructure(obj: Any) -> dict[str, Any]:
    """Encode a model as a camelCase wire dict, fields at their default omitted."""
    result: dict[str, Any] = _unstructure_fn(type(obj))(obj)
    return result
