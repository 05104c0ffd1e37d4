import pytest

from drfulfill import ValidationError
from drfulfill._ratelimit import RateLimiter, default_rate_for, is_test_key

from .conftest import FakeTime


def test_default_rates_follow_the_key():
    assert default_rate_for("sk_test_abc") == 25
    assert default_rate_for("sk_abc") == 250
    assert default_rate_for(None) == 250


def test_only_sk_test_keys_are_test_keys():
    assert is_test_key("sk_test_abc")
    assert not any(map(is_test_key, ["sk_live_abc", "sk_abc", "SK_TEST_abc", "", None]))


def test_burst_then_steady_pacing():
    t = FakeTime()
    limiter = RateLimiter(10, burst=3, clock=t.clock)
    waits = [limiter.reserve() - t.now for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


async def test_acquire_sleeps_for_its_slot_and_keeps_the_rate():
    t = FakeTime()
    limiter = RateLimiter(25, burst=1, clock=t.clock, sleep=t.sleep)
    for _ in range(50):
        await limiter.acquire()
    # 50 requests at 25/s with no burst: the last goes out 49 intervals after the first.
    assert t.now - 1000.0 == pytest.approx(49 / 25)


def test_idle_time_refills_the_burst_but_not_beyond_it():
    t = FakeTime()
    limiter = RateLimiter(10, burst=2, clock=t.clock)
    assert [limiter.reserve() - t.now for _ in range(2)] == [0, 0]
    t.now += 60
    assert [limiter.reserve() - t.now for _ in range(3)] == pytest.approx([0, 0, 0.1])


async def test_pause_holds_every_request_back_then_paces_from_empty():
    t = FakeTime()
    limiter = RateLimiter(10, burst=5, clock=t.clock, sleep=t.sleep)
    await limiter.pause(2.0)
    await limiter.acquire()
    assert t.now == pytest.approx(1002.0)
    assert limiter.reserve() - t.now == pytest.approx(0.1)  # no burst right after a pause


async def test_a_pause_during_a_wait_extends_it():
    t = FakeTime()

    async def sleep_and_get_paused(seconds):
        t.now += seconds
        if t.now == 1001.0:  # a 429 arrives while this request waits for its slot
            await limiter.pause(2.0)

    limiter = RateLimiter(1, burst=1, clock=t.clock, sleep=sleep_and_get_paused)
    assert limiter.reserve() == t.now
    await limiter.acquire()
    assert t.now == pytest.approx(1003.0)


def test_rate_must_be_positive():
    with pytest.raises(ValidationError):
        RateLimiter(0)
