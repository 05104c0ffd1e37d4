"""Resume tokens of a listing (pure, no I/O): where a listing stands after a page, as an
opaque string a later ``list(..., resume_token=...)`` with the same filters continues from.

A token is ``drf1.<payload>.<check>``: ``drf1`` its version, the payload base64url JSON,
the check the first 16 hex digits of the payload's SHA-256 (a token cut short or edited
is refused, not misread). The payload holds a fingerprint of the listing (a SHA-256 of the
resource, the filters and the time shards, so no filter value can be read back), the
direction, and each unfinished walk's time window and cursor (object ids and times): no
key, nothing secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import attrs

from .errors import ValidationError

VERSION = "drf1"
_Pairs = tuple[tuple[str, str], ...]


@attrs.frozen
class WalkPosition:
    """Where one walk of a listing resumes: its ``createdTime`` window (pairs; empty when
    unsharded) and the id it continues after (None: from the start of its window)."""

    window: _Pairs
    cursor: str | None


@attrs.frozen
class ListingPosition:
    """Where a listing resumes: every walk still unfinished, and the direction."""

    listing: str  # the fingerprint of the listing's resource and filters
    backward: bool
    walks: tuple[WalkPosition, ...]


def fingerprint(scope: str, filters: Sequence[tuple[str, str]], windows: Any) -> str:
    """A digest that tells listings apart: the resource, the filters (in order) and the
    shard windows (None unsharded). Only equality is used: the values cannot be read back."""
    identity = json.dumps([scope, [list(pair) for pair in filters], windows], separators=(",", ":"))
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def _check(payload: str) -> str:
    return hashlib.sha256(payload.encode("ascii")).hexdigest()[:16]


def encode_token(position: ListingPosition) -> str:
    """The token of ``position``."""
    body = {
        "l": position.listing,
        "b": position.backward,
        "w": [[[list(pair) for pair in walk.window], walk.cursor] for walk in position.walks],
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    payload = base64.urlsafe_b64encode(text).decode("ascii").rstrip("=")
    return f"{VERSION}.{payload}.{_check(payload)}"


def decode_token(token: object, listing: str) -> ListingPosition:
    """The position ``token`` holds, checked to belong to ``listing`` (a fingerprint).

    :raises ValidationError: for anything but a well-formed, intact token of this version,
        or a token of a listing with other filters (or another resource, or other shards).
    """
    if not isinstance(token, str):
        raise ValidationError(f"resume_token must be a string, got {type(token).__name__}")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise ValidationError("resume_token is not a drfulfill resume token of this version")
    payload, check = parts[1], parts[2]
    if _check(payload) != check:
        raise ValidationError("resume_token is damaged (cut short or edited)")
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        position = ListingPosition(
            listing=str(body["l"]),
            backward=bool(body["b"]),
            walks=tuple(
                WalkPosition(
                    tuple((str(name), str(value)) for name, value in window),
                    None if cursor is None else str(cursor),
                )
                for window, cursor in body["w"]
            ),
        )
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ValidationError("resume_token is damaged (cut short or edited)") from None
    if position.listing != listing:
        raise ValidationError(
            "resume_token belongs to a listing with other filters: pass the filters (and"
            " shards) of the listing it came from"
        )
    return position
