"""The decoder's fast path: one generated function per response model.

For a wire object (a ``dict``) holding only the model's known keys, each value of the JSON
type DR sends, the generated function builds the model directly: it checks each value inline
(``v.__class__ is str``), hands the few values that need converting (times, money, enum
values, nested objects) to a reader, and sets the model's slots without going through
attrs' ``__init__``. Anything else raises (``TypeError``, ``KeyError``, or whatever a
reader raises) inside the function, which then returns what its fallback, the tolerant
reader of ``drfulfill._convert``, makes of the object.

Why not cattrs' ``make_dict_structure_fn``, which the fast path used before: its generated
function collects every field into a dict, calls a hook per field and then the class with
``**kwargs``, so a 100-item page decoded through it cost 1.5-1.8x what this path costs
over the parse itself (``python -m benchmarks.bench_decode`` prints both, side by side).

Only slotted models whose fields have no converter and no ``__attrs_post_init__`` qualify
(setting slots skips both; ``NotBuildable`` otherwise); validators, where a model has them,
are run with ``attrs.validate``.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Collection
from typing import Any

import attrs

from ._deferred import BuiltOnRead

__all__ = ["FieldPlan", "NotBuildable", "compile_fast_path"]


class NotBuildable(TypeError):
    """The model cannot be built slot by slot; decode it with the tolerant reader alone."""


_EXACT_TYPES = (str, int, bool, dict)


@attrs.frozen
class FieldPlan:
    """How the fast path reads one field.

    Exactly one of ``exact`` (the wire value must be exactly this JSON type, or null for an
    optional field, and is kept as it is) and ``read`` (wire value -> field value, raising
    for anything the fast path should not take) is set. An optional field's null or absent
    key is its ``default`` (None or ``()``); ``read`` never sees null.
    """

    name: str
    wire: str
    required: bool
    exact: type | None = None
    read: Callable[[Any], Any] | None = None
    default: object = None


def _slot_setter(cls: type, name: str) -> Callable[[object, Any], None]:
    # Looked up along the MRO without calling it: a subclass inherits its parents' slots.
    descriptor = inspect.getattr_static(cls, name, None)
    if isinstance(descriptor, BuiltOnRead):
        descriptor = descriptor.slot
    if not isinstance(descriptor, types.MemberDescriptorType):
        raise NotBuildable(f"{cls.__name__}.{name} is not a slot")
    setter: Callable[[object, Any], None] = descriptor.__set__
    return setter


def _check_buildable(cls: type) -> bool:
    """Whether ``cls`` can be built slot by slot; True when its validators must then run."""
    if getattr(cls, "__attrs_post_init__", None) is not None:
        raise NotBuildable(f"{cls.__name__} has __attrs_post_init__: no fast path")
    fields = attrs.fields(cls)
    if any(field.converter is not None for field in fields):
        raise NotBuildable(f"{cls.__name__} has converters: no fast path")
    return any(field.validator is not None for field in fields)


def compile_fast_path(
    cls: type,
    plans: list[FieldPlan],
    *,
    known: Collection[str],
    extra_field: str,
    fallback: Callable[[Any], Any],
    misses: tuple[type[BaseException], ...],
) -> Callable[..., Any]:
    """The structure function of ``cls``: wire object -> instance by the fast path, or by
    ``fallback`` when the fast path raises one of ``misses``. Its second parameter (the
    type, which cattrs passes to a hook) is ignored."""
    validate = _check_buildable(cls)
    namespace: dict[str, Any] = {
        "new": object.__new__,
        "cls": cls,
        "known": frozenset(known),
        "validate": attrs.validate,
        "set_extra": _slot_setter(cls, extra_field),
        "fallback": fallback,
        "misses": misses,
    }
    namespace.update((kind.__name__, kind) for kind in _EXACT_TYPES)
    lines = [
        # Exactly a dict: another Mapping (a defaultdict!) may answer d[key] in its own way.
        "    if d.__class__ is not dict or not d.keys() <= known:",
        "        raise TypeError('not a dict, or a key the fast path does not know')",
        "    o = new(cls)",
        "    get = d.get",
    ]
    for index, plan in enumerate(plans):
        setter, default = f"set_{index}", f"default_{index}"
        namespace[setter] = _slot_setter(cls, plan.name)
        namespace[default] = plan.default
        value = f"d[{plan.wire!r}]" if plan.required else f"get({plan.wire!r})"
        if plan.exact is not None:
            if plan.exact not in _EXACT_TYPES or plan.default is not None:
                raise TypeError(f"{cls.__name__}.{plan.name}: no exact check for {plan.exact}")
            kind_name = plan.exact.__name__
            lines.append(f"    v = {value}")
            if plan.required:
                lines.append(f"    if v.__class__ is not {kind_name}:")
            else:
                lines.append(f"    if v is not None and v.__class__ is not {kind_name}:")
            lines.append(f"        raise TypeError('{plan.wire} is no {kind_name}')")
            lines.append(f"    {setter}(o, v)")
        elif plan.read is not None:
            reader = f"read_{index}"
            namespace[reader] = plan.read
            if plan.required:
                lines.append(f"    {setter}(o, {reader}({value}))")
            else:
                lines.append(f"    v = {value}")
                lines.append(f"    {setter}(o, {default} if v is None else {reader}(v))")
        else:
            raise TypeError(f"{cls.__name__}.{plan.name}: neither exact nor read")
    lines.append("    set_extra(o, {})")
    if validate:
        lines.append("    validate(o)")
    lines.append("    return o")
    source = "\n".join(
        [
            "def structure(d, _cls=None):",
            "    try:",
            *("    " + line for line in lines),
            "    except misses:",
            "        return fallback(d)",
        ]
    )
    # The source is built above from the model's own field and wire names, nothing else.
    exec(compile(source, f"<drfulfill structure of {cls.__qualname__}>", "exec"), namespace)
    structure: Callable[..., Any] = namespace["structure"]
    structure.__qualname__ = f"structure_{cls.__name__}"
    return structure
