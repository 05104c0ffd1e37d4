"""What goes on the wire, as small pure pieces: paths, queries and bodies out, capped
reads and decoding in, and the SDK error for a failed attempt. No session, no state."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp

from . import _json
from .errors import (
    APIConnectionError,
    APITimeoutError,
    DecodeError,
    ValidationError,
    redact,
    redact_body,
    shorten,
)

Query = Sequence[tuple[str, str]]

READ_CHUNK = 64 * 1024


def encode_path(*segments: str) -> str:
    """``/a/b`` from segments, each percent-encoded as exactly one path segment."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


def encode_query(pairs: Query) -> str:
    """A query string that keeps DR's ``createdTime[gte]=…Z`` notation readable."""
    try:
        return "&".join(f"{quote(key, safe='[]')}={quote(value, safe=':')}" for key, value in pairs)
    except UnicodeEncodeError:  # a lone surrogate: it has no UTF-8 form to send
        raise ValidationError(
            "a query value is not encodable as UTF-8 (a lone surrogate?)"
        ) from None


def encode_body(body: Any) -> bytes:
    """A request body as compact UTF-8 JSON, or ValidationError (nothing is sent)."""
    try:
        return _json.dumps(body)
    except (ValueError, TypeError, RecursionError) as error:
        # UnicodeEncodeError (a lone surrogate) is a ValueError; so is NaN or infinity.
        raise ValidationError(
            f"the request body cannot be sent as JSON: {type(error).__name__}: {error}"
        ) from None


def proxy_from_env(url: str) -> str | None:
    """The proxy ``HTTPS_PROXY``/``HTTP_PROXY`` names for ``url``'s scheme, unless
    ``NO_PROXY`` excludes its host (what aiohttp's ``trust_env`` reads, read once here:
    aiohttp reads it on every request, which cost about 0.2 ms a request when measured)."""
    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def check_header_value(name: str, value: str) -> None:
    """Refuse what would split or cut a header (CR, LF, NUL, any control character) or
    has no single encoding (non-ASCII). The value is not echoed: it may be a secret."""
    if not value.isascii() or not value.isprintable():
        raise ValidationError(f"{name} contains a control or non-ASCII character")


# "scheme://anything@" in a text: a URL's user name and password (aiohttp's proxy error shows
# the proxy URL whole, quoted). Greedy up to the last "@" before a space, so a password
# holding "@", "/", "?", "#" or a quote is covered too (what follows the host up to that "@"
# is hidden with it: more hidden than needed, never less).
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)\S*@")


def without_credentials(text: str) -> str:
    """``text`` with the user name and password of every URL in it replaced by
    ``[redacted]`` (``http://user:pw@host`` becomes ``http://[redacted]@host``)."""
    return _CREDENTIALS.sub(r"\1[redacted]@", text)


def request_error(
    error: aiohttp.ClientError | asyncio.TimeoutError, secrets: Sequence[str]
) -> APIConnectionError:
    """The SDK error for a failed attempt, and whether the request may have reached DR.

    Only the cause's type name and its redacted ``str()`` are kept: the caller raises the
    result outside the ``except`` block, so aiohttp's error (whose repr can show the
    request's headers) is neither its ``__cause__`` nor its ``__context__``. The text loses
    the secrets and any URL's user name and password (a proxy's error shows its URL).
    """
    text = without_credentials(f"{type(error).__name__}: {error}")
    cause = shorten(redact(text, secrets))
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(f"timed out connecting ({cause})", sent=False)
    # asyncio.TimeoutError, not the builtin: they are one class only from Python 3.11 on.
    if isinstance(error, asyncio.TimeoutError):
        return APITimeoutError("timed out waiting for the response", sent=True)
    if isinstance(error, aiohttp.ClientConnectorError):
        return APIConnectionError(f"could not connect ({cause})", sent=False)
    return APIConnectionError(f"connection failed ({cause})", sent=True)


async def read_capped(response: aiohttp.ClientResponse, cap: int) -> tuple[bytes | bytearray, bool]:
    """Up to ``cap`` bytes of a body, and whether that was all of it.

    A body whose ``Content-Length`` is within ``cap`` is read whole (aiohttp reads no more
    than that length); any other is read in chunks into one buffer, so no more than
    ``cap`` bytes (plus one, to tell a body of exactly ``cap`` from a longer one) are ever
    held, whatever the body's length.
    """
    length = response.content_length
    if length is not None and length <= cap and not response.headers.get("Content-Encoding"):
        return await response.read(), True
    stream = response.content
    buffer = bytearray()
    while len(buffer) <= cap:
        chunk = await stream.read(min(READ_CHUNK, cap + 1 - len(buffer)))
        if not chunk:
            return buffer, True
        buffer += chunk
    del buffer[cap:]
    return buffer, False


def decode_json_object(
    payload: bytes | bytearray, request_id: str | None, secrets: Sequence[str] = ()
) -> dict[str, Any]:
    """The JSON object of a 2xx body, or DecodeError (its text redacted of ``secrets``).

    A body that may hold a secret is returned with it redacted (``redact_body``), so no
    error, log line or model built from it later can show it (see ``may_hold``).
    """
    try:
        decoded = _json.loads(payload if payload.__class__ is bytes else bytes(payload))
    except (ValueError, RecursionError):  # RecursionError: nesting too deep to decode
        decoded = None
    if not isinstance(decoded, dict):
        raise DecodeError(
            "expected a JSON object in the response",
            text=payload.decode("utf-8", "replace"),
            request_id=request_id,
            secrets=secrets,
        )
    if secrets and may_hold(payload, secrets):
        try:
            redacted: dict[str, Any] = redact_body(decoded, secrets)
        except RecursionError:  # decodable, but too deep to walk again: not DR's answer
            raise DecodeError(
                "the response is nested too deeply",
                text="(not shown: too deep to redact)",
                request_id=request_id,
                secrets=secrets,
            ) from None
        return redacted
    return decoded


# The characters JSON's short escapes stand for: only a secret holding one of these can be
# spelt with them; any other character needs a \u escape.
_SHORT_ESCAPED = frozenset('"\\/\b\f\n\r\t')


def may_hold(payload: bytes | bytearray, secrets: Sequence[str]) -> bool:
    """Whether a JSON body may hold one of ``secrets`` once decoded: it holds one as
    it is, or it has an escape that could spell one (``\\u0073k_…`` decodes to ``sk_…``; an
    escaped quote or newline spells no API key). A few byte searches, so a body without
    either (nearly every body, also text with escaped quotes) is not walked."""
    if any(secret.encode() in payload for secret in secrets if secret) or b"\\u" in payload:
        return True
    return b"\\" in payload and any(not _SHORT_ESCAPED.isdisjoint(s) for s in secrets)
