"""The safe-create component: every ``POST /fulfillments`` of the SDK goes through here.

``SafeCreator.create`` runs the protocol's one loop: it carries out what the pure decision
core (``_safecreate_core.decide``) says - send, look the key up, wait, return or raise - so
sends and every lookup page share one attempt budget and one deadline. ``Fulfillments.create``,
``bulk_create`` and the CLI all use it; ``bulk_create`` talks to nothing else of the resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from . import _telemetry
from ._constants import KNOWN_KEYS_CACHE_SIZE, METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from ._convert import decoder, structure, unstructure
from ._coordination import Claim, ClaimStore, Priority
from ._retry import attempt_timeout
from ._safecreate_core import (
    Action,
    Created,
    Event,
    LookedUp,
    LookUp,
    LookupFailed,
    Raise,
    Return,
    Send,
    SendFailed,
    State,
    content_mismatch,
    decide,
    key_reuse_error,
    start,
    unsettled_error,
)
from ._session import Transport
from ._wire import Query, encode_path
from .errors import APITimeoutError, DigitalRiverError, ValidationError
from .models import CreatedTime, Fulfillment, FulfillmentRequest, from_mapping
from .pagination import AsyncPager

logger = logging.getLogger("drfulfill")

PATH = "/fulfillments"
_LOOKUP_PAGE_SIZE = 100


def as_fulfillment_request(request: FulfillmentRequest | Mapping[str, Any]) -> FulfillmentRequest:
    """A FulfillmentRequest from itself or from a dict with the same snake_case keys."""
    if isinstance(request, FulfillmentRequest):
        return request
    return from_mapping(FulfillmentRequest, request)


def decode_fulfillment(raw: Mapping[str, Any]) -> Fulfillment:
    return structure(raw, Fulfillment)


def stamp_key(body: dict[str, Any], field: str, key: str | None, new_key: str) -> str:
    """Put the safe-create key into the wire body's metadata; return the key used.

    ``key`` is the caller's, if any; a key already in the metadata is used when the caller
    gave none; ``new_key`` otherwise.
    """
    metadata = dict(body.get("metadata") or {})
    existing = metadata.get(field)
    if existing is not None and key is not None and existing != key:
        raise ValidationError(f"metadata[{field!r}] is {existing!r} but key is {key!r}")
    key = key if key is not None else existing if existing is not None else new_key
    check_key(key)
    metadata[field] = key
    if len(metadata) > METADATA_MAX_KEYS:
        raise ValidationError(
            f"metadata has {len(metadata) - 1} keys and the safe-create key "
            f"{field!r} makes it more than DR's {METADATA_MAX_KEYS}; drop one, or pass "
            "idempotency_field=None to the Client"
        )
    body["metadata"] = metadata
    return key


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > METADATA_MAX_VALUE_LENGTH:
        raise ValidationError(
            f"key must be a non-empty string of at most {METADATA_MAX_VALUE_LENGTH} characters, "
            f"got {key!r}"
        )
    return key


@attrs.frozen
class CreateOptions:
    """How much ``SafeCreator.create`` may assume about a key.

    :ivar verified: the caller has just looked the key up and it was not there (a random
        key is verified by construction): the first step is a send, not a lookup (unless
        ``doubt_since`` is set).
    :ivar shared: other processes may create with the same key (a caller's or a bulk row's
        key), so a fleet claim guards it (when the client has a coordinator).
    :ivar doubt_since: a ``SafeCreator.clock()`` reading since which an earlier create with
        this key may be landing (a journal's 'started' row), so lookups must span the
        settle window from then.
    """

    verified: bool = False
    shared: bool = True
    doubt_since: float | None = None


_DEFAULT_OPTIONS = CreateOptions()


@attrs.frozen
class Outcome:
    """What ``SafeCreator.create_or_find`` did.

    :ivar fulfillment: the fulfillment that carries the key.
    :ivar found: True when it existed before this call sent anything (made by an earlier
        run or another process, or already known to this client).
    """

    fulfillment: Fulfillment
    found: bool


class SafeCreator:
    """Creates fulfillments exactly once, under late commits, lagging lists and fleets.

    Public for ``bulk_create`` (``client.fulfillments.safe_create``): ``create``,
    ``create_or_find``, ``check``, ``find``, ``keys_of_order``, ``sweep``, ``clock``,
    ``field``, ``settle`` and ``target``. Built by the client; not built directly.

    :param transport: the client's request funnel.
    :param field: the metadata field that carries the key (the client's
        ``idempotency_field``); also the attribute ``field``.
    :param settle: seconds a doubtful create (timed out, dropped, 5xx) is given to show
        up in DR's lists before it is sent again (the client's ``settle``); also the
        attribute ``settle``.
    :param claims: the fleet's claim store (from ``Client(coordinator=...)``), or None.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        field: str,
        settle: float,
        claims: ClaimStore | None = None,
    ) -> None:
        self._transport = transport
        self.field = field
        self.settle = settle
        self._claims = claims
        # Keys this client created or found, so a key it made itself costs nothing.
        self._known: OrderedDict[str, Fulfillment] = OrderedDict()
        # Creates in progress, joined by a second call with the same key.
        self._in_flight: dict[str, asyncio.Future[Outcome]] = {}
        # Keys whose last create ended (raised or was cancelled) with a send in doubt, and
        # since when: the next create of such a key waits out its settle window first.
        self._doubts: OrderedDict[str, float] = OrderedDict()

    def with_options(self, transport: Transport, settle: float) -> SafeCreator:
        """A view for ``Client.with_options``: another transport and settle window, the
        same claims and known keys."""
        view = object.__new__(SafeCreator)
        view.__dict__.update(self.__dict__)  # a shallow copy, cheaper than copy.copy
        view._transport = transport
        view.settle = settle
        return view

    # --- priority lanes (issue 21): bulk_create marks its traffic ---------------------------

    def with_priority(self, priority: Priority) -> SafeCreator:
        """This component with its requests in the rate limiter's ``priority`` lane
        (``bulk_create`` uses ``"bulk"``); the same claims, known keys and settle window."""
        return self.with_options(self._transport.with_priority(priority), self.settle)

    # -------------------------------------------------------------------------------------

    def clock(self) -> float:
        """The clock the protocol's deadlines and settle windows are read on.

        :returns: the transport's monotonic reading, in seconds.
        """
        return self._transport.clock()

    @property
    def target(self) -> str:
        """Which API creates go to: base URL and the key's mode, never the key."""
        return self._transport.target

    async def create(
        self,
        request: FulfillmentRequest,
        key: str,
        *,
        options: CreateOptions = _DEFAULT_OPTIONS,
    ) -> Fulfillment:
        """Create ``request`` under ``key`` exactly once; return the fulfillment.

        :param request: what to create.
        :param key: the safe-create key, stored in ``metadata[field]``.
        :param options: what the caller already knows about the key (``CreateOptions``).
        :returns: the fulfillment created, or the one found already carrying ``key``.
        :raises KeyReuseError: as for ``create_or_find``; so are the other errors.
        """
        return (await self.create_or_find(request, key, options=options)).fulfillment

    async def create_or_find(
        self,
        request: FulfillmentRequest,
        key: str,
        *,
        options: CreateOptions = _DEFAULT_OPTIONS,
        slots: asyncio.Semaphore | None = None,
    ) -> Outcome:
        """Create ``request`` under ``key`` exactly once, or find the fulfillment that has.

        A call for a key this client is creating already joins that call. A key whose last
        create here raised or was cancelled with its outcome unknown is treated as a
        doubtful create: lookups span the settle window from that send before any resend.

        :param request: what to create.
        :param key: the safe-create key, stored in ``metadata[field]``.
        :param options: what the caller already knows about the key (``CreateOptions``).
        :param slots: bounds requests in flight (bulk): held for each request (its wait for
            the rate limiter included), never for a backoff or settle wait.
        :returns: an ``Outcome``: the fulfillment, and ``found`` when it existed before this
            call sent anything.
        :raises KeyReuseError: when ``key`` names a fulfillment with different content.
        :raises CoordinationError: when the fleet's claim store fails; nothing was sent.
        :raises APITimeoutError: (``sent=False``) when another process holds the key's claim
            past the call's deadline.
        :raises DigitalRiverError: the create's own error (an ``APIError``,
            ``APIConnectionError``, ...) when its outcome could not be settled.
        """
        while True:
            known = self._known.get(key)
            if known is not None:
                return Outcome(self._checked(request, key, known), found=True)
            running = self._in_flight.get(key)
            if running is None:
                break
            # The same key is being created by another call of this client: join it.
            with contextlib.suppress(Exception):  # it failed: go on with our own attempt
                outcome = await asyncio.shield(running)
                return Outcome(self._checked(request, key, outcome.fulfillment), found=True)
        doubt = self._doubts.pop(key, None)
        if doubt is not None:  # an earlier call with this key ended with its send in doubt
            since = doubt if options.doubt_since is None else min(doubt, options.doubt_since)
            options = CreateOptions(verified=False, shared=options.shared, doubt_since=since)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve_outcome)
        self._in_flight[key] = future
        try:
            outcome = await self._claimed(request, key, options, slots)
        except BaseException as error:
            # A joiner treats any Exception as "go on with your own attempt"; cancelling the
            # future instead would end the joiner's task cancelled, though nobody cancelled it.
            future.set_exception(
                error if isinstance(error, Exception) else _Abandoned(f"create of {key} ended")
            )
            raise
        else:
            future.set_result(outcome)
            return outcome
        finally:
            del self._in_flight[key]

    async def _claimed(
        self,
        request: FulfillmentRequest,
        key: str,
        options: CreateOptions,
        slots: asyncio.Semaphore | None,
    ) -> Outcome:
        """The create under a fleet claim, when the key may be shared and there is a fleet."""
        body = unstructure(request)
        stamp_key(body, self.field, key, key)
        claim: Claim | None = None
        if options.shared and self._claims is not None:
            claim = await self._claims.acquire(key, max_wait=self._transport.policy.deadline)
            if claim.done_id is not None:
                done = await self._retrieve(claim.done_id)
                return Outcome(self._remember(key, self._checked(request, key, done)), True)
            if claim.taken_over:  # its holder died: it may have sent the create
                options = CreateOptions(shared=True, doubt_since=self._transport.clock())
        try:
            outcome = await self._run(request, key, body, options, slots)
        except BaseException:
            if claim is not None:
                await _shielded(claim.release(None))
            raise
        if claim is not None:
            await _shielded(claim.release(outcome.fulfillment.id))
        self._remember(key, outcome.fulfillment)
        return outcome

    async def _run(
        self,
        request: FulfillmentRequest,
        key: str,
        body: dict[str, Any],
        options: CreateOptions,
        slots: asyncio.Semaphore | None,
    ) -> Outcome:
        transport = self._transport
        state = State(
            request=request,
            key=key,
            policy=transport.policy,
            settle=self.settle,
            started=transport.clock(),
            doubt_since=options.doubt_since,
            doubt=None if options.doubt_since is None else unsettled_error(key),
            shared=options.shared,
        )
        sends = _SendClock()
        send = transport.prepare("POST", PATH, body=body, started=state.started, on_send=sends.sent)
        with _telemetry.observe_call("POST", transport.url_for(PATH)):
            return await self._loop(request, key, state, send, sends, slots, options)

    async def _loop(
        self,
        request: FulfillmentRequest,
        key: str,
        state: State,
        send: Any,
        sends: _SendClock,
        slots: asyncio.Semaphore | None,
        options: CreateOptions,
    ) -> Outcome:
        transport = self._transport
        action: Action = start(state, look_first=not options.verified)
        try:
            while True:
                if isinstance(action, Return):
                    if action.reconciled:
                        transport.stats.reconciled += 1
                        logger.warning(
                            "create for order %s had been applied although it failed: "
                            "found %s by key %s",
                            request.order_id,
                            action.fulfillment.id,
                            key,
                        )
                    return Outcome(action.fulfillment, found=action.found)
                if isinstance(action, Raise):
                    raise action.error from action.cause
                if action.wait > 0:
                    logger.warning(
                        "%s for order %s (key %s) in %.3fs: %s",
                        "resending" if isinstance(action, Send) else "looking up the create",
                        request.order_id,
                        key,
                        action.wait,
                        state.doubt or state.refusal or "waiting",
                    )
                    await transport.sleep(action.wait)
                event: Event
                if isinstance(action, Send):
                    if action.resend:
                        transport.stats.recreated += 1
                    state = attrs.evolve(state, sends=state.sends + 1)
                    sends.at = None
                    try:
                        raw = await self._attempt(send, state.started, slots)
                        event = Created(decode_fulfillment(raw))
                    except DigitalRiverError as error:
                        # The settle window counts from when the request went out, after
                        # any wait for the rate limiter or a request slot.
                        sent_at = transport.clock() if sends.at is None else sends.at
                        event = SendFailed(error, sent_at)
                    sends.waiting = False
                else:
                    assert isinstance(action, LookUp)
                    looked_at = transport.clock()
                    try:
                        found = await self._find_once(request.order_id, key, state.started, slots)
                        event = LookedUp(found, looked_at)
                    except DigitalRiverError as error:
                        event = LookupFailed(error)
                state, action = decide(state, event, transport.clock(), transport.random)
        except BaseException:
            # Raised with a send in doubt, or cancelled while a send awaited its answer: the
            # next create of this key must not trust a lookup made before that send settles.
            doubt_since = state.doubt_since
            if sends.waiting and sends.at is not None:
                doubt_since = sends.at if doubt_since is None else min(doubt_since, sends.at)
            if doubt_since is not None:
                self._note_doubt(key, doubt_since)
            raise

    def _note_doubt(self, key: str, since: float) -> None:
        self._doubts[key] = since
        self._doubts.move_to_end(key)
        if len(self._doubts) > KNOWN_KEYS_CACHE_SIZE:
            self._doubts.popitem(last=False)

    async def _attempt(
        self,
        send: Any,
        started: float,
        slots: asyncio.Semaphore | None,
    ) -> dict[str, Any]:
        """One request of the loop, its timeout cut to what is left of the deadline."""
        transport = self._transport
        async with slots if slots is not None else contextlib.nullcontext():
            elapsed = transport.clock() - started
            deadline = transport.policy.deadline
            if deadline is not None and elapsed >= deadline:
                raise APITimeoutError(
                    f"the create's deadline of {deadline:g}s has passed", sent=False
                )
            result: dict[str, Any] = await send(
                attempt_timeout(transport.policy, transport.timeout, elapsed)
            )
            return result

    async def _find_once(
        self, order_id: str, key: str, started: float, slots: asyncio.Semaphore | None
    ) -> Fulfillment | None:
        """One lookup, every page a single attempt of the create's loop."""
        transport = self._transport

        def fetch(query: Query) -> Any:
            send = transport.prepare("GET", PATH, query=query, started=started)
            return self._attempt(send, started, slots)

        pager = AsyncPager(fetch, decoder(Fulfillment), [("orderId", order_id)], limit=100)
        async for fulfillment in pager:
            if _key_of(fulfillment, self.field) == key:
                return fulfillment
        return None

    async def find(self, order_id: str, key: str) -> Fulfillment | None:
        """The order's fulfillment carrying ``key``, if any (retried like any GET).

        :param order_id: the order to look in.
        :param key: the safe-create key.
        :returns: the fulfillment, or None.
        :raises DigitalRiverError: the list call's error, once its retries are spent.
        """
        return (await self.keys_of_order(order_id)).get(key)

    async def keys_of_order(self, order_id: str) -> dict[str, Fulfillment]:
        """Every safe-create key among the order's fulfillments: one lookup for all rows
        of an order.

        :param order_id: the order to list.
        :returns: key -> the first fulfillment listed with it (the newest).
        :raises DigitalRiverError: the list call's error, once its retries are spent.
        """
        return await self._collect_keys([("orderId", order_id)])

    async def sweep(self, since: datetime) -> dict[str, Fulfillment]:
        """Every safe-create key on fulfillments created at or after ``since``.

        :param since: a timezone-aware datetime.
        :returns: key -> the first fulfillment listed with it (the newest).
        :raises ValidationError: when ``since`` is not timezone-aware.
        :raises DigitalRiverError: the list call's error, once its retries are spent.
        """
        return await self._collect_keys(CreatedTime(gte=since).to_query())

    async def _collect_keys(self, filters: Query) -> dict[str, Fulfillment]:
        keys: dict[str, Fulfillment] = {}
        async for fulfillment in self._list(filters):
            key = _key_of(fulfillment, self.field)
            if key is not None:
                keys.setdefault(key, fulfillment)
        return keys

    def _list(self, filters: Query) -> AsyncIterator[Fulfillment]:
        transport = self._transport
        return aiter(
            AsyncPager(
                lambda query: transport.request("GET", PATH, query=query),
                decoder(Fulfillment),
                filters,
                limit=_LOOKUP_PAGE_SIZE,
            )
        )

    async def _retrieve(self, fulfillment_id: str) -> Fulfillment:
        path = encode_path("fulfillments", fulfillment_id)
        return decode_fulfillment(await self._transport.request("GET", path))

    def check(self, request: FulfillmentRequest, key: str, found: Fulfillment) -> Fulfillment:
        """``found`` if it is what ``request`` creates (same order, items and quantities).

        :param request: the request made under ``key``.
        :param key: the safe-create key, for the error's message.
        :param found: the fulfillment that carries ``key``.
        :returns: ``found``.
        :raises KeyReuseError: when ``found`` has other content.
        """
        return self._checked(request, key, found)

    def _checked(self, request: FulfillmentRequest, key: str, found: Fulfillment) -> Fulfillment:
        mismatch = content_mismatch(request, found)
        if mismatch is not None:
            raise key_reuse_error(key, found, mismatch)
        return found

    def _remember(self, key: str, fulfillment: Fulfillment) -> Fulfillment:
        self._known[key] = fulfillment
        self._known.move_to_end(key)
        if len(self._known) > KNOWN_KEYS_CACHE_SIZE:
            self._known.popitem(last=False)
        return fulfillment


def _key_of(fulfillment: Fulfillment, field: str) -> str | None:
    value = (fulfillment.metadata or {}).get(field)
    return value if isinstance(value, str) else None


class _Abandoned(Exception):
    """What joiners of a create see when that create was cancelled (or interrupted)."""


def _retrieve_outcome(future: asyncio.Future[Outcome]) -> None:
    """Mark a joined create's failure as seen: its caller raises it already."""
    if not future.cancelled():
        future.exception()


@attrs.define
class _SendClock:
    """When the current send went out (after the limiter let it go), and whether it is still
    waiting for its answer."""

    at: float | None = None
    waiting: bool = False

    def sent(self, now: float) -> None:
        self.at = now
        self.waiting = True


async def _shielded(release: Any) -> None:
    """Release a claim even when the create was cancelled."""
    task = asyncio.ensure_future(release)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
