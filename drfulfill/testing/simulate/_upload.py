"""The simulation's bulk upload: a first run that may be stopped or crash, a journal that
may be lost between runs, a feed that repeats rows later, and runs until every row has its
outcome."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ... import Client
from ...errors import DigitalRiverError
from ._dr import SimulatedSession
from ._redis import Link

if TYPE_CHECKING:
    from ._world import World


async def upload_all(world: World) -> None:
    """The bulk upload: a first run that may be stopped or crash, a journal that may be lost
    between runs, and runs until every row has its outcome."""
    rng, bulk, options = world.rng, world.bulk, world.options
    order = world.dr.state.add_order(
        items=[
            {"item_id": f"b{n}", "quantity": 1 + rng.choice((0, 0, 1))}
            for n in range(options.bulk_rows)
        ]
    )
    rows = [
        {
            "order_id": order,
            "items": [{"item_id": f"b{n}", "quantity": 1}],
            "tracking_number": f"T{n}",
        }
        for n in range(options.bulk_rows)
    ]
    # A file repeats some rows further down, after a while (a feed): each must be the
    # same fulfillment.
    early = max(1, len(rows) // 20)  # rows from the start: long ago, for a long input
    repeats = [rows[rng.randrange(early)] for _ in range(rng.choice((0, 1, 2)))]
    pause = rng.uniform(0, 3 * options.settle)
    journal = os.path.join(world.directory, "upload.db") if bulk.journal else None
    since = world.wall_clock() if bulk.since else None
    attempt = 0
    while True:
        attempt += 1
        name = f"upload-{attempt}"
        link = Link(world.fleet.redis_latency)
        session = world.dr.session(name)
        coordinator = world.coordinator(link) if rng.random() < 0.5 else None
        client = world.client(name, session, coordinator)
        stop_at = None
        if not world.calm and rng.random() < bulk.interrupt:
            stop_at = rng.uniform(0, 60)
        outcome = await _upload_once(
            world, client, rows, repeats, pause, journal, since, stop_at, session, link
        )
        if outcome == "crashed":
            pass  # its client, session and links are gone: nothing more to close
        else:
            await client.close()
            if coordinator is not None:
                await coordinator.close()
        if outcome == "done":
            return
        if journal is not None and not world.calm and bulk.lose_journal:
            _lose(journal, bulk.lose_journal)
            world.trace(name, f"journal {bulk.lose_journal}d", None)
        if world.calm and attempt > 50:
            world.result.violations.append("the bulk upload never finished")
            return
        await asyncio.sleep(rng.uniform(1, 30))


async def _upload_once(
    world: World,
    client: Client,
    rows: list[dict[str, Any]],
    repeats: list[dict[str, Any]],
    pause: float,
    journal: str | None,
    since: datetime | None,
    stop_at: float | None,
    session: SimulatedSession,
    link: Link,
) -> str:
    """One run of the upload: "done" (every row ok), "again", or "crashed". The input is a
    feed: ``rows``, then after ``pause`` seconds ``repeats`` (rows met before)."""
    ok: dict[int, bool] = {}
    total = len(rows) + len(repeats)

    async def feed() -> AsyncIterator[dict[str, Any]]:
        for row in rows:
            yield row
        await asyncio.sleep(pause)
        for row in repeats:
            yield row

    async def consume() -> None:
        async with contextlib.aclosing(
            client.fulfillments.bulk_create(feed(), journal=journal, since=since, concurrency=2)
        ) as results:
            async for result in results:
                ok[result.index] = result.ok
                world.trace(
                    session.owner,
                    "row",
                    result.key,
                    "ok" if result.ok else type(result.error).__name__,
                )

    task = asyncio.ensure_future(consume())
    crashed = False
    if stop_at is not None:
        done, _ = await asyncio.wait({task}, timeout=stop_at)
        if not done:
            crashed = world.rng.random() < 0.5
            if crashed:  # the process dies: nothing more is sent, nothing recorded
                session.dead = True
                link.state = Link.BLACK_HOLE
            world.trace(session.owner, "crashed" if crashed else "interrupted", None)
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError, DigitalRiverError, ValueError):
        await task
    if crashed:
        return "crashed"
    if len(ok) == total and all(ok.values()):
        return "done"
    if journal is not None and not _journal_usable(journal):
        os.remove(journal)  # what the operator does with a journal that cannot be read
    return "again"


def _lose(journal: str, how: str) -> None:
    if not os.path.exists(journal):
        return
    if how == "delete":
        os.remove(journal)
    else:
        with open(journal, "r+b") as file:
            file.truncate(os.path.getsize(journal) // 2)


def _journal_usable(journal: str) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(journal)) as db:
            db.execute("SELECT count(*) FROM journal").fetchone()
        return True
    except sqlite3.Error:
        return False
