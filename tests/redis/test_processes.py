"""Real processes sharing one Redis: the limit holds across them, a killed holder's
claim is taken over."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis

from drfulfill.redis import RedisCoordinator

from ._fleet import COUNTS
from .test_claims import assert_created_once
from .test_limiter import max_in_window

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk_live_fleet_processes"


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.redis._worker", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_three_processes_share_one_rate(redis_url):
    rate, count = 200, 40  # burst 40: together they must spread 120 slots over 0.4 s
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(spawn("limit", redis_url, KEY, str(rate), str(count)))
            for _ in range(3)
        ]
        stack.callback(lambda: [worker.kill() for worker in workers])
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        runs = [json.loads(worker.communicate(timeout=30)[0]) for worker in workers]
    sent = sorted(t for run in runs for t in run)
    burst = rate / 5
    span = sent[-1] - sent[0]
    assert len(sent) <= burst + rate * span + 2
    assert span >= (len(sent) - burst - 2) / rate
    assert max_in_window(sent, 0.1) <= burst + rate * 0.1 + 2
    # They ran at the same time (each alone would have finished inside its burst).
    starts, ends = [run[0] for run in runs], [run[-1] for run in runs]
    assert max(starts) < min(ends)


async def test_a_claim_of_a_killed_process_is_taken_over(redis_url):
    with spawn("claim", redis_url, KEY, "0.2") as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
        finally:
            holder.kill()  # SIGKILL: no release, no more renewals
    async with RedisCoordinator(redis_url, poll=(0.005, 0.02)) as coordinator:
        claim = await coordinator.claims(KEY).acquire("k1", max_wait=5)
        assert claim.taken_over and claim.done_id is None
        await claim.release("ful_1")


def run_claim_workers(redis_url, count, *, kill_after=None):
    """Four processes handle the same keys in different orders; with ``kill_after``, the
    first is SIGKILLed once it has created that many and is started again."""
    args = ("claims", redis_url, KEY, "0.3")
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(spawn(*args, str(seed), str(count))) for seed in range(4)]
        stack.callback(lambda: [worker.kill() for worker in workers])
        if kill_after is not None:
            victim = workers[0]
            assert victim.stdout is not None
            for _ in range(kill_after):
                assert victim.stdout.readline().startswith("created ")
            victim.kill()
            victim.wait()
            workers[0] = stack.enter_context(spawn(*args, "0", str(count)))
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    runs = []
    for output in outputs:
        last = output.strip().splitlines()[-1]
        assert last.startswith("done ")
        runs.append(json.loads(last[5:]))
    return runs


async def check_created_once(redis_url, count, runs, **options):
    async with Redis.from_url(redis_url) as raw:
        assert_created_once(count, runs, await raw.hgetall(COUNTS), **options)


@pytest.mark.slow
async def test_four_processes_create_1000_keys_once(redis_url):
    runs = run_claim_workers(redis_url, 1000)
    await check_created_once(redis_url, 1000, runs)


@pytest.mark.slow
async def test_a_process_killed_mid_run_and_restarted_creates_nothing_twice(redis_url):
    runs = run_claim_workers(redis_url, 1000, kill_after=50)
    # The killed run's output is lost; its creates are in the counts, once each.
    await check_created_once(redis_url, 1000, runs, lost_reports=True)
