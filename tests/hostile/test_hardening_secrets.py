"""Issue 19, secrets: a request id echoing the key, a base URL with a password, keys that
belong to their client, and server text bounded wherever it is shown."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
import traceback

import pytest

from drfulfill import Client, DecodeError, ServerError, ValidationError
from drfulfill.errors import redact

from ._server import HostileServer, Request, http_response, json_response
from .test_hostile_server import FULFILLMENT, KEY, assert_no_secret, client

ECHO = f"req-1 Bearer {KEY}"  # a gateway that copies Authorization into x-dr-requestid


def answer(status: int, payload: object, request_id: str = ECHO) -> object:
    async def respond(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(json_response(status, payload, {"x-dr-requestid": request_id}))

    return respond


# --- the request id, read (and redacted) in one place --------------------------------------


async def test_an_echoed_request_id_is_redacted_in_the_log_and_the_raw_response(caplog):
    caplog.set_level(logging.DEBUG, logger="drfulfill")
    async with HostileServer(answer(200, FULFILLMENT)) as server, client(server) as dr:
        raw = await dr.with_raw_response.fulfillments.retrieve("ful_1")
    assert raw.request_id == "req-1 Bearer [redacted]"
    assert KEY not in json.dumps(dict(raw.headers))
    assert KEY not in caplog.text and "request id req-1 Bearer [redacted]" in caplog.text


async def test_an_echoed_request_id_is_redacted_in_errors_and_their_log(caplog):
    caplog.set_level(logging.DEBUG, logger="drfulfill")
    async with (
        HostileServer(answer(503, {"errors": [{"code": "busy"}]})) as server,
        client(server, max_retries=1) as dr,
    ):
        with pytest.raises(ServerError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert caught.value.request_id == "req-1 Bearer [redacted]"
    assert_no_secret(caught.value)
    assert KEY not in caplog.text and len(caplog.records) == 3  # 2 attempts, 1 retry warning


async def test_a_long_request_id_is_cut():
    async with (
        HostileServer(answer(200, FULFILLMENT, request_id="r" * 5000)) as server,
        client(server) as dr,
    ):
        raw = await dr.with_raw_response.fulfillments.retrieve("ful_1")
    assert raw.request_id is not None and len(raw.request_id) <= 200


# --- base URLs with credentials are refused, the password never shown ---------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://svc:pw-s3cret@gateway.internal",
        "https://svc:pw-s3cret@gateway.internal:8443/dr",
        "https://pw-s3cret@gateway.internal",  # a token as the user name
        "http://svc:pw-s3cret@gateway.internal",  # refused for http too: not echoed there
        "http://svc:pw-s3cret@127.0.0.1:9",
        "ftp://svc:pw-s3cret@gateway.internal",
        "https://svc:pw-s3cret@[::1",  # unparseable
        "svc:pw-s3cret@gateway.internal",  # no scheme
        "//svc:pw-s3cret@gateway.internal",
    ],
)
def test_a_base_url_with_credentials_is_refused_without_showing_them(url, monkeypatch):
    with pytest.raises(ValidationError) as caught:
        Client(KEY, base_url=url)
    assert "pw-s3cret" not in str(caught.value) and "pw-s3cret" not in repr(caught.value)
    monkeypatch.setenv("DR_BASE_URL", url)
    with pytest.raises(ValidationError) as caught:
        Client(KEY)
    assert "pw-s3cret" not in str(caught.value)


def test_the_refusal_says_why():
    with pytest.raises(ValidationError, match="user name or password"):
        Client(KEY, base_url="https://svc:pw@gateway.internal")


# --- keys belong to their clients ----------------------------------------------------------


async def test_a_client_keeps_no_reference_to_its_key_once_it_is_gone():
    key = "".join(["sk_test_", "tenant_", "4711"])  # a string of its own, not interned
    before = sys.getrefcount(key)
    async with Client(key, base_url="https://api.test", rate_limit=None) as dr:
        dr.with_options(timeout=1)
    del dr
    gc.collect()
    assert sys.getrefcount(key) == before


def test_redact_removes_only_the_secrets_it_is_given():
    other = "sk_test_someone_elses_key"
    Client(other, base_url="https://api.test")
    assert redact(f"x {other} y") == f"x {other} y"
    assert redact(f"x {other} y", [other]) == "x [redacted] y"


@pytest.mark.parametrize("escaped", [False, True])
async def test_a_key_echoed_in_a_2xx_body_is_in_no_decode_error(escaped):
    shown = "".join(f"\\u{ord(c):04x}" for c in KEY) if escaped else KEY
    body = '{"orderId": "o1", "items": [], "echo": "' + shown + '"}'  # no id: a DecodeError

    async def respond(request, writer):
        writer.write(http_response(200, body.encode()))

    async with HostileServer(respond) as server, client(server) as dr:
        with pytest.raises(DecodeError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    error = caught.value
    assert KEY not in "".join(traceback.format_exception(error)) + repr(vars(error))
    assert "[redacted]" in error.text


async def test_a_key_echoed_in_a_2xx_body_is_redacted_from_the_decoded_object():
    echoed = {**FULFILLMENT, "echo": KEY, "metadata": {"note": f"by {KEY}"}}
    async with HostileServer(answer(200, echoed, "r1")) as server, client(server) as dr:
        fulfillment = await dr.fulfillments.retrieve("ful_1")
    assert KEY not in repr(fulfillment) and fulfillment.extra["echo"] == "[redacted]"


# --- server text is bounded wherever it is shown -------------------------------------------


async def test_a_huge_error_message_is_cut_in_str_and_in_the_retry_warnings(caplog):
    caplog.set_level(logging.WARNING, logger="drfulfill")
    huge = "x" * 2_000_000
    payload = {"type": huge, "errors": [{"code": huge, "parameter": huge, "message": huge}]}
    async with (
        HostileServer(answer(503, payload, request_id="r" * 4000)) as server,
        client(server, max_retries=2) as dr,
    ):
        with pytest.raises(ServerError) as caught:
            await dr.fulfillments.retrieve("ful_1")
    assert len(str(caught.value)) < 2000
    assert caught.value.errors[0].message == huge  # the attribute keeps it whole
    assert len(caplog.records) == 2 and len(caplog.text) < 5000


async def test_a_huge_has_more_value_is_cut_in_the_decode_error():
    page = {"data": [FULFILLMENT], "hasMore": "y" * 1_000_000}
    async with HostileServer(answer(200, page, "r1")) as server, client(server) as dr:
        with pytest.raises(DecodeError) as caught:
            [f async for f in dr.fulfillments.list()]
    assert len(str(caught.value)) < 2000
