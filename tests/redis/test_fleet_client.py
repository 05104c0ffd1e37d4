"""Fleets of real ``Client(coordinator=...)`` processes against the emulator and a real
redis-server: every key created once, one 429 pauses every process, no create without a
claim when Redis dies. The emulator runs in the test's process (its request log and faults
at hand), each worker in a process of its own (``_client_worker``)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from redis.asyncio import Redis

from drfulfill.redis import RedisCoordinator
from drfulfill.testing import Emulator

from ._client_worker import API_KEY

ROOT = Path(__file__).resolve().parents[2]


def add_rows(emulator: Emulator, count: int, path: Path) -> list[list[str]]:
    """One order per key (a lookup reads one short page); 5 units each, so a second create
    of a key would succeed and be counted, not refused."""
    rows = []
    for n in range(count):
        item_id = f"item{n}"
        order_id = emulator.add_order(items=[{"item_id": item_id, "quantity": 5}])
        rows.append([f"key-{n:04d}", order_id, item_id])
    path.write_text(json.dumps(rows))
    return rows


SPAWNED: list[asyncio.subprocess.Process] = []


async def spawn(*args: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.redis._client_worker",
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    SPAWNED.append(process)
    return process


@pytest.fixture(autouse=True)
async def no_worker_left() -> AsyncIterator[None]:
    """A failed test leaves no worker running."""
    yield
    while SPAWNED:
        process = SPAWNED.pop()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def start_together(processes: list[asyncio.subprocess.Process]) -> None:
    """Let the workers go once every one has its Client open."""
    for process in processes:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert line == b"ready\n", line
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()


async def finish(process: asyncio.subprocess.Process) -> tuple[int, list[str]]:
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode().splitlines()


def done_counts(lines: list[str]) -> dict[str, int]:
    assert lines and lines[-1].startswith("done "), lines[-5:]
    counts: dict[str, int] = json.loads(lines[-1][5:])
    return counts


def reported(lines: list[str], kind: str) -> list[str]:
    return [line.split()[1] for line in lines if line.startswith(kind + " ")]


def created_per_key(emulator: Emulator) -> Counter[str]:
    return Counter(fulfillment["shipmentId"] for fulfillment in emulator.fulfillments)


def assert_each_created_once(emulator: Emulator, rows: list[list[str]]) -> None:
    counts = created_per_key(emulator)
    assert set(counts) == {row[0] for row in rows}
    assert set(counts.values()) == {1}


async def run_creates(
    emulator: Emulator, redis_url: str, rows_path: Path, workers: int = 4
) -> list[list[str]]:
    processes = [
        await spawn("creates", emulator.url, redis_url, str(rows_path), str(seed))
        for seed in range(workers)
    ]
    await start_together(processes)
    outputs = []
    for process in processes:
        code, lines = await finish(process)
        assert code == 0, lines[-5:]
        outputs.append(lines)
    return outputs


def check_reports(outputs: list[list[str]], rows: list[list[str]]) -> None:
    """Each key reported created by exactly one process and found by the rest."""
    keys = {row[0] for row in rows}
    created = [key for lines in outputs for key in reported(lines, "created")]
    assert sorted(created) == sorted(keys)
    for lines in outputs:
        assert set(reported(lines, "created")) | set(reported(lines, "found")) == keys
        counts = done_counts(lines)
        assert counts["created"] + counts["found"] == len(keys)


async def four_processes_create_once(redis_url: str, tmp_path: Path, count: int) -> None:
    async with Emulator(rate_limit=None) as emulator:
        rows = add_rows(emulator, count, tmp_path / "rows.json")
        outputs = await run_creates(emulator, redis_url, tmp_path / "rows.json")
        assert_each_created_once(emulator, rows)
        check_reports(outputs, rows)
        posts = [r for r in emulator.requests if r.method == "POST"]
        assert len(posts) == count  # no create was sent twice, not even a refused one
    print("created/found per process:", [done_counts(lines) for lines in outputs])


async def test_four_client_processes_create_each_of_100_keys_once(redis_url, tmp_path):
    await four_processes_create_once(redis_url, tmp_path, 100)


@pytest.mark.slow
async def test_four_client_processes_create_each_of_1000_keys_once(redis_url, tmp_path):
    await four_processes_create_once(redis_url, tmp_path, 1000)


@pytest.mark.slow
async def test_a_client_process_killed_mid_run_and_restarted_creates_nothing_twice(
    redis_url, tmp_path
):
    count = 1000
    async with Emulator(rate_limit=None) as emulator:
        rows = add_rows(emulator, count, tmp_path / "rows.json")
        args = ("creates", emulator.url, redis_url, str(tmp_path / "rows.json"))
        processes = [await spawn(*args, str(seed)) for seed in range(4)]
        await start_together(processes)
        victim = processes[0]
        assert victim.stdout is not None
        created_before_kill = 0
        while created_before_kill < 100:
            line = (await victim.stdout.readline()).decode()
            assert line and not line.startswith("done "), "the worker ended before the kill"
            created_before_kill += line.startswith("created ")
        victim.send_signal(signal.SIGKILL)  # mid-run: claims held, creates in flight
        await victim.wait()
        processes[0] = await spawn(*args, "0")
        await start_together(processes[:1])
        outputs = []
        for process in processes:
            code, lines = await finish(process)
            assert code == 0, lines[-5:]
            outputs.append(lines)
        assert_each_created_once(emulator, rows)
        # The killed run's reports are lost; every key is still reported by each survivor
        # and by the restarted process, and created by at most one reporter.
        keys = {row[0] for row in rows}
        created = [key for lines in outputs for key in reported(lines, "created")]
        assert len(created) == len(set(created)) and len(created) <= count
        for lines in outputs:
            assert set(reported(lines, "created")) | set(reported(lines, "found")) == keys


async def test_bulk_create_over_shards_and_the_same_file_twice_creates_every_row_once(
    redis_url, tmp_path
):
    async with Emulator(rate_limit=None) as emulator:
        rows = add_rows(emulator, 90, tmp_path / "rows.json")
        args = ("bulk", emulator.url, redis_url, str(tmp_path / "rows.json"), "0")
        # Three machines each upload a third, two more the whole file, all at once.
        processes = [await spawn(*args, f"{shard}/3") for shard in range(3)]
        processes += [await spawn(*args, "0/1") for _ in range(2)]
        await start_together(processes)
        results = [await finish(process) for process in processes]
        for code, lines in results:
            assert code == 0, lines[-5:]
            assert done_counts(lines)["failed"] == 0
        assert [done_counts(lines)["ok"] for _, lines in results] == [30, 30, 30, 90, 90]
        assert_each_created_once(emulator, rows)


class ResponseLog:
    """(time, status) of every response the emulator sends; ``then(n, action)`` runs
    ``action`` once, as the ``n``-th response is sent. Hooked in before the app starts."""

    def __init__(self, emulator: Emulator) -> None:
        self.entries: list[tuple[float, int]] = []
        self._pending: list[tuple[int, Callable[[], object]]] = []
        emulator.app.on_response_prepare.append(self._record)

    def then(self, count: int, action: Callable[[], object]) -> None:
        self._pending.append((count, action))

    async def _record(self, request: web.Request, response: web.StreamResponse) -> None:
        self.entries.append((time.monotonic(), response.status))
        due = [entry for entry in self._pending if entry[0] <= len(self.entries)]
        for entry in due:
            self._pending.remove(entry)
            entry[1]()


async def test_a_429_with_retry_after_2_to_one_process_pauses_every_process(redis_url, tmp_path):
    emulator = Emulator(rate_limit=None)
    responses = ResponseLog(emulator)
    # By the 100th response all four processes are sending (each sends from its start).
    responses.then(100, lambda: emulator.add_fault("*", "*", status=429, retry_after=2))
    async with emulator:
        rows = add_rows(emulator, 300, tmp_path / "rows.json")
        outputs = await run_creates(emulator, redis_url, tmp_path / "rows.json")
    log = responses.entries
    limited = [at for at, status in log if status == 429]
    assert len(limited) == 1  # returned to one process
    [at] = limited
    # Requests already past the limiter when the 429 was answered may still land at once;
    # after that no process sends until Retry-After has passed.
    grace = 0.1
    in_pause = [t - at for t, _ in log if at + grace < t < at + 2 - 0.01]
    assert in_pause == []
    assert any(t >= at + 2 - 0.01 for t, _ in log)  # and they went on afterwards
    assert_each_created_once(emulator, rows)
    check_reports(outputs, rows)


async def test_redis_stopped_mid_run_stops_every_create_and_a_rerun_finishes_once(
    persistent_redis_server, tmp_path
):
    server = persistent_redis_server
    emulator = Emulator(rate_limit=None)
    responses = ResponseLog(emulator)
    responses.then(150, server.stop)  # SIGKILL, mid-run: every process is sending
    async with emulator:
        rows = add_rows(emulator, 300, tmp_path / "rows.json")
        args = ("creates", emulator.url, server.url, str(tmp_path / "rows.json"))
        processes = [await spawn(*args, str(seed)) for seed in range(4)]
        await start_together(processes)
        for process in processes:
            code, lines = await finish(process)
            assert code == 1 and lines[-1].startswith("error CoordinationError "), lines[-3:]
        created = created_per_key(emulator)
        assert 0 < len(created) < len(rows) and set(created.values()) == {1}

        # Every create that was sent had its claim: Redis (appendfsync always) holds a
        # done record or a started marker for each fulfillment's key.
        server.start()
        async with RedisCoordinator(server.url) as coordinator, Redis.from_url(server.url) as raw:
            claims = coordinator.claims(API_KEY)
            for key in created:
                _, started, done = claims.keys_for(key)
                assert await raw.exists(started, done) >= 1, key

        # Redis is back with its data: a re-run creates the rest, nothing twice.
        outputs = await run_creates(emulator, server.url, tmp_path / "rows.json")
        assert_each_created_once(emulator, rows)
        rerun_created = [key for lines in outputs for key in reported(lines, "created")]
        assert sorted(rerun_created) == sorted(set({row[0] for row in rows}) - set(created))


async def test_a_worker_paused_past_its_lease_never_sends_after_another_took_over(
    redis_url: str, tmp_path: Path
) -> None:
    # Issue 18: worker A holds the claim and waits out a 429's Retry-After; A is paused
    # (SIGSTOP) past its lease; worker B takes over, settles and creates. When A goes on,
    # the fence before its send finds the claim gone: nothing is sent.
    async with Emulator(rate_limit=None) as emulator:
        rows = add_rows(emulator, 1, tmp_path / "rows.json")
        limited = emulator.add_fault("POST", "/fulfillments", status=429, retry_after=2)
        a = await spawn("creates", emulator.url, redis_url, str(tmp_path / "rows.json"), "0")
        await start_together([a])
        deadline = time.monotonic() + 30
        while not limited.hits:
            assert time.monotonic() < deadline, "worker A never sent its create"
            await asyncio.sleep(0.01)
        a.send_signal(signal.SIGSTOP)
        try:
            # A's claim outlasts its fenced send (timeout 2 s) plus a lease (0.5 s).
            await asyncio.sleep(3.0)
            b = await spawn("creates", emulator.url, redis_url, str(tmp_path / "rows.json"), "1")
            await start_together([b])
            code, lines = await finish(b)
            assert code == 0 and reported(lines, "created") == [rows[0][0]], lines[-3:]
        finally:
            a.send_signal(signal.SIGCONT)
        code, lines = await finish(a)
        assert code == 1 and lines[-1].startswith("error CoordinationError"), lines[-3:]
        assert_each_created_once(emulator, rows)
        assert [r.method for r in emulator.requests].count("POST") == 2  # A's 429, B's 201
