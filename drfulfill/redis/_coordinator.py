"""``RedisCoordinator``: the fleet's shared rate limits and claims, one Redis for many keys."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from types import TracebackType
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._ratelimit import RateLimiter
from ..errors import CoordinationError, ValidationError
from ._claims import RedisClaimStore
from ._limiter import RedisLimiter
from ._shielded import RedisCalls

DEFAULT_NAMESPACE = "drfulfill"
DEFAULT_FALLBACK_SHARE = 0.25
DEFAULT_LEASE = 10.0
DEFAULT_HORIZON = 7 * 24 * 3600.0
DEFAULT_PROBE_INTERVAL = 1.0
DEFAULT_POLL = (0.01, 0.25)
# For a client made from a URL: fail fast so the limiter falls back (and claims raise)
# within about a second, and reconnect once after a dropped connection (a Redis restart).
URL_SOCKET_TIMEOUT = 1.0

T = TypeVar("T")


# Beyond this a number of seconds is not a duration (and Redis' PX would overflow).
_MAX_SECONDS = 10.0**9


def _is_seconds(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def key_prefix(namespace: str, api_key: str) -> str:
    """``{namespace}:{<16 hex of sha256(api_key)>}``: never the key itself. The braces are
    a Redis Cluster hash tag, so every key of one API key lives in one slot.

    :param namespace: the first part (``RedisCoordinator(namespace=...)``).
    :param api_key: the API key.
    :returns: the prefix.
    """
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return f"{namespace}:{{{digest}}}"


class RedisCoordinator:
    """Shared rate limits, 429 pauses and exactly-once claims for a fleet, on Redis.

    ``Client(..., coordinator=RedisCoordinator("redis://host:6379/0"))`` in every process
    that uses the key. One coordinator serves many clients and API keys, within one event
    loop (redis-py's connections belong to the loop that opened them).

    :param redis: a ``redis://`` / ``rediss://`` URL (the coordinator then owns the
        connection pool: ``await close()`` it), or your ``redis.asyncio.Redis``, used as it
        is and never closed here.
    :param namespace: first part of every Redis key.
    :param fallback_share: while Redis fails, each process paces itself locally at this
        share of the key's rate; set it to 1/N for N processes (default 1/4).
    :param lease: seconds a claim lives without renewal (renewed every third of it): how
        soon a crashed holder's claim is taken over.
    :param horizon: how old a key may be when it comes again (a redelivered message, a
        re-run) and still be recognised by the fleet without asking Digital River first
        (default 7 days, or ``done_ttl`` when only that is given): the time "created as
        <id>" and "in doubt since" records are kept, and how far back the fleet's keys are
        loaded from Digital River when Redis has lost its records (new, flushed or
        replaced). A key older than that is created again.
    :param done_ttl: seconds the "created as <id>" and "in doubt since" records are kept;
        default ``horizon``, and never less.
    :param probe_interval: seconds between attempts to reach Redis again while it fails.
    :param poll: (first, cap) seconds between polls of a waiter on a claimed key,
        doubling from first to cap.
    :raises ValidationError: when ``fallback_share`` is not in (0, 1], ``lease``,
        ``horizon`` or ``done_ttl`` is not a number of seconds > 0, ``done_ttl`` is shorter
        than ``horizon``, ``poll`` is not ``0 < first <= cap``, or ``namespace`` is empty.
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        fallback_share: float = DEFAULT_FALLBACK_SHARE,
        lease: float = DEFAULT_LEASE,
        horizon: float | None = None,
        done_ttl: float | None = None,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        poll: tuple[float, float] = DEFAULT_POLL,
    ) -> None:
        if not 0 < fallback_share <= 1:
            raise ValidationError(
                f"fallback_share must be a fraction in (0, 1], got {fallback_share!r}"
            )
        if horizon is None:
            horizon = DEFAULT_HORIZON if done_ttl is None else done_ttl
        if done_ttl is None:
            done_ttl = horizon
        for name, value in (("lease", lease), ("horizon", horizon), ("done_ttl", done_ttl)):
            if not _is_seconds(value) or not 0 < value < _MAX_SECONDS:
                raise ValidationError(f"{name} must be a number of seconds > 0, got {value!r}")
        if done_ttl < horizon:
            raise ValidationError(
                f"done_ttl ({done_ttl:g}s) must not be shorter than horizon ({horizon:g}s): "
                "a key must be remembered for as long as it may come again"
            )
        if not 0 < poll[0] <= poll[1]:
            raise ValidationError(f"poll must be (first, cap) with 0 < first <= cap, got {poll!r}")
        if not namespace:
            raise ValidationError("namespace must not be empty")
        #: The redis-py client the coordinator talks through.
        self.redis: Redis
        if isinstance(redis, str):
            self.redis = Redis.from_url(
                redis,
                socket_timeout=URL_SOCKET_TIMEOUT,
                socket_connect_timeout=URL_SOCKET_TIMEOUT,
                retry=Retry(NoBackoff(), 1),
            )
            self._owns_redis = True
        else:
            self.redis = redis
            self._owns_redis = False
        self.namespace = namespace
        self.fallback_share = fallback_share
        self.lease = lease
        self.horizon = horizon
        self.done_ttl = done_ttl
        self.probe_interval = probe_interval
        self.poll = poll
        self._calls = RedisCalls()

    def prefix(self, api_key: str) -> str:
        """The prefix of every Redis key this coordinator keeps for ``api_key``.

        :param api_key: the API key (only its hash appears in the prefix).
        :returns: ``key_prefix(namespace, api_key)``.
        """
        return key_prefix(self.namespace, api_key)

    def limiter(self, api_key: str, rate: float) -> RedisLimiter:
        """The fleet-wide limiter of ``api_key`` at ``rate`` requests per second.

        Called by ``Client`` once; its fallback paces at ``rate * fallback_share``.

        :param api_key: the API key whose requests it paces.
        :param rate: requests per second for the whole fleet.
        :returns: a new ``RedisLimiter``.
        :raises ValidationError: when ``rate`` is not > 0.
        """
        if not rate > 0:
            raise ValidationError(f"rate must be > 0 requests per second, got {rate!r}")
        return RedisLimiter(
            self.redis,
            self.prefix(api_key),
            rate,
            fallback=RateLimiter(rate * self.fallback_share),
            probe_interval=self.probe_interval,
            calls=self._calls,
        )

    def claims(self, api_key: str) -> RedisClaimStore:
        """The fleet-wide safe-create claims of ``api_key``.

        :param api_key: the API key whose safe-creates the claims guard.
        :returns: a new ``RedisClaimStore``.
        """
        return RedisClaimStore(
            self.redis,
            self.prefix(api_key),
            lease=self.lease,
            done_ttl=self.done_ttl,
            horizon=self.horizon,
            poll_first=self.poll[0],
            poll_cap=self.poll[1],
            calls=self._calls,
        )

    async def command(self, call: Awaitable[T], timeout: float) -> T:
        """The result of one redis-py command, run within ``timeout`` seconds.

        ``await coordinator.command(coordinator.redis.get(key), 0.5)``. The command runs in
        a task of its own, which is cancelled when ``timeout`` is up (whether or not the
        caller still waits) and when the coordinator closes: none is left running, or
        reconnects, after either. A cancelled command may still have been applied by Redis
        (its reply was not awaited); redis-py then drops its connection, so a late reply is
        never read as the answer to another command.

        :param call: the not yet awaited command, e.g. ``coordinator.redis.set(...)`` or a
            registered script called with its keys and arguments.
        :param timeout: seconds the round trip may take.
        :returns: what the command returns.
        :raises CoordinationError: when Redis fails, does not answer within ``timeout``, or
            the coordinator is closed.
        """
        try:
            return await self._calls.bounded(call, timeout)
        except RedisTimeoutError:
            raise CoordinationError(f"Redis did not answer within {timeout:g}s") from None
        except RedisError as exc:
            raise CoordinationError(f"Redis failed ({exc})") from exc
        except OSError as exc:
            raise CoordinationError(f"Redis failed ({type(exc).__name__}: {exc})") from exc

    async def close(self) -> None:
        """End the Redis commands still running (their callers have gone: none reconnects
        after this) and close the connection pool made from a URL (not a client you passed
        in). Claims and ``command`` through a closed coordinator fail with
        ``CoordinationError``; its limiters pace locally (their fallback)."""
        await self._calls.cancel_all()
        if self._owns_redis:
            await self.redis.aclose()

    async def __aenter__(self) -> RedisCoordinator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:  # never shows a password from the URL
        return f"RedisCoordinator(namespace={self.namespace!r})"
