"""The retry policy and its decisions, as pure functions (no I/O, no clock of their own).

``next_wait`` is the one rule for "stop, or wait how long": the request funnel
(``_session.py``) gives it to tenacity, the safe-create loop (``_safecreate_core``) calls it
for every failed send or lookup, and the funnel's wait for a paused rate limiter asks it too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from ._constants import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_CAP,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    RETRYABLE_STATUSES,
)
from .errors import APIConnectionError, APIError, RateLimitError, ValidationError


class RequestKind(enum.Enum):
    """What a retry may safely repeat."""

    #: GET and ``POST /fulfillments/{id}`` (update sets tracking and metadata): repeatable.
    IDEMPOTENT = "idempotent"
    #: ``POST /fulfillments`` and ``POST /fulfillment-returns``: each success moves money or
    #: goods, so only failures that prove nothing happened are repeated here.
    CREATE = "create"


@attrs.frozen
class RetryPolicy:
    """How often, how long apart, and for how long in all a call is tried.

    ``max_retries=0`` means one attempt. Waits grow as ``backoff_base * 2**n`` up to
    ``backoff_cap``, with full jitter. A server's ``Retry-After`` is honoured exactly when it
    is at most ``max_retry_after``; a longer one is raised to the caller. ``deadline`` bounds a
    whole call, attempts and waits included (None: no bound).
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    jitter: bool = True
    deadline: float | None = DEFAULT_DEADLINE
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ValidationError(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValidationError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("backoff_base", "backoff_cap", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValidationError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.deadline is not None and self.deadline <= 0:
            raise ValidationError(f"deadline must be > 0 or None, got {self.deadline}")


def is_retryable(kind: RequestKind, error: BaseException) -> bool:
    """Whether repeating the request after ``error`` is safe and may help."""
    if isinstance(error, RateLimitError):
        return True  # DR rejected it before doing anything
    if isinstance(error, APIConnectionError):
        return kind is RequestKind.IDEMPOTENT or not error.sent
    if isinstance(error, APIError):
        return kind is RequestKind.IDEMPOTENT and error.status in RETRYABLE_STATUSES
    return False


def is_ambiguous(error: BaseException) -> bool:
    """Whether a create that failed with ``error`` may have been applied all the same."""
    if isinstance(error, APIConnectionError):
        return error.sent
    if isinstance(error, APIError):
        # Any 5xx (a 520 or 524 from a CDN too): the server may have applied it.
        return error.status == 408 or error.status >= 500
    return False


def retry_after_of(error: BaseException | None) -> float | None:
    """The server's ``Retry-After`` carried by an error, in seconds."""
    return error.retry_after if isinstance(error, APIError) else None


class Stop(enum.Enum):
    """Why ``next_wait`` says to give up."""

    #: ``max_retries`` failures already.
    ATTEMPTS = "attempts"
    #: The server asks for a wait longer than ``max_retry_after``.
    RETRY_AFTER = "retry_after"
    #: The wait would reach the call's deadline.
    DEADLINE = "deadline"


def next_wait(
    policy: RetryPolicy,
    *,
    failures: int,
    retry_after: float | None,
    elapsed: float,
    random: Callable[[], float],
    backoff: bool = True,
) -> float | Stop:
    """Seconds to wait before trying again, or why to stop.

    ``failures`` counts the failed tries so far (1 after the first). The wait is
    ``retry_after`` when the server gave one, else (with ``backoff``) the exponential
    backoff with full jitter for retry number ``failures``, else 0 (a try that follows no
    failure of its own, e.g. a resend, or a wait for a paused rate limiter).
    ``elapsed``: seconds since the call started. ``random`` returns a float in [0, 1); it
    is injected so tests are deterministic.
    """
    if failures > policy.max_retries:
        return Stop.ATTEMPTS
    if retry_after is not None and retry_after > policy.max_retry_after:
        return Stop.RETRY_AFTER
    if retry_after is not None:
        wait = retry_after
    elif not backoff:
        wait = 0.0
    else:
        ceiling = min(policy.backoff_cap, policy.backoff_base * 2.0 ** min(failures - 1, 64))
        wait = ceiling * random() if policy.jitter else ceiling
    if policy.deadline is not None and elapsed + wait >= policy.deadline:
        return Stop.DEADLINE
    return wait


def attempt_timeout(policy: RetryPolicy, timeout: float | None, elapsed: float) -> float | None:
    """The per-attempt timeout, cut to what is left of the call's deadline."""
    if policy.deadline is None:
        return timeout
    remaining = max(policy.deadline - elapsed, 0.001)
    return remaining if timeout is None else min(timeout, remaining)
