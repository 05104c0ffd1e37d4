"""Small pieces the claim store and its memory loader share."""

from __future__ import annotations


def poll_wait(
    attempt: int, *, first: float, cap: float, lease_left: float, left: float | None
) -> float:
    """How long a waiter sleeps before asking again: ``first`` doubling up to ``cap``,
    never past the holder's lease (it may expire then) nor past the caller's deadline."""
    wait = min(cap, first * 2.0 ** min(attempt, 64), lease_left)
    return wait if left is None else min(wait, left)


def text_of(value: bytes | str) -> str:
    # A caller's client may have been made with decode_responses=True.
    return value.decode() if isinstance(value, bytes) else value


def microseconds(seconds: float) -> int:
    return round(seconds * 1_000_000)
