"""The console script: the optional extra, ``drfulfill emulator``, ``--help``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from drfulfill import cli as cli_package

PYTHON = sys.executable


def test_importing_drfulfill_never_imports_click_or_rich() -> None:
    code = (
        "import sys, drfulfill, drfulfill.bulk, drfulfill.testing, drfulfill.cli;"
        "print(sorted({'click', 'rich'} & set(sys.modules)))"
    )
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_main_without_click_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "click", None)  # makes `import click` fail

    with pytest.raises(SystemExit) as exit_info:
        cli_package.main(["demo"])

    assert exit_info.value.code == 2
    assert "pip install 'drfulfill[cli]'" in capsys.readouterr().err


def test_help_lists_the_commands() -> None:
    out = subprocess.run(
        [PYTHON, "-m", "drfulfill.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("demo", "upload", "fulfillments", "returns", "emulator"):
        assert command in out.stdout


def test_unknown_command_exits_2() -> None:
    done = subprocess.run([PYTHON, "-m", "drfulfill.cli", "nope"], capture_output=True, text=True)
    assert done.returncode == 2


def test_emulator_command_serves_until_interrupted() -> None:
    command = [PYTHON, "-m", "drfulfill.cli", "emulator", "--port", "0", "--seed-orders", "2"]
    command += ["--rate-limit", "off"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    ) as process:
        try:
            assert process.stdout is not None
            banner = [process.stdout.readline() for _ in range(2)]
            assert banner[0].startswith("Digital River emulator on http://127.0.0.1:")
            exports = dict(part.split("=", 1) for part in banner[1].split()[1:])
            assert exports["DR_API_KEY"] == "sk_test_emulator"
            request = urllib.request.Request(
                exports["DR_BASE_URL"] + "/fulfillments",
                headers={"Authorization": f"Bearer {exports['DR_API_KEY']}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.load(response) == {"data": [], "hasMore": False}
            order_line = process.stdout.readline()
            assert order_line.startswith("order ") and "x5" in order_line
        finally:
            process.send_signal(signal.SIGINT)
            _out, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors
