"""``bulk_create``: many fulfillments, concurrently, each created exactly once across re-runs.

Why a row is never created twice:

* Every row has a deterministic key (``request_key``, an explicit key, or the key already in
  its metadata). ``Fulfillments.create`` stores it in the fulfillment's metadata, so whether a
  row was created can always be asked of Digital River with ``find_by_key``.
* With a journal (an SQLite file), a row is marked ``started`` - and the mark committed -
  before its create is sent, then ``done`` (with the fulfillment) or ``failed``. A re-run
  answers ``done`` rows from the journal without any request, checks ``started`` and
  ``failed`` rows with ``find_by_key`` before creating them (a failed create may still have
  been applied), and creates the rest.
* Without a journal every row is checked with ``find_by_key`` first: one extra GET per row.
* Rows sharing a key within a run are created once: the later ones wait for the first.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from ._constants import (
    DEFAULT_BULK_CONCURRENCY,
    DEFAULT_IDEMPOTENCY_FIELD,
    METADATA_MAX_VALUE_LENGTH,
)
from ._convert import structure, unstructure
from .errors import DigitalRiverError, ValidationError
from .models import BulkResult, Fulfillment, FulfillmentRequest
from .resources.fulfillments import as_fulfillment_request

if TYPE_CHECKING:
    from .resources.fulfillments import Fulfillments

__all__ = ["KeyFunction", "ProgressCallback", "bulk_create", "request_key"]

KeyFunction = Callable[[FulfillmentRequest], str]
"""Gives a row's safe-create key; the same request must always give the same key."""

ProgressCallback = Callable[[BulkResult], object]
"""Called (synchronously) once per finished row, just before the row is yielded."""

RequestRows = (
    Iterable[FulfillmentRequest | Mapping[str, Any]]
    | AsyncIterable[FulfillmentRequest | Mapping[str, Any]]
)

# String fields of FulfillmentRequest whose value can serve as a row's key.
_KEY_FIELDS = frozenset(
    field.name
    for field in attrs.fields(FulfillmentRequest)
    if field.name not in ("items", "metadata")
)

# How long a run waits for an earlier run to release the same journal (the earlier run may
# just be closing, e.g. its generator is being finalized after a ``break``).
_JOURNAL_LOCK_WAIT = 5.0
_JOURNAL_LOCK_POLL = 0.05

_END = object()  # the input is exhausted


def request_key(
    request: FulfillmentRequest | Mapping[str, Any],
    idempotency_field: str = DEFAULT_IDEMPOTENCY_FIELD,
) -> str:
    """The key ``bulk_create`` gives a row when no key is given: 32 hex characters.

    A sha256 of the request's wire JSON (keys sorted, no spaces) without the safe-create
    field in ``metadata`` (and without ``metadata`` if nothing else is in it, since the wire
    body is the same either way). A dict and the equal ``FulfillmentRequest`` give the same key,
    in every run. Identical rows share a key, so they are created once.
    """
    body = unstructure(as_fulfillment_request(request))
    metadata = body.get("metadata")
    if metadata is not None:  # a copy: the encoder never aliases the model's dict
        metadata.pop(idempotency_field, None)
        if not metadata:
            del body["metadata"]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def bulk_create(
    fulfillments: Fulfillments,
    requests: RequestRows,
    *,
    concurrency: int | None = None,
    key: str | KeyFunction | None = None,
    journal: str | os.PathLike[str] | None = None,
    stop_on_error: bool = False,
    on_progress: ProgressCallback | None = None,
) -> AsyncIterator[BulkResult]:
    """Create a fulfillment per input row; yield a ``BulkResult`` per row as each finishes.

    ``requests``: a sync or async iterable of ``FulfillmentRequest`` or dicts with the same
    snake_case keys, read lazily: a row is pulled only when one of the ``concurrency`` slots
    (default ``DEFAULT_BULK_CONCURRENCY``) is free, so memory does not grow with the input.
    (An async iterable is never waited on while rows already pulled are unsent.) Results
    come in completion order; ``result.index`` is the row's position in the input.
    A row that is invalid or fails yields ``ok=False`` with the ``error`` (for a row that is
    not a valid request, ``key`` is ``""`` and ``request`` is the input as given); the other
    rows go on unless ``stop_on_error``, which stops reading input after the first failed
    row, lets the rows in flight finish (they may already be creating), yields them, and ends.

    ``key``: None for ``request_key`` (a hash of the request), the name of a string field of
    ``FulfillmentRequest`` (e.g. ``"shipment_id"``) whose value is the key, or a function of
    the request. A key already in the request's ``metadata`` under the client's
    ``idempotency_field`` wins. Rows with the same key are one fulfillment: it is created once
    and the other rows report it with ``resumed=True`` (rows sharing a key but naming
    different orders fail with ``ValidationError``).

    ``journal``: path of an SQLite file that makes re-runs cheap: rows done by an earlier run
    are yielded with ``resumed=True`` without any request. Without it, every row costs one
    extra GET (``find_by_key``) before its create, which is what keeps a re-run from creating
    twice: use a journal for any large upload. The file is locked while a run uses it;
    commits are fsynced (``synchronous=FULL``) in batches, and a row's ``started`` mark is
    always committed before its create is sent. Its table ``journal`` has one row per key:
    ``key, idx, status ('started'|'done'|'failed'), fulfillment_id, fulfillment_json, error,
    updated``. A journal is bound to the API it was first used with (base URL and test/live
    mode, table ``drfulfill_target``): its "done" rows are not true for another API, so using
    it with one raises ``ValidationError`` before any request.

    ``on_progress(result)`` is called once per row, just before it is yielded.

    Stop early with ``break`` inside ``contextlib.aclosing(...)``, ``await results.aclose()``
    or by cancelling the consuming task: rows in flight are cancelled, and the journal keeps
    each row either ``done`` or ``started`` (a re-run checks those with ``find_by_key``).
    A create cancelled after it was sent may still land on DR's side a moment later; a re-run
    finds it by its key once it has.

    Raises ``ValidationError`` at once when the client's ``idempotency_field`` is None (without
    keys, exactly-once is impossible) or an argument is invalid, and on first iteration when
    the journal cannot be opened or belongs to another API; ``DigitalRiverError`` when
    another run holds the journal.
    """
    field = fulfillments._idempotency_field
    if field is None:
        raise ValidationError(
            "bulk_create needs the safe-create protocol: the Client's idempotency_field is None"
        )
    if concurrency is None:
        concurrency = DEFAULT_BULK_CONCURRENCY
    elif isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if isinstance(requests, (str, bytes, Mapping)) or not isinstance(
        requests, (Iterable, AsyncIterable)
    ):
        raise ValidationError(
            "requests must be an iterable or async iterable of FulfillmentRequest or dicts, "
            f"got {type(requests).__name__}"
        )
    run = _BulkRun(
        fulfillments,
        target=fulfillments._transport.target,
        key_of=_key_function(key, field),
        field=field,
        concurrency=concurrency,
        stop_on_error=stop_on_error,
        on_progress=on_progress,
    )
    return run.results(requests, journal)


def _key_function(key: str | KeyFunction | None, field: str) -> KeyFunction:
    if key is None:
        return lambda request: request_key(request, field)
    if isinstance(key, str):
        if key not in _KEY_FIELDS:
            raise ValidationError(
                f"key={key!r} is not a string field of FulfillmentRequest; "
                f"use one of {', '.join(sorted(_KEY_FIELDS))}, or a function"
            )
        return lambda request: _field_value(request, key)
    if callable(key):
        return key
    raise ValidationError(f"key must be None, a field name or a function, got {key!r}")


def _field_value(request: FulfillmentRequest, name: str) -> str:
    value = getattr(request, name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} is the key field and must not be empty, got {value!r}")
    return value


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
    """A row that needs requests: a create (maybe checked first), or waiting for its leader."""

    index: int
    key: str
    request: FulfillmentRequest
    check_first: bool = False  # ask find_by_key before creating
    leader: _Row | None = None  # an earlier row with the same key, still in flight
    task: asyncio.Task[BulkResult] | None = None


class _BulkRun:
    """The state of one ``bulk_create`` run: bounded by ``concurrency`` rows at any time."""

    def __init__(
        self,
        fulfillments: Fulfillments,
        *,
        target: str,
        key_of: KeyFunction,
        field: str,
        concurrency: int,
        stop_on_error: bool,
        on_progress: ProgressCallback | None,
    ) -> None:
        self._fulfillments = fulfillments
        self._target = target
        self._key_of = key_of
        self._field = field
        self._concurrency = concurrency
        self._stop_on_error = stop_on_error
        self._on_progress = on_progress
        self._journal: _Journal | None = None
        self._running: set[asyncio.Task[BulkResult]] = set()
        # Finished rows not yet yielded: results known at once, and tasks that are done.
        self._ready: deque[BulkResult | asyncio.Task[BulkResult]] = deque()
        self._claims: dict[str, _Row] = {}  # key -> the row in flight with that key
        self._wakeup = asyncio.Event()
        self._next_index = 0
        self._stopping = False

    async def results(
        self, requests: RequestRows, journal: str | os.PathLike[str] | None
    ) -> AsyncIterator[BulkResult]:
        source = _Source(requests)
        if journal is not None:
            self._journal = await _Journal.open(journal, self._target)
        exhausted = False
        try:
            while True:
                free = self._concurrency - len(self._running) - len(self._ready)
                # Refill in batches (all free slots at once) so one commit covers many
                # 'started' marks; while results are waiting, refill only once half the
                # slots are free.
                if (
                    free > 0
                    and not (exhausted or self._stopping)
                    and (not self._ready or 2 * free >= self._concurrency)
                ):
                    exhausted = await self._fill(source, free)
                if self._ready:
                    result = self._take()
                    if self._on_progress is not None:
                        self._on_progress(result)
                    yield result
                elif self._running:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                else:
                    return
        finally:
            await self._shutdown()

    async def _fill(self, source: _Source, count: int) -> bool:
        """Pull up to ``count`` rows, commit their 'started' marks, then send them.

        Returns True when the input is exhausted.
        """
        to_start: list[_Row] = []
        exhausted = False
        for _ in range(count):
            if self._stopping:  # a row in flight failed while an async source was read
                break
            if to_start and source.may_wait:
                # An async source may take its time (a live feed): send what is pulled first.
                self._send_batch(to_start)
                to_start = []
            raw = await source.pull()
            if raw is _END:
                exhausted = True
                break
            index = self._next_index
            self._next_index += 1
            planned = self._plan(index, raw)
            if isinstance(planned, _Row):
                to_start.append(planned)
                continue
            self._ready.append(planned)
            if not planned.ok and self._stop_on_error:
                self._stopping = True
                break
        self._send_batch(to_start)
        return exhausted

    def _send_batch(self, rows: list[_Row]) -> None:
        """Commit the rows' 'started' marks (one fsync for all), then start them."""
        if self._journal is not None:
            self._journal.commit()
        for row in rows:
            self._start(row)

    def _plan(self, index: int, raw: Any) -> _Row | BulkResult:
        """What a row needs: a result known at once, or requests (a ``_Row``)."""
        try:
            request = as_fulfillment_request(raw)
        except ValidationError as error:
            return BulkResult(index, "", raw, ok=False, error=error)
        try:
            key = self._row_key(request)
        except Exception as error:  # a key function is user code: its failure fails the row
            return BulkResult(index, "", request, ok=False, error=error)
        leader = self._claims.get(key)
        if leader is not None:
            if leader.request.order_id != request.order_id:
                return self._key_clash(index, key, request, leader.request.order_id)
            return _Row(index, key, request, leader=leader)
        check_first = True
        if self._journal is not None:
            entry = self._journal.get(key)
            if entry is not None and entry.status == "done":
                return self._resumed(index, key, request, entry.fulfillment_json)
            check_first = entry is not None  # 'started' or 'failed': it may have been applied
            self._journal.mark(key, index, "started")
        row = _Row(index, key, request, check_first=check_first)
        self._claims[key] = row
        return row

    def _row_key(self, request: FulfillmentRequest) -> str:
        key = (request.metadata or {}).get(self._field)
        if key is None:
            key = self._key_of(request)
        if not isinstance(key, str) or not key or len(key) > METADATA_MAX_VALUE_LENGTH:
            raise ValidationError(
                f"a row's key must be a non-empty string of at most "
                f"{METADATA_MAX_VALUE_LENGTH} characters, got {key!r}"
            )
        return key

    def _key_clash(
        self, index: int, key: str, request: FulfillmentRequest, other_order: str | None
    ) -> BulkResult:
        error = ValidationError(
            f"key {key!r} already names a fulfillment of order {other_order!r}, "
            f"not of order {request.order_id!r}"
        )
        return BulkResult(index, key, request, ok=False, error=error)

    def _resumed(
        self, index: int, key: str, request: FulfillmentRequest, fulfillment_json: str | None
    ) -> BulkResult:
        fulfillment = None
        if fulfillment_json is not None:
            fulfillment = structure(json.loads(fulfillment_json), Fulfillment)
            if fulfillment.order_id not in (None, request.order_id):
                return self._key_clash(index, key, request, fulfillment.order_id)
        return BulkResult(index, key, request, ok=True, fulfillment=fulfillment, resumed=True)

    def _start(self, row: _Row) -> None:
        work = self._follow(row) if row.leader is not None else self._send(row)
        task = row.task = asyncio.create_task(work)
        self._running.add(task)
        task.add_done_callback(lambda done: self._finished(row, done))

    def _finished(self, row: _Row, task: asyncio.Task[BulkResult]) -> None:
        self._running.discard(task)
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

    def _take(self) -> BulkResult:
        item = self._ready.popleft()
        return item if isinstance(item, BulkResult) else item.result()

    async def _send(self, row: _Row) -> BulkResult:
        """Create the row's fulfillment, unless ``find_by_key`` shows it exists already."""
        fulfillments = self._fulfillments
        try:
            if row.check_first:
                found = await fulfillments.find_by_key(row.request.order_id, row.key)
                if found is not None:
                    return self._done(row, found, resumed=True)
            created = await fulfillments.create(row.request, key=row.key)
        except DigitalRiverError as error:
            if self._journal is not None:
                self._journal.mark(row.key, row.index, "failed", error=error)
            return BulkResult(row.index, row.key, row.request, ok=False, error=error)
        return self._done(row, created, resumed=False)

    def _done(self, row: _Row, fulfillment: Fulfillment, *, resumed: bool) -> BulkResult:
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
        """Cancel rows in flight and close the journal, where they stay 'started'.

        A cancelled row task never runs past its current ``await``, so it writes nothing more.
        """
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
                self._journal.close()


class _Entry(NamedTuple):
    status: str
    fulfillment_json: str | None


class _JournalBusy(Exception):
    """Another connection holds the journal's lock."""

    @staticmethod
    def error(path: str | os.PathLike[str]) -> DigitalRiverError:
        return DigitalRiverError(f"the journal {os.fspath(path)!r} is in use by another bulk run")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    key TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('started', 'done', 'failed')),
    fulfillment_id TEXT,
    fulfillment_json TEXT,
    error TEXT,
    updated TEXT NOT NULL
)
"""

# The API a journal's rows are true for (see ``bulk_create``); one row.
_TARGET_SCHEMA = "CREATE TABLE IF NOT EXISTS drfulfill_target (target TEXT NOT NULL)"

_UPSERT = """
INSERT INTO journal (key, idx, status, fulfillment_id, fulfillment_json, error, updated)
VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (key) DO UPDATE SET
    idx = excluded.idx,
    status = excluded.status,
    fulfillment_id = excluded.fulfillment_id,
    fulfillment_json = excluded.fulfillment_json,
    error = excluded.error,
    updated = excluded.updated
"""


class _Journal:
    """The SQLite record of bulk runs: table ``journal``, one row per key.

    Writes are executed at once (so reads on this connection see them) inside an open
    transaction; ``commit`` ends it. The connection holds an exclusive lock, so two runs can
    never use one journal at the same time (both would create the same rows).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._in_transaction = False

    @classmethod
    async def open(cls, path: str | os.PathLike[str], target: str) -> _Journal:
        """Open (creating if needed) for ``target``, waiting a little for an earlier run to
        let go of it."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _JOURNAL_LOCK_WAIT
        while True:
            try:
                return cls(_connect(path, target))
            except _JournalBusy as busy:
                if loop.time() >= give_up:
                    raise busy.error(path) from None
                await asyncio.sleep(_JOURNAL_LOCK_POLL)

    def get(self, key: str) -> _Entry | None:
        row = self._db.execute(
            "SELECT status, fulfillment_json FROM journal WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else _Entry(*row)

    def mark(
        self,
        key: str,
        index: int,
        status: str,
        *,
        fulfillment: Fulfillment | None = None,
        error: BaseException | None = None,
    ) -> None:
        fulfillment_id = fulfillment_json = error_text = None
        if fulfillment is not None:
            fulfillment_id = fulfillment.id
            fulfillment_json = json.dumps(unstructure(fulfillment), separators=(",", ":"))
        if error is not None:
            error_text = f"{type(error).__name__}: {error}"
        if not self._in_transaction:
            self._db.execute("BEGIN")
            self._in_transaction = True
        self._db.execute(
            _UPSERT, (key, index, status, fulfillment_id, fulfillment_json, error_text)
        )

    def commit(self) -> None:
        if self._in_transaction:
            self._db.execute("COMMIT")
            self._in_transaction = False

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._db.close()


def claim_journal(path: str | os.PathLike[str], fulfillments: Fulfillments) -> None:
    """Bind the journal at ``path`` to the API of ``fulfillments`` now, raising as
    ``bulk_create`` would on its first iteration: for callers that must know before they
    start (the CLI, before it truncates a results file)."""
    try:
        _connect(path, fulfillments._transport.target).close()
    except _JournalBusy as busy:
        raise busy.error(path) from None


def _connect(path: str | os.PathLike[str], target: str) -> sqlite3.Connection:
    # isolation_level=None: transactions are ours to begin and commit. timeout=0: a lock
    # held by another run is reported at once (waiting is done without blocking the loop).
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=0)
    except sqlite3.Error as error:
        raise ValidationError(f"cannot open the journal {os.fspath(path)!r}: {error}") from None
    try:
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a 'started' mark must survive a power cut
        db.execute("BEGIN IMMEDIATE")  # takes the exclusive lock, kept until close
        db.execute(_SCHEMA)
        db.execute(_TARGET_SCHEMA)
        row = db.execute("SELECT target FROM drfulfill_target").fetchone()
        if row is None:
            db.execute("INSERT INTO drfulfill_target (target) VALUES (?)", (target,))
        db.execute("COMMIT")
    except sqlite3.Error as error:
        db.close()
        if "locked" in str(error):
            raise _JournalBusy from error
        raise ValidationError(f"cannot use the journal {os.fspath(path)!r}: {error}") from None
    except BaseException:
        db.close()
        raise
    if row is not None and row[0] != target:
        db.close()
        raise ValidationError(
            f"the journal {os.fspath(path)!r} records a run against {row[0]}, not {target}: "
            "its done rows are not done here; use another journal"
        )
    return db
