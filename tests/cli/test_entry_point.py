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


def banner_of(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines = []
    while not lines or lines[-1] != "Ctrl-C to stop.":
        lines.append(process.stdout.readline().rstrip("\n"))
    return lines


@pytest.mark.parametrize("launcher", [["drfulfill.cli", "emulator"], ["drfulfill.testing"]])
def test_both_launchers_serve_the_readme_data_until_interrupted(launcher: list[str]) -> None:
    command = [PYTHON, "-m", *launcher, "--port", "0", "--seed-orders", "2", "--rate-limit", "off"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    ) as process:
        try:
            banner = banner_of(process)
            assert banner[0].startswith("Digital River emulator on http://127.0.0.1:")
            export = next(line for line in banner if line.startswith("export "))
            exports = dict(part.split("=", 1) for part in export.split()[1:])
            assert exports["DR_API_KEY"] == "sk_test_emulator"
            assert banner[2].startswith("2 orders: ")
            assert any("order 231388420336" in line for line in banner)
            request = urllib.request.Request(
                exports["DR_BASE_URL"] + "/fulfillments?orderId=231388420336",
                headers={"Authorization": f"Bearer {exports['DR_API_KEY']}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.load(response) == {"data": [], "hasMore": False}
        finally:
            process.send_signal(signal.SIGINT)
            _out, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors


def test_one_launcher_one_set_of_defaults() -> None:
    helps = [
        subprocess.run(
            [PYTHON, "-m", *launcher, "--help"], capture_output=True, text=True, check=True
        ).stdout
        for launcher in (["drfulfill.cli", "emulator"], ["drfulfill.testing"])
    ]
    options = [help_text.split("options:", 1)[1] for help_text in helps]
    assert options[0] == options[1]
    assert "default 8787" in options[0] and "(default 10)" in options[0]


def imported_by(statement: str, *, after: str = "pass") -> list[str]:
    """The modules ``statement`` imports in a fresh interpreter, once ``after`` ran."""
    code = (
        f"import sys; {after}; before = set(sys.modules); {statement}; "
        "print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


HEAVY = ("aiohttp", "cattrs", "tenacity", "attrs", "drfulfill.testing._emulator")


def test_the_pytest_plugin_imports_nothing_heavy() -> None:
    # pytest loads the plugin in every project that has drfulfill installed (0.1.0: 0.4-0.55 s).
    modules = imported_by(
        "import drfulfill.testing.pytest_plugin", after="import pytest, pytest_asyncio"
    )
    assert [m for m in modules if m.startswith(HEAVY)] == []
    assert "drfulfill.testing.pytest_plugin" in modules


def test_the_package_loads_its_names_on_first_use() -> None:
    assert [m for m in imported_by("import drfulfill") if m.startswith(HEAVY)] == []
    code = (
        "import drfulfill, drfulfill.testing;"
        "from drfulfill import Client, ValidationError;"
        "from drfulfill.testing import Emulator, Fault;"
        "assert drfulfill.Client is Client and 'Client' in dir(drfulfill);"
        "assert set(drfulfill.__all__) <= set(dir(drfulfill));"
        "assert all(getattr(drfulfill, n) is not None for n in drfulfill.__all__);"
        "assert all(getattr(drfulfill.testing, n) is not None for n in drfulfill.testing.__all__)"
    )
    subprocess.run([PYTHON, "-c", code], check=True)
    missing = subprocess.run(
        [PYTHON, "-c", "import drfulfill; drfulfill.Nope"], capture_output=True, text=True
    )
    assert "AttributeError: module 'drfulfill' has no attribute 'Nope'" in missing.stderr
