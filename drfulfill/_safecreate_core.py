"""The safe-create protocol's decisions, as pure functions (no I/O, no clock of their own).

Digital River has no idempotency key, so a create carries a client key in its metadata and
every doubt is settled by looking that key up among the order's fulfillments. DR is not
instant: a create answered 504, dropped or timed out may commit seconds later, and lists may
lag writes. So a "not found" is believed only once lookups that started at least ``settle``
seconds after the doubtful attempt was sent still do not find the key; only then is the
create sent again.

``decide(state, event)`` returns the next ``Action`` and the new ``State``; the I/O loop in
``_safecreate.py`` carries out the action, turns the outcome into the next event, and repeats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import attrs

from ._retry import (
    RequestKind,
    RetryPolicy,
    backoff_delay,
    is_ambiguous,
    is_retryable,
    retry_after_of,
)
from .errors import (
    APIError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    DecodeError,
    DigitalRiverError,
    KeyReuseError,
)
from .models import Fulfillment, FulfillmentRequest

# After an ambiguous failure the key is looked up at once, then every SETTLE_POLLS-th part
# of the settle window (at most SETTLE_POLL_MAX seconds apart) until the window is covered.
SETTLE_POLLS = 4
SETTLE_POLL_MAX = 2.0
SETTLE_POLL_MIN = 0.01


# --- events: what happened -----------------------------------------------------------------


@attrs.frozen
class Created:
    """A send answered 2xx with a readable fulfillment."""

    fulfillment: Fulfillment


@attrs.frozen
class SendFailed:
    """A send failed; ``sent_at`` is the clock reading just before it was sent."""

    error: DigitalRiverError
    sent_at: float


@attrs.frozen
class LookedUp:
    """A lookup of the key finished; ``started_at`` is when its first page was requested."""

    found: Fulfillment | None
    started_at: float


@attrs.frozen
class LookupFailed:
    error: DigitalRiverError


Event = Created | SendFailed | LookedUp | LookupFailed


# --- actions: what to do next --------------------------------------------------------------


@attrs.frozen
class Send:
    """Send the create after waiting ``wait`` seconds."""

    wait: float = 0.0
    resend: bool = False  # an earlier attempt was shown not to have been applied


@attrs.frozen
class LookUp:
    """Look the key up after waiting ``wait`` seconds."""

    wait: float = 0.0


@attrs.frozen
class Return:
    fulfillment: Fulfillment
    found: bool  # found by key before any send of this call: made earlier, or by another
    reconciled: bool  # found after a send of ours failed


@attrs.frozen
class Raise:
    error: DigitalRiverError
    cause: DigitalRiverError | None = None  # e.g. the lookup failure that left it unresolved


Action = Send | LookUp | Return | Raise


# --- state -------------------------------------------------------------------------------


@attrs.frozen
class State:
    """What one create has been through. Immutable: ``decide`` returns a new one.

    ``failures``: failed requests (sends and lookups), against ``policy.max_retries``.
    ``doubt_since``: when the latest send whose outcome is unknown was sent (None: no doubt).
    ``doubt``: that send's error, raised if the doubt cannot be settled.
    ``applied``: a send was answered 2xx (without a readable body): never send again.
    ``refusal``: a 4xx answer to a send made while in doubt (409 order_fulfilled, 400 over
    quantity): the earlier attempt may be what caused it, so it is looked up before raising.
    """

    request: FulfillmentRequest
    key: str
    policy: RetryPolicy
    settle: float
    started: float
    failures: int = 0
    doubt_since: float | None = None
    doubt: DigitalRiverError | None = None
    applied: bool = False
    refusal: APIError | None = None
    sends: int = 0
    resent: bool = False  # a send went out again after an earlier one was shown not applied
    shared: bool = False  # other senders may use the key (a caller's or a bulk row's)


def start(state: State, *, look_first: bool) -> Action:
    """The first action: look a key that may exist up first, else send at once."""
    return LookUp() if look_first or state.doubt_since is not None else Send()


def decide(
    state: State, event: Event, now: float, random: Callable[[], float]
) -> tuple[State, Action]:
    """The next action after ``event``, at clock reading ``now``."""
    if isinstance(event, Created):
        return state, Return(event.fulfillment, found=False, reconciled=False)
    if isinstance(event, SendFailed):
        return _after_send_failure(state, event, now, random)
    if isinstance(event, LookedUp):
        return _after_lookup(state, event, now)
    return _after_lookup_failure(state, event, now, random)


def _after_send_failure(
    state: State, event: SendFailed, now: float, random: Callable[[], float]
) -> tuple[State, Action]:
    error = event.error
    if isinstance(error, DecodeError):  # a 2xx we cannot read: it was applied
        state = attrs.evolve(state, applied=True, doubt=error, doubt_since=event.sent_at)
        return state, LookUp()
    if is_ambiguous(error):
        state = attrs.evolve(
            state, failures=state.failures + 1, doubt=error, doubt_since=event.sent_at
        )
        return state, LookUp()
    in_doubt = state.doubt_since is not None or state.resent
    conflict = isinstance(error, ConflictError)
    if conflict or (isinstance(error, BadRequestError) and in_doubt):
        # A 409 may mean an earlier attempt (or another sender with the same key) made it.
        # After a doubt, or for a key others may send, the refusal may be the sign that such
        # a send landed: it is looked up across a settle window of its own, since lists may
        # lag that write.
        assert isinstance(error, APIError)
        if in_doubt or (conflict and state.shared):
            state = attrs.evolve(state, refusal=error, doubt=error, doubt_since=event.sent_at)
        else:
            state = attrs.evolve(state, refusal=error)
        return state, LookUp()
    if is_retryable(RequestKind.CREATE, error):  # 429, or a connect failure before sending
        state = attrs.evolve(state, failures=state.failures + 1)
        wait = backoff_delay(state.policy, state.failures, error, random)
        stop = _out_of_budget(state, now, wait) or _retry_after_too_long(state.policy, error)
        return state, Raise(error) if stop else Send(wait)
    return state, Raise(error)


def _after_lookup(state: State, event: LookedUp, now: float) -> tuple[State, Action]:
    found = event.found
    if found is not None:
        mismatch = content_mismatch(state.request, found)
        if mismatch is not None:
            return state, Raise(key_reuse_error(state.key, found, mismatch))
        return state, Return(found, found=state.sends == 0, reconciled=state.sends > 0)
    if state.doubt_since is None:
        if state.refusal is not None:  # a plain conflict, nothing of ours pending
            return state, Raise(state.refusal)
        return state, Send()  # a key looked up before its first send: not there
    settled_at = state.doubt_since + state.settle
    if event.started_at < settled_at:  # not yet had time to become visible
        wait = max(min(settled_at - now, poll_interval(state.settle)), 0.0)
        if _past_deadline(state, now + wait):
            return state, Raise(_unresolved(state))
        return state, LookUp(wait)
    # Lookups spanning the settle window did not find it: the doubtful send was not applied.
    if state.applied or state.refusal is not None:
        return state, Raise(_unresolved(state))
    # A 503's Retry-After still says when DR wants the resend.
    wait = retry_after_of(state.doubt) or 0.0
    if _out_of_budget(state, now, wait) or _retry_after_too_long(state.policy, state.doubt):
        return state, Raise(_unresolved(state))
    cleared = attrs.evolve(state, doubt=None, doubt_since=None, resent=True)
    return cleared, Send(wait, resend=True)


def _after_lookup_failure(
    state: State, event: LookupFailed, now: float, random: Callable[[], float]
) -> tuple[State, Action]:
    error = event.error
    pending = state.doubt_since is not None or state.refusal is not None
    if not is_retryable(RequestKind.IDEMPOTENT, error):
        return state, Raise(_unresolved(state), cause=error) if pending else Raise(error)
    state = attrs.evolve(state, failures=state.failures + 1)
    wait = backoff_delay(state.policy, state.failures, error, random)
    if _out_of_budget(state, now, wait) or _retry_after_too_long(state.policy, error):
        return state, Raise(_unresolved(state), cause=error) if pending else Raise(error)
    return state, LookUp(wait)


def _unresolved(state: State) -> DigitalRiverError:
    """The error to raise when the create's outcome is left as it stands."""
    if state.refusal is not None and not state.applied:
        return state.refusal
    if state.doubt is not None:
        return state.doubt
    return unsettled_error(state.key)


def unsettled_error(key: str) -> APITimeoutError:
    """The error for a create whose earlier attempt (an earlier run's, a dead fleet
    member's) may still be landing, when lookups could not settle it."""
    return APITimeoutError(
        f"an earlier create with key {key!r} may still be landing at Digital River; its "
        "outcome is unknown: try again later with the same key",
        sent=True,
    )


def _out_of_budget(state: State, now: float, wait: float) -> bool:
    return state.failures > state.policy.max_retries or _past_deadline(state, now + wait)


def _past_deadline(state: State, when: float) -> bool:
    deadline = state.policy.deadline
    return deadline is not None and when - state.started >= deadline


def _retry_after_too_long(policy: RetryPolicy, error: DigitalRiverError | None) -> bool:
    retry_after = retry_after_of(error)
    return retry_after is not None and retry_after > policy.max_retry_after


def poll_interval(settle: float) -> float:
    """Seconds between lookups while waiting out the settle window."""
    return max(SETTLE_POLL_MIN, min(SETTLE_POLL_MAX, settle / SETTLE_POLLS))


# --- content -------------------------------------------------------------------------------


def content_mismatch(request: FulfillmentRequest, found: Fulfillment) -> str | None:
    """Why ``found`` is not what ``request`` creates (order, items, quantities), or None."""
    if found.order_id != request.order_id:
        return f"order {found.order_id!r}, not {request.order_id!r}"
    wanted: Counter[tuple[str | None, int, int]] = Counter(
        (item.item_id, item.quantity or 0, item.cancel_quantity or 0) for item in request.items
    )
    have = Counter(
        (item.item_id, item.quantity or 0, item.cancel_quantity or 0) for item in found.items
    )
    if wanted != have:
        return f"items {_describe_items(have)}, not {_describe_items(wanted)}"
    return None


def _describe_items(items: Counter[tuple[str | None, int, int]]) -> str:
    parts = []
    for (item_id, quantity, cancel), count in sorted(items.items(), key=str):
        text = f"{item_id} x{quantity}" + (f" (cancel {cancel})" if cancel else "")
        parts.extend([text] * count)
    return "[" + ", ".join(parts) + "]"


def key_reuse_error(key: str, found: Fulfillment, mismatch: str) -> KeyReuseError:
    return KeyReuseError(
        f"key {key!r} was used for different content: fulfillment {found.id} has {mismatch}",
        key=key,
        fulfillment_id=found.id,
    )
