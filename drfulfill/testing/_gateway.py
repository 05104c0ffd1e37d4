"""What sits in front of the API proper: authentication, the per-key rate limit, faults.

Pure decisions (no aiohttp): the HTTP layer asks and acts on the answers.
"""

from __future__ import annotations

import base64
import binascii
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

FAULT_ACTIONS = ("respond", "drop", "commit_then_drop", "respond_then_commit", "drop_then_commit")
LATE_ACTIONS = frozenset({"respond_then_commit", "drop_then_commit"})
DEFAULT_COMMIT_AFTER = 1.0
"""Seconds a late commit waits when ``commit_after`` is not given."""
_CREATE_PATHS = frozenset({"/fulfillments", "/fulfillment-returns"})
_SECRET_HEADERS = frozenset({"authorization", "x-api-key"})


# --------------------------------------------------------------------------- auth


def api_key_from(authorization: str | None) -> str | None:
    """The secret key of ``Bearer <key>`` or of Basic auth with the key as user name.

    None unless it looks like a DR secret key (``sk_…``).
    """
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer":
        key = credentials
    elif scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        key = decoded.partition(":")[0]
    else:
        return None
    return key if key.startswith("sk_") else None


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers for the request log: the credentials replaced, the auth scheme kept."""
    redacted = {}
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS:
            scheme, _, _ = value.partition(" ")
            value = f"{scheme} [redacted]" if scheme and " " in value else "[redacted]"
        redacted[name] = value
    return redacted


# --------------------------------------------------------------------------- rate limit


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    blocked_until: float = 0.0


class RateLimiter:
    """A token bucket per API key: capacity = one second's worth (at least one request),
    refilled continuously.

    Over the limit, the key is blocked for ``Retry-After`` whole seconds (DR: "requests sent
    before that time has passed are also blocked").
    """

    def __init__(self, rate_for: Callable[[str], float], monotonic: Callable[[], float]) -> None:
        self._rate_for = rate_for
        self._monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key: str) -> int | None:
        """Take a token: None if allowed, else the ``Retry-After`` seconds (at least 1)."""
        now = self._monotonic()
        rate = self._rate_for(key)
        capacity = max(1.0, rate)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=capacity, updated=now)
        if now < bucket.blocked_until:
            return max(1, math.ceil(bucket.blocked_until - now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        retry_after = max(1, math.ceil((1 - bucket.tokens) / rate))
        bucket.blocked_until = now + retry_after
        return retry_after


# --------------------------------------------------------------------------- faults


@dataclass(slots=True)
class Fault:
    """One programmed misbehaviour, matched by method and path (see ``Emulator.add_fault``)."""

    method: str
    path: str
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None
    latency: float = 0.0
    action: str = "respond"
    times: int | None = 1  # None: every matching request
    hits: int = 0
    # Keyword-only, so the positions stay as in 0.1.0. commit_after: late actions only, seconds
    # or a (low, high) range drawn per request; None: DEFAULT_COMMIT_AFTER.
    commit_after: float | tuple[float, float] | None = field(default=None, kw_only=True)
    rate: float = field(default=1.0, kw_only=True)  # chance that a matching request meets it

    def __post_init__(self) -> None:
        if self.action not in FAULT_ACTIONS:
            raise ValueError(f"action must be one of {FAULT_ACTIONS}, not {self.action!r}")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"a fault status must be an error status, not {self.status}")
        answers = self.action in ("respond", "respond_then_commit")
        if not answers and (
            self.status is not None or self.code is not None or self.retry_after is not None
        ):
            # Silently answering `status` instead would skip the commit of commit_then_drop.
            raise ValueError(
                f"status, code and retry_after go with an answering action, not {self.action!r}"
            )
        if (
            self.action == "respond"
            and self.status is None
            and (self.code is not None or self.retry_after is not None)
        ):
            raise ValueError("code and retry_after need a status")
        if self.late:
            delay = DEFAULT_COMMIT_AFTER if self.commit_after is None else self.commit_after
            low, high = delay if isinstance(delay, tuple) else (delay, delay)
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
                raise ValueError(
                    f"commit_after must be seconds >= 0 or a (low, high) range, not {delay}"
                )
            self.commit_after = delay
        elif self.commit_after is not None:
            raise ValueError(f"commit_after goes with {sorted(LATE_ACTIONS)}, not {self.action!r}")
        if not 0 < self.rate <= 1:
            raise ValueError(f"rate must be in (0, 1], not {self.rate}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1, or None for every request")
        self.method = self.method.upper()

    @property
    def late(self) -> bool:
        """Applied ``commit_after`` seconds after the answer (or the dropped connection)."""
        return self.action in LATE_ACTIONS

    @property
    def answer(self) -> int | None:
        """The status answered at once: a late ``respond_then_commit`` defaults to 504."""
        if self.status is None and self.action == "respond_then_commit":
            return 504
        return self.status

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method == method) and path_matches(self.path, path)


def path_matches(pattern: str, path: str) -> bool:
    """Exact, ``*`` for any path, or a trailing ``/*`` for one more segment (an id)."""
    if pattern in ("*", path):
        return True
    if pattern.endswith("/*"):
        prefix = pattern[:-1]
        rest = path[len(prefix) :]
        return path.startswith(prefix) and rest != "" and "/" not in rest
    return False


class FaultSchedule:
    """Programmed faults (first match wins, used up after ``times`` hits) plus random ones."""

    def __init__(self, *, rate: float, seed: int, retry_after: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        self._programmed: list[Fault] = []
        self._rate = rate
        self._random = random.Random(seed)
        # Its own stream: a programmed rate or range leaves the random faults' sequence as is.
        self._programmed_random = random.Random(seed)
        self._retry_after = retry_after
        self.injected = 0

    @property
    def rate(self) -> float:
        """The chance of a random fault per request."""
        return self._rate

    @rate.setter
    def rate(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        self._rate = rate

    def add(self, fault: Fault) -> Fault:
        self._programmed.append(fault)
        return fault

    def clear(self) -> None:
        self._programmed.clear()

    def pick(self, method: str, path: str) -> Fault | None:
        fault = self._programmed_fault(method, path) if self._programmed else None
        if fault is None and self._rate and self._random.random() < self._rate:
            fault = self._random_fault(method, path)
        if fault is not None:
            self.injected += 1
        return fault

    def _programmed_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._programmed:
            if fault.matches(method, path):
                if fault.rate < 1 and self._programmed_random.random() >= fault.rate:
                    continue
                fault.hits += 1
                if fault.exhausted:
                    self._programmed.remove(fault)
                return fault
        return None

    def commit_delay(self, fault: Fault) -> float:
        """Seconds until a late fault's request is applied: drawn when a range was given."""
        delay = DEFAULT_COMMIT_AFTER if fault.commit_after is None else fault.commit_after
        if isinstance(delay, tuple):
            return self._programmed_random.uniform(*delay)
        return delay

    def _random_fault(self, method: str, path: str) -> Fault:
        choices = [
            Fault(method, path, status=503),
            Fault(method, path, status=500),
            Fault(method, path, status=429, retry_after=self._retry_after),
            Fault(method, path, action="drop"),
        ]
        if method == "POST" and path in _CREATE_PATHS:
            choices.append(Fault(method, path, action="commit_then_drop"))
        return self._random.choice(choices)
