"""The one request funnel every call goes through (the session itself: ``_pool``)."""

from __future__ import annotations

import asyncio
import logging
import math
import platform
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import attrs
import tenacity
from yarl import URL

from . import _telemetry
from ._clock import monotonic
from ._constants import VERSION
from ._coordination import Limiter, Priority
from ._pool import SessionPool
from ._ratelimit import is_test_key
from ._retry import (
    RequestKind,
    RetryPolicy,
    Stop,
    attempt_timeout,
    is_retryable,
    next_wait,
    retry_after_of,
)
from ._wire import (
    Query,
    check_header_value,
    decode_json_object,
    encode_body,
    encode_query,
    read_capped,
    request_error,
)
from .errors import (
    APIError,
    APITimeoutError,
    DecodeError,
    DigitalRiverError,
    ErrorDetail,
    RateLimitError,
    ValidationError,
    error_from_response,
    redact,
    request_id_from,
)

logger = logging.getLogger("drfulfill")

T = TypeVar("T")

# The backoff jitter's own stream: nothing else in the process (an OpenTelemetry SDK making
# span ids, the caller's code) draws from it, so ``seed_jitter`` makes it replay exactly.
_jitter = random.Random()


def seed_jitter(seed: int) -> None:
    """Seed the backoff jitter of every client in this process (the simulation does, so
    that a run replays exactly)."""
    _jitter.seed(seed)


USER_AGENT = f"drfulfill/{VERSION} Python/{platform.python_version()} aiohttp/{aiohttp.__version__}"


@attrs.define
class ClientStats:
    """Counters a Client keeps, e.g. to report what a bulk run went through."""

    requests: int = 0  # attempts sent
    retries: int = 0  # attempts repeated after a retryable failure
    rate_limited: int = 0  # 429 responses received
    reconciled: int = 0  # ambiguous creates found to have been applied
    recreated: int = 0  # ambiguous creates found not applied, and sent again


class NoSlotBeforeDeadline(APITimeoutError):
    """The rate limiter has no send slot before the call's deadline (nothing was sent).

    Not retried: waiting for a retry only brings the deadline closer, not the slot.
    """


class Transport:
    """Authenticates, paces, retries and decodes, sending through a ``SessionPool``.

    At most ``max_response_bytes`` of a response body are read. ``with_options`` makes a
    view with other timeouts and retry policy that shares everything else.
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        timeout: float | None,
        connect_timeout: float | None,
        policy: RetryPolicy,
        limiter: Limiter | None,
        session: aiohttp.ClientSession | None,
        connection_limit: int,
        max_response_bytes: int,
        proxy: str | None = None,
    ) -> None:
        if api_key:
            check_header_value("api_key", api_key)
        self._api_key = api_key
        # What redaction removes from every text taken from a response.
        self._secrets: tuple[str, ...] = (api_key,) if api_key else ()
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self.policy = policy
        self.limiter = limiter
        self._pool = SessionPool(session, connection_limit, self._base_url)
        self._proxy = proxy
        self.max_response_bytes = max_response_bytes
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self.stats: ClientStats = ClientStats()
        #: The limiter lane of this transport's requests (``with_priority`` makes a view).
        self.priority: Priority = "interactive"
        # Injection points for tests: no real sleeping, a controllable clock, fixed jitter.
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        self.clock: Callable[[], float] = monotonic
        self.random: Callable[[], float] = _jitter.random

    @property
    def timeout(self) -> float | None:
        """Seconds allowed for one attempt (None: no limit)."""
        return self._timeout

    @property
    def connect_timeout(self) -> float | None:
        """Seconds allowed to connect (None: no limit)."""
        return self._connect_timeout

    def with_options(
        self,
        *,
        timeout: float | None,
        connect_timeout: float | None,
        policy: RetryPolicy,
        priority: Priority | None = None,
    ) -> Transport:
        """A view with these timeouts and policy (and limiter lane, unless None), sharing
        the session pool, limiter, stats and key of this transport; its clock/sleep/random
        are the ones set now."""
        return self._view(
            _timeout=timeout,
            _connect_timeout=connect_timeout,
            policy=policy,
            priority=self.priority if priority is None else priority,
        )

    def with_priority(self, priority: Priority) -> Transport:
        """A view whose requests wait in the limiter's ``priority`` lane, sharing
        everything else with this transport."""
        return self._view(priority=priority)

    def _view(self, **changes: Any) -> Transport:
        view = object.__new__(Transport)
        view.__dict__.update(self.__dict__)  # a shallow copy, cheaper than copy.copy
        view.__dict__.update(changes)
        return view

    def url_for(self, path: str, query: Query = ()) -> URL:
        """The URL of an API path with its query."""
        text = self._base_url + path
        if query:
            text += "?" + encode_query(query)
        return URL(text, encoded=True)

    @property
    def target(self) -> str:
        """Which API this transport talks to: base URL and the key's mode, never the key."""
        return f"{self._base_url} ({'test' if is_test_key(self._api_key) else 'live'} mode)"

    def _get_session(self) -> aiohttp.ClientSession:
        if self._pool.closed:
            raise DigitalRiverError("the Client is closed")
        if not self._api_key:
            raise ValidationError("api_key is required: pass api_key= or set DR_API_KEY")
        return self._pool.get()

    async def close(self) -> None:
        """Close our own session (shared by every view); a caller's session is left open.
        Safe to call twice."""
        await self._pool.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        kind: RequestKind = RequestKind.IDEMPOTENT,
        started: float | None = None,
    ) -> dict[str, Any]:
        """Send one API request with retries; return the decoded JSON object of a 2xx.

        ``started``: the ``clock()`` reading the call's deadline counts from, when this
        request is part of a larger call (the safe-create lookup); default now.
        """
        if started is None:
            started = self.clock()
        url = self.url_for(path, query)
        with _telemetry.observe_call(method, url):
            return await self.call_with_retries(
                self._prepare_url(method, url, body, started, None),
                lambda error: is_retryable(kind, error),
                f"{method} {path}",
                started=started,
            )

    def prepare(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        started: float | None = None,
        before_send: Callable[[float | None], Awaitable[object]] | None = None,
    ) -> Callable[[float | None], Awaitable[dict[str, Any]]]:
        """One attempt of a request (no retries), as a function of its timeout.

        ``started``: the ``clock()`` reading the call's deadline counts from (default now);
        the wait for the rate limiter is bounded by what is left of that deadline.
        ``before_send(timeout)`` is awaited once the limiter let the request go, just
        before it is sent, with the attempt's timeout: the safe-create component confirms
        its fleet claim there (an error it raises sends nothing).
        """
        return self._prepare_url(method, self.url_for(path, query), body, started, before_send)

    def _prepare_url(
        self,
        method: str,
        url: URL,
        body: Any,
        started: float | None,
        before_send: Callable[[float | None], Awaitable[object]] | None,
    ) -> Callable[[float | None], Awaitable[dict[str, Any]]]:
        data = None if body is None else encode_body(body)
        deadline = self.policy.deadline
        ends = (
            None if deadline is None else (self.clock() if started is None else started) + deadline
        )

        def send(timeout: float | None) -> Awaitable[dict[str, Any]]:
            return self._send_once(method, url, data, timeout, ends, before_send)

        return send

    async def call_with_retries(
        self,
        attempt: Callable[[float | None], Awaitable[T]],
        retryable: Callable[[BaseException], bool],
        what: str,
        *,
        started: float | None = None,
    ) -> T:
        """Run ``attempt(timeout)`` under the retry policy, with tenacity.

        Every request but a create's sends and lookups runs here (those run in the
        safe-create loop, ``_safecreate``, which decides by the same rule, ``next_wait``).
        The deadline counts from ``started`` (a ``clock()`` reading; default now). Once it
        has passed, no further attempt is made.
        """
        policy = self.policy
        if started is None:
            started = self.clock()

        def elapsed() -> float:
            return self.clock() - started

        def may_retry(error: BaseException) -> bool:
            return not isinstance(error, NoSlotBeforeDeadline) and retryable(error)

        def timeout_left() -> float | None:
            spent = elapsed()
            if policy.deadline is not None and spent >= policy.deadline:
                raise APITimeoutError(
                    f"{what}: the call's deadline of {policy.deadline:g}s has passed", sent=False
                )
            return attempt_timeout(policy, self._timeout, spent)

        # Most calls succeed at once, and setting tenacity up costs about as much as a
        # small request, so tenacity takes over only after a first attempt failed: it is
        # handed that failure as its own attempt 1, so waits, stops and logs are the same.
        try:
            return await attempt(timeout_left())
        except Exception as error:
            if not may_retry(error):
                raise
            first_failure: Exception | None = error

        async def replay_then_attempt() -> T:
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return await attempt(timeout_left())

        decided: dict[int, float | Stop] = {}

        def decision(state: tenacity.RetryCallState) -> float | Stop:
            # tenacity asks for the wait, then whether to stop: one decision serves both.
            if state.attempt_number not in decided:
                error = state.outcome.exception() if state.outcome else None
                decided[state.attempt_number] = next_wait(
                    policy,
                    failures=state.attempt_number,
                    retry_after=retry_after_of(error),
                    elapsed=elapsed(),
                    random=self.random,
                )
            return decided[state.attempt_number]

        def wait(state: tenacity.RetryCallState) -> float:
            step = decision(state)
            return 0.0 if isinstance(step, Stop) else step

        def stop(state: tenacity.RetryCallState) -> bool:
            return isinstance(decision(state), Stop)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.stats.retries += 1
            _telemetry.retried()
            error = state.outcome.exception() if state.outcome else None
            logger.warning(
                "retrying %s (attempt %d failed: %s); waiting %.3fs; request id %s",
                what,
                state.attempt_number,
                error,
                state.upcoming_sleep,
                getattr(error, "request_id", None),
            )

        retrying = tenacity.AsyncRetrying(
            sleep=self.sleep,
            retry=tenacity.retry_if_exception(may_retry),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            reraise=True,
        )
        async for try_ in retrying:
            with try_:
                return await replay_then_attempt()
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _confirmed(
        self,
        before_send: Callable[[float | None], Awaitable[object]],
        timeout: float | None,
        ends: float | None,
    ) -> float | None:
        """Await ``before_send(timeout)``; the send's timeout is then what is left of both
        ``timeout`` and the deadline. A fleet's fence records that the send may land until
        ``timeout`` after the fence was asked for: the send must end by then, however late
        the fence's answer came."""
        asked = self.clock()
        await before_send(timeout)
        now = self.clock()
        left = math.inf if timeout is None else timeout - (now - asked)
        if ends is not None:
            left = min(left, ends - now)
        if left <= 0:
            raise APITimeoutError(
                "no time was left to send after the fleet's claim was confirmed; nothing was sent",
                sent=False,
            )
        return None if math.isinf(left) else left

    async def _send_once(
        self,
        method: str,
        url: URL,
        data: bytes | None,
        timeout: float | None,
        ends: float | None,
        before_send: Callable[[float | None], Awaitable[object]] | None = None,
    ) -> dict[str, Any]:
        """One attempt. ``ends``: the ``clock()`` reading at the call's deadline, if any."""
        session = self._get_session()
        if self.limiter is not None:
            waiting_since = self.clock()
            await self._wait_for_limiter(self.limiter, ends)
            _telemetry.limiter_waited(self.clock() - waiting_since)
            if ends is not None:  # what the wait used is gone from this attempt too
                timeout = max(0.001, min(ends - self.clock(), timeout or math.inf))
        if before_send is not None:
            timeout = await self._confirmed(before_send, timeout, ends)
        self.stats.requests += 1
        failure: DigitalRiverError
        sent_at = self.clock()
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=timeout, connect=self._connect_timeout),
                # A caller's session may raise for status or follow redirects; we decide.
                raise_for_status=False,
                allow_redirects=False,
                proxy=self._proxy or self._pool.env_proxy,
            ) as response:
                status = response.status
                headers = response.headers
                payload, complete = await read_capped(response, self.max_response_bytes)
                if not complete:  # never hand back a connection with unread bytes
                    response.close()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            _telemetry.attempt_done(method, url, None, {}, None, self.clock() - sent_at)
            failure = request_error(error, self._secrets)
        except RuntimeError as error:  # e.g. a caller's session bound to a closed loop
            failure = DigitalRiverError(
                "the aiohttp session cannot send in this event loop"
                f" ({redact(f'{type(error).__name__}: {error}', self._secrets)});"
                " pass a session created in the running loop"
            )
        else:
            request_id = request_id_from(headers, self._secrets)  # the one place it is read
            _telemetry.attempt_done(
                method, url, status, headers, request_id, self.clock() - sent_at, self._secrets
            )
            if not 200 <= status < 300:  # a status line of 000 is no success either
                raise await self._api_error(status, headers, payload)
            if not complete:
                raise DecodeError(
                    f"the response body is over max_response_bytes ({self.max_response_bytes})",
                    text=payload.decode("utf-8", "replace"),
                    request_id=request_id,
                    secrets=self._secrets,
                )
            return decode_json_object(payload, request_id, self._secrets)
        # Raised here, outside the except blocks, so the error has no __context__.
        raise failure

    async def _wait_for_limiter(self, limiter: Limiter, ends: float | None) -> None:
        """Wait for the limiter, unless a 429 paused it longer than we may sleep through.

        The same rule as for the 429 itself (``next_wait``): a pause beyond
        ``max_retry_after`` is raised, so a long pause (set by another process sharing the
        limiter) fails calls at once. The wait never runs past the call's deadline.
        """
        paused = await limiter.paused_for()
        deadline = self.policy.deadline
        elapsed = 0.0 if ends is None or deadline is None else deadline - (ends - self.clock())
        step = next_wait(
            self.policy,
            failures=0,
            retry_after=paused,
            elapsed=elapsed,
            random=self.random,
            backoff=False,
        )
        if step is Stop.DEADLINE:
            raise NoSlotBeforeDeadline(
                f"not sent: the rate limiter is paused for {paused:.3f}s more, past the "
                "call's deadline",
                sent=False,
            )
        if step is Stop.RETRY_AFTER:
            raise RateLimitError(
                429,
                errors=(
                    ErrorDetail(
                        code="too_many_requests",
                        message=f"not sent: a 429 paused the client for {paused:.0f}s more",
                    ),
                ),
                retry_after=paused,
            )
        if ends is None:
            await limiter.acquire(priority=self.priority)
            return
        try:
            await limiter.acquire(max(0.0, ends - self.clock()), priority=self.priority)
        except APITimeoutError as refused:
            failure = NoSlotBeforeDeadline(str(refused), sent=False)
        else:
            return
        raise failure  # outside the except block: the limiter's error is not its context

    async def _api_error(self, status: int, headers: Any, payload: bytes | bytearray) -> APIError:
        error = error_from_response(
            status, headers, payload.decode("utf-8", "replace"), secrets=self._secrets
        )
        if status == 429:
            self.stats.rate_limited += 1
            if self.limiter is not None and error.retry_after:
                # Capped: one absurd Retry-After (1e9 s, a date in 2099) must not disable
                # the client; the call that got it still raises it (next_wait).
                await self.limiter.pause(min(error.retry_after, self.policy.max_retry_after))
        return error
