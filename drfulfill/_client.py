"""``Client``: configuration, lifecycle, and the resources."""

from __future__ import annotations

import ipaddress
import os
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs

from . import _telemetry
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
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_SETTLE,
    DEFAULT_TIMEOUT,
    METADATA_MAX_KEY_LENGTH,
)
from ._coordination import PRIORITIES, Coordinator, Limiter, Priority
from ._options import check_count, check_seconds
from ._ratelimit import RateLimiter, default_rate_for
from ._raw import RawClient
from ._retry import RetryPolicy
from ._safecreate import SafeCreator
from ._session import ClientStats, Transport
from .errors import ValidationError
from .resources.fulfillment_returns import FulfillmentReturns
from .resources.fulfillments import Fulfillments


class _DefaultRate:
    def __repr__(self) -> str:
        return "<DR's limit for the key>"


DR_DEFAULT_RATE: Any = _DefaultRate()
_UNSET: Any = object()  # an option with_options leaves as it is

# DRFULFILL_LOG=debug|info switches the SDK's logging on without code.
_telemetry.configure_logging(os.environ.get(_telemetry.LOG_ENV))


class Client:
    """An async client for Digital River's Fulfillments and Fulfillment Returns APIs.

    Use it as ``async with Client() as dr:`` or call ``await dr.close()`` when done.

    :param api_key: secret key (``sk_test_…`` or ``sk_…``); default ``$DR_API_KEY``.
    :param base_url: default ``$DR_BASE_URL`` or ``https://api.digitalriver.com``; ``http://``
        only to this machine (127.0.0.0/8, ::1, localhost); no ``user:password@`` (the
        key is the ``Authorization`` header; refused without showing the password).
    :param timeout: seconds allowed for one attempt (connect to last byte); None: no limit.
        60 by default: at least the gateway timeouts in front of APIs like DR's (a create
        given up on sooner could still be in process there).
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
    :param settle: seconds a doubtful create (timed out, dropped, 5xx, cancelled) is given
        to show up in DR's lists before it is sent again, counted from when the failure was
        seen; see ``DEFAULT_SETTLE`` for the default's why.
    :param coordinator: shared state for a fleet of processes using one API key, e.g.
        ``drfulfill.redis.RedisCoordinator``: exactly-once claims on safe-create keys.
    :param max_response_bytes: most of a response body read (default 8 MiB); a longer 2xx
        body is a ``DecodeError``, a longer error body is cut to this.
    :param proxy: an ``http://`` or ``https://`` proxy URL for every request; without it
        the session this client creates uses ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``.
    :raises ValidationError: for an option of the wrong type (a number given as a string),
        a number that is ``nan``, infinite or out of range, a ``base_url`` that is not https
        (but to this machine) or holds a user name or password, or a bad ``proxy``,
        ``api_key`` or ``idempotency_field``; the message names the option.
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
        settle: float = DEFAULT_SETTLE,
        coordinator: Coordinator | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        proxy: str | None = None,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        base_url = check_base_url(base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL)
        _check_call_options(timeout, connect_timeout, deadline, max_retries, settle)
        for name, value in (
            ("backoff_base", backoff_base),
            ("backoff_cap", backoff_cap),
            ("max_retry_after", max_retry_after),
        ):
            check_seconds(name, value, positive=False)
        check_count("connection_limit", connection_limit, minimum=1)
        check_count("max_response_bytes", max_response_bytes, minimum=1)
        _check_idempotency_field(idempotency_field)
        if rate_limit is DR_DEFAULT_RATE:
            rate_limit = default_rate_for(api_key)
        check_seconds("rate_limit", rate_limit, positive=True, optional=True)  # per second
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
            limiter=_limiter(rate_limit, api_key, coordinator),
            session=session,
            connection_limit=connection_limit,
            max_response_bytes=max_response_bytes,
            proxy=check_proxy(proxy),
        )
        self.base_url: str = base_url.rstrip("/")
        self.idempotency_field: str | None = idempotency_field
        self.settle: float = float(settle)
        claims = None if coordinator is None or not api_key else coordinator.claims(api_key)
        creator = (
            None
            if idempotency_field is None
            else SafeCreator(
                self._transport, field=idempotency_field, settle=self.settle, claims=claims
            )
        )
        #: ``client.fulfillments``: create (exactly once), retrieve, update, list, bulk_create.
        self.fulfillments: Fulfillments = Fulfillments(self._transport, creator)
        #: ``client.fulfillment_returns``: create, retrieve, list.
        self.fulfillment_returns: FulfillmentReturns = FulfillmentReturns(self._transport)

    def with_options(
        self,
        *,
        timeout: float | None = _UNSET,
        connect_timeout: float | None = _UNSET,
        deadline: float | None = _UNSET,
        max_retries: int = _UNSET,
        settle: float = _UNSET,
        priority: Priority = _UNSET,
    ) -> Client:
        """A view of this client with other options for every call made through it, creates
        included; options not given stay as they are. It shares the session (no new
        connection pool), limiter, stats, coordinator and known keys; validation is the
        constructor's. ``close()`` on a view closes the shared session: close the client.

        ``priority``: the rate limiter's lane of the view's calls, ``"interactive"`` (a
        client's own calls) or ``"bulk"`` (``bulk_create``'s): bulk calls take only the
        slots interactive ones leave free, so a web request never queues behind a batch job
        that shares the key.

        ``await dr.with_options(timeout=2, max_retries=0).fulfillments.retrieve(id)``
        """
        if priority is not _UNSET and priority not in PRIORITIES:
            raise ValidationError(f"priority must be 'interactive' or 'bulk', got {priority!r}")
        transport = self._transport
        timeout = transport.timeout if timeout is _UNSET else timeout
        connect_timeout = (
            transport.connect_timeout if connect_timeout is _UNSET else connect_timeout
        )
        settle = self.settle if settle is _UNSET else settle
        _check_call_options(
            timeout,
            connect_timeout,
            transport.policy.deadline if deadline is _UNSET else deadline,
            transport.policy.max_retries if max_retries is _UNSET else max_retries,
            settle,
        )
        changes: dict[str, Any] = {}
        if deadline is not _UNSET:
            changes["deadline"] = deadline
        if max_retries is not _UNSET:
            changes["max_retries"] = max_retries
        view = object.__new__(Client)
        view.__dict__.update(self.__dict__)  # a shallow copy, cheaper than copy.copy
        view._transport = transport.with_options(
            timeout=timeout,
            connect_timeout=connect_timeout,
            policy=attrs.evolve(transport.policy, **changes) if changes else transport.policy,
            priority=None if priority is _UNSET else priority,
        )
        view.settle = float(settle)
        creator = self.fulfillments.safe_create
        view.fulfillments = Fulfillments(
            view._transport,
            None if creator is None else creator.with_options(view._transport, view.settle),
        )
        view.fulfillment_returns = FulfillmentReturns(view._transport)
        return view

    @property
    def with_raw_response(self) -> RawClient:
        """The same resources, each method returning ``drfulfill.APIResponse`` (status,
        headers, request id, elapsed, retries, data); ``list`` yields one per page."""
        return RawClient(self.fulfillments, self.fulfillment_returns)

    @property
    def target(self) -> str:
        """Which API this client talks to: base URL and the key's mode, never the key."""
        return self._transport.target

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


def check_base_url(base_url: str) -> str:
    """``base_url`` if it is https, or http to this machine (the key must not travel in
    clear text over a network), with a host and a valid port, and holds no ``@``; else
    ValidationError. A URL holding ``@`` (a user name or password, whatever characters
    the password has) is refused without being shown."""
    if not isinstance(base_url, str):
        raise ValidationError(f"base_url must be a string, got {type(base_url).__name__}")
    if "@" in base_url:
        # A user name or password: the API key is the Authorization header, so they could
        # not be sent (aiohttp refuses both at once) and would show wherever the URL does.
        # Any "@" is refused, not only the userinfo urlsplit finds: a password holding "/",
        # "?" or "#" ends the authority early, so urlsplit would read its start as the host.
        raise ValidationError(
            "base_url must not hold a user name or password (it holds an '@'; not shown);"
            " the API key is sent as the Authorization header"
        )
    try:
        parts = urlsplit(base_url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:  # e.g. an unbalanced "[" in the host, or a port that is no number
        # Not shown: "https://user:pass" (no host) reads "pass" as the port.
        raise ValidationError(
            "base_url must be an http:// or https:// URL with a valid host and port"
            " (not shown: it may hold a password)"
        ) from None
    # From here the URL holds no credentials (no "@", a numeric port): messages may show it.
    problem = ValidationError(f"base_url must be an http:// or https:// URL: {base_url!r}")
    if parts.scheme not in ("http", "https") or not host:
        raise problem
    if parts.scheme == "http" and not is_loopback(host):
        raise ValidationError(
            f"base_url must use https:// (http:// only to 127.0.0.1, ::1 or localhost,"
            f" since the API key would travel in clear text): {base_url!r}"
        )
    return base_url


def check_proxy(proxy: str | None) -> str | None:
    """``proxy`` if it is None or an ``http://``/``https://`` URL with a host; else
    ValidationError (the URL is not echoed: it may hold credentials)."""
    if proxy is None:
        return None
    if not isinstance(proxy, str):
        raise ValidationError(f"proxy must be a string URL, got {type(proxy).__name__}")
    try:
        parts = urlsplit(proxy)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:  # also a password holding "/", "?" or "#": its start read as a port
        host = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ValidationError("proxy must be an http:// or https:// URL with a host")
    return proxy


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: 127.0.0.0/8, ::1 or localhost."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _limiter(
    rate: float | None, api_key: str | None, coordinator: Coordinator | None
) -> Limiter | None:
    """The client's limiter: shared by the fleet with a coordinator, else its own."""
    if rate is None:
        return None
    if coordinator is not None and api_key:
        return coordinator.limiter(api_key, rate)
    return RateLimiter(rate)


def _check_call_options(
    timeout: Any, connect_timeout: Any, deadline: Any, max_retries: Any, settle: Any
) -> None:
    """The options ``with_options`` may change, checked as the constructor checks them."""
    check_seconds("timeout", timeout, positive=True, optional=True)
    check_seconds("connect_timeout", connect_timeout, positive=True, optional=True)
    check_seconds("deadline", deadline, positive=True, optional=True)
    check_count("max_retries", max_retries, minimum=0)
    check_seconds("settle", settle, positive=False)


def _check_idempotency_field(field: str | None) -> None:
    if field is None:
        return
    if not isinstance(field, str) or not field or len(field) > METADATA_MAX_KEY_LENGTH:
        raise ValidationError(
            "idempotency_field must be a non-empty string of at most "
            f"{METADATA_MAX_KEY_LENGTH} characters, or None"
        )
