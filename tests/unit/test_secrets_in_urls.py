"""Review fixes: no URL password reaches an error, a log line or a repr."""

from __future__ import annotations

import asyncio
import logging

import pytest

from drfulfill import Client
from drfulfill.errors import APIConnectionError, ValidationError

KEY = "sk_test_reviewkey123"
PASSWORD = "s3cret"


async def _answer_407(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n"
            b'Proxy-Authenticate: Basic realm="proxy"\r\n'
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def test_a_proxy_password_is_not_in_the_error_or_the_retry_log(caplog):
    server = await asyncio.start_server(_answer_407, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy = f"http://user:{PASSWORD}@127.0.0.1:{port}"
    caplog.set_level(logging.DEBUG)
    try:
        async with Client(
            KEY,
            base_url="https://api.example.com",
            proxy=proxy,
            max_retries=1,
            backoff_base=0,
            rate_limit=None,
            settle=0,
        ) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.fulfillments.retrieve("ful_1")
    finally:
        server.close()
        await server.wait_closed()
    message = str(caught.value)
    assert "407" in message  # the cause is still told
    assert PASSWORD not in message
    assert PASSWORD not in repr(caught.value)
    assert "retrying" in caplog.text  # the retry warning was logged ...
    assert PASSWORD not in caplog.text  # ... without the password


@pytest.mark.parametrize(
    ("base_url", "fragments"),
    [
        ("https://user:se/cret@api.example.com", ("cret", "se/cret")),
        ("https://user:se#cret@api.example.com", ("cret", "se#cret")),
        ("https://user:se?cret@api.example.com", ("cret", "se?cret")),
        ("https://user:se/cret@api.example.com:443/v1", ("cret", "se/cret")),
        ("https://u@api.example.com", ("u@",)),
        ("https://api.example.com/v1?x=a@b", ("a@b",)),
        ("https://api.example.com:notaport", ("notaport",)),
        ("https://api.example.com:99999", ("99999",)),
    ],
)
def test_a_base_url_with_an_at_sign_or_a_bad_port_is_refused_without_echoing_it(
    base_url, fragments
):
    with pytest.raises(ValidationError) as caught:
        Client(KEY, base_url=base_url, rate_limit=None)
    for fragment in fragments:
        assert fragment not in str(caught.value)


def test_a_plain_base_url_is_still_taken():
    for base_url in (
        "https://api.example.com",
        "https://api.example.com:8443/v1",
        "http://127.0.0.1:8787",
        "http://[::1]:8787/",
    ):
        client = Client(KEY, base_url=base_url, rate_limit=None)
        assert client.base_url == base_url.rstrip("/")


@pytest.mark.parametrize(
    "proxy",
    ["http://user:se/cret@127.0.0.1:3128", "http://user:se#cret@proxy", "http://proxy:port"],
)
def test_a_proxy_whose_port_cannot_be_read_is_refused_without_echoing_it(proxy):
    with pytest.raises(ValidationError) as caught:
        Client(KEY, base_url="https://api.example.com", proxy=proxy, rate_limit=None)
    assert "cret" not in str(caught.value)
    assert proxy not in str(caught.value)


def test_without_credentials_hides_the_userinfo_of_every_url_in_a_text():
    from drfulfill._wire import without_credentials

    text = (
        "ClientHttpProxyError: 407, message='Proxy Authentication Required',"
        " url='http://user:s3cret@127.0.0.1:3128' and https://a:se/cr@t@h/p, mail a@b"
    )
    shown = without_credentials(text)
    assert "s3cret" not in shown
    assert "cr@t" not in shown
    assert "se/cr" not in shown
    assert "url='http://[redacted]@127.0.0.1:3128'" in shown
    assert shown.endswith("mail a@b")  # no URL: left as it is
