"""The invariants checked after every run, and the documented limits that excuse a
duplicate."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ._dr import Post

if TYPE_CHECKING:
    from ._world import World

BULK_SINCE_MARGIN = 300.0  # seconds: drfulfill's sweep margin for DR's clock

# A lookup and the send it allows are at most this far apart (a round trip or two): a first
# create listed longer than this before a second was sent could have been found first.
LOOKUP_MARGIN = 0.5
LATE_COMMIT = "a create committed or listed more than the settle window after its failure was seen"
CLOCK_SKEW = "DR's clock off by more than the 5-minute sweep margin"


def check(world: World) -> None:
    result, options, dr = world.result, world.options, world.dr
    fulfillments = dr.state.fulfillments.objects.values()
    keys = Counter((f.get("metadata") or {}).get("drfulfillKey") for f in fulfillments)
    result.duplicates = sorted(key for key, n in keys.items() if key is not None and n > 1)
    for message in world.messages:
        if not message.done:
            result.violations.append(f"{message.key}: no outcome")
    for key, took in world.durations:
        if took > world.deadline + 0.5:
            result.violations.append(f"{key}: a create ran {took:.1f}s, past its deadline")
    lag = dr.faults.read_lag
    late: set[str] = set()
    applied: dict[str, list[Post]] = {}
    for post in dr.posts:
        if post.applied_at is None or post.key is None:
            continue
        applied.setdefault(post.key, []).append(post)
        seen = post.failure_seen()
        if seen is not None and post.applied_at + lag > seen + options.settle:
            late.add(post.key)
            result.outside.append(
                f"{LATE_COMMIT} ({post.key}: {post.applied_at + lag - seen:.1f}s after)"
            )
    skewed = abs(world.fleet.dr_skew) > BULK_SINCE_MARGIN - 10
    if skewed:
        result.outside.append(f"{CLOCK_SKEW} ({world.fleet.dr_skew:.0f}s)")
    for key in result.duplicates:
        first, second = sorted(applied[key], key=lambda post: post.sent_at)[:2]
        reason = excuse(first, second, lag, options.settle, skewed)
        if reason is None:
            result.unexcused.append(key)
        else:
            result.excused[key] = reason
    for message in world.messages:
        # A refusal reported while the key's create landed within the promise: a wrong
        # outcome (the caller believes nothing was made).
        if message.refused and keys[message.key] and message.key not in late and not skewed:
            result.violations.append(f"{message.key}: refused, but created")
    result.requests = dr.counts.total
    result.creates = sum(1 for key in keys if key is not None)


def excuse(first: Post, second: Post, lag: float, settle: float, skewed: bool) -> str | None:
    """The documented limit that allowed ``second`` (sent after ``first``) to create
    ``first``'s key again, or None when the promise should have held: ``first`` landed
    within the settle window after its failure was seen, or the same client sent
    ``second`` after ``first`` was listed (a resend is looked up right before it goes).

    A send by another client may be verified earlier (a bulk sweep, a per-order lookup, a
    fleet claim vouched for) and need not look again, so for it only the window counts.
    Sweeps are the only reads that depend on DR's clock: a skewed clock excuses a
    duplicate of two clients, never a client's own resend."""
    assert first.applied_at is not None
    visible = first.applied_at + lag
    if first.sender == second.sender and visible + LOOKUP_MARGIN <= second.sent_at:
        return None
    if skewed and first.sender != second.sender:
        return CLOCK_SKEW
    seen = first.failure_seen()
    if seen is not None and visible > seen + settle:
        return LATE_COMMIT
    return None
