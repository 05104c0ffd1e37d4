"""The SQLite journal of ``bulk_create``: an optimisation, never the source of truth.

A ``done`` row lets a re-run skip a key without any request; every other key is verified with
Digital River before it is created, whatever happened to the file. All SQLite work runs on one
thread of its own, so a slow disk (``synchronous=FULL`` fsyncs) never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar

from ._convert import structure, unstructure
from .errors import DecodeError, DigitalRiverError, ValidationError
from .models import Fulfillment

T = TypeVar("T")

# How long a run waits for an earlier run to release the same journal (the earlier run may
# just be closing, e.g. its generator is being finalized after a ``break``).
LOCK_WAIT = 5.0
LOCK_POLL = 0.05

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

# The API a journal's done rows are true for; one row, written with the first started or
# done row.
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

# The journal's format (SQLite's user_version). Before 1, 'failed' was also written for a
# create whose outcome was unknown; such rows are read as 'started' (in doubt).
_VERSION = 1

_LOOKUP_BATCH = 500  # keys per SELECT (SQLite allows 999 parameters in old builds)


class Entry(NamedTuple):
    """A key's journal row. ``fulfillment`` only for a readable ``done`` row."""

    status: str
    fulfillment: Fulfillment | None


class JournalBusy(DigitalRiverError):
    """Another bulk run holds the journal."""


def _path_text(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


def connect(path: str | os.PathLike[str], target: str) -> sqlite3.Connection:
    """Open (creating if needed) and lock the journal; check that it is ``target``'s."""
    where = _path_text(path)
    # isolation_level=None: transactions are ours. timeout=0: a lock held by another run is
    # reported at once (the caller waits without blocking the loop).
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=0)
    except sqlite3.Error as error:
        raise ValidationError(f"cannot open the journal {where!r}: {error}") from None
    try:
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a 'started' mark must survive a power cut
        db.execute("BEGIN IMMEDIATE")  # takes the exclusive lock, kept until close
        db.execute(_SCHEMA)
        db.execute(_TARGET_SCHEMA)
        if db.execute("PRAGMA user_version").fetchone()[0] < _VERSION:
            db.execute("UPDATE journal SET status = 'started' WHERE status = 'failed'")
            db.execute(f"PRAGMA user_version = {_VERSION}")
        row = db.execute("SELECT target FROM drfulfill_target").fetchone()
        db.execute("COMMIT")
    except sqlite3.Error as error:
        db.close()
        if "locked" in str(error):
            raise JournalBusy(f"the journal {where!r} is in use by another bulk run") from None
        raise ValidationError(
            f"cannot use {where!r} as a journal ({error}); pass another path, or delete the "
            "file: it is only an optimisation, every row not done is checked with DR"
        ) from None
    except BaseException:
        db.close()
        raise
    if row is not None and row[0] != target:
        db.close()
        raise ValidationError(
            f"the journal {where!r} records a run against {row[0]}, not {target}: its done "
            "rows are not done here; use another journal"
        )
    return db


def holds_creates(db: sqlite3.Connection) -> bool:
    """Whether a journal records a create that was made ('done') or may have been sent
    ('started', the outcome unknown): then it must be kept, and stays bound to its API."""
    query = "SELECT 1 FROM journal WHERE status IN ('started', 'done') LIMIT 1"
    return db.execute(query).fetchone() is not None


def journal_in_doubt(path: str | os.PathLike[str]) -> int:
    """How many creates the journal at ``path`` records as in doubt ('started': sent, or
    about to be, with no outcome recorded). Such a journal must never be deleted: it is
    the only record that those creates may still land.

    :param path: the journal's file.
    :returns: the number of 'started' rows (0 when the file holds no journal).
    :raises ValidationError: when the file cannot be read as a journal.
    """
    try:
        db = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True, timeout=0)
    except sqlite3.Error as error:
        raise ValidationError(f"cannot read the journal {os.fspath(path)!r}: {error}") from None
    try:
        (count,) = db.execute("SELECT count(*) FROM journal WHERE status = 'started'").fetchone()
        return int(count)
    except sqlite3.Error as error:
        if "no such table" in str(error):
            return 0
        raise ValidationError(f"cannot read the journal {os.fspath(path)!r}: {error}") from None
    finally:
        db.close()


def claim_journal(path: str | os.PathLike[str], target: str) -> None:
    """Check now that the journal at ``path`` can be used for ``target``, raising as
    ``bulk_create`` would on its first iteration (for callers that must know before they
    start, e.g. the CLI before it truncates a results file).

    Creates the file (and its tables) if it does not exist; it does not wait for a run that
    holds the journal.

    :param path: the journal's file.
    :param target: the API the run will use: ``client.target``.
    :raises ValidationError: when the file cannot be opened or used as a journal, or
        records a run against another API.
    :raises DigitalRiverError: when another run holds the journal.
    """
    connect(path, target).close()


class Journal:
    """One run's handle on the journal. ``mark`` buffers; ``commit`` writes and fsyncs.

    Every SQLite call runs on the journal's own thread, in order, so reads see every
    committed mark.
    """

    def __init__(self, db: sqlite3.Connection, executor: ThreadPoolExecutor, target: str) -> None:
        self._db = db
        self._executor = executor
        self._target = target
        self._pending: list[tuple[Any, ...]] = []
        self._bound = db.execute("SELECT 1 FROM drfulfill_target").fetchone() is not None
        #: Whether the journal recorded an earlier run's creates when it was opened (else
        #: it is new, or was deleted: it cannot say what an earlier run left in doubt).
        self.records_earlier_run = self._bound

    @classmethod
    async def open(cls, path: str | os.PathLike[str], target: str) -> Journal:
        """Open for ``target``, waiting a little for an earlier run to let go of it."""
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drfulfill-journal")
        give_up = loop.time() + LOCK_WAIT
        try:
            while True:
                try:
                    db = await loop.run_in_executor(executor, connect, path, target)
                    return await loop.run_in_executor(executor, cls, db, executor, target)
                except JournalBusy:
                    if loop.time() >= give_up:
                        raise
                    await asyncio.sleep(LOCK_POLL)
        except BaseException:
            executor.shutdown(wait=False)
            raise

    async def _run(self, work: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except sqlite3.Error as error:
            raise DigitalRiverError(f"the journal failed: {error}") from None

    async def lookup(self, keys: Sequence[str]) -> dict[str, Entry]:
        """The journal rows of ``keys`` (missing keys have none)."""
        return await self._run(lambda: self._select(keys))

    def _select(self, keys: Sequence[str]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        for at in range(0, len(keys), _LOOKUP_BATCH):
            batch = list(dict.fromkeys(keys[at : at + _LOOKUP_BATCH]))
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT key, status, fulfillment_json FROM journal WHERE key IN ({marks})",
                batch,
            )
            for key, status, fulfillment_json in rows:
                found[key] = _entry(status, fulfillment_json)
        return found

    def mark(
        self,
        key: str,
        index: int,
        status: str,
        *,
        fulfillment: Fulfillment | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Record a key's state; written by the next ``commit``."""
        fulfillment_id = fulfillment_json = error_text = None
        if fulfillment is not None:
            fulfillment_id = fulfillment.id
            fulfillment_json = json.dumps(unstructure(fulfillment), separators=(",", ":"))
        if error is not None:
            error_text = f"{type(error).__name__}: {error}"
        self._pending.append((key, index, status, fulfillment_id, fulfillment_json, error_text))

    async def commit(self) -> None:
        """Write the marks so far in one transaction (one fsync)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        await self._run(lambda: self._write(pending))

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_UPSERT, rows)
            if not self._bound and any(row[2] in ("started", "done") for row in rows):
                # Bound once it records something true of this API only: a create that
                # may have been sent there ('started') or was made there ('done').
                self._db.execute(
                    "INSERT INTO drfulfill_target (target) VALUES (?)", (self._target,)
                )
                self._bound = True
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        """Commit, and unbind a journal that holds nothing true of its API any more (every
        row a definite failure: a wrong key, an unreachable API), so it never blocks the
        corrected run against another API; then close."""
        try:
            await self.commit()
            if self._bound:
                await self._run(self._unbind_if_unused)
        finally:
            await self._run(self._db.close)
            self._executor.shutdown(wait=False)

    def _unbind_if_unused(self) -> None:
        if not holds_creates(self._db):
            self._db.execute("DELETE FROM drfulfill_target")
            self._bound = False


def _entry(status: str, fulfillment_json: str | None) -> Entry:
    """A journal row as found; a done row whose fulfillment cannot be read counts as
    'started' (verified with DR), never as done."""
    if status != "done" or fulfillment_json is None:
        return Entry("started" if status == "done" else status, None)
    try:
        return Entry(status, structure(json.loads(fulfillment_json), Fulfillment))
    except (ValueError, RecursionError, DecodeError):
        return Entry("started", None)
