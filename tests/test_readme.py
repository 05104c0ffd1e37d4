"""Every ```python block of README.md runs as written, against the emulator.

A block is a script (run with ``python`` in a fresh folder holding the README's sample
``shipments.csv``, with ``DR_API_KEY``/``DR_BASE_URL`` pointing at an emulator that holds the
README's sample ids, as ``drfulfill emulator`` does) or, if it defines ``test_`` functions, a
test module (run with ``pytest``, which loads drfulfill's plugin as a user's project would).
A block preceded by ``<!-- no-run -->`` is skipped: only for one that truly cannot run.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from drfulfill.testing import Emulator
from drfulfill.testing._launcher import TEST_KEY, add_quickstart_data

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"(<!-- no-run -->\s*)?^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[tuple[int, str, bool]]:
    """``(line, code, skipped)`` of each block in ``language``."""
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start(2)) + 1, match.group(3), bool(match.group(1)))
        for match in _BLOCK.finditer(text)
        if match.group(2) == language
    ]


PYTHON_BLOCKS = blocks("python")


def test_the_readme_has_the_blocks_this_test_expects() -> None:
    assert len(PYTHON_BLOCKS) >= 4
    assert blocks("csv"), "the bulk sample reads the README's shipments.csv"


async def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.mark.parametrize(
    ("line", "code", "skipped"), PYTHON_BLOCKS, ids=[f"line{b[0]}" for b in PYTHON_BLOCKS]
)
async def test_readme_block_runs(tmp_path: Path, line: int, code: str, skipped: bool) -> None:
    if skipped:
        pytest.skip("marked <!-- no-run --> in the README")
    (tmp_path / "shipments.csv").write_text(blocks("csv")[0][1], encoding="utf-8")
    env = {**os.environ, "DR_API_KEY": TEST_KEY}
    env.pop("PYTHONPATH", None)
    async with Emulator() as emulator:
        add_quickstart_data(emulator)
        env["DR_BASE_URL"] = emulator.url
        if re.search(r"^(async )?def test_", code, re.M):
            (tmp_path / "test_block.py").write_text(code, encoding="utf-8")
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            status, output = await run([*command, "test_block.py"], tmp_path, env)
        else:
            (tmp_path / "block.py").write_text(code, encoding="utf-8")
            status, output = await run([sys.executable, "block.py"], tmp_path, env)
    assert status == 0, f"README.md line {line}:\n{output}"
    assert "Traceback" not in output and "failed:" not in output, output
