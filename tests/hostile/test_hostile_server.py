"""drfulfill against servers and proxies that misbehave on purpose, over real loopback sockets."""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import logging
import time
import traceback

import aiohttp
import pytest

from drfulfill import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Client,
    DecodeError,
    DigitalRiverError,
    RateLimitError,
    ServerError,
    ValidationError,
)

from ._server import (
    HostileServer,
    Request,
    http_response,
    json_response,
    serve_in_thread,
    stream_forever,
)

KEY = "sk_test_s3cr3t_hostile_key_0123456789"
FULFILLMENT = {
    "id": "ful_1",
    "orderId": "o1",
    "createdTime": "2026-01-01T00:00:00Z",
    "items": [],
}
DEEP = b"[" * 100_000 + b"]" * 100_000


def client(server: HostileServer, **options: object) -> Client:
    options.setdefault("rate_limit", None)
    options.setdefault("backoff_base", 0)
    options.setdefault("max_retries", 0)
    return Client(KEY, base_url=server.url, **options)  # type: ignore[arg-type]


def chain(error: BaseException) -> list[BaseException]:
    """The error and everything reachable through __cause__ and __context__."""
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        each = todo.pop()
        if any(each is other for other in seen):
            continue
        seen.append(each)
        todo.extend(e for e in (each.__cause__, each.__context__) if e is not None)
    return seen


def assert_no_secret(error: BaseException, secret: str = KEY) -> None:
    for each in chain(error):
        assert isinstance(each, DigitalRiverError), f"{type(each).__name__} in the chain"
        for text in (str(each), repr(each), repr(vars(each))):
            assert secret not in text
            assert "Bearer sk" not in text
    assert secret not in "".join(traceback.format_exception(error))


def echo_headers(status: int) -> object:
    """A server that puts the request's headers into its answer, as some proxies do."""

    async def respond(request: Request, writer: asyncio.StreamWriter) -> None:
        auth = request.headers["authorization"]
        writer.write(
            json_response(
                status,
                {
                    "type": "echo",
                    "errors": [{"code": auth, "parameter": auth, "message": f"got {auth}"}],
                    "headers": request.headers,
                    "nested": [{"deeper": [auth, {auth: auth}]}],
                },
                {"x-dr-requestid": f"req {auth}"},
            )
        )

    return respond


# --- secrets -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 500, 502])
async def test_an_echoed_key_is_in_no_part_of_the_error(status):
    async with HostileServer(echo_headers(status)) as server, client(server) as dr:
        with pytest.raises(APIError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    error = caught.value
    assert error.status == status
    assert_no_secret(error)
    assert KEY not in json.dumps(error.body) and KEY not in error.request_id
    assert all(
        KEY not in (d.code or "") + (d.parameter or "") + (d.message or "") for d in error.errors
    )
    assert "[redacted]" in error.errors[0].message  # the rest of the text is kept


async def test_a_key_hidden_behind_json_escapes_is_found():
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)

    async def respond(request, writer):
        body = '{"errors":[{"message":"key ' + escaped + '"}]}'
        writer.write(http_response(401, body.encode()))

    async with HostileServer(respond) as server, client(server) as dr:
        with pytest.raises(AuthenticationError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert_no_secret(caught.value)
    assert caught.value.errors[0].message == "key [redacted]"


async def test_an_html_page_echoing_the_key_and_a_basic_credential_is_redacted():
    async def respond(request, writer):
        page = (
            f"<html><pre>Authorization: {request.headers['authorization']}\n"
            f"Proxy-Authorization: Basic dXNlcjpwYXNz\nraw {KEY}</pre></html>"
        )
        writer.write(http_response(502, page.encode(), {"Content-Type": "text/html"}))

    async with HostileServer(respond) as server, client(server) as dr:
        with pytest.raises(ServerError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    error = caught.value
    assert_no_secret(error)
    assert "dXNlcjpwYXNz" not in error.body and "dXNlcjpwYXNz" not in str(error)
    assert error.errors == () and error.body.startswith("<html>")


async def test_a_2xx_echo_that_is_not_json_gives_a_clean_decode_error():
    async def respond(request, writer):
        echo = f"you sent {request.headers['authorization']} and {KEY}".encode()
        writer.write(http_response(200, echo, {"x-dr-requestid": KEY}))

    async with HostileServer(respond) as server, client(server) as dr:
        with pytest.raises(DecodeError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert_no_secret(caught.value)
    assert caught.value.text.startswith("you sent Bearer [redacted]")


async def test_retry_warnings_never_log_the_key(caplog):
    caplog.set_level(logging.WARNING, logger="drfulfill")
    async with HostileServer(echo_headers(503)) as server, client(server, max_retries=2) as dr:
        with pytest.raises(ServerError):
            await dr.fulfillments.retrieve("ful_1")
    assert len(caplog.records) == 2
    assert KEY not in caplog.text and "Bearer sk" not in caplog.text


async def test_a_garbled_response_leaves_no_aiohttp_error_in_the_chain():
    # aiohttp's ClientResponseError carries the request's headers (the key) in its repr;
    # 0.1.0 chained it as __cause__, so it showed in every traceback.
    async def respond(request, writer):
        writer.write(b"HTTP/1.1 abc nonsense\r\n\r\n")
        writer.close()

    async with HostileServer(respond) as server, client(server) as dr:
        with pytest.raises(APIConnectionError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    error = caught.value
    assert error.__cause__ is None and error.__context__ is None
    assert "ClientResponseError" in str(error)  # the cause's type is kept in the message
    assert_no_secret(error)


async def test_a_dropped_connection_leaves_no_aiohttp_error_in_the_chain():
    async def respond(request, writer):
        writer.close()

    async with HostileServer(respond) as server, client(server) as dr:
        with pytest.raises(APIConnectionError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert_no_secret(caught.value)


async def test_a_timeout_leaves_no_asyncio_error_in_the_chain():
    async def respond(request, writer):
        await asyncio.sleep(5)  # cancelled when the server closes

    async with HostileServer(respond) as server, client(server, timeout=0.05) as dr:
        with pytest.raises(APITimeoutError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert caught.value.sent is True
    assert_no_secret(caught.value)


@pytest.mark.parametrize("max_retries", [0, 2])
async def test_a_failed_safe_create_and_its_lookup_carry_no_key(max_retries):
    # The create fails ambiguously (503), then the lookup by key fails too: both errors
    # are in the chain that reaches the caller.
    async with HostileServer(echo_headers(503)) as server:
        async with client(server, max_retries=max_retries) as dr:
            with pytest.raises(ServerError) as caught:
                await dr.fulfillments.create(
                    order_id="o1", items=[{"item_id": "i1", "quantity": 1}]
                )
    assert [r.method for r in server.requests][:2] == ["POST", "GET"]
    assert_no_secret(caught.value)


@pytest.mark.parametrize("bad", ["\r\nX-Injected: 1", "\n", "\x00", "\r"])
async def test_a_key_with_cr_lf_or_nul_is_refused_before_sending(bad, monkeypatch):
    async with HostileServer(echo_headers(200)) as server:
        with pytest.raises(ValidationError) as caught:
            Client(f"sk_test_a{bad}b", base_url=server.url)
        assert "sk_test_a" not in str(caught.value)  # the message never echoes the key
        if bad != "\x00":  # the environment cannot hold a NUL
            monkeypatch.setenv("DR_API_KEY", f"sk_test_a{bad}b")
            with pytest.raises(ValidationError):
                Client(base_url=server.url)
        assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://api.digitalriver.com",
        "http://10.0.0.1:8080",
        "http://[2001:db8::1]",
        "http://localhost.evil.com",
    ],
)
def test_plain_http_to_another_host_is_refused(url):
    with pytest.raises(ValidationError, match="https"):
        Client(KEY, base_url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "http://127.9.9.9", "http://[::1]:8080", "http://LOCALHOST:80"]
)
def test_plain_http_to_this_machine_is_allowed(url):
    assert Client(KEY, base_url=url).base_url == url


# --- every failure is a DigitalRiverError ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"), [(200, DecodeError), (400, BadRequestError), (500, ServerError)]
)
async def test_deeply_nested_json_is_a_drfulfill_error_with_the_text(status, expected):
    async def respond(request, writer):
        writer.write(http_response(status, DEEP))

    async with HostileServer(respond) as server, client(server) as dr:
        with pytest.raises(expected) as caught:
            await dr.fulfillments.retrieve("ful_1")
    error = caught.value
    assert (error.text if status == 200 else error.body) == DEEP.decode()
    assert_no_secret(error)


async def test_a_deeply_nested_list_page_is_a_decode_error():
    async def respond(request, writer):
        writer.write(http_response(200, DEEP))

    async with HostileServer(respond) as server, client(server) as dr:
        with pytest.raises(DecodeError):
            async for _ in dr.fulfillments.list():
                pass


async def test_lone_surrogates_are_refused_before_sending():
    async with HostileServer(echo_headers(200)) as server, client(server) as dr:
        with pytest.raises(ValidationError, match="fulfillment_id"):
            await dr.fulfillments.retrieve("ful_\ud800")
        with pytest.raises(ValidationError, match="order_id"):
            async for _ in dr.fulfillments.list(order_id="o\udfff"):
                pass
        with pytest.raises(ValidationError):
            async for _ in dr.fulfillments.list(starting_after="c\ud800"):
                pass
        with pytest.raises(ValidationError, match="body"):
            await dr.fulfillments.update("ful_1", metadata={"note": "x\ud800"})
        assert server.requests == []


async def ok(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(json_response(200, FULFILLMENT))


# The connections an ended loop left open can only be dropped, not closed (their loop is
# gone): asyncio reports them as ResourceWarnings when they are collected.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_client_works_in_a_second_event_loop():
    # Workers call asyncio.run per job; 0.1.0 failed the second with
    # "RuntimeError: Event loop is closed".
    with serve_in_thread(ok) as server:
        dr = client(server, rate_limit=1000)
        for _ in range(3):
            assert asyncio.run(dr.fulfillments.retrieve("ful_1")).id == "ful_1"
        asyncio.run(dr.close())
        assert len(server.requests) == 3
    gc.collect()  # the dropped connections' warnings, here and not in a later test


def test_a_caller_session_from_another_loop_is_a_clear_drfulfill_error():
    async def make_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    session = asyncio.run(make_session())
    try:
        with serve_in_thread(ok) as server:
            dr = client(server, session=session)
            with pytest.raises(DigitalRiverError, match="event loop") as caught:
                asyncio.run(dr.fulfillments.retrieve("ful_1"))
            assert type(caught.value) is DigitalRiverError
            assert caught.value.__context__ is None and caught.value.__cause__ is None
    finally:
        session.detach()  # it cannot be closed: its loop is gone


# --- bounded memory ----------------------------------------------------------------------

CAP = 100_000


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n",
    ],
    ids=["endless-chunked", "huge-content-length"],
)
async def test_an_endless_2xx_body_is_cut_at_the_cap(head):
    chunked = b"chunked" in head
    block = b"x" * 65536
    chunk = b"10000\r\n" + block + b"\r\n" if chunked else block

    async def respond(request, writer):
        await stream_forever(writer, head, chunk)

    async with HostileServer(respond) as server, client(server, max_response_bytes=CAP) as dr:
        started = time.monotonic()
        with pytest.raises(DecodeError, match="max_response_bytes") as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert time.monotonic() - started < 5  # not the 30 s attempt timeout
    assert caught.value.text == "x" * CAP


async def test_an_endless_error_body_is_an_api_error_with_the_text_cut():
    async def respond(request, writer):
        head = b"HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\n\r\n"
        await stream_forever(writer, head, b"1000\r\n" + b"abcd" * 1024 + b"\r\n")

    async with HostileServer(respond) as server, client(server, max_response_bytes=CAP) as dr:
        with pytest.raises(ServerError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert caught.value.body == "abcd" * (CAP // 4) and caught.value.errors == ()


async def test_a_body_of_exactly_the_cap_is_read_and_the_connection_reused():
    body = json.dumps({**FULFILLMENT, "pad": ""}).encode()
    body = json.dumps({**FULFILLMENT, "pad": "p" * (CAP - len(body))}).encode()
    assert len(body) == CAP

    async def respond(request, writer):
        writer.write(http_response(200, body))

    async with HostileServer(respond) as server, client(server, max_response_bytes=CAP) as dr:
        for _ in range(2):
            assert (await dr.fulfillments.retrieve("ful_1")).id == "ful_1"


async def test_a_small_gzip_body_that_inflates_past_the_cap_is_cut():
    # Content-Length counts the compressed bytes: within the cap, but the body is not.
    inflated = json.dumps({**FULFILLMENT, "pad": "z" * (4 * CAP)}).encode()
    compressed = gzip.compress(inflated)
    assert len(compressed) < CAP < len(inflated)

    async def respond(request, writer):
        writer.write(http_response(200, compressed, {"Content-Encoding": "gzip"}))

    async with HostileServer(respond) as server, client(server, max_response_bytes=CAP) as dr:
        with pytest.raises(DecodeError, match="max_response_bytes") as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert len(caught.value.text) == CAP


async def test_a_content_length_over_the_cap_is_cut_at_the_cap():
    body = json.dumps({**FULFILLMENT, "pad": "p" * CAP}).encode()

    async def respond(request, writer):
        writer.write(http_response(200, body))

    async with HostileServer(respond) as server, client(server, max_response_bytes=CAP) as dr:
        with pytest.raises(DecodeError, match="max_response_bytes") as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert len(caught.value.text) == CAP


async def test_a_body_shorter_than_its_content_length_is_a_connection_error():
    async def respond(request, writer):
        writer.write(http_response(200, b'{"id": "ful_1"}')[:-5])
        await writer.drain()
        writer.close()

    async with HostileServer(respond) as server, client(server, max_retries=0) as dr:
        with pytest.raises(APIConnectionError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert not any(isinstance(link, aiohttp.ClientError) for link in chain(caught.value))


def test_max_response_bytes_is_validated():
    for bad in (0, -1, 1.5, True, "8"):
        with pytest.raises(ValidationError, match="max_response_bytes"):
            Client(KEY, base_url="https://api.test", max_response_bytes=bad)


# --- bounded waits -------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["1000000000", "Fri, 01 Jan 2099 00:00:00 GMT"])
async def test_an_absurd_retry_after_pauses_the_client_at_most_max_retry_after(retry_after):
    async def respond(request, writer):
        writer.write(
            json_response(429, {"type": "too_many_requests"}, {"Retry-After": retry_after})
        )

    async with (
        HostileServer(respond) as server,
        client(server, rate_limit=100, max_retry_after=5) as dr,
    ):
        with pytest.raises(RateLimitError) as caught:
            await dr.fulfillments.retrieve("ful_1")
        assert caught.value.retry_after > 1e6  # the call that got it is told the truth
        assert 4 < await dr._transport.limiter.paused_for() <= 5


async def test_calls_queued_at_the_limiter_never_run_past_their_deadline():
    # 0.1.0: 24 of 30 calls ran up to 5.8 s past deadline=1.
    deadline = 0.25
    async with HostileServer(ok) as server, client(server, rate_limit=40, deadline=deadline) as dr:
        started = time.monotonic()
        results = await asyncio.gather(
            *(dr.fulfillments.retrieve("ful_1") for _ in range(30)), return_exceptions=True
        )
        spent = time.monotonic() - started
    refused = [r for r in results if isinstance(r, APITimeoutError) and not r.sent]
    assert spent < deadline + 0.1
    # The burst (8) goes at once, about 10 more within the deadline, the rest are refused.
    assert refused and len(server.requests) + len(refused) == 30
