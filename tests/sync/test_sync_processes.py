"""SyncClient in whole processes, run as users run scripts (every warning shown): Ctrl-C,
fork, and the interpreter's exit, against an emulator served by the test's loop."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from drfulfill.testing import Emulator

from ._scripts import KEY, SHOW_EVERY_WARNING, run_script

CTRL_C = """
import asyncio, sys, time
from drfulfill import SyncClient
from drfulfill._portal import portal

async def tasks_left():
    return len(asyncio.all_tasks()) - 1

dr = SyncClient(rate_limit=None, settle=0.1)  # a bulk run without a journal waits settle
print("calling", flush=True)
started = time.monotonic()
try:
    dr.fulfillments.retrieve(sys.argv[1])  # the emulator holds it for 60 s
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - started:.1f}s", flush=True)
print("tasks left", portal().call(tasks_left), flush=True)  # the call was cancelled
print("again", dr.fulfillments.retrieve(sys.argv[1]).id)  # still usable
dr.close()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_cancels_the_call_and_raises_keyboard_interrupt_promptly(
    emu: Emulator, tmp_path: Path
) -> None:
    order = emu.add_order(items=[{"item_id": "i1", "quantity": 1}])
    from drfulfill import Client

    async with Client(KEY, base_url=emu.url, rate_limit=None) as dr:
        f = await dr.fulfillments.create(order_id=order, items=[{"item_id": "i1", "quantity": 1}])
    emu.add_fault("GET", "/fulfillments/*", latency=60)  # the first retrieve only
    emu.clear_log()
    script = tmp_path / "script.py"
    script.write_text(CTRL_C, encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *SHOW_EVERY_WARNING,
        str(script),
        f.id,
        env={"DR_API_KEY": KEY, "DR_BASE_URL": emu.url, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 30) == b"calling\n"

    async def held() -> None:  # until the retrieve reached the emulator, which holds it
        while not emu.requests:  # noqa: ASYNC110 - the emulator has no event for an arrival
            await asyncio.sleep(0.01)

    await asyncio.wait_for(held(), 30)
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    lines = out.decode().splitlines()
    assert process.returncode == 0, err.decode()
    assert lines[0].startswith("interrupted after") and float(lines[0].split()[2][:-1]) < 10
    assert lines[1:] == ["tasks left 0", f"again {f.id}"]
    assert err.decode() == ""


SLOW_TO_CANCEL = """
import asyncio, os, signal, threading
from drfulfill._portal import iterate

async def stubborn():  # its step outlives the 1 s grace after Ctrl-C
    yield 1
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        await asyncio.sleep(1.5)
        raise
    yield 2

steps = iterate(stubborn)
print(next(steps), flush=True)
threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    next(steps)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_in_an_iterator_whose_step_is_slow_to_cancel_stays_a_keyboard_interrupt(
    tmp_path: Path,
) -> None:
    # Before: closing the iterator after the grace found its step still running, and
    # "RuntimeError: asynchronous generator is already running" replaced the Ctrl-C.
    script = tmp_path / "script.py"
    script.write_text(SLOW_TO_CANCEL, encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert out.decode().splitlines() == ["1", "interrupted"], err.decode()


FORK = """
import os, signal, sys
from drfulfill import SyncClient

order = sys.argv[1]
dr = SyncClient(rate_limit=None, settle=0.1)  # a bulk run without a journal waits settle
one = [{"item_id": "i1", "quantity": 1}]
first = dr.fulfillments.create(order_id=order, items=one)  # the portal runs in the parent
pid = os.fork()
if pid == 0:
    signal.alarm(20)  # a hung child ends itself
    made = dr.fulfillments.create(order_id=order, items=one)  # a fresh portal and client
    with SyncClient(rate_limit=None) as other:
        assert other.fulfillments.retrieve(made.id).id == made.id
    assert len(list(dr.fulfillments.list(order_id=order))) == 2
    dr.close()
    print("child ok", flush=True)
    sys.exit(0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
print("parent", dr.fulfillments.retrieve(first.id).id == first.id, flush=True)
print(len(list(dr.fulfillments.list(order_id=order))), flush=True)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork here")
async def test_a_forked_child_gets_a_fresh_portal_and_the_parent_goes_on(
    emu: Emulator, tmp_path: Path
) -> None:
    order = emu.add_order(items=[{"item_id": "i1", "quantity": 5}])
    status, out, err = await run_script(FORK, emu.url, tmp_path, order)
    assert status == 0, err
    assert out.split("\n")[:3] == ["child ok", "parent True", "2"]
    assert err == ""


EXIT = """
import sys
from drfulfill import SyncClient

order = sys.argv[1]
dr = SyncClient(rate_limit=None, settle=0.1)  # a bulk run without a journal waits settle
view = dr.with_options(timeout=5)
one = [{"item_id": "i1", "quantity": 1}]
for _ in range(3):
    view.fulfillments.create(order_id=order, items=one)
pages = dr.fulfillments.list(limit=1, prefetch=True).pages()
next(pages)  # left open, a page being fetched
rows = dr.fulfillments.bulk_create([{"order_id": order, "items": one}] * 2)
next(rows)  # left open too
SyncClient(rate_limit=None).fulfillments.retrieve(view.fulfillments.list().first_page().data[0].id)
print("done")  # no close(): the exit closes everything, quietly
"""


async def test_the_interpreters_exit_closes_everything_quietly(
    emu: Emulator, tmp_path: Path
) -> None:
    order = emu.add_order(items=[{"item_id": "i1", "quantity": 10}])
    status, out, err = await run_script(EXIT, emu.url, tmp_path, order)
    assert status == 0 and out == "done\n", err
    assert err == ""  # no ResourceWarning, no "Unclosed client session/connector"
