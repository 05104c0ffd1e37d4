"""Issue 19, webhooks under attack: secrets and tolerance checked up front, replays refused,
events de-duplicated by id, pending work capped, and a slow body cut off in time."""

from __future__ import annotations

import asyncio
import json
import math
import time

import aiohttp
import pytest

from drfulfill import ValidationError
from drfulfill.webhooks import (
    SIGNATURE_HEADER,
    Event,
    MemoryDeduplicator,
    WebhookSignatureError,
    construct_event,
    parse_event,
    sign_test_payload,
    verify_signature,
    webhook_handler,
)
from drfulfill.webhooks._expiring import ExpiringSet
from tests.webhooks._vectors import BODY, NOW, OLD_SECRET, SECRET, hand_header, hand_signature
from tests.webhooks.conftest import Receiver


def event_body(event_id: str) -> bytes:
    body = json.loads(BODY)
    body["id"] = event_id
    return json.dumps(body).encode()


def fresh(body: bytes = BODY, secret: str = SECRET, offset: int = 0) -> str:
    return hand_header(secret=secret, timestamp=int(time.time()) + offset, body=body)


async def post(url: str, body: bytes, header: str | None) -> int:
    headers = {} if header is None else {SIGNATURE_HEADER: header}
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(url, data=body, headers=headers) as response,
    ):
        return response.status


class Recorder:
    """``on_event`` that records event ids; ``block`` holds every call until released."""

    def __init__(self, *, block: bool = False, fail_first: bool = False) -> None:
        self.ids: list[str] = []
        self.release = asyncio.Event()
        if not block:
            self.release.set()
        self.fail_first = fail_first

    async def __call__(self, event: Event) -> None:
        await self.release.wait()
        self.ids.append(event.id)
        if self.fail_first and len(self.ids) == 1:
            raise RuntimeError("first run fails")


# --- secrets and tolerance, checked once, up front ------------------------------------------


async def test_secrets_given_as_an_iterator_verify_every_delivery(receiver: Receiver) -> None:
    env = f"whsec_other , {SECRET}"
    recorder = Recorder()
    hook = webhook_handler(map(str.strip, env.split(",")), recorder)
    receiver.handler = hook.handle
    for n in range(3):
        body = event_body(f"evt_{n}")
        assert await post(receiver.url, body, fresh(body)) == 202
    await hook.wait_pending()
    assert recorder.ids == ["evt_0", "evt_1", "evt_2"]


def test_an_iterator_of_secrets_works_for_the_functions_too() -> None:
    verify_signature(BODY, hand_header(), iter([OLD_SECRET, SECRET]), now=NOW)
    construct_event(BODY, hand_header(), (s for s in [SECRET]), now=NOW)


@pytest.mark.parametrize("secrets", [None, 42, b"whsec_bytes", [None], [SECRET, ""], iter([])])
def test_unusable_secrets_are_a_validation_error_everywhere(secrets: object) -> None:
    with pytest.raises(ValidationError, match="secrets"):
        webhook_handler(secrets, Recorder())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="secrets"):
        verify_signature(BODY, hand_header(), secrets, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="secrets"):
        construct_event(BODY, hand_header(), secrets, now=NOW)  # type: ignore[arg-type]


def test_sign_test_payload_without_a_secret_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        sign_test_payload(BODY, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("tolerance", [math.nan, None, -1, math.inf, "300", True])
def test_a_bad_tolerance_is_a_validation_error_up_front(tolerance: object) -> None:
    with pytest.raises(ValidationError, match="tolerance"):
        webhook_handler(SECRET, Recorder(), tolerance=tolerance)  # type: ignore[arg-type]
    # Before the header is even read: not a 400 per request, nor an error only after a match.
    for header in (hand_header(), None, "garbage"):
        with pytest.raises(ValidationError, match="tolerance"):
            verify_signature(BODY, header, SECRET, tolerance=tolerance, now=NOW)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="tolerance"):
            construct_event(BODY, header, SECRET, tolerance=tolerance, now=NOW)  # type: ignore[arg-type]


def test_a_nan_tolerance_never_accepts_an_old_signature() -> None:
    eleven_days = NOW + 11 * 24 * 3600
    with pytest.raises((ValidationError, WebhookSignatureError)):
        verify_signature(BODY, hand_header(), SECRET, tolerance=math.nan, now=eleven_days)


@pytest.mark.parametrize("kind", [memoryview, bytearray])
def test_construct_event_takes_every_bytes_type(kind: type) -> None:
    event = construct_event(kind(BODY), hand_header(), SECRET, now=NOW)
    assert event.id == "2bde7b4a-3c1e-4e0d-9f4f-5d1c0b6e9a11"
    assert parse_event(kind(BODY)).type == "fulfillment.created"


# --- replays -------------------------------------------------------------------------------


async def test_an_identical_signed_delivery_seen_again_is_refused(receiver: Receiver) -> None:
    recorder = Recorder()
    hook = webhook_handler(SECRET, recorder)
    receiver.handler = hook.handle
    header = fresh()
    stamp, signature = header.split(", ")
    statuses = [await post(receiver.url, BODY, header) for _ in range(5)]
    # The same signature under another spelling of the header is the same delivery.
    statuses.append(await post(receiver.url, BODY, f"t={stamp},v0={signature}"))
    statuses.append(await post(receiver.url, BODY, f"{stamp}, junk, {signature}"))
    await hook.wait_pending()
    assert statuses == [202, 400, 400, 400, 400, 400, 400]
    assert len(recorder.ids) == 1


async def test_a_redelivery_signed_anew_is_not_a_replay(receiver: Receiver) -> None:
    # DR signs each retry again; without de-duplication both run (DR: make on_event idempotent).
    recorder = Recorder()
    hook = webhook_handler([SECRET, OLD_SECRET], recorder)
    receiver.handler = hook.handle
    assert await post(receiver.url, BODY, fresh()) == 202
    assert await post(receiver.url, BODY, fresh(offset=1)) == 202
    assert await post(receiver.url, BODY, fresh(secret=OLD_SECRET)) == 202
    await hook.wait_pending()
    assert len(recorder.ids) == 3


def test_accepted_signatures_are_forgotten_once_they_cannot_verify_and_bounded() -> None:
    now = [1000.0]
    accepted = ExpiringSet(max_entries=3, clock=lambda: now[0])
    assert accepted.add_new([b"a"], expires=1010) and not accepted.add_new([b"a"], expires=1010)
    assert not accepted.add_new([b"x", b"a"], expires=1010)  # any one seen: a replay
    assert accepted.add_new([b"b"], expires=1005) and accepted.add_new([b"c"], expires=1020)
    now[0] = 1011  # "a" (and "b") can no longer pass the age check: forgotten
    assert accepted.add_new([b"a"], expires=1030) and len(accepted) <= 3
    for n in range(10):
        accepted.add_new([bytes([n])], expires=2000)
    assert len(accepted) == 3


# --- de-duplication by event id ------------------------------------------------------------


async def test_memory_deduplication_runs_each_event_once(receiver: Receiver) -> None:
    recorder = Recorder()
    hook = webhook_handler(SECRET, recorder, dedupe=MemoryDeduplicator())
    receiver.handler = hook.handle
    other = event_body("evt_other")
    assert await post(receiver.url, BODY, fresh()) == 202
    assert await post(receiver.url, BODY, fresh(offset=1)) == 202  # DR's redelivery: 2xx
    assert await post(receiver.url, other, fresh(other)) == 202
    await hook.wait_pending()
    assert sorted(recorder.ids) == sorted(["2bde7b4a-3c1e-4e0d-9f4f-5d1c0b6e9a11", "evt_other"])


async def test_an_event_whose_handler_failed_runs_again_when_delivered_again(
    receiver: Receiver,
) -> None:
    recorder = Recorder(fail_first=True)
    hook = webhook_handler(SECRET, recorder, dedupe=MemoryDeduplicator())
    receiver.handler = hook.handle
    assert await post(receiver.url, BODY, fresh()) == 202
    await hook.wait_pending()
    assert await post(receiver.url, BODY, fresh(offset=1)) == 202
    await hook.wait_pending()
    assert await post(receiver.url, BODY, fresh(offset=2)) == 202  # succeeded: now a duplicate
    await hook.wait_pending()
    assert len(recorder.ids) == 2


async def test_memory_deduplicator_forgets_after_ttl_and_is_bounded() -> None:
    now = [0.0]
    dedupe = MemoryDeduplicator(ttl=60, max_events=2, clock=lambda: now[0])
    assert await dedupe.first_delivery("e1") and not await dedupe.first_delivery("e1")
    now[0] = 61
    assert await dedupe.first_delivery("e1")  # forgotten after the ttl
    assert await dedupe.first_delivery("e2") and await dedupe.first_delivery("e3")
    assert len(dedupe) == 2 and await dedupe.first_delivery("e1")  # the oldest went first
    await dedupe.forget("e3")
    assert await dedupe.first_delivery("e3")


@pytest.mark.parametrize(
    "options", [{"ttl": 0}, {"ttl": math.nan}, {"max_events": 0}, {"max_events": "10"}]
)
def test_memory_deduplicator_options_are_validated(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MemoryDeduplicator(**options)  # type: ignore[arg-type]


# --- a cap on pending work -------------------------------------------------------------------


async def test_pending_work_is_capped_with_503(receiver: Receiver) -> None:
    recorder = Recorder(block=True)
    hook = webhook_handler(SECRET, recorder, max_pending=2)
    receiver.handler = hook.handle
    bodies = [event_body(f"evt_{n}") for n in range(4)]
    headers = [fresh(body) for body in bodies]
    statuses = [await post(receiver.url, body, h) for body, h in zip(bodies, headers, strict=True)]
    assert statuses == [202, 202, 503, 503] and hook.pending == 2
    recorder.release.set()
    await hook.wait_pending()
    # A delivery refused with 503 was not remembered: the same one is accepted now.
    assert await post(receiver.url, bodies[2], headers[2]) == 202
    await hook.wait_pending()
    assert sorted(recorder.ids) == ["evt_0", "evt_1", "evt_2"]


@pytest.mark.parametrize("options", [{"max_pending": 0}, {"max_pending": 1.5}, {"read_timeout": 0}])
def test_handler_limits_are_validated(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        webhook_handler(SECRET, Recorder(), **options)  # type: ignore[arg-type]


# --- a body that trickles in ---------------------------------------------------------------


async def test_a_slow_body_is_answered_408_within_the_read_timeout(receiver: Receiver) -> None:
    recorder = Recorder()
    hook = webhook_handler(SECRET, recorder, read_timeout=0.2)
    receiver.handler = hook.handle
    host, port = receiver.url.split("//")[1].split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /hooks HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Length: {len(BODY)}\r\n{SIGNATURE_HEADER}: {fresh()}\r\n\r\n".encode()
        + BODY[:1]  # then nothing more: a slowloris body
    )
    await writer.drain()
    try:
        # Without a read limit the handler waits for ever; the limit here is only a guard.
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()
        await writer.wait_closed()
    assert status_line.split()[1] == b"408"
    assert recorder.ids == [] and hook.pending == 0


def test_the_default_read_timeout_leaves_time_within_drs_3_seconds() -> None:
    from drfulfill._constants import WEBHOOK_READ_TIMEOUT

    assert 0 < WEBHOOK_READ_TIMEOUT < 3
    hook = webhook_handler(SECRET, Recorder())
    assert hook.read_timeout == WEBHOOK_READ_TIMEOUT


def test_hand_signature_is_what_the_handler_sees() -> None:
    # A guard on the helpers above: fresh() signs the body it is given.
    header = fresh(b"{}")
    stamp = header.split(",")[0]
    assert header.endswith(hand_signature(SECRET, stamp, b"{}"))


class BlockingDeduplicator(MemoryDeduplicator):
    """A deduplicator whose answer waits until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.called = asyncio.Event()
        self.release = asyncio.Event()

    async def first_delivery(self, event_id: str) -> bool:
        self.called.set()
        await self.release.wait()
        return await super().first_delivery(event_id)


async def test_a_delivery_that_finds_the_endpoint_full_after_reading_is_not_remembered(
    receiver: Receiver,
) -> None:
    # A passes the capacity check, then its body arrives late; meanwhile B takes the one
    # place (it waits in dedupe). A is answered 503 and forgotten, so DR's resend is no replay.
    dedupe = BlockingDeduplicator()
    recorder = Recorder()
    hook = webhook_handler(SECRET, recorder, dedupe=dedupe, max_pending=1)
    receiver.handler = hook.handle
    body_a, body_b = event_body("evt_a"), event_body("evt_b")
    header_a = fresh(body_a)
    host, port = receiver.url.split("//")[1].split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /hooks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Content-Length: {len(body_a)}\r\n{SIGNATURE_HEADER}: {header_a}\r\n\r\n".encode()
    )
    await writer.drain()
    b_status = asyncio.create_task(post(receiver.url, body_b, fresh(body_b)))
    await dedupe.called.wait()  # B holds the place
    writer.write(body_a)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"503"
    dedupe.release.set()
    assert await b_status == 202
    await hook.wait_pending()
    assert await post(receiver.url, body_a, header_a) == 202  # the same delivery, resent
    await hook.wait_pending()
    assert recorder.ids == ["evt_b", "evt_a"]
