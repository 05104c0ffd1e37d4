"""Tuples of nested models built when first read, not when their parent is decoded.

A 100-item page of fulfillments holds 300 models, 200 of them line items; building every
one at decode time costs several times parsing the page (``benchmarks/README.md``,
"Decode"). A consumer that files ids, order ids and times never reads the items. So the
decoder of response bodies (``_convert.decoder``, which the pager uses) checks an ``items``
array (an array of JSON objects) and stores it, unbuilt, in the field's slot; the field's
descriptor builds the tuple on the first read and stores it in the slot in its place.

Nothing else can tell: every read of the attribute (``obj.items``, ``==``, ``hash``,
``repr``, ``attrs.asdict``, ``attrs.evolve``, pickling) goes through the descriptor, and
building an element cannot fail (the element models have no required field, and the
tolerant reader keeps whatever does not fit in ``extra``) from wire objects nothing else
holds: a response body the SDK parsed itself. A mapping a caller passes in (``structure``,
``webhooks.parse_event``) is decoded with nothing left unbuilt, since the caller may change
it afterwards. Two threads reading an unbuilt field at once may each build it; both get equal
tuples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["BuiltOnRead", "Unbuilt", "built_on_read"]

C = TypeVar("C", bound=type)


class Unbuilt:
    """A checked wire array (a list of dicts) and the function that builds one element."""

    __slots__ = ("build", "wire")

    def __init__(self, wire: list[Any], build: Callable[[Any], Any]) -> None:
        self.wire = wire
        self.build = build

    def __repr__(self) -> str:  # only ever seen while debugging the descriptor itself
        return f"Unbuilt({len(self.wire)} items)"


class BuiltOnRead:
    """Data descriptor over an attrs slot: an ``Unbuilt`` value is built on first read."""

    __slots__ = ("slot",)

    def __init__(self, slot: Any) -> None:
        self.slot = slot  # the slot's member descriptor; the decoder sets it directly

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self.slot.__get__(obj, owner)
        if value.__class__ is Unbuilt:
            value = tuple([value.build(item) for item in value.wire])
            self.slot.__set__(obj, value)
        return value

    def __set__(self, obj: object, value: Any) -> None:
        self.slot.__set__(obj, value)

    def __delete__(self, obj: object) -> None:
        self.slot.__delete__(obj)


def built_on_read(*names: str) -> Callable[[C], C]:
    """Class decorator (outside ``@attrs.frozen``): these tuple fields may be left unbuilt."""

    def install(cls: C) -> C:
        for name in names:
            setattr(cls, name, BuiltOnRead(cls.__dict__[name]))
        return cls

    return install
