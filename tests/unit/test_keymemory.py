"""What one process remembers of safe-create keys, in bounded memory (``_keymemory``)."""

from __future__ import annotations

from drfulfill._keymemory import Doubts, KnownKey, KnownKeys, RunKey, RunKeys


def test_run_keys_remember_every_key_with_its_content_and_state() -> None:
    keys = RunKeys(capacity=8)
    for n in range(5000):  # grows well past its first capacity
        keys.put(f"k{n}", n, RunKey.EXISTS if n % 3 else RunKey.IN_DOUBT)
    assert len(keys) == 5000
    for n in range(5000):
        assert keys.get(f"k{n}") == (n, RunKey.EXISTS if n % 3 else RunKey.IN_DOUBT)
    assert keys.get("never") is None
    assert keys.nbytes <= 5000 * 48  # at most two thirds full, 16 bytes a slot


def test_a_key_that_exists_stays_so_and_a_doubt_is_cleared_by_its_create() -> None:
    keys = RunKeys()
    keys.put("k", 7, RunKey.IN_DOUBT)
    keys.put("k", 7, RunKey.EXISTS)
    assert keys.get("k") == (7, RunKey.EXISTS)
    keys.put("k", 7, RunKey.IN_DOUBT)  # a later doubt changes nothing
    assert keys.get("k") == (7, RunKey.EXISTS)


def test_run_keys_take_63_bit_digests() -> None:
    keys = RunKeys()
    keys.put("k", 2**63 - 1, RunKey.IN_DOUBT)
    assert keys.get("k") == (2**63 - 1, RunKey.IN_DOUBT)


def test_a_doubt_stays_until_a_create_settles_it_and_the_latest_wins() -> None:
    doubts = Doubts(size=10)
    doubts.note("k", since=10.0, now=10.0, settle=1.0)
    doubts.note("k", since=8.0, now=11.0, settle=1.0)  # an earlier doubt: the later stays
    assert doubts.since("k") == 10.0  # however long ago: only a create of the key settles it
    doubts.forget("k")
    assert doubts.since("k") is None and len(doubts) == 0


def test_doubts_are_bounded_the_oldest_dropped_first_once_their_window_passed() -> None:
    doubts = Doubts(size=100)
    for n in range(1000):
        doubts.note(f"k{n}", since=float(n), now=float(n), settle=10.0)
    assert len(doubts) == 100
    assert doubts.since("k899") is None and doubts.since("k999") == 999.0


def test_a_doubt_whose_window_is_open_is_never_dropped() -> None:
    # A burst of doubts within one settle window (a bulk run without a coordinator in a
    # DR outage): before, the oldest were dropped by count, and the next create of such a
    # key looked it up once and sent while its first create could still land.
    doubts = Doubts(size=100)
    for n in range(1000):
        doubts.note(f"k{n}", since=n / 1000, now=n / 1000, settle=10.0)
    assert len(doubts) == 1000 and doubts.since("k0") == 0.0
    doubts.note("late", since=20.0, now=20.0, settle=10.0)  # every earlier window has passed
    assert len(doubts) == 100 and doubts.since("k0") is None and doubts.since("late") == 20.0


def test_known_keys_hold_ids_and_digests_least_recently_used_out() -> None:
    known = KnownKeys(size=2)
    known.add("a", KnownKey("ful_a", 1))
    known.add("b", KnownKey("ful_b", 2))
    known.add("c", KnownKey("ful_c", 3))
    assert known.get("a") is None and known.get("c") == KnownKey("ful_c", 3)
    assert len(known) == 2
