"""Seeds the simulator failed on at ``--fault-rate 0.5`` (seeds 100000..102999) before the
fixes they found, each replayed here (a seed replays exactly: see ``test_simulate``)."""

from __future__ import annotations

from drfulfill.testing.simulate import Options, simulate
from drfulfill.testing.simulate._checks import LATE_COMMIT, excuse
from drfulfill.testing.simulate._dr import Post


def test_seed_100408_a_stalled_memory_load_does_not_take_the_next_ones_loading_key() -> None:
    # Found on the change that writes the marker only while the load holds its loading
    # key. Redis is flushed three times; memory loads begun before a flush (whose workers
    # then crashed or stalled) came back in the calm phase and kept "their" loading key
    # with SET XX, overwriting the token of the load running then: that load's marker was
    # refused, it started again, and was overwritten again. No create for 45 minutes.
    # Replay: python -m drfulfill.testing.simulate --runs 1 --seed 100408 --fault-rate 0.5
    summary = simulate(1, seed=100408, options=Options(fault_rate=0.5))
    assert summary.failed == [], [r.violations[:3] for r in summary.failed]


def test_seed_101347_a_rerun_after_its_journal_was_deleted_waits_out_the_doubt() -> None:
    # upload-1 (a journal) leaves a row in doubt (504, its deadline spent), then the
    # journal is deleted. upload-2 (a new client, a new journal) looked the row up at once
    # and sent it 1.75 s after upload-1's failure; DR committed the first create 4 s later,
    # within the settle window: two fulfillments, within the promise.
    # Replay: python -m drfulfill.testing.simulate --runs 1 --seed 101347 --fault-rate 0.5
    summary = simulate(1, seed=101347, options=Options(fault_rate=0.5))
    assert summary.failed == [], [(r.duplicates, r.unexcused) for r in summary.failed]


def _post(sender: str, sent_at: float, applied_at: float | None, seen_at: float) -> Post:
    return Post("k", sent_at, 60.0, sender, applied_at=applied_at, seen_at=seen_at)


def test_a_late_commit_excuses_a_send_verified_earlier_by_another_client() -> None:
    # Another client's send verified earlier (a sweep, a vouched claim) need not look right
    # before it goes: a first create committed beyond the window is the documented limit.
    first = _post("upload-1", sent_at=20.0, applied_at=59.0, seen_at=24.6)  # 34 s late
    second = _post("upload-2", sent_at=64.8, applied_at=64.9, seen_at=64.9)
    assert excuse(first, second, lag=0.0, settle=10.0, skewed=False) == LATE_COMMIT


def test_a_clients_own_resend_after_the_first_was_listed_is_never_excused() -> None:
    # The same client resends only right after a lookup: a first create listed before the
    # resend should have been found, late or not, skewed clock or not.
    first = _post("worker-1", sent_at=20.0, applied_at=59.0, seen_at=24.6)
    second = _post("worker-1", sent_at=64.8, applied_at=64.9, seen_at=64.9)
    assert excuse(first, second, lag=0.0, settle=10.0, skewed=False) is None
    assert excuse(first, second, lag=0.0, settle=10.0, skewed=True) is None


def test_a_commit_within_the_window_is_never_excused() -> None:
    first = _post("upload-1", sent_at=20.0, applied_at=30.0, seen_at=24.6)  # 5.4 s after
    second = _post("upload-2", sent_at=25.0, applied_at=25.1, seen_at=25.1)
    assert excuse(first, second, lag=0.0, settle=10.0, skewed=False) is None
