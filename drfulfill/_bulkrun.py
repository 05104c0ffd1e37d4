"""One ``bulk_create`` run: pulling rows, planning each (a result known at once, a row to
create, or one sharing an earlier row's key), verifying and creating them through the
safe-create component under a request semaphore, and the journal's marks. ``bulk.py`` holds
the public function and what it takes; this is the machinery behind it."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from datetime import datetime
from typing import Any

import attrs

from ._constants import BULK_ROWS_PER_SLOT, BULK_SINCE_MARGIN
from ._journal import Entry, Journal
from ._keymemory import RunKey, RunKeys
from ._safecreate import CreateOptions, SafeCreator, as_fulfillment_request, check_key
from ._safecreate_core import content_digest
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    CoordinationError,
    DigitalRiverError,
    KeyReuseError,
    PermissionDeniedError,
    ValidationError,
)
from .models import BulkResult, Fulfillment, FulfillmentRequest

RequestRows = (
    Iterable[FulfillmentRequest | Mapping[str, Any]]
    | AsyncIterable[FulfillmentRequest | Mapping[str, Any]]
)

logger = logging.getLogger("drfulfill")

_END = object()  # the input is exhausted
_NOT_SENT = asyncio.CancelledError("stopped before its create was sent")


def is_fatal(error: BaseException) -> bool:
    """Whether a row's failure is about the run, not the row, so ``bulk_create`` stops
    and raises it instead of failing every row.

    Fatal: ``AuthenticationError`` (401) and ``PermissionDeniedError`` (403), since the API
    key is refused for every row alike; an ``APIConnectionError`` with ``sent=False``
    that is not an ``APITimeoutError`` (connection refused, DNS or TLS failure: the API
    cannot be reached, and nothing of the request left); and ``CoordinationError`` (the
    fleet's Redis fails: no row may be sent without its claim). Everything else, timeouts
    (``sent=False`` ones included: a rate-limit slot or a claim not free in time) and
    other API errors included, fails only its row. ``drfulfill upload`` stops on the same.

    :param error: a row's ``BulkResult.error``.
    :returns: True when the error is about the run.
    """
    if isinstance(error, (AuthenticationError, PermissionDeniedError, CoordinationError)):
        return True
    return (
        isinstance(error, APIConnectionError)
        and not isinstance(error, APITimeoutError)
        and not error.sent
    )


class _Source:
    """The input rows, pulled one at a time."""

    def __init__(self, requests: RequestRows) -> None:
        self._rows: Iterator[Any] | None = None
        self._async_rows: AsyncIterator[Any] | None = None
        if isinstance(requests, AsyncIterable):
            self._async_rows = aiter(requests)
        else:
            self._rows = iter(requests)
        self.may_wait = self._async_rows is not None  # pulling may suspend for a while

    async def pull(self) -> Any:
        """The next row, or ``_END``."""
        if self._rows is not None:
            return next(self._rows, _END)
        assert self._async_rows is not None
        try:
            return await anext(self._async_rows)
        except StopAsyncIteration:
            return _END


@attrs.define(eq=False)
class _Row:
    """A row that needs requests: a create (verified first), or waiting for its leader."""

    index: int
    key: str
    request: FulfillmentRequest
    # A create of the key may be landing: a journal 'started' row, or an earlier row of
    # this run that ended in doubt. ``doubt_since``: from when (None: long enough
    # ago that a lookup is conclusive).
    in_doubt: bool = False
    doubt_since: float | None = None
    exists: bool = False  # an earlier row of this run created or found the key
    leader: _Row | None = None  # an earlier row with the same key, still in flight
    task: asyncio.Task[BulkResult] | None = None


class _OrderKeys:
    """One lookup per order, shared by the rows of that order in flight; it holds one of
    the run's request ``slots`` while it runs."""

    def __init__(self, creator: SafeCreator, slots: asyncio.Semaphore) -> None:
        self._creator = creator
        self._slots = slots
        self._lookups: dict[str, tuple[asyncio.Task[dict[str, Fulfillment]], int]] = {}

    async def get(self, order_id: str) -> dict[str, Fulfillment]:
        task, users = self._lookups.get(order_id, (None, 0))
        if task is None:
            task = asyncio.ensure_future(self._look_up(order_id))
        self._lookups[order_id] = (task, users + 1)
        try:
            return await asyncio.shield(task)
        finally:
            task, users = self._lookups[order_id]
            if users <= 1:
                del self._lookups[order_id]  # memory stays O(orders in flight)
                if not task.done():
                    task.cancel()
            else:
                self._lookups[order_id] = (task, users - 1)

    async def _look_up(self, order_id: str) -> dict[str, Fulfillment]:
        async with self._slots:
            return await self._creator.keys_of_order(order_id)


class BulkRun:
    """The state of one ``bulk_create`` run."""

    def __init__(
        self,
        creator: SafeCreator,
        *,
        key_of: Callable[[FulfillmentRequest], str],
        concurrency: int,
        stop_on_error: bool,
        on_progress: Callable[[BulkResult], object] | None,
    ) -> None:
        self._creator = creator
        self._key_of = key_of
        self._max_rows = concurrency * BULK_ROWS_PER_SLOT
        self._slots = asyncio.Semaphore(concurrency)
        self._stop_on_error = stop_on_error
        self._on_progress = on_progress
        self._journal: Journal | None = None
        self._swept: dict[str, Fulfillment] | None = None
        self._orders = _OrderKeys(creator, self._slots)
        # Rows in flight, in the order they started (a dict: iteration order never depends
        # on where tasks live in memory, so a seeded simulation replays exactly).
        self._running: dict[asyncio.Task[BulkResult], _Row] = {}
        # Finished rows not yet yielded: results known at once, and tasks that are done.
        self._ready: deque[BulkResult | asyncio.Task[BulkResult]] = deque()
        self._claims: dict[str, _Row] = {}  # key -> the row in flight with that key
        # Every key this run created, found or left in doubt, however long the input.
        self._run_keys = RunKeys()
        self._wakeup = asyncio.Event()
        self._next_index = 0
        self._stopping = False
        # No DR lookup verifies a row before this clock reading (None: at once).
        self._verify_from: float | None = None

    async def results(
        self,
        requests: RequestRows,
        journal: str | os.PathLike[str] | None,
        since: datetime | None,
    ) -> AsyncGenerator[BulkResult, None]:
        source = _Source(requests)
        creator = self._creator
        if journal is not None:
            self._journal = await Journal.open(journal, creator.target)
        if (
            not (self._journal is not None and self._journal.records_earlier_run)
            and not creator.coordinated
            and creator.settle > 0
        ):
            # Nothing records what an earlier run left in doubt (no fleet, and no journal or
            # a new one): a create it sent may land up to a settle window after this run
            # started, so no lookup before then can say a row's key is new.
            self._verify_from = creator.clock() + creator.settle
            logger.info(
                "bulk_create without a coordinator or a journal of earlier runs: rows are "
                "verified from %gs after the start, when creates an earlier run left in "
                "doubt have landed",
                creator.settle,
            )
        exhausted = False
        fatal: BaseException | None = None
        try:
            if since is not None:
                await self._verifiable()
                # A margin for clock skew between this machine and Digital River.
                self._swept = await creator.sweep(since - BULK_SINCE_MARGIN)
            while True:
                free = self._max_rows - len(self._running) - len(self._ready)
                # Refill in batches (all free slots at once) so one commit covers many
                # 'started' marks; while results are waiting, refill only once half are free.
                if (
                    free > 0
                    and not (exhausted or self._stopping)
                    and (not self._ready or 2 * free >= self._max_rows)
                ):
                    exhausted = await self._fill(source, free)
                if self._ready:
                    result = self._take()
                    if result is None:  # a row cancelled after a fatal error
                        continue
                    if not result.ok and result.error is not None and is_fatal(result.error):
                        # About the run, not the row: start nothing more and stop the rows
                        # waiting to send (they would meet the same refusal), yield every
                        # row that finished, then raise it. A row whose create is out is
                        # let finish it: cancelled, it would be left in doubt, while its
                        # answer (most likely the same refusal) settles it.
                        if fatal is None:
                            fatal = result.error
                            self._stopping = True
                            for task, running in self._running.items():
                                if not self._creator.sending(running.key):
                                    task.cancel()
                        continue
                    if self._on_progress is not None:
                        self._on_progress(result)
                    yield result
                elif self._running:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                elif fatal is not None:
                    raise fatal
                else:
                    return
        finally:
            await self._shutdown()

    async def _fill(self, source: _Source, count: int) -> bool:
        """Pull up to ``count`` rows, commit their 'started' marks, then start them.

        Returns True when the input is exhausted.
        """
        pulled: list[tuple[int, Any]] = []
        exhausted = False
        for _ in range(count):
            if pulled and source.may_wait:
                break  # an async source may take its time (a live feed): start what is pulled
            raw = await source.pull()
            if raw is _END:
                exhausted = True
                break
            pulled.append((self._next_index, raw))
            self._next_index += 1
        prepared = [self._prepare(index, raw) for index, raw in pulled]
        entries: dict[str, Entry] = {}
        if self._journal is not None:
            keys = [row.key for row in prepared if isinstance(row, _Row)]
            entries = await self._journal.lookup(keys)
        to_start: list[_Row] = []
        for row in prepared:
            planned = row if isinstance(row, BulkResult) else self._plan(row, entries.get(row.key))
            if isinstance(planned, _Row):
                to_start.append(planned)
                continue
            self._ready.append(planned)
            if not planned.ok and self._stop_on_error:
                self._stopping = True
                break
        if self._journal is not None:
            await self._journal.commit()
        for row in to_start:
            self._start(row)
        return exhausted

    def _prepare(self, index: int, raw: Any) -> _Row | BulkResult:
        """The row's request and key, or its failure."""
        try:
            request = as_fulfillment_request(raw)
        except ValidationError as error:
            return BulkResult(index, "", raw, ok=False, error=error)
        try:
            key = self._row_key(request)
        except Exception as error:  # a key function is user code: its failure fails the row
            return BulkResult(index, "", request, ok=False, error=error)
        return _Row(index, key, request)

    def _plan(self, row: _Row, entry: Entry | None) -> _Row | BulkResult:
        """What a row needs: a result known at once, or requests."""
        leader = self._claims.get(row.key)
        if leader is not None:
            if content_digest(leader.request) != content_digest(row.request):
                return self._key_clash(row, f"creates {_describe(leader.request)}")
            row.leader = leader
            return row
        if entry is not None and entry.status == "done" and entry.fulfillment is not None:
            try:
                found = self._creator.check(row.request, row.key, entry.fulfillment)
            except KeyReuseError as error:  # the key was used for other content
                return BulkResult(row.index, row.key, row.request, ok=False, error=error)
            self._run_keys.put(row.key, content_digest(found), RunKey.EXISTS)
            return BulkResult(
                row.index, row.key, row.request, ok=True, fulfillment=found, resumed=True
            )
        remembered = self._run_keys.get(row.key)
        if remembered is not None:  # an earlier row of this run met the key
            content, state = remembered
            if content != content_digest(row.request):
                return self._key_clash(row, "created other content")
            if state is RunKey.EXISTS:
                row.exists = True
            else:
                row.in_doubt, row.doubt_since = True, self._creator.doubt_since(row.key)
        if entry is not None and entry.status == "started" and not row.exists:
            # That create may still be landing. Its send may have gone out at any time up
            # to now (the journal's clock and a send after the mark cannot say when): the
            # settle window counts from now. A 'failed' row is a definite failure (nothing
            # was applied): verified with DR like a row without an entry.
            row.in_doubt, row.doubt_since = True, self._creator.clock()
        if self._journal is not None:
            self._journal.mark(row.key, row.index, "started")
        self._claims[row.key] = row
        return row

    def _row_key(self, request: FulfillmentRequest) -> str:
        key = (request.metadata or {}).get(self._creator.field)
        if key is None:
            key = self._key_of(request)
        try:
            return check_key(key)
        except ValidationError as error:
            raise ValidationError(f"a row's {error}") from None

    def _key_clash(self, row: _Row, other: str) -> BulkResult:
        error = KeyReuseError(
            f"key {row.key!r} was used for different content: row {row.index} creates "
            f"{_describe(row.request)}, an earlier row {other}",
            key=row.key,
        )
        return BulkResult(row.index, row.key, row.request, ok=False, error=error)

    def _start(self, row: _Row) -> None:
        work = self._follow(row) if row.leader is not None else self._send(row)
        task = row.task = asyncio.create_task(work)
        self._running[task] = row
        task.add_done_callback(lambda done: self._finished(row, done))

    def _finished(self, row: _Row, task: asyncio.Task[BulkResult]) -> None:
        self._running.pop(task, None)
        if task.cancelled():
            self._unmark_unsent(row)
        if self._claims.get(row.key) is row:
            del self._claims[row.key]
        self._ready.append(task)
        if (
            self._stop_on_error
            and not task.cancelled()
            and task.exception() is None
            and not task.result().ok
        ):
            self._stopping = True
        self._wakeup.set()

    def _take(self) -> BulkResult | None:
        """The next finished row; None for one that was cancelled."""
        item = self._ready.popleft()
        if isinstance(item, BulkResult):
            return item
        return None if item.cancelled() else item.result()

    def _unmark_unsent(self, row: _Row) -> None:
        """A row stopped (a fatal error elsewhere, a break) before its create went out is no
        longer 'started' in the journal; one whose create may have gone out, or was made
        (stopped while its fleet claim was released), stays so."""
        creator = self._creator
        if (
            self._journal is not None
            and row.leader is None
            and not (row.in_doubt or row.exists)
            and creator.doubt_since(row.key) is None
            and not creator.knows(row.key)
        ):
            self._journal.mark(row.key, row.index, "failed", error=_NOT_SENT)

    async def _send(self, row: _Row) -> BulkResult:
        """Verify the row's key with DR (unless a doubt is pending, or the run knows the key
        exists), then create it."""
        creator = self._creator
        try:
            if row.exists:  # never sent again: found (by id, or looked up)
                options = CreateOptions(exists=True)
            elif row.in_doubt:
                options = CreateOptions(verified=False, doubt_since=row.doubt_since)
            else:
                known = self._swept
                if known is None:
                    await self._verifiable()
                    known = await self._orders.get(row.request.order_id)
                found = known.get(row.key)
                if found is not None:
                    return await self._done(row, creator.check(row.request, row.key, found), True)
                options = CreateOptions(verified=True)
            outcome = await creator.create_or_find(
                row.request, row.key, options=options, slots=self._slots
            )
        except DigitalRiverError as error:
            # A create left in doubt stays 'started' in the journal (and in doubt for the
            # rest of the run): whoever creates the key next waits it out first.
            in_doubt = creator.doubt_since(row.key) is not None
            if in_doubt:
                self._run_keys.put(row.key, content_digest(row.request), RunKey.IN_DOUBT)
            if self._journal is not None:
                status = "started" if in_doubt else "failed"
                self._journal.mark(row.key, row.index, status, error=error)
            return BulkResult(row.index, row.key, row.request, ok=False, error=error)
        return await self._done(row, outcome.fulfillment, outcome.found or row.exists)

    async def _verifiable(self) -> None:
        """Wait until a lookup can verify a row (see ``_verify_from``)."""
        if self._verify_from is not None:
            wait = self._verify_from - self._creator.clock()
            if wait > 0:
                await asyncio.sleep(wait)

    async def _done(self, row: _Row, fulfillment: Fulfillment, resumed: bool) -> BulkResult:
        self._run_keys.put(row.key, content_digest(fulfillment), RunKey.EXISTS)
        if self._journal is not None:
            self._journal.mark(row.key, row.index, "done", fulfillment=fulfillment)
        return BulkResult(
            row.index, row.key, row.request, ok=True, fulfillment=fulfillment, resumed=resumed
        )

    async def _follow(self, row: _Row) -> BulkResult:
        """A row whose key is in flight already: share the leader's outcome."""
        assert row.leader is not None and row.leader.task is not None
        # shield: cancelling this row must not cancel the leader's create.
        first = await asyncio.shield(row.leader.task)
        if not first.ok:
            return BulkResult(row.index, row.key, row.request, ok=False, error=first.error)
        return BulkResult(
            row.index, row.key, row.request, ok=True, fulfillment=first.fulfillment, resumed=True
        )

    async def _shutdown(self) -> None:
        """Cancel rows in flight and close the journal, where they stay 'started'."""
        try:
            running = list(self._running)
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
            for item in self._ready:  # finished but never yielded: collect their errors
                if isinstance(item, asyncio.Task) and not item.cancelled():
                    item.exception()
        finally:
            if self._journal is not None:
                await self._journal.close()


def _describe(request: FulfillmentRequest) -> str:
    items = ", ".join(f"{item.item_id} x{item.quantity or 0}" for item in request.items)
    return f"order {request.order_id} [{items}]"
