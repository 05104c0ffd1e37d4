"""What the exactly-once simulation costs, and what it can find.

    python -m benchmarks.bench_simulate [--runs 2000] [--seed 1] [--power]

Prints the simulation's speed on this package (runs per second, virtual hours simulated per
real second). With ``--power``, for each fix of the fleet issue it copies the package to a
scratch folder, takes that one fix back out (the exact change is in ``REVERTS``), runs the
same seeds there in a child process, and prints how many runs it needed to find a
duplicate within the promise, and how many of the runs found one. A simulator that cannot
find a reverted fix would print "not found". The bulk run's memory only matters past the
client's caches (10,000 keys), so its revert is run with 10,500-row uploads given
``since=`` and no journal, whose rows from the start come again at the end (``LONG``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each fix of issue 18, taken back out: (file, the code as it is, the code before the fix).
REVERTS: dict[str, list[tuple[str, str, str]]] = {
    "settle counted from the send": [
        (
            "_safecreate.py",
            "                    try:\n                        raw = await self._attempt(",
            "                    sent_clock = transport.clock()\n                    try:\n"
            "                        raw = await self._attempt(",
        ),
        (
            "_safecreate.py",
            "event = SendFailed(error, transport.clock())",
            "event = SendFailed(error, sent_clock)",
        ),
    ],
    "no lookup before a resend": [
        (
            "_safecreate_core.py",
            "    if state.doubted:\n        return state, LookUp(wait)\n"
            "    return state, Send(wait)",
            "    return attrs.evolve(state, resend_due=False), Send(wait, resend=state.resend_due)",
        ),
    ],
    "claim released without the doubt": [
        (
            "_safecreate.py",
            "claim.release(\n                        None, doubt_since=self.doubt_since(key), "
            "max_wait=self._left(started)\n                    )",
            "claim.release(None, max_wait=self._left(started))",
        ),
    ],
    "no fencing": [
        (
            "_safecreate.py",
            "        if self._claim is not None:\n"
            "            await self._claim.fence(timeout, self._left())\n",
            "",
        ),
    ],
    "bulk forgetting its run": [
        (
            "_bulkrun.py",
            "remembered = self._run_keys.get(row.key)",
            "remembered = None",
        ),
    ],
}

# Options of the runs made for a revert (runs, then ``Options`` fields), where not the default.
LONG = {
    "bulk forgetting its run": (
        10,
        {"bulk_rows": 10_500, "keys": 2, "uploads": 1.0, "journal": 0.0, "since": 1.0},
    )
}

CHILD = """
import json, sys
import drfulfill
from drfulfill.testing.simulate import Options, simulate
assert drfulfill.__file__.startswith(sys.argv[3]), drfulfill.__file__
runs, seed, options = int(sys.argv[1]), int(sys.argv[2]), Options(**json.loads(sys.argv[4]))
found = []
summary = simulate(
    runs, seed, options, on_result=lambda r: found.append(r.seed) if r.failed else None
)
print(len(found), found[0] - seed + 1 if found else 0, f"{summary.real:.1f}")
"""


def run_child(
    package_parent: Path, runs: int, seed: int, options: dict[str, float]
) -> tuple[int, int, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(runs),
            str(seed),
            str(package_parent),
            json.dumps(options),
        ],
        cwd=package_parent,
        env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    found, first, real = out.stdout.split()
    return int(found), int(first), float(real)


def reverted_copy(scratch: Path, changes: list[tuple[str, str, str]]) -> Path:
    parent = scratch / "package"
    shutil.rmtree(parent, ignore_errors=True)
    shutil.copytree(ROOT / "drfulfill", parent / "drfulfill")
    for name, current, before in changes:
        path = parent / "drfulfill" / name
        text = path.read_text()
        if current not in text:
            raise SystemExit(f"the code to revert is not in {name} any more: {current[:60]!r}")
        path.write_text(text.replace(current, before))
    return parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--power", action="store_true", help="also revert each fix in turn")
    options = parser.parse_args()

    from drfulfill.testing.simulate import simulate

    began = time.perf_counter()
    summary = simulate(options.runs, options.seed)
    real = time.perf_counter() - began
    print(
        f"{summary.runs} runs in {real:.1f} s: {summary.runs / real:.1f} runs/s, "
        f"{summary.virtual / 3600:.1f} virtual hours ({summary.virtual / real:,.0f} virtual "
        f"seconds per real second); {len(summary.failed)} failed, "
        f"{summary.outside_runs} outside the promise; "
        f"{summary.requests_per_create:.3f} requests per create"
    )
    if not options.power:
        return
    with tempfile.TemporaryDirectory() as scratch:
        for label, changes in REVERTS.items():
            parent = reverted_copy(Path(scratch), changes)
            runs, overrides = LONG.get(label, (options.runs, {}))
            found, first, child_real = run_child(parent, runs, options.seed, overrides)
            verdict = (
                f"found after {first} run(s); {found} of {runs} runs found a duplicate"
                if found
                else f"not found in {runs} runs"
            )
            extra = "".join(f" --{k.replace('_', '-')} {v}" for k, v in overrides.items())
            print(f"  {label:34} {verdict} ({child_real:.1f} s){extra}")


if __name__ == "__main__":
    main()
