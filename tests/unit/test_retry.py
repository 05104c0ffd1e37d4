import pytest

from drfulfill import APIConnectionError, APITimeoutError, RetryPolicy, ValidationError
from drfulfill._retry import (
    RequestKind,
    Stop,
    attempt_timeout,
    is_ambiguous,
    is_retryable,
    next_wait,
    retry_after_of,
)
from drfulfill.errors import error_from_response

IDEMPOTENT, CREATE = RequestKind.IDEMPOTENT, RequestKind.CREATE


def api_error(status, retry_after=None):
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return error_from_response(status, headers, "")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_idempotent_requests_retry_transient_statuses(status):
    assert is_retryable(IDEMPOTENT, api_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 501, 505])
def test_idempotent_requests_do_not_retry_other_statuses(status):
    assert not is_retryable(IDEMPOTENT, api_error(status))


def test_idempotent_requests_retry_connection_failures_and_timeouts():
    assert is_retryable(IDEMPOTENT, APIConnectionError("reset", sent=True))
    assert is_retryable(IDEMPOTENT, APITimeoutError("slow", sent=True))
    assert is_retryable(IDEMPOTENT, APIConnectionError("refused", sent=False))


def test_creates_retry_only_what_proves_nothing_happened():
    assert is_retryable(CREATE, api_error(429))
    assert is_retryable(CREATE, APIConnectionError("refused", sent=False))
    assert is_retryable(CREATE, APITimeoutError("connect", sent=False))
    for error in (
        api_error(500),
        api_error(502),
        api_error(503),
        api_error(504),
        api_error(408),
        APIConnectionError("reset after send", sent=True),
        APITimeoutError("read timeout", sent=True),
    ):
        assert not is_retryable(CREATE, error), error


def test_other_exceptions_are_never_retried():
    assert not is_retryable(IDEMPOTENT, ValueError("bug"))


def test_ambiguity():
    for error in (api_error(500), api_error(503), api_error(408), APITimeoutError("t", sent=True)):
        assert is_ambiguous(error)
    for error in (
        api_error(400),
        api_error(409),
        api_error(429),
        APIConnectionError("c", sent=False),
    ):
        assert not is_ambiguous(error)


def wait_for(policy, failures, error=None, *, elapsed=0.0, random=lambda: 0.5, backoff=True):
    """``next_wait`` after ``failures`` failures ending in ``error``."""
    return next_wait(
        policy,
        failures=failures,
        retry_after=retry_after_of(error),
        elapsed=elapsed,
        random=random,
        backoff=backoff,
    )


def test_backoff_grows_exponentially_to_the_cap():
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=4.0, jitter=False, max_retries=9)
    waits = [wait_for(policy, n, api_error(503)) for n in range(1, 7)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_uses_full_jitter():
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=10.0)
    assert wait_for(policy, 3, api_error(503), random=lambda: 0.25) == 1.0
    assert wait_for(policy, 3, api_error(503), random=lambda: 0.0) == 0.0


def test_a_huge_failure_count_never_overflows():
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=10.0, jitter=False, max_retries=10**6)
    assert wait_for(policy, 5000, api_error(503), random=lambda: 0.0) == 10.0


def test_retry_after_is_honoured_exactly():
    policy = RetryPolicy(backoff_base=1.0)
    assert wait_for(policy, 1, api_error(429, retry_after=7), random=lambda: 0.1) == 7.0
    assert wait_for(policy, 1, api_error(503, retry_after=2), random=lambda: 0.1) == 2.0


def test_without_backoff_only_a_retry_after_is_waited_for():
    policy = RetryPolicy(backoff_base=1.0)
    assert wait_for(policy, 0, api_error(503), backoff=False) == 0.0
    assert wait_for(policy, 0, api_error(503, retry_after=3), backoff=False) == 3.0


def test_stop_after_max_retries():
    policy = RetryPolicy(max_retries=2, deadline=None)
    assert wait_for(policy, 1, api_error(503)) != Stop.ATTEMPTS
    assert wait_for(policy, 2, api_error(503)) != Stop.ATTEMPTS
    assert wait_for(policy, 3, api_error(503)) is Stop.ATTEMPTS
    assert wait_for(RetryPolicy(max_retries=0), 1, api_error(503)) is Stop.ATTEMPTS


def test_retry_after_beyond_the_cap_is_raised():
    policy = RetryPolicy(max_retry_after=60)
    assert wait_for(policy, 1, api_error(429, retry_after=60)) == 60
    assert wait_for(policy, 1, api_error(429, retry_after=120)) is Stop.RETRY_AFTER


def test_deadline_stops_a_wait_that_would_pass_it():
    policy = RetryPolicy(deadline=10, jitter=False, backoff_base=4.9)
    assert wait_for(policy, 1, api_error(503), elapsed=5) == 4.9
    assert wait_for(policy, 1, api_error(503, retry_after=5), elapsed=5) is Stop.DEADLINE


def test_attempt_timeout_is_cut_to_the_deadline():
    policy = RetryPolicy(deadline=10)
    assert attempt_timeout(policy, 30, elapsed=0) == 10
    assert attempt_timeout(policy, 3, elapsed=0) == 3
    assert attempt_timeout(policy, 3, elapsed=8.5) == 1.5
    assert attempt_timeout(policy, None, elapsed=4) == 6
    assert attempt_timeout(RetryPolicy(deadline=None), 3, elapsed=100) == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"max_retries": -1}, {"max_retries": 1.5}, {"backoff_base": -1}, {"deadline": 0}],
)
def test_bad_policies_are_rejected(kwargs):
    with pytest.raises(ValidationError):
        RetryPolicy(**kwargs)
