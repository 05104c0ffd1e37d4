"""Run a Python script in a child process against an emulator served by the test's loop."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

KEY = "sk_test_sync"
# Warnings a user never sees by default (ResourceWarning) are all shown, once each place.
SHOW_EVERY_WARNING = ["-W", "always", "-X", "faulthandler"]


async def run_script(
    code: str, base_url: str, tmp_path: Path, *args: str, timeout: float = 60
) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``code`` run as a script, ``DR_BASE_URL`` and
    ``DR_API_KEY`` set; killed after ``timeout`` seconds (a hang fails the test, not CI)."""
    script = tmp_path / "script.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "DR_API_KEY": KEY, "DR_BASE_URL": base_url, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *SHOW_EVERY_WARNING,
        str(script),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"the script hung for {timeout}s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
