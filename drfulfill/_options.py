"""Checks of ``Client`` and ``with_options`` values: each is a number of the right kind,
finite and in range, else a ``ValidationError`` naming it.

A string (an option read from the environment and passed on as it is) is refused rather
than parsed, and so are ``nan`` (it compares false with everything, so it slips past
``< 0`` checks: a ``deadline=nan`` made every attempt time out at once) and ``inf`` (which
means "no limit": that is what ``None`` is for, where an option has one).
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ValidationError

__all__ = ["check_count", "check_seconds"]


def check_seconds(name: str, value: Any, *, positive: bool, optional: bool = False) -> None:
    """``value`` is a finite real number of seconds, > 0 if ``positive`` else >= 0, or
    None when ``optional``."""
    if value is None and optional:
        return
    finite = (
        not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    )
    if not finite or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        none = " or None" if optional else ""
        raise ValidationError(f"{name} must be a finite number {bound}{none}, got {value!r}")


def check_count(name: str, value: Any, *, minimum: int) -> None:
    """``value`` is an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{name} must be an int >= {minimum}, got {value!r}")
