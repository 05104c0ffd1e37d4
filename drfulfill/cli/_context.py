"""What every command shares: global settings, the client (or the sandbox), logging, errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import click

from .. import Client
from .._constants import (
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_SETTLE,
    DEFAULT_TIMEOUT,
    REQUEST_ID_HEADER,
)
from .._convert import has_utc_offset, parse_datetime
from ..errors import DigitalRiverError, ValidationError

if TYPE_CHECKING:
    from ..testing import Emulator

T = TypeVar("T")

if TYPE_CHECKING:
    ParamType = click.ParamType[Any]  # generic for type checkers (and click >= 8.2 only)
else:
    ParamType = click.ParamType

SANDBOX_KEY = "sk_test_sandbox"
REDIS_URL_ENV = "DRFULFILL_REDIS_URL"
EMULATOR_KEY = "sk_test_emulator"
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

logger = logging.getLogger("drfulfill.cli")


@dataclass(frozen=True)
class Settings:
    """The global options (they come before the sub-command)."""

    api_key: str | None = None
    base_url: str | None = None
    sandbox: bool = False
    verbose: bool = False
    settle: float = DEFAULT_SETTLE
    timeout: float = DEFAULT_TIMEOUT

    def redact(self, text: str) -> str:
        """``text`` with the API key blanked out, in case anything ever echoed it."""
        if self.api_key:
            text = text.replace(self.api_key, "sk_***")
        return text

    def __repr__(self) -> str:
        return f"Settings(base_url={self.base_url!r}, sandbox={self.sandbox})"


class AwareDateTime(ParamType):
    """An ISO 8601 date-time with ``Z`` or an offset; a naive one is refused."""

    name = "DATETIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            parsed = parse_datetime(text)
        except (ValueError, OverflowError):
            self.fail(f"{value!r} is not an ISO 8601 date-time such as 2024-05-01T00:00:00Z")
        # parse_datetime reads a zone-less time as UTC (DR's rule for its own output); on the
        # command line that guess is refused, since people usually mean their local time.
        if not has_utc_offset(text):
            self.fail(
                f"{value!r} has no time zone: add Z for UTC or an offset such as +02:00 "
                "(e.g. 2024-05-01T00:00:00Z)"
            )
        return parsed


class CommandError(click.ClickException):
    """A one-line error on stderr and an exit code (1: the API said no; 2: bad input)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it a ClassVar


@dataclass
class Connection:
    client: Client
    emulator: Emulator | None = None  # the in-process emulator of --sandbox


@dataclass(frozen=True)
class ConnectOptions:
    """What a command adds to the global options when it connects (``drfulfill upload``)."""

    #: ``--redis``: share the key's rate limit, 429 pauses and claims with a fleet.
    redis_url: str | None = None
    #: ``--auto-orders`` (``--sandbox`` only): unknown orders come into being on create.
    auto_orders: bool = False
    #: ``--faults`` (``--sandbox`` only): chance of an injected fault per request.
    faults: float = 0.0

    def __repr__(self) -> str:  # the Redis URL may hold a password
        return f"ConnectOptions(auto_orders={self.auto_orders}, faults={self.faults})"


async def open_coordinator(stack: contextlib.AsyncExitStack, url: str | None) -> Any:
    """``--redis URL``: a ``RedisCoordinator`` that answers, closed with ``stack``; None
    without a URL. Neither message shows the URL (it may hold a password)."""
    if url is None:
        return None
    try:
        from redis.exceptions import RedisError

        from ..redis import RedisCoordinator
    except ImportError:
        raise CommandError(
            "--redis needs the redis extra: pip install 'drfulfill[redis]'", EXIT_USAGE
        ) from None
    try:
        coordinator = await stack.enter_async_context(RedisCoordinator(url))
    except ValueError:
        raise CommandError(
            "--redis must be a redis://, rediss:// or unix:// URL", EXIT_USAGE
        ) from None
    try:
        await coordinator.redis.ping()
    except (RedisError, OSError) as error:
        password = urlsplit(url).password
        reason = f"{type(error).__name__}: {error}"
        if password:
            reason = reason.replace(password, "***")
        raise CommandError(
            f"cannot reach Redis (--redis / {REDIS_URL_ENV}): {reason}; nothing was sent",
            EXIT_FAILED,
        ) from None
    return coordinator


@contextlib.asynccontextmanager
async def connect(
    settings: Settings, options: ConnectOptions = ConnectOptions()
) -> AsyncIterator[Connection]:
    """A client for the configured API, or for a fresh seeded emulator with ``--sandbox``;
    with ``options.redis_url``, one that shares the key's limit with the fleet."""
    async with contextlib.AsyncExitStack() as stack:
        # -v: our own session, so that every request can be logged (method, URL, status).
        session = await stack.enter_async_context(_logging_session()) if settings.verbose else None
        coordinator = await open_coordinator(stack, options.redis_url)
        if not settings.sandbox:
            if not settings.api_key:
                raise CommandError(
                    "no API key: pass --api-key, set DR_API_KEY, or use --sandbox", EXIT_USAGE
                )
            client = Client(
                settings.api_key,
                base_url=settings.base_url,
                session=session,
                settle=settings.settle,
                timeout=settings.timeout,
                coordinator=coordinator,
            )
            yield Connection(await stack.enter_async_context(client))
            return
        from ..testing import Emulator

        emulator = await stack.enter_async_context(
            Emulator(rate_limit=None, auto_orders=options.auto_orders)
        )
        # The embedded emulator commits at once and its lists never lag: a short settle.
        client = Client(
            SANDBOX_KEY,
            base_url=emulator.url,
            rate_limit=None,
            session=session,
            settle=0.2,
            coordinator=coordinator,
        )
        await stack.enter_async_context(client)
        await seed_sandbox(emulator, client)
        emulator.fault_rate = options.faults  # after the sample data, which meets none
        logger.info("sandbox: an in-process emulator on %s", emulator.url)
        yield Connection(client, emulator)


def _logging_session() -> aiohttp.ClientSession:
    """A session like the Client's own, with a trace that logs each request at DEBUG."""
    trace = aiohttp.TraceConfig()

    async def on_request_end(
        _session: aiohttp.ClientSession, _context: object, params: aiohttp.TraceRequestEndParams
    ) -> None:
        response = params.response
        logger.debug(
            "%s %s -> %s (request id %s)",
            params.method,
            params.url,
            response.status,
            response.headers.get(REQUEST_ID_HEADER),
        )

    trace.on_request_end.append(on_request_end)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=DEFAULT_CONNECTION_LIMIT), trace_configs=[trace]
    )


async def seed_sandbox(emulator: Emulator, client: Client) -> None:
    """Deterministic data for ``--sandbox``: six orders, a fulfillment each, one return."""
    seeded = emulator.seed(orders=6, items_per_order=2, quantity=5, fulfillment_orders=2)
    for number, order_id in enumerate(seeded.orders):
        first_item = emulator.orders[order_id]["items"][0]["id"]
        await client.fulfillments.create(
            order_id=order_id,
            items=[{"item_id": first_item, "quantity": 2}],
            tracking_company="UPS" if number % 2 else "FedEx",
            tracking_number=f"1ZSANDBOX{number:04d}",
            key=f"sandbox-{number}",
        )
    fulfillment_order = emulator.fulfillment_orders[seeded.fulfillment_orders[0]]
    created = await client.fulfillment_returns.create(
        fulfillment_order_id=fulfillment_order["id"],
        upstream_id=fulfillment_order["upstreamId"],
        items=[{"fulfillment_order_item_id": fulfillment_order["items"][0]["id"], "quantity": 1}],
        reason="requested_by_customer",
    )
    emulator.advance_return(str(created.id), "pending")


class _Redact(logging.Filter):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        if self._settings.api_key:
            record.msg = self._settings.redact(record.getMessage())
            record.args = None
        return True


@contextlib.contextmanager
def logging_configured(settings: Settings) -> Iterator[None]:
    """``-v``: the ``drfulfill`` logger at DEBUG on stderr (key redacted). Otherwise the
    SDK's retry warnings are kept off the terminal (the summaries count them)."""
    logger = logging.getLogger("drfulfill")
    if settings.verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_Redact(settings))
    else:
        handler = logging.NullHandler()
    old_level = logger.level
    logger.addHandler(handler)
    if settings.verbose:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def run(settings: Settings, body: Awaitable[T]) -> T:
    """Run a command's async body; SDK errors become a one-line message and an exit code."""
    with logging_configured(settings):
        try:
            return asyncio.run(body)  # type: ignore[arg-type]
        except ValidationError as error:
            raise CommandError(settings.redact(str(error)), EXIT_USAGE) from None
        except DigitalRiverError as error:
            raise CommandError(
                settings.redact(f"{type(error).__name__}: {error}"), EXIT_FAILED
            ) from None


def stderr_console() -> Any:
    """A rich console on stderr (for messages, progress and summaries). It never wraps a
    line: an error line stays one greppable line whatever the terminal's width."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def settings_of(ctx: click.Context) -> Settings:
    """The global options of the running command."""
    settings: Settings | None = ctx.find_object(Settings)
    return settings or Settings()


def run_with_client(
    ctx: click.Context,
    body: Callable[[Connection], Awaitable[T]],
    options: ConnectOptions = ConnectOptions(),
) -> T:
    """Run ``body`` with a connection made from the global options (and ``options``)."""
    settings = settings_of(ctx)

    async def main() -> T:
        async with connect(settings, options) as connection:
            return await body(connection)

    return run(settings, main())
