"""The safe-create protocol's decisions, without sockets or clocks (``_safecreate_core``)."""

from __future__ import annotations

from datetime import datetime, timezone

import attrs
import pytest

from drfulfill import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DecodeError,
    Fulfillment,
    FulfillmentItem,
    FulfillmentRequest,
    KeyReuseError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from drfulfill._safecreate_core import (
    Created,
    LookedUp,
    LookUp,
    LookupFailed,
    Raise,
    Return,
    Send,
    SendFailed,
    State,
    content_digest,
    content_mismatch,
    content_text,
    decide,
    in_doubt,
    poll_interval,
    start,
)
from drfulfill.errors import ErrorDetail

REQUEST = FulfillmentRequest(order_id="o1", items=[{"item_id": "i1", "quantity": 2}])
MADE = Fulfillment(
    id="ful_1",
    created_time=datetime(2024, 5, 1, tzinfo=timezone.utc),
    order_id="o1",
    items=(FulfillmentItem(item_id="i1", quantity=2),),
    metadata={"drfulfillKey": "K"},
)
POLICY = RetryPolicy(max_retries=3, backoff_base=1.0, jitter=False, deadline=60.0)


def half() -> float:
    return 0.5


def fresh(**changes: object) -> State:
    state = State(request=REQUEST, key="K", policy=POLICY, settle=8.0, started=0.0)
    return attrs.evolve(state, **changes)


def test_a_random_key_is_sent_at_once_and_a_callers_key_looked_up_first() -> None:
    assert start(fresh(), look_first=False) == Send()
    assert start(fresh(), look_first=True) == LookUp()
    assert start(fresh(doubt_since=0.0), look_first=False) == LookUp()  # a journal's doubt


def test_a_created_fulfillment_is_returned() -> None:
    _, action = decide(fresh(), Created(MADE), 0.1, half)
    assert action == Return(MADE, found=False, reconciled=False)


def test_a_callers_key_not_found_is_sent_and_found_is_returned_unsent() -> None:
    assert decide(fresh(), LookedUp(None, 0.0), 0.0, half)[1] == Send()
    assert decide(fresh(), LookedUp(MADE, 0.0), 0.0, half)[1] == Return(
        MADE, found=True, reconciled=False
    )


@pytest.mark.parametrize(
    "error",
    [ServerError(504), APITimeoutError("timed out", sent=True), APIConnectionError("reset")],
)
def test_an_ambiguous_failure_is_looked_up_at_once(error: Exception) -> None:
    state, action = decide(fresh(sends=1), SendFailed(error, 1.0), 1.5, half)  # type: ignore[arg-type]
    assert action == LookUp()
    assert state.doubt is error and state.doubt_since == 1.0 and state.failures == 1


def test_a_not_found_is_not_believed_before_the_settle_window_has_passed() -> None:
    state = fresh(sends=1, failures=1, doubt=ServerError(504), doubt_since=1.0)
    _, action = decide(state, LookedUp(None, 1.5), 1.6, half)
    assert action == LookUp(wait=poll_interval(8.0))
    # Close to the window's end: wait exactly until it.
    _, action = decide(state, LookedUp(None, 8.0), 8.5, half)
    assert action == LookUp(wait=0.5)


def test_only_a_lookup_started_after_the_window_allows_the_resend() -> None:
    state = fresh(sends=1, failures=1, doubt=ServerError(504), doubt_since=1.0)
    new_state, action = decide(state, LookedUp(None, 9.0), 9.1, half)
    assert action == Send(resend=True)
    assert new_state.doubt is None and new_state.doubted and not new_state.resend_due


def test_a_late_landing_is_found_and_reported_reconciled() -> None:
    state = fresh(sends=1, failures=1, doubt=ServerError(504), doubt_since=1.0)
    assert decide(state, LookedUp(MADE, 4.0), 4.1, half)[1] == Return(
        MADE, found=False, reconciled=True
    )


def test_a_resend_honours_the_failures_retry_after_and_looks_up_right_before_it() -> None:
    # DR answered 503 Retry-After: 2. The window is covered at 8 s; the resend is due at
    # 10 s, but only after a lookup made then: the first create may have landed meanwhile.
    state = fresh(sends=1, failures=1, doubt=ServerError(503, retry_after=2), doubt_since=0)
    state, action = decide(state, LookedUp(None, 8.0), 8.0, half)
    assert action == LookUp(wait=2)
    assert decide(state, LookedUp(None, 10.0), 10.0, half)[1] == Send(resend=True)
    assert decide(state, LookedUp(MADE, 10.0), 10.0, half)[1] == Return(
        MADE, found=False, reconciled=True
    )


def test_the_window_counts_from_when_the_failure_was_seen_not_from_the_send() -> None:
    # Sent at 0; DR's gateway answered 504 after 11 s: that is when the doubt begins.
    state, action = decide(fresh(sends=1), SendFailed(ServerError(504), 11.0), 11.0, half)
    assert action == LookUp() and state.doubt_since == 11.0
    state, action = decide(state, LookedUp(None, 11.0), 11.0, half)
    assert isinstance(action, LookUp) and action.wait > 0  # one immediate miss proves nothing
    assert decide(state, LookedUp(None, 19.0), 19.0, half)[1] == Send(resend=True)


def test_the_latest_doubt_wins() -> None:
    state = in_doubt(fresh(), 5.0, ServerError(504))
    assert in_doubt(state, 3.0).doubt_since == 5.0
    assert in_doubt(state, 7.0).doubt_since == 7.0 and in_doubt(state, 7.0).doubted


def test_a_429_after_a_doubt_is_waited_out_then_looked_up_before_sending() -> None:
    limited = RateLimitError(429, retry_after=3)
    state = fresh(sends=2, failures=1, last_doubt_since=0.0)
    state, action = decide(state, SendFailed(limited, 20.0), 20.0, half)
    assert action == LookUp(wait=3)
    assert decide(state, LookedUp(None, 23.0), 23.0, half)[1] == Send()
    assert decide(state, LookedUp(MADE, 23.0), 23.0, half)[1] == Return(
        MADE, found=False, reconciled=True
    )


def test_a_key_known_to_exist_is_looked_up_and_never_sent() -> None:
    state = in_doubt(attrs.evolve(fresh(), applied=True), 0.0)
    assert start(state, look_first=False) == LookUp()
    assert decide(state, LookedUp(MADE, 0.0), 0.0, half)[1] == Return(
        MADE, found=True, reconciled=False
    )
    _, action = decide(state, LookedUp(None, 8.0), 8.0, half)
    assert isinstance(action, Raise)


def test_a_key_found_on_other_content_is_a_key_reuse_error() -> None:
    other = attrs.evolve(MADE, items=(FulfillmentItem(item_id="i2", quantity=2),))
    _, action = decide(fresh(), LookedUp(other, 0.0), 0.0, half)
    assert isinstance(action, Raise) and isinstance(action.error, KeyReuseError)
    assert action.error.fulfillment_id == "ful_1" and "different content" in str(action.error)


def test_content_compares_order_items_and_quantities() -> None:
    assert content_mismatch(REQUEST, MADE) is None
    assert content_mismatch(REQUEST, attrs.evolve(MADE, order_id="o2")) is not None
    fewer = attrs.evolve(MADE, items=(FulfillmentItem(item_id="i1", quantity=1),))
    assert content_mismatch(REQUEST, fewer) is not None


def test_cancel_quantity_is_part_of_the_content_a_key_is_checked_against() -> None:
    cancel = FulfillmentRequest(order_id="o1", items=[{"item_id": "i1", "cancel_quantity": 2}])
    capture = FulfillmentRequest(order_id="o1", items=[{"item_id": "i1", "quantity": 2}])
    cancelled = attrs.evolve(MADE, items=(FulfillmentItem(item_id="i1", cancel_quantity=2),))
    assert content_mismatch(cancel, cancelled) is None
    assert content_mismatch(capture, cancelled) is not None  # a capture is not a cancel
    assert "cancel 2" in (content_mismatch(capture, cancelled) or "")
    both = FulfillmentRequest(
        order_id="o1", items=[{"item_id": "i1", "quantity": 2, "cancel_quantity": 1}]
    )
    assert content_mismatch(both, MADE) is not None
    assert content_digest(cancel) != content_digest(capture)
    assert content_digest(cancel) == content_digest(cancelled)


def test_content_text_is_stable() -> None:
    # The CLI's keys hash this text: it must never change.
    request = FulfillmentRequest(
        order_id="o1",
        items=[{"item_id": "b", "quantity": 1}, {"item_id": "a", "cancel_quantity": 2}],
    )
    assert content_text(request) == '["o1",[["a",0,2],["b",1,0]]]'


def test_a_plain_409_is_looked_up_once_then_raised() -> None:
    conflict = ConflictError(409)
    state, action = decide(fresh(sends=1), SendFailed(conflict, 0.0), 0.1, half)
    assert action == LookUp()
    assert decide(state, LookedUp(None, 0.2), 0.2, half)[1] == Raise(conflict)


OVER_QUANTITY = BadRequestError(
    400, errors=(ErrorDetail(code="invalid_quantity_amount", parameter="items[0].quantity"),)
)


@pytest.mark.parametrize("refusal", [ConflictError(409), OVER_QUANTITY])
def test_a_refusal_after_a_resend_is_looked_up_across_its_own_window(refusal: Exception) -> None:
    # The first send committed late; the resend is refused because of it (order_fulfilled,
    # or over the ordered quantity) while the list still lags the late write.
    state = fresh(sends=2, failures=1, last_doubt_since=0.0)
    state, action = decide(state, SendFailed(refusal, 10.0), 10.1, half)  # type: ignore[arg-type]
    assert action == LookUp()
    state, action = decide(state, LookedUp(None, 10.1), 10.2, half)
    assert isinstance(action, LookUp) and action.wait > 0  # not raised while it may exist
    assert decide(state, LookedUp(MADE, 12.0), 12.0, half)[1] == Return(
        MADE, found=False, reconciled=True
    )
    assert decide(state, LookedUp(None, 18.5), 18.5, half)[1] == Raise(refusal)  # type: ignore[arg-type]


def test_a_400_without_any_doubt_is_raised_at_once() -> None:
    error = BadRequestError(400)
    assert decide(fresh(sends=1), SendFailed(error, 0.0), 0.0, half)[1] == Raise(error)
    assert decide(fresh(sends=1), SendFailed(OVER_QUANTITY, 0.0), 0.0, half)[1] == Raise(
        OVER_QUANTITY
    )


def test_a_400_that_is_not_about_quantities_is_raised_at_once_even_after_a_doubt() -> None:
    # An unknown order: no earlier send can have caused it, so no second window is waited.
    unknown = BadRequestError(
        400, errors=(ErrorDetail(code="invalid_parameter", parameter="orderId"),)
    )
    state = fresh(sends=2, failures=1, last_doubt_since=0.0)
    assert decide(state, SendFailed(unknown, 10.0), 10.0, half)[1] == Raise(unknown)


def test_a_409_on_a_shared_key_takes_the_in_doubt_path() -> None:
    # Another process with the same key may have just made it: looked up across a window.
    conflict = ConflictError(409)
    state, action = decide(fresh(sends=1, shared=True), SendFailed(conflict, 1.0), 1.0, half)
    assert action == LookUp() and state.doubt_since == 1.0
    state, action = decide(state, LookedUp(None, 1.0), 1.0, half)
    assert isinstance(action, LookUp) and action.wait > 0
    assert decide(state, LookedUp(None, 9.0), 9.0, half)[1] == Raise(conflict)


def test_an_unreadable_2xx_is_never_sent_again() -> None:
    error = DecodeError("no id", text='{"status": "queued"}')
    state, action = decide(fresh(sends=1), SendFailed(error, 0.0), 0.0, half)
    assert action == LookUp() and state.applied
    assert decide(state, LookedUp(None, 9.0), 9.0, half)[1] == Raise(error)


def test_429_and_unsent_failures_are_resent_after_backoff() -> None:
    limited = RateLimitError(429, retry_after=3)
    assert decide(fresh(sends=1), SendFailed(limited, 0.0), 0.0, half)[1] == Send(wait=3)
    unsent = APIConnectionError("refused", sent=False)
    assert decide(fresh(sends=1), SendFailed(unsent, 0.0), 0.0, half)[1] == Send(wait=1.0)
    too_long = RateLimitError(429, retry_after=1e9)
    assert decide(fresh(sends=1), SendFailed(too_long, 0.0), 0.0, half)[1] == Raise(too_long)


def test_failed_lookups_share_the_budget_and_then_raise_the_creates_error() -> None:
    doubt = ServerError(504)
    state = fresh(sends=1, failures=1, doubt=doubt, doubt_since=0.0)
    lookup_error = ServerError(500)
    state, action = decide(state, LookupFailed(lookup_error), 0.1, half)
    assert action == LookUp(wait=2.0) and state.failures == 2
    state = attrs.evolve(state, failures=POLICY.max_retries)
    _, action = decide(state, LookupFailed(lookup_error), 0.1, half)
    assert action == Raise(doubt, cause=lookup_error)


def test_a_lookup_the_key_may_not_make_raises_the_creates_error_with_it_as_cause() -> None:
    doubt = ServerError(504)
    state = fresh(sends=1, failures=1, doubt=doubt, doubt_since=0.0)
    denied = AuthenticationError(401)
    assert decide(state, LookupFailed(denied), 0.1, half)[1] == Raise(doubt, cause=denied)
    # Before any send, the lookup's own error is the answer.
    assert decide(fresh(), LookupFailed(denied), 0.1, half)[1] == Raise(denied)


def test_the_deadline_ends_waiting_out_the_window() -> None:
    doubt = ServerError(504)
    state = fresh(sends=1, failures=1, doubt=doubt, doubt_since=59.0)
    assert decide(state, LookedUp(None, 59.5), 59.5, half)[1] == Raise(doubt)


def test_without_budget_a_doubt_not_found_is_raised_not_resent() -> None:
    doubt = ServerError(504)
    state = fresh(sends=4, failures=4, doubt=doubt, doubt_since=0.0)
    assert decide(state, LookedUp(None, 9.0), 9.0, half)[1] == Raise(doubt)
