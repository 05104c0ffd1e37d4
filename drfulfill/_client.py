"""``Client``: configuration, lifecycle, and the resources."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

import aiohttp

from ._constants import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_CAP,
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_DEADLINE,
    DEFAULT_IDEMPOTENCY_FIELD,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_TIMEOUT,
    METADATA_MAX_KEY_LENGTH,
)
from ._ratelimit import RateLimiter, default_rate_for
from ._retry import RetryPolicy
from ._session import ClientStats, Transport
from .errors import ValidationError
from .resources.fulfillment_returns import FulfillmentReturns
from .resources.fulfillments import Fulfillments


class _DefaultRate:
    def __repr__(self) -> str:
        return "<DR's limit for the key>"


DR_DEFAULT_RATE: Any = _DefaultRate()


class Client:
    """An async client for Digital River's Fulfillments and Fulfillment Returns APIs.

    Use it as ``async with Client() as dr:`` or call ``await dr.close()`` when done.

    :param api_key: secret key (``sk_test_…`` or ``sk_…``); default ``$DR_API_KEY``.
    :param base_url: default ``$DR_BASE_URL`` or ``https://api.digitalriver.com``.
    :param timeout: seconds allowed for one attempt (connect to last byte); None: no limit.
    :param connect_timeout: seconds allowed to connect.
    :param deadline: seconds allowed for a whole call, retries and waits included.
    :param max_retries: retries after the first attempt; 0 means a single attempt.
    :param backoff_base: first backoff ceiling in seconds (doubles each retry, full jitter).
    :param backoff_cap: largest backoff ceiling in seconds.
    :param max_retry_after: longest ``Retry-After`` slept through; a longer one is raised.
    :param rate_limit: requests per second; default DR's limit for the key (25 test, 250
        live); None switches the client-side limiter off.
    :param session: your own ``aiohttp.ClientSession``; used as it is and never closed here.
    :param idempotency_field: metadata field of the safe-create protocol; None disables it.
    :param connection_limit: pool size of the session this client creates.
    :ivar fulfillments: the Fulfillments API (``Fulfillments``): ``create``, ``retrieve``,
        ``update``, ``list``, ``find_by_key``, ``bulk_create``.
    :ivar fulfillment_returns: the Fulfillment Returns API (``FulfillmentReturns``):
        ``create``, ``retrieve``, ``list``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        deadline: float | None = DEFAULT_DEADLINE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        rate_limit: float | None = DR_DEFAULT_RATE,
        session: aiohttp.ClientSession | None = None,
        idempotency_field: str | None = DEFAULT_IDEMPOTENCY_FIELD,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        base_url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        if not base_url.startswith(("http://", "https://")):
            raise ValidationError(f"base_url must start with http:// or https://: {base_url!r}")
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
            if value is not None and not value > 0:
                raise ValidationError(f"{name} must be > 0 seconds or None, got {value!r}")
        _check_idempotency_field(idempotency_field)
        if rate_limit is DR_DEFAULT_RATE:
            rate_limit = default_rate_for(api_key)
        policy = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            deadline=deadline,
            max_retry_after=max_retry_after,
        )
        self._transport = Transport(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            connect_timeout=connect_timeout,
            policy=policy,
            limiter=None if rate_limit is None else RateLimiter(rate_limit),
            session=session,
            connection_limit=connection_limit,
        )
        self.base_url = base_url.rstrip("/")
        self.idempotency_field = idempotency_field
        self.fulfillments = Fulfillments(self._transport, idempotency_field)
        self.fulfillment_returns = FulfillmentReturns(self._transport)

    @property
    def stats(self) -> ClientStats:
        """Counters: requests sent, retries, 429s, reconciled and re-sent creates."""
        return self._transport.stats

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._transport.policy

    @property
    def rate_limit(self) -> float | None:
        """Requests per second allowed by the client-side limiter; None when it is off."""
        limiter = self._transport.limiter
        return None if limiter is None else limiter.rate

    async def close(self) -> None:
        """Close the session this client created (not one you passed in)."""
        await self._transport.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:  # never shows the key
        return f"Client(base_url={self.base_url!r})"


def _check_idempotency_field(field: str | None) -> None:
    if field is None:
        return
    if not isinstance(field, str) or not field or len(field) > METADATA_MAX_KEY_LENGTH:
        raise ValidationError(
            "idempotency_field must be a non-empty string of at most "
            f"{METADATA_MAX_KEY_LENGTH} characters, or None"
        )
