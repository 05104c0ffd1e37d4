"""Resume tokens of a listing (pure, no I/O): where a listing stands after a page, as an
opaque string a later ``list(..., resume_token=...)`` with the same filters continues from.

A token is ``drf1.<payload>.<check>``: ``drf1`` its version, the payload base64url JSON,
the check the first 16 hex digits of the payload's SHA-256. The check detects damage (a
token cut short or mangled in transit is refused, not misread); it is no signature, so
anyone can edit a token and compute its check again. What a token may say is therefore
validated when it is read: the fingerprint of this listing, a direction it can have, and
walks of the shape this listing makes (one walk with no window when unsharded; else time
windows of only ``createdTime[gt|gte|lt|lte]`` bounds, in the SDK's own UTC form, within
the listing's shards and not overlapping), each with no cursor or a non-empty id. So an
edited token can only resume this listing's own filters: it cannot add a query parameter
or widen the listing's time range. The payload holds a fingerprint of the listing (a
SHA-256 of the resource, the filters and the time shards, so no filter value can be read
back), the direction, and each unfinished walk's time window and cursor (object ids and
times): no key, nothing secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from ._datetimes import format_datetime, parse_datetime
from .errors import ValidationError

VERSION = "drf1"
_Pairs = tuple[tuple[str, str], ...]
# A time bound as an ordered key (instant, 0 or 1): gte t -> (t, 0), gt t -> (t, 1),
# lt t -> (t, 0), lte t -> (t, 1). Then a window is not empty when lower < upper, two windows
# do not overlap when the earlier's upper <= the later's lower, and one holds another when
# its lower <= the other's lower and the other's upper <= its upper.
_Key = tuple[datetime, int]
_LOWER_BOUNDS = {"createdTime[gte]": 0, "createdTime[gt]": 1}
_UPPER_BOUNDS = {"createdTime[lt]": 0, "createdTime[lte]": 1}


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


class Listing(str):
    """A listing's fingerprint (compared as a string and written into its tokens) that also
    keeps what a token of it may hold: whether it is sharded, and the time range its shards
    cover (None when its windows are not ``createdTime`` bounds: no token of it is taken)."""

    sharded: bool
    span: tuple[_Key, _Key] | None

    def __new__(cls, digest: str, sharded: bool, span: tuple[_Key, _Key] | None) -> Listing:
        listing = super().__new__(cls, digest)
        listing.sharded = sharded
        listing.span = span
        return listing


def fingerprint(scope: str, filters: Sequence[tuple[str, str]], windows: Any) -> Listing:
    """A digest that tells listings apart: the resource, the filters (in order) and the
    shard windows (None unsharded). Only equality is used: the values cannot be read back.
    The result also keeps the shards' time range, to check a token's walks against."""
    identity = json.dumps([scope, [list(pair) for pair in filters], windows], separators=(",", ":"))
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    if windows is None:
        return Listing(digest, sharded=False, span=None)
    bounds = [b for window in windows if (b := _window_bounds(window)) is not None]
    span = None
    if bounds and len(bounds) == len(windows):
        span = (min(low for low, _ in bounds), max(up for _, up in bounds))
    return Listing(digest, sharded=True, span=span)


def _window_bounds(window: Any) -> tuple[_Key, _Key] | None:
    """A window's (lower, upper) keys if it is exactly one ``createdTime`` lower bound and
    one upper bound, in that order, each in the SDK's UTC form (``format_datetime``), and
    not empty; else None."""
    if not isinstance(window, (list, tuple)) or len(window) != 2:
        return None
    keys = []
    for pair, kinds in zip(window, (_LOWER_BOUNDS, _UPPER_BOUNDS), strict=True):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            return None
        name, value = pair
        if not isinstance(name, str) or name not in kinds or not isinstance(value, str):
            return None
        try:
            moment = parse_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if format_datetime(moment) != value:  # only the form the SDK writes
            return None
        keys.append((moment, kinds[name]))
    lower, upper = keys
    return (lower, upper) if lower < upper else None


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


def decode_token(token: object, listing: Listing) -> ListingPosition:
    """The position ``token`` holds, checked to belong to ``listing`` (a fingerprint).

    The check digits only detect damage: a token can be edited and checked again. So the
    content is validated too, and a token edited to ask for more than this listing's own
    filters (another query parameter, a wider or overlapping time window, a walk count
    or direction this listing cannot have, a cursor that is not an id) is refused before
    any request.

    :raises ValidationError: for anything but a well-formed, intact token of this version,
        a token of a listing with other filters (or another resource, or other shards), or
        one whose content this listing could not have written.
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
    except (ValueError, TypeError, binascii.Error):
        raise ValidationError("resume_token is damaged (cut short or edited)") from None
    if not isinstance(body, dict) or set(body) != {"l", "b", "w"}:
        raise _foreign()
    if not isinstance(body["l"], str) or body["l"] != listing:
        raise ValidationError(
            "resume_token belongs to a listing with other filters: pass the filters (and"
            " shards) of the listing it came from"
        )
    backward, walks = body["b"], body["w"]
    if not isinstance(backward, bool) or (backward and listing.sharded):
        raise _foreign()  # a sharded listing is walked forward only
    if not isinstance(walks, list) or not walks:
        raise _foreign()  # a listing with nothing left gives no token
    position = ListingPosition(
        listing=str(listing), backward=backward, walks=tuple(_walk(walk) for walk in walks)
    )
    if listing.sharded:
        _check_windows(position.walks, listing.span)
    elif len(position.walks) != 1 or position.walks[0].window:
        raise _foreign()  # an unsharded listing is one walk with no window
    return position


def _foreign() -> ValidationError:
    return ValidationError(
        "resume_token is not a resume token of this listing (its content was edited?)"
    )


def _walk(walk: Any) -> WalkPosition:
    """A walk as written by ``encode_token``: ``[window pairs, cursor]``, the pairs strings
    and the cursor None or a non-empty string (as ``starting_after`` must be)."""
    if not isinstance(walk, list) or len(walk) != 2:
        raise _foreign()
    window, cursor = walk
    if not isinstance(window, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        for pair in window
    ):
        raise _foreign()
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise _foreign()
    return WalkPosition(tuple((name, value) for name, value in window), cursor)


def _check_windows(walks: Sequence[WalkPosition], span: tuple[_Key, _Key] | None) -> None:
    """Refuse walks of a sharded listing unless each window is a ``createdTime`` window
    within the listing's shards, none overlapping another (as shards and their splits are)."""
    if span is None:
        raise _foreign()
    bounds = []
    for walk in walks:
        window = _window_bounds(walk.window)
        if window is None or window[0] < span[0] or span[1] < window[1]:
            raise _foreign()
        bounds.append(window)
    bounds.sort()
    for (_, earlier_upper), (later_lower, _) in itertools.pairwise(bounds):
        if later_lower < earlier_upper:
            raise _foreign()
