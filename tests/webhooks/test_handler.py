"""webhook_handler over a real loopback socket: 202 at once, background work, 400s, cleanup."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest
from aiohttp import web

from drfulfill import ValidationError
from drfulfill.webhooks import SIGNATURE_HEADER, Event, webhook_handler
from tests.webhooks._vectors import BODY, OLD_SECRET, SECRET, hand_header
from tests.webhooks.conftest import Receiver


def fresh_header(secret: str = SECRET, body: bytes = BODY) -> str:
    return hand_header(secret=secret, timestamp=int(time.time()), body=body)


async def post(url: str, body: bytes, header: str | None) -> tuple[int, str]:
    headers = {} if header is None else {SIGNATURE_HEADER: header}
    timeout = aiohttp.ClientTimeout(total=5)  # a handler that waits for the work fails here
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(url, data=body, headers=headers) as r,
    ):
        return r.status, await r.text()


async def test_answers_202_before_the_work_is_done(receiver: Receiver) -> None:
    release = asyncio.Event()
    handled: list[Event] = []

    async def on_event(event: Event) -> None:
        await release.wait()  # the work outlives the request
        handled.append(event)

    hook = webhook_handler(SECRET, on_event)
    receiver.handler = hook.handle
    status, _ = await post(receiver.url, BODY, fresh_header())
    assert status == 202
    assert handled == [] and hook.pending == 1
    release.set()
    await hook.wait_pending()
    assert [e.type for e in handled] == ["fulfillment.created"] and hook.pending == 0


@pytest.mark.parametrize(
    ("body", "header"),
    [
        (BODY, None),
        (BODY, "nonsense"),
        (BODY, "wrong-secret"),
        (BODY + b" ", "valid-for-BODY"),
        (BODY, "stale"),
        (b"[]", "valid-for-body"),
        (b"not json", "valid-for-body"),
    ],
)
async def test_bad_signature_or_body_is_400_and_never_handled(
    receiver: Receiver, body: bytes, header: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {
        "wrong-secret": fresh_header(secret="whsec_other"),
        "valid-for-BODY": fresh_header(),
        "stale": hand_header(),  # signed in 2023
        "valid-for-body": fresh_header(body=body),
    }
    handled: list[Event] = []

    async def on_event(event: Event) -> None:
        handled.append(event)

    hook = webhook_handler(SECRET, on_event)
    receiver.handler = hook.handle
    with caplog.at_level(logging.WARNING, logger="drfulfill"):
        status, text = await post(receiver.url, body, headers.get(header or "", header))
    assert status == 400
    assert "error" in text
    assert hook.pending == 0 and handled == []
    assert caplog.records and caplog.records[0].name == "drfulfill"


async def test_rotated_secrets(receiver: Receiver) -> None:
    handled: list[Event] = []

    async def on_event(event: Event) -> None:
        handled.append(event)

    hook = webhook_handler([SECRET, OLD_SECRET], on_event)
    receiver.handler = hook.handle
    assert (await post(receiver.url, BODY, fresh_header(secret=OLD_SECRET)))[0] == 202
    assert (await post(receiver.url, BODY, fresh_header(secret=SECRET)))[0] == 202
    await hook.wait_pending()
    assert len(handled) == 2


async def test_a_failing_callback_is_logged_with_the_event_id(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    async def on_event(event: Event) -> None:
        raise RuntimeError("database down")

    hook = webhook_handler(SECRET, on_event)
    receiver.handler = hook.handle
    with caplog.at_level(logging.ERROR, logger="drfulfill"):
        status, _ = await post(receiver.url, BODY, fresh_header())
        await hook.wait_pending()
    assert status == 202
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "drfulfill"
    assert "2bde7b4a-3c1e-4e0d-9f4f-5d1c0b6e9a11" in record.getMessage()
    assert record.exc_info is not None and "database down" in str(record.exc_info[1])


async def test_on_cleanup_waits_for_outstanding_events() -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def on_event(event: Event) -> None:
        await release.wait()
        done.append(event.id)

    hook = webhook_handler(SECRET, on_event)
    app = web.Application()
    app.router.add_post("/hooks", hook.handle)
    app.on_cleanup.append(hook.on_cleanup)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.05)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        assert (await post(f"http://{host}:{port}/hooks", BODY, fresh_header()))[0] == 202
        assert hook.pending == 1
    finally:
        cleanup = asyncio.create_task(runner.cleanup())
        await asyncio.wait({cleanup}, timeout=0.1)
        assert not cleanup.done()  # waiting for the event, not dropping it
        release.set()
        await cleanup
    assert done == ["2bde7b4a-3c1e-4e0d-9f4f-5d1c0b6e9a11"]


@pytest.mark.parametrize("secrets", ["", [], [""]])
def test_no_usable_secret_fails_at_construction_not_per_request(secrets: object) -> None:
    async def on_event(event: Event) -> None:
        raise AssertionError("never called")

    with pytest.raises(ValidationError):
        webhook_handler(secrets, on_event)  # type: ignore[arg-type]


async def test_undecodable_header_bytes_get_a_400_not_a_500(receiver: Receiver) -> None:
    async def on_event(event: Event) -> None:
        raise AssertionError("never called")

    receiver.handler = webhook_handler(SECRET, on_event).handle
    host, port = receiver.url.split("//")[1].split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = (
        b"POST /hooks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Content-Length: {len(BODY)}\r\n".encode()
        + SIGNATURE_HEADER.encode()
        + f": {int(time.time())}, ".encode()
        + b"\xff\xfe\r\n\r\n"
        + BODY
    )
    writer.write(request)
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"400"
