"""Checks and query encoding shared by the resources (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum

from ..errors import ValidationError
from ..models import CreatedTime


def check_id(name: str, value: object) -> str:
    """A path or filter id: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form to send
        raise ValidationError(f"{name} is not encodable as UTF-8, got {value!r}") from None
    return value


def check_path_id(name: str, value: object) -> str:
    """An id for a URL path: ``.`` and ``..`` are refused, since servers and proxies
    resolve them as dot-segments (``POST /fulfillments/.`` would reach the create)."""
    checked = check_id(name, value)
    if checked in (".", ".."):
        raise ValidationError(f"{name} must be an id, not the path segment {checked!r}")
    return checked


def as_sequence(ids: Iterable[str] | str | None) -> Sequence[str] | str | None:
    """A list filter as given: None, one id as a string, or a tuple of ids."""
    if ids is None or isinstance(ids, str):
        return ids
    return tuple(ids)


def filter_query(
    filters: Iterable[tuple[str, str, object]],
    created_time: CreatedTime | None = None,
    *,
    allow_eq: bool,
) -> list[tuple[str, str]]:
    """Query pairs from ``(wire name, python name, value)`` triples; None values are left out.

    A list or tuple value becomes repeated keys (``ids=a&ids=b``), as DR's spec
    (``style: form, explode: true``) says.
    """
    pairs: list[tuple[str, str]] = []
    for wire_name, name, value in filters:
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            if not value:
                raise ValidationError(f"{name} must not be empty; pass None for no filter")
            pairs.extend((wire_name, check_id(f"{name}[]", each)) for each in value)
        else:
            if isinstance(value, Enum):
                value = value.value
            pairs.append((wire_name, check_id(name, value)))
    if created_time is not None:
        if not isinstance(created_time, CreatedTime):
            raise ValidationError(
                f"created_time must be a CreatedTime(...), got {type(created_time).__name__}"
            )
        pairs.extend(created_time.to_query(allow_eq=allow_eq))
    return pairs
