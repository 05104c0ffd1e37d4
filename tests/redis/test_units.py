"""The coordinator's pure decisions and its argument checks (no server)."""

from __future__ import annotations

import hashlib

import pytest

from drfulfill._ratelimit import RateLimiter
from drfulfill.errors import APITimeoutError, ValidationError
from drfulfill.redis import RedisCoordinator, key_prefix
from drfulfill.redis._claims import poll_wait
from drfulfill.redis._limiter import MAX_ROUND_TRIP, Fallback, round_trip_bound


def test_the_prefix_is_a_hash_tag_of_the_key():
    digest = hashlib.sha256(b"sk_live_x").hexdigest()[:16]
    assert key_prefix("drfulfill", "sk_live_x") == f"drfulfill:{{{digest}}}"
    assert key_prefix("drfulfill", "sk_live_y") != key_prefix("drfulfill", "sk_live_x")


def test_fallback_logs_once_each_way_and_probes_one_caller_at_a_time():
    state = Fallback(probe_interval=1.0)
    assert not state.use_local(0.0)
    assert state.failed(0.0) is True
    assert state.failed(0.1) is False  # still down: no second log line
    assert state.use_local(0.5)
    assert not state.use_local(1.2)  # this caller probes Redis...
    assert state.use_local(1.3)  # ...the others stay local meanwhile
    assert state.succeeded() is True
    assert state.succeeded() is False
    assert not state.use_local(1.4)


def test_poll_wait_doubles_up_to_the_cap_within_the_lease_and_the_deadline():
    waits = [poll_wait(n, first=0.01, cap=0.05, lease_left=10, left=None) for n in range(5)]
    assert waits == pytest.approx([0.01, 0.02, 0.04, 0.05, 0.05])
    assert poll_wait(9, first=0.01, cap=1, lease_left=0.003, left=None) == 0.003
    assert poll_wait(9, first=0.01, cap=1, lease_left=5, left=0.002) == 0.002


@pytest.mark.parametrize(
    "options",
    [
        {"fallback_share": 0},
        {"fallback_share": 4},
        {"lease": 0},
        {"done_ttl": -1},
        {"poll": (0.5, 0.1)},
        {"namespace": ""},
    ],
)
def test_bad_options_are_refused(options):
    with pytest.raises(ValidationError):
        RedisCoordinator("redis://127.0.0.1:1/0", **options)


async def test_a_coordinator_never_shows_its_url():
    coordinator = RedisCoordinator("redis://:secret@127.0.0.1:1/0")
    assert "secret" not in repr(coordinator)
    with pytest.raises(ValidationError):
        coordinator.limiter("sk_live_x", 0)
    await coordinator.close()


async def test_the_local_fallback_refuses_a_pause_longer_than_max_wait():
    limiter = RateLimiter(10)
    await limiter.acquire(max_wait=0)
    await limiter.pause(5)
    assert await limiter.paused_for() == pytest.approx(5, abs=0.1)
    with pytest.raises(APITimeoutError) as caught:
        await limiter.acquire(max_wait=1)
    assert caught.value.sent is False


def test_a_round_trip_may_take_half_of_what_is_left_and_never_more_than_a_second():
    assert round_trip_bound(None) == MAX_ROUND_TRIP == 1.0
    assert round_trip_bound(0.5) == 0.25
    assert round_trip_bound(30) == 1.0
    assert round_trip_bound(0) == 0
