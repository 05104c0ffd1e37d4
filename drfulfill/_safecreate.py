"""The safe-create component: every ``POST /fulfillments`` of the SDK goes through here.

``SafeCreator.create_or_find`` runs the protocol's one loop: it carries out what the pure
decision core (``_safecreate_core.decide``) says - send, look the key up, wait, return or
raise - so sends and every lookup page share one attempt budget and one deadline (decided
by ``_retry.next_wait``, the rule the request funnel gives tenacity). In a fleet each send
is fenced by the key's claim. ``Fulfillments.create``, ``bulk_create`` and the CLI all use
it; ``bulk_create`` talks to nothing else of the resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from . import _telemetry
from ._constants import KNOWN_KEYS_CACHE_SIZE
from ._convert import decoder, structure, unstructure
from ._coordination import Claim, ClaimStore, Priority
from ._keymemory import Doubts, KnownKey, KnownKeys
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
    content_digest,
    content_lines,
    content_mismatch,
    decide,
    describe_lines,
    in_doubt,
    key_reuse_error,
    left_in_doubt,
    start,
    unsettled_error,
)
from ._safecreate_keys import PATH, ClientMemory, KeyLookups, check_key, key_of, stamp_key
from ._safecreate_options import CreateOptions, Outcome, later, with_claim
from ._session import Transport
from ._wire import Query, encode_path
from .errors import APITimeoutError, DigitalRiverError, KeyReuseError
from .models import Fulfillment, FulfillmentRequest, from_mapping
from .pagination import AsyncPager

__all__ = [
    "PATH",
    "CreateOptions",
    "Outcome",
    "SafeCreator",
    "as_fulfillment_request",
    "check_key",
    "decode_fulfillment",
    "stamp_key",
]

logger = logging.getLogger("drfulfill")


def as_fulfillment_request(request: FulfillmentRequest | Mapping[str, Any]) -> FulfillmentRequest:
    """A FulfillmentRequest from itself or from a dict with the same snake_case keys."""
    if isinstance(request, FulfillmentRequest):
        return request
    return from_mapping(FulfillmentRequest, request)


def decode_fulfillment(raw: Mapping[str, Any]) -> Fulfillment:
    return structure(raw, Fulfillment)


_DEFAULT_OPTIONS = CreateOptions()


class SafeCreator:
    """Creates fulfillments exactly once, under late commits, lagging lists and fleets.

    Public for ``bulk_create`` (``client.fulfillments.safe_create``): ``create``,
    ``create_or_find``, ``check``, ``find``, ``keys_of_order``, ``sweep``,
    ``coordinated``, ``knows``, ``doubt_since``, ``sending``, ``with_priority``,
    ``clock``, ``field``,
    ``settle`` and ``target``. Built by the client; not built directly.

    :param transport: the client's request funnel.
    :param field: the metadata field that carries the key (the client's
        ``idempotency_field``); also the attribute ``field``.
    :param settle: seconds a send whose outcome is unknown is given, from when that became
        so, to show up in DR's lists before the create is sent again (the client's
        ``settle``); also the attribute ``settle``.
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
        # Keys this client created or found (id and content), so a repeat costs one GET.
        self._known = KnownKeys(KNOWN_KEYS_CACHE_SIZE)
        # Creates in progress, joined by a second call with the same key.
        self._in_flight: dict[str, asyncio.Future[Outcome]] = {}
        # Keys whose last create ended (raised or was cancelled) with a send in doubt, and
        # from when it may land: the next create of such a key waits out its window first.
        self._doubts = Doubts(KNOWN_KEYS_CACHE_SIZE)
        # Keys whose create is out, with no answer yet.
        self._sending: set[str] = set()
        self._lookups = KeyLookups(transport, field)
        # What a fleet memory load reads: shared by every view (see ClientMemory).
        self._memory = ClientMemory(self._lookups, _longest_send(transport), settle)

    def with_options(self, transport: Transport, settle: float) -> SafeCreator:
        """A view for ``Client.with_options``: another transport and settle window, the
        same claims, known keys and doubts."""
        view = object.__new__(SafeCreator)
        view.__dict__.update(self.__dict__)  # a shallow copy, cheaper than copy.copy
        view._transport = transport
        view._lookups = KeyLookups(transport, self.field)
        view.settle = settle
        self._memory.widen(_longest_send(transport), settle)
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

    @property
    def coordinated(self) -> bool:
        """Whether a fleet's claim store records doubts beyond this client."""
        return self._claims is not None

    def knows(self, key: str) -> bool:
        """Whether this client created or found a fulfillment with ``key`` (and still
        remembers it: the cache keeps the latest 10,000 keys)."""
        return self._known.get(key) is not None

    def doubt_since(self, key: str) -> float | None:
        """From when a send of ``key`` by this client may still land, if its last create
        here ended with the outcome unknown (and no create of the key has settled it since).

        :param key: the safe-create key.
        :returns: a ``clock()`` reading (maybe long past: then a lookup settles it), or None.
        """
        return self._doubts.since(key)

    def sending(self, key: str) -> bool:
        """Whether a create of ``key`` by this client is out, with no answer yet.

        :param key: the safe-create key.
        """
        return key in self._sending

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

        A call for a key this client is creating already joins that call. A key this
        client created or found before costs one GET by id. A key whose last create here
        (or, in a fleet, anywhere) ended with its outcome unknown is looked up across the
        settle window from then before any send. In a fleet, the key's claim is confirmed
        in Redis just before each send.

        :param request: what to create.
        :param key: the safe-create key, stored in ``metadata[field]``.
        :param options: what the caller already knows about the key (``CreateOptions``).
        :param slots: bounds requests in flight (bulk): held for each request (its wait for
            the rate limiter included), never for a backoff or settle wait.
        :returns: an ``Outcome``: the fulfillment, and ``found`` when it existed before this
            call sent anything.
        :raises KeyReuseError: when ``key`` names a fulfillment with different content.
        :raises CoordinationError: when the fleet's claim store fails, or the claim was
            lost before a send; nothing was sent then.
        :raises APITimeoutError: (``sent=False``) when another process holds the key's claim
            past the call's deadline.
        :raises DigitalRiverError: the create's own error (an ``APIError``,
            ``APIConnectionError``, ...) when its outcome could not be settled.
        """
        started = self.clock()
        while True:
            known = self._known.get(key)
            if known is not None:
                fulfillment = await self._known_fulfillment(request, key, known, started)
                return Outcome(fulfillment, found=True)
            running = self._in_flight.get(key)
            if running is None:
                break
            # The same key is being created by another call of this client: join it.
            with contextlib.suppress(Exception):  # it failed: go on with our own attempt
                outcome = await asyncio.shield(running)
                return Outcome(self._checked(request, key, outcome.fulfillment), found=True)
        doubt = self.doubt_since(key)
        if doubt is not None:  # an earlier call with this key ended with its send in doubt
            options = attrs.evolve(
                options, verified=False, doubt_since=later(options.doubt_since, doubt)
            )
        if options.doubt_since is not None:
            # Kept until this call settles it, whatever stops the call (a claim that cannot
            # be had, a cancellation): the doubt is a fact about the key, not about the call.
            self._note_doubt(key, options.doubt_since)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve_outcome)
        self._in_flight[key] = future
        try:
            outcome = await self._claimed(request, key, options, slots, started)
        except BaseException as error:
            # A joiner treats any Exception as "go on with your own attempt"; cancelling the
            # future instead would end the joiner's task cancelled, though nobody cancelled it.
            future.set_exception(
                error if isinstance(error, Exception) else _Abandoned(f"create of {key} ended")
            )
            raise
        else:
            future.set_result(outcome)
            self._doubts.forget(key)
            return outcome
        finally:
            del self._in_flight[key]

    def _note_doubt(self, key: str, since: float) -> None:
        self._doubts.note(key, since, now=self.clock(), settle=self.settle)

    async def _known_fulfillment(
        self, request: FulfillmentRequest, key: str, known: KnownKey, started: float
    ) -> Fulfillment:
        """The fulfillment this client created or found with ``key``: one GET by id."""
        if known.content != content_digest(request):
            raise KeyReuseError(
                f"key {key!r} was used for different content: fulfillment "
                f"{known.fulfillment_id} does not have order {request.order_id!r} with items "
                f"{describe_lines(content_lines(request))}",
                key=key,
                fulfillment_id=known.fulfillment_id,
            )
        return self._checked(request, key, await self._retrieve(known.fulfillment_id, started))

    async def _claimed(
        self,
        request: FulfillmentRequest,
        key: str,
        options: CreateOptions,
        slots: asyncio.Semaphore | None,
        started: float,
    ) -> Outcome:
        """The create under a fleet claim, when the key may be shared and there is a fleet."""
        body = unstructure(request)
        stamp_key(body, self.field, key, key)
        claim: Claim | None = None
        if options.shared and self._claims is not None:
            claim = await self._claims.acquire(
                key, max_wait=self._left(started), memory=self._memory
            )
            if claim.done_id is not None:
                done = await self._retrieve(claim.done_id, started)
                return Outcome(self._remember(key, self._checked(request, key, done)), True)
            options = with_claim(options, claim)
            if options.doubt_since is not None:  # inherited from the fleet: kept here too,
                self._note_doubt(key, options.doubt_since)  # whatever ends the call first
        try:
            outcome = await self._run(request, key, body, options, slots, started, claim)
        except BaseException:
            if claim is not None:
                await _shielded(
                    claim.release(
                        None, doubt_since=self.doubt_since(key), max_wait=self._left(started)
                    )
                )
            raise
        # Remembered first: a cancellation during the release must not lose that it exists.
        self._remember(key, outcome.fulfillment)
        if claim is not None:
            await _shielded(claim.release(outcome.fulfillment.id, max_wait=self._left(started)))
        return outcome

    async def _run(
        self,
        request: FulfillmentRequest,
        key: str,
        body: dict[str, Any],
        options: CreateOptions,
        slots: asyncio.Semaphore | None,
        started: float,
        claim: Claim | None,
    ) -> Outcome:
        transport = self._transport
        state = State(
            request=request,
            key=key,
            policy=transport.policy,
            settle=self.settle,
            started=started,
            shared=options.shared,
            applied=options.exists,
        )
        if options.doubt_since is not None or options.exists:
            since = options.doubt_since if options.doubt_since is not None else self.clock()
            state = in_doubt(state, since, unsettled_error(key))
        sending = _Sending(key, self._sending, claim, lambda: self._left(started))
        send = transport.prepare(
            "POST", PATH, body=body, started=started, before_send=sending.before_send
        )
        with _telemetry.observe_call("POST", transport.url_for(PATH)):
            return await self._loop(request, key, state, send, sending, slots, options)

    async def _loop(
        self,
        request: FulfillmentRequest,
        key: str,
        state: State,
        send: Callable[[float | None], Awaitable[dict[str, Any]]],
        sending: _Sending,
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
                        "sending the create"
                        if isinstance(action, Send)
                        else "looking up the create",
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
                    try:
                        raw = await self._attempt(send, state.started, slots)
                        event = Created(decode_fulfillment(raw))
                    except DigitalRiverError as error:
                        # The settle window counts from when the failure was seen: until
                        # then the request may still have been on its way or in process.
                        event = SendFailed(error, transport.clock())
                    # Not reset when cancelled: the handler below needs to know.
                    sending.done()
                else:
                    assert isinstance(action, LookUp)
                    looked_at = transport.clock()
                    try:
                        found = await self._find_once(request.order_id, key, state.started, slots)
                        event = LookedUp(found, looked_at)
                    except DigitalRiverError as error:
                        event = LookupFailed(error)
                state, action = decide(state, event, transport.clock(), transport.random)
        except KeyReuseError:
            # The key is on a fulfillment (of other content): whatever was in doubt has
            # landed, and no create of this key will be sent again.
            self._doubts.forget(key)
            raise
        except BaseException:
            # Raised with a send in doubt, or cancelled while a send awaited its answer: the
            # next create of this key must not trust a lookup made before that send settles.
            since = left_in_doubt(state)
            if sending.active:
                since = later(since, transport.clock())
                sending.done()
            if since is not None:
                self._note_doubt(key, since)
            raise

    async def _attempt(
        self,
        send: Callable[[float | None], Awaitable[dict[str, Any]]],
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
            return await send(attempt_timeout(transport.policy, transport.timeout, elapsed))

    async def _find_once(
        self, order_id: str, key: str, started: float, slots: asyncio.Semaphore | None
    ) -> Fulfillment | None:
        """One lookup, every page a single attempt of the create's loop."""
        transport = self._transport

        def fetch(query: Query) -> Awaitable[dict[str, Any]]:
            send = transport.prepare("GET", PATH, query=query, started=started)
            return self._attempt(send, started, slots)

        pager = AsyncPager(fetch, decoder(Fulfillment), [("orderId", order_id)], limit=100)
        # Closed here when the key is found early, not whenever it is collected.
        async with contextlib.aclosing(aiter(pager)) as fulfillments:
            async for fulfillment in fulfillments:
                if key_of(fulfillment, self.field) == key:
                    return fulfillment
        return None

    async def find(self, order_id: str, key: str) -> Fulfillment | None:
        """The order's fulfillment carrying ``key``, if any (retried like any GET).

        :param order_id: the order to look in.
        :param key: the safe-create key.
        :returns: the fulfillment, or None.
        :raises DigitalRiverError: the list call's error, once its retries are spent.
        """
        return (await self._lookups.keys_of_order(order_id)).get(key)

    async def keys_of_order(self, order_id: str) -> dict[str, Fulfillment]:
        """Every safe-create key among the order's fulfillments (``KeyLookups``)."""
        return await self._lookups.keys_of_order(order_id)

    async def sweep(self, since: datetime) -> dict[str, Fulfillment]:
        """Every safe-create key on fulfillments created at or after ``since``
        (``KeyLookups``)."""
        return await self._lookups.sweep(since)

    async def _retrieve(self, fulfillment_id: str, started: float) -> Fulfillment:
        """The fulfillment by id, within the deadline of the create that began at
        ``started``."""
        path = encode_path("fulfillments", fulfillment_id)
        return decode_fulfillment(await self._transport.request("GET", path, started=started))

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
        self._known.add(key, KnownKey(fulfillment.id, content_digest(fulfillment)))
        return fulfillment

    def _left(self, started: float) -> float | None:
        """Seconds left of a call that started at ``started`` (None: no deadline)."""
        deadline = self._transport.policy.deadline
        return None if deadline is None else max(0.0, started + deadline - self.clock())


class _Abandoned(Exception):
    """What joiners of a create see when that create was cancelled (or interrupted)."""


def _retrieve_outcome(future: asyncio.Future[Outcome]) -> None:
    """Mark a joined create's failure as seen: its caller raises it already."""
    if not future.cancelled():
        future.exception()


class _Sending:
    """The hook the funnel awaits just before each send of a create: the fleet's fence,
    and whether a send is out with no answer yet (a cancellation then leaves it in doubt)."""

    def __init__(
        self,
        key: str,
        out: set[str],
        claim: Claim | None,
        left: Callable[[], float | None],
    ) -> None:
        self._key = key
        self._out = out
        self._claim = claim
        self._left = left
        self.active = False

    async def before_send(self, timeout: float | None) -> None:
        if self._claim is not None:
            await self._claim.fence(timeout, self._left())
        self.active = True
        self._out.add(self._key)

    def done(self) -> None:
        self.active = False
        self._out.discard(self._key)


async def _shielded(release: Awaitable[None]) -> None:
    """Release a claim even when the create was cancelled."""
    task = asyncio.ensure_future(release)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def _longest_send(transport: Transport) -> float | None:
    """The most seconds one send through ``transport`` may take: its timeout, cut to its
    deadline (None: neither is set)."""
    return attempt_timeout(transport.policy, transport.timeout, 0.0)
