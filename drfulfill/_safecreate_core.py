"""The safe-create protocol's decisions, as pure functions (no I/O, no clock of their own).

Digital River has no idempotency key, so a create carries a client key in its metadata and
every doubt is settled by looking that key up among the order's fulfillments. DR is not
instant: a create answered 504, dropped or timed out may commit seconds later, and lists may
lag writes. So a "not found" is believed only once a lookup that started at least ``settle``
seconds after the doubt began (when the failure was seen, or when an earlier sender's send
could last have been in flight) still does not find the key; only then is the create sent
again, and only right after such a lookup: a resend never follows a wait without a lookup.

``decide(state, event)`` returns the next ``Action`` and the new ``State``; the I/O loop in
``_safecreate.py`` carries out the action, turns the outcome into the next event, and repeats.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable

import attrs

from ._retry import (
    RequestKind,
    RetryPolicy,
    Stop,
    is_ambiguous,
    is_retryable,
    next_wait,
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
    """A send failed; ``failed_at`` is the clock reading when the failure was seen."""

    error: DigitalRiverError
    failed_at: float


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
    """Send the create now (never after a wait: a wait is followed by a lookup first,
    except for a key that nobody can have sent yet)."""

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
    ``doubt_since``: from when a send whose outcome is unknown may still land (None: no
    doubt): the latest of when each such failure was seen (or, for an earlier holder's send,
    when it could last have been in flight).
    ``doubt``: that send's error, raised if the doubt cannot be settled.
    ``applied``: the key is known to exist (a send was answered 2xx without a readable
    body, or the caller knows it was created): never send again, only look it up.
    ``refusal``: a 4xx answer to a send made while a send of this key may have landed (409
    order_fulfilled, 400 over quantity): the earlier attempt may be what caused it, so it
    is looked up before raising.
    ``last_doubt_since``: the latest doubt this create has met, kept after it was settled:
    some send of this key may have landed at some point, so a send that follows a wait is
    preceded by a lookup, and a create that ends without a fulfillment leaves the key in
    doubt (``left_in_doubt``).
    ``resend_due``: a doubt was settled as "not applied": the next send is a resend.
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
    last_doubt_since: float | None = None
    resend_due: bool = False
    shared: bool = False  # other senders may use the key (a caller's or a bulk row's)

    @property
    def doubted(self) -> bool:
        """Whether a send of this key may have landed at some point."""
        return self.last_doubt_since is not None or self.doubt_since is not None


def start(state: State, *, look_first: bool) -> Action:
    """The first action: look a key that may exist up first, else send at once."""
    if look_first or state.doubt_since is not None or state.applied:
        return LookUp()
    return Send()


def in_doubt(state: State, since: float, error: DigitalRiverError | None = None) -> State:
    """``state`` with a send that may land from ``since`` on (the latest doubt wins)."""
    later = since if state.doubt_since is None else max(state.doubt_since, since)
    last = later if state.last_doubt_since is None else max(state.last_doubt_since, later)
    return attrs.evolve(
        state,
        doubt_since=later,
        doubt=error if error is not None else state.doubt,
        last_doubt_since=last,
    )


def left_in_doubt(state: State) -> float | None:
    """From when a send of this key may land, for a create that ends (raised, cancelled)
    without a fulfillment: its pending doubt, or one it settled but whose resend never
    succeeded (kept, for certainty: the next create of the key looks it up first)."""
    if state.doubt_since is not None:
        return state.doubt_since
    return state.last_doubt_since


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
        state = attrs.evolve(in_doubt(state, event.failed_at, error), applied=True)
        return state, LookUp()
    if is_ambiguous(error):
        state = attrs.evolve(in_doubt(state, event.failed_at, error), failures=state.failures + 1)
        return state, LookUp()
    conflict = isinstance(error, ConflictError)
    if conflict or (state.doubted and is_quantity_refusal(error)):
        # May mean an earlier attempt (or another sender with the same key) made it. After
        # a doubt, or for a key others may send, the refusal may be the sign that such a
        # send landed: it is looked up across a settle window of its own, since lists may
        # lag that write. A 409 on a first send of a key nobody else sends is looked up
        # once, then raised.
        assert isinstance(error, APIError)
        if state.doubted or (conflict and state.shared):
            state = attrs.evolve(in_doubt(state, event.failed_at, error), refusal=error)
        else:
            state = attrs.evolve(state, refusal=error)
        return state, LookUp()
    if is_retryable(RequestKind.CREATE, error):  # 429, or a connect failure before sending
        state = attrs.evolve(state, failures=state.failures + 1)
        step = _next_wait(state, now, state.failures, error, random)
        if isinstance(step, Stop):
            return state, Raise(error)
        return _send_after(state, step)
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
        # Nothing pending, and this lookup just now found nothing: send.
        return attrs.evolve(state, resend_due=False), Send(resend=state.resend_due)
    settled_at = state.doubt_since + state.settle
    if event.started_at < settled_at:  # not yet had time to become visible
        wait = max(min(settled_at - now, poll_interval(state.settle)), 0.0)
        if _past_deadline(state, now + wait):
            return state, Raise(_unresolved(state))
        return state, LookUp(wait)
    # Lookups spanning the settle window did not find it: the doubtful send was not applied.
    if state.applied or state.refusal is not None:
        return state, Raise(_unresolved(state))
    cleared = attrs.evolve(
        state,
        doubt=None,
        doubt_since=None,
        resend_due=True,
        last_doubt_since=left_in_doubt(state),
    )
    # A 503's Retry-After still says when DR wants the resend.
    step = _next_wait(cleared, now, state.failures, state.doubt, None)
    if isinstance(step, Stop):
        return state, Raise(_unresolved(state))
    return _send_after(cleared, step)


def _after_lookup_failure(
    state: State, event: LookupFailed, now: float, random: Callable[[], float]
) -> tuple[State, Action]:
    error = event.error
    pending = state.doubt_since is not None or state.refusal is not None
    if not is_retryable(RequestKind.IDEMPOTENT, error):
        return state, Raise(_unresolved(state), cause=error) if pending else Raise(error)
    state = attrs.evolve(state, failures=state.failures + 1)
    step = _next_wait(state, now, state.failures, error, random)
    if isinstance(step, Stop):
        return state, Raise(_unresolved(state), cause=error) if pending else Raise(error)
    return state, LookUp(step)


def _send_after(state: State, wait: float) -> tuple[State, Action]:
    """Send after ``wait`` seconds, or, when a send of this key may have landed meanwhile,
    wait, look it up, and send only if that lookup does not find it."""
    if wait <= 0:
        return attrs.evolve(state, resend_due=False), Send(resend=state.resend_due)
    if state.doubted:
        return state, LookUp(wait)
    return state, Send(wait)


def _next_wait(
    state: State,
    now: float,
    failures: int,
    error: DigitalRiverError | None,
    random: Callable[[], float] | None,
) -> float | Stop:
    """``next_wait`` for this create; without ``random``, no backoff (only a Retry-After)."""
    return next_wait(
        state.policy,
        failures=failures,
        retry_after=retry_after_of(error),
        elapsed=now - state.started,
        random=random or _never,
        backoff=random is not None,
    )


def _never() -> float:
    raise AssertionError("no backoff is drawn without a random source")


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


def _past_deadline(state: State, when: float) -> bool:
    deadline = state.policy.deadline
    return deadline is not None and when - state.started >= deadline


def poll_interval(settle: float) -> float:
    """Seconds between lookups while waiting out the settle window."""
    return max(SETTLE_POLL_MIN, min(SETTLE_POLL_MAX, settle / SETTLE_POLLS))


def is_quantity_refusal(error: BaseException) -> bool:
    """A 400 about quantities (DR's ``invalid_quantity_amount``, or a parameter naming a
    quantity): what a create meets when an earlier one of the same items already landed.
    Any other 400 (an unknown order, a missing field) says nothing about earlier sends."""
    if not isinstance(error, BadRequestError):
        return False
    return any(
        detail.code == "invalid_quantity_amount" or "quantity" in (detail.parameter or "").lower()
        for detail in error.errors
    )


# --- content: what a create makes --------------------------------------------------------

ContentLine = tuple[str, int, int]


def content_lines(of: FulfillmentRequest | Fulfillment) -> list[ContentLine]:
    """What a request creates (or a fulfillment holds): its ``(item, quantity, cancel
    quantity)`` lines, sorted. Together with the order id, this is what a key is checked
    against: the same key on other lines is ``KeyReuseError``."""
    return sorted(_lines(of.items))


def _lines(items: Iterable[object]) -> Iterable[ContentLine]:
    for item in items:
        yield (
            getattr(item, "item_id", None) or "",
            getattr(item, "quantity", None) or 0,
            getattr(item, "cancel_quantity", None) or 0,
        )


def content_text(of: FulfillmentRequest | Fulfillment) -> str:
    """The canonical text of what ``of`` creates: ``[order_id, [[item, qty, cancel], ...]]``
    as compact JSON (the CLI's keys hash this text, so it never changes)."""
    return json.dumps([of.order_id, content_lines(of)], separators=(",", ":"))


def content_digest(of: FulfillmentRequest | Fulfillment) -> int:
    """A 63-bit digest of ``content_text``: equal for equal content."""
    digest = hashlib.blake2b(content_text(of).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def content_mismatch(request: FulfillmentRequest, found: Fulfillment) -> str | None:
    """Why ``found`` is not what ``request`` creates (order, items, quantities), or None."""
    if found.order_id != request.order_id:
        return f"order {found.order_id!r}, not {request.order_id!r}"
    wanted, have = content_lines(request), content_lines(found)
    if wanted != have:
        return f"items {describe_lines(have)}, not {describe_lines(wanted)}"
    return None


def describe_lines(lines: list[ContentLine]) -> str:
    counted = Counter(lines)
    parts = []
    for (item_id, quantity, cancel), count in sorted(counted.items()):
        text = f"{item_id} x{quantity}" + (f" (cancel {cancel})" if cancel else "")
        parts.extend([text] * count)
    return "[" + ", ".join(parts) + "]"


def key_reuse_error(key: str, found: Fulfillment, mismatch: str) -> KeyReuseError:
    return KeyReuseError(
        f"key {key!r} was used for different content: fulfillment {found.id} has {mismatch}",
        key=key,
        fulfillment_id=found.id,
    )
