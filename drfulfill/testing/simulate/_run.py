"""Many runs, their summary, and the command line."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields

from . import _loop
from ._world import Options, Result, run


@dataclass
class Summary:
    """What ``simulate`` found over its runs."""

    runs: int = 0
    failed: list[Result] = field(default_factory=list)  # duplicates or broken invariants
    outside: Counter[str] = field(default_factory=Counter)  # runs per limit exceeded
    outside_runs: int = 0
    outside_duplicates: int = 0  # duplicates in runs outside the promise (expected there)
    requests: int = 0
    creates: int = 0
    virtual: float = 0.0
    real: float = 0.0

    @property
    def requests_per_create(self) -> float:
        return self.requests / self.creates if self.creates else 0.0

    def add(self, other: Summary) -> None:
        """Count ``other``'s runs in this summary too (its real time is not added)."""
        self.runs += other.runs
        self.failed += other.failed
        self.outside += other.outside
        self.outside_runs += other.outside_runs
        self.outside_duplicates += other.outside_duplicates
        self.requests += other.requests
        self.creates += other.creates
        self.virtual += other.virtual


def simulate(
    runs: int,
    seed: int,
    options: Options | None = None,
    *,
    on_result: Callable[[Result], None] | None = None,
    jobs: int = 1,
) -> Summary:
    """Run seeds ``seed`` .. ``seed + runs - 1``; each run on a fresh virtual-time loop.

    :param runs: how many runs.
    :param seed: the first run's seed (run ``n`` uses ``seed + n``).
    :param options: what each run simulates (``Options()`` by default).
    :param on_result: called with each run's ``Result`` (only with ``jobs=1``).
    :param jobs: processes to share the runs among (each seed replays exactly in any
        process, so the summary is the same as with one).
    :returns: the ``Summary``.
    :raises ValueError: when ``jobs`` is below 1, or above 1 with ``on_result``.
    """
    if jobs < 1 or (jobs > 1 and on_result is not None):
        raise ValueError(f"jobs must be >= 1, and 1 with on_result; got {jobs!r}")
    options = options or Options()
    began = time.perf_counter()
    if jobs == 1:
        summary = _simulate(runs, seed, options, on_result)
    else:
        summary = Summary()
        chunks = [(seed + start, min(_CHUNK, runs - start)) for start in range(0, runs, _CHUNK)]
        # spawn, not fork: the caller's process may have threads (a SyncClient's portal).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = [pool.submit(_simulate, count, first, options) for first, count in chunks]
            for future in futures:
                summary.add(future.result())
        summary.failed.sort(key=lambda result: result.seed)
    summary.real = time.perf_counter() - began
    return summary


# Runs per task when they are shared among processes: small enough to balance the load.
_CHUNK = 50


def _simulate(
    runs: int, seed: int, options: Options, on_result: Callable[[Result], None] | None = None
) -> Summary:
    summary = Summary()
    for n in range(runs):
        result = _loop.run(run(seed + n, options))
        summary.runs += 1
        summary.requests += result.requests
        summary.creates += result.creates
        summary.virtual += result.virtual
        if result.failed:
            summary.failed.append(result)
        elif result.outside:
            summary.outside_runs += 1
            summary.outside_duplicates += bool(result.excused)
            for limit in {reason.split(" (")[0] for reason in result.outside}:
                summary.outside[limit] += 1
        if on_result is not None:
            on_result(result)
    return summary


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m drfulfill.testing.simulate",
        description="Simulate a fleet, Digital River and Redis under faults, from seeds, "
        "and check that every key is created exactly once.",
    )
    parser.add_argument("--runs", type=int, default=200, help="how many runs (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="the first run's seed (default 1)")
    parser.add_argument(
        "--jobs", type=int, default=1, help="processes to share the runs among (default 1)"
    )
    defaults = Options()
    helps = {
        "workers": "worker processes of the fleet",
        "keys": "queue messages (one key each) per run",
        "orders": "orders the messages share",
        "bulk_rows": "rows of the bulk upload some runs make (0: none)",
        "uploads": "the chance a run has a bulk upload",
        "journal": "the chance an upload keeps a journal",
        "since": "the chance an upload is given since=",
        "fault_rate": "the highest chance of each fault a run may draw",
        "settle": "the clients' settle window, seconds",
        "timeout": "the clients' attempt timeout, seconds",
        "deadline": "the clients' deadline, seconds",
        "lease": "the coordinator's lease, seconds",
        "horizon": "the coordinator's horizon, seconds",
        "fault_phase": "virtual seconds of faults before the calm phase",
    }
    for option in fields(Options):
        default = getattr(defaults, option.name)
        parser.add_argument(
            "--" + option.name.replace("_", "-"),
            type=type(default),
            default=default,
            help=f"{helps[option.name]} (default {default:g})",
        )
    return parser


def replay_command(result: Result, options: Options) -> str:
    defaults = Options()
    flags = [
        f"--{f.name.replace('_', '-')} {getattr(options, f.name):g}"
        for f in fields(Options)
        if getattr(options, f.name) != getattr(defaults, f.name)
    ]
    return " ".join(
        ["python -m drfulfill.testing.simulate --runs 1 --seed", str(result.seed), *flags]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    options = Options(**{f.name: getattr(args, f.name) for f in fields(Options)})
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    summary = simulate(args.runs, args.seed, options, jobs=args.jobs)
    print(f"runs: {summary.runs} (seeds {args.seed}..{args.seed + args.runs - 1})")
    print(f"duplicates or broken invariants within the promise: {len(summary.failed)}")
    print(
        f"outside the promise: {summary.outside_runs} run(s), "
        f"{summary.outside_duplicates} of them with a duplicate"
    )
    for limit, count in summary.outside.most_common():
        print(f"  {count:6d}  {limit}")
    print(
        f"requests per create: {summary.requests_per_create:.3f} "
        f"({summary.requests} requests, {summary.creates} fulfillments)"
    )
    print(
        f"virtual time: {summary.virtual / 3600:.1f} h; real time: {summary.real:.1f} s "
        f"({summary.runs / summary.real if summary.real else 0:.1f} runs/s)"
    )
    for result in summary.failed[:3]:
        print()
        problems = [f"duplicate key {key}" for key in result.unexcused] + result.violations
        print(f"FAILED seed {result.seed}: {'; '.join(problems)}")
        print(f"replay: {replay_command(result, options)}")
        key = result.unexcused[0] if result.unexcused else None
        if key is not None:
            print(f"trace of {key}:")
            for line in result.trace.of(key):
                print("  " + line)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
