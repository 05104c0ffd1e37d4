"""Real processes sharing one Redis: the limit holds across them, a killed holder's
claim is taken over."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

from drfulfill.redis import RedisCoordinator

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
