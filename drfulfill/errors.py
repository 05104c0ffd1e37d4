"""The exception hierarchy, and the one pure function that maps a response to an error."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import attrs
from multidict import CIMultiDict

from ._constants import (
    MAX_REQUEST_ID_LENGTH,
    MAX_SHOWN_TEXT,
    REQUEST_ID_HEADER,
    RETRY_AFTER_HEADER,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "CoordinationError",
    "DecodeError",
    "DigitalRiverError",
    "ErrorDetail",
    "KeyReuseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ValidationError",
    "WebhookSignatureError",
    "error_from_response",
    "parse_retry_after",
    "redact",
    "redact_body",
    "redact_headers",
    "request_id_from",
    "shorten",
]

REDACTED = "[redacted]"
# An HTTP credential wherever a server or proxy echoes it: "Bearer sk_…", "Basic dXNl…".
_CREDENTIAL = re.compile(r"\b(Bearer|Basic)\s+\S+", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secrets and without any ``Bearer``/``Basic`` credential.

    Only the secrets given are removed: a client redacts its own key from what its
    responses hold (no process-wide list of keys), so the cost does not grow with the
    number of clients.

    :param text: any text, e.g. a response body.
    :param secrets: strings to remove (empty ones are ignored).
    :returns: the text, each secret and credential replaced with ``[redacted]``.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _CREDENTIAL.sub(lambda match: f"{match.group(1)} {REDACTED}", text)


def shorten(text: str, limit: int = MAX_SHOWN_TEXT) -> str:
    """``text`` cut to ``limit`` characters (the last one an ellipsis): how much of a
    server's text an error message or a log line shows.

    :param text: any text.
    :param limit: the most characters returned.
    :returns: the text, or its first ``limit - 1`` characters and ``…``.
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> CIMultiDict[str]:
    """Response headers as drfulfill hands them on (``APIError.headers``,
    ``APIResponse.headers``): without ``Authorization``, every value redacted.

    :param headers: the response's headers.
    :param secrets: strings to remove (the API key).
    :returns: a case-insensitive copy.
    """
    secrets = tuple(secrets)
    return CIMultiDict(
        (name, redact(value, secrets))
        for name, value in headers.items()
        if name.lower() != "authorization"
    )


def request_id_from(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> str | None:
    """The response's request id (``x-dr-requestid``) as drfulfill shows it everywhere (the
    DEBUG log, the span, ``APIResponse`` and errors): redacted of ``secrets`` and of any
    ``Bearer``/``Basic`` credential (a gateway may echo ``Authorization`` into it), and cut
    to ``MAX_REQUEST_ID_LENGTH`` characters.

    :param headers: the response's headers (any case).
    :param secrets: strings to remove (the API key).
    :returns: the request id, or None when the header is absent.
    """
    value = _header(headers, REQUEST_ID_HEADER)
    if value is None:
        return None
    return shorten(redact(value, secrets), MAX_REQUEST_ID_LENGTH)


def redact_body(body: Any, secrets: Iterable[str] = ()) -> Any:
    """A decoded JSON value with ``redact`` applied to every string in it, keys included.

    Applied after decoding, so a secret hidden behind JSON escapes (``\\u0073k_…``) is found.

    :param body: a decoded JSON value (dicts, lists, strings, numbers...).
    :param secrets: strings to remove.
    :returns: a copy with every string redacted; other values as they are.
    """
    secrets = tuple(secrets)
    if isinstance(body, str):
        return redact(body, secrets)
    if isinstance(body, Mapping):
        return {
            redact_body(key, secrets): redact_body(value, secrets) for key, value in body.items()
        }
    if isinstance(body, list):
        return [redact_body(value, secrets) for value in body]
    return body


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class DigitalRiverError(Exception):
    """Base of every exception drfulfill raises."""

    def __reduce__(self) -> Any:
        # Rebuilt without calling __init__, so every subclass pickles with all its
        # attributes whatever its constructor's signature (workers pass errors around).
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class ValidationError(DigitalRiverError, ValueError):
    """Bad input, refused before the request it is about was sent. The message names the
    field.

    Raised by request models and ``from_mapping``, by every method for an invalid argument
    (no request sent), and by ``bulk_create`` for a journal that cannot be used. Its
    subclass ``KeyReuseError`` comes after the lookups that found the clash: before any
    create, or after one that failed ambiguously. Also a ``ValueError``.
    """


@attrs.frozen
class ErrorDetail:
    """One entry of a Digital River error body's ``errors`` list.

    :ivar code: e.g. ``"order_fulfilled"``; None when absent.
    :ivar parameter: the request parameter the error is about, if DR named one.
    :ivar message: the entry's ``message`` (or its ``description``), if any.
    """

    code: str | None = None
    parameter: str | None = None
    message: str | None = None


class APIError(DigitalRiverError):
    """Digital River answered with a status of 300 or above (redirects are not followed).

    Raised as one of the subclasses below for their statuses, as ``ServerError`` for any
    5xx, and as ``APIError`` itself for the others (e.g. 405, 422). Built by
    ``error_from_response``, which removes the API key and any ``Bearer``/``Basic``
    credential from everything taken from the response.

    :ivar status: the HTTP status.
    :ivar type: the body's ``type`` (e.g. ``"bad_request"``), or None.
    :ivar errors: the body's ``errors`` entries, as ``ErrorDetail``; ``()`` for a body
        without them, or one that is not JSON.
    :ivar request_id: the response's request id header, if sent.
    :ivar body: the body: decoded JSON, or the text when it is not JSON (an HTML page from
        a proxy); None when empty.
    :ivar retry_after: seconds the server asked to wait (``Retry-After``), or None.

    The constructor's arguments set the attributes of the same names.
    """

    def __init__(
        self,
        status: int,
        *,
        type: str | None = None,
        errors: tuple[ErrorDetail, ...] = (),
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.errors = errors
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after
        #: The response's headers as received (case-insensitive), without ``Authorization``.
        self.headers: Mapping[str, str] = CIMultiDict(  # a dict-like that pickles
            (name, value)
            for name, value in (headers or {}).items()
            if name.lower() != "authorization"
        )
        super().__init__(self._describe())

    @property
    def code(self) -> str | None:
        """The first error's code, the usual thing to branch on."""
        return self.errors[0].code if self.errors else None

    def _describe(self) -> str:
        # Every piece comes from the server: each is cut, so a 2 MB message cannot make a
        # 2 MB str(error) (nor a 2 MB retry warning, which logs it).
        text = f"HTTP {self.status}"
        if self.type:
            text += f" {shorten(self.type, _SHORT)}"
        if self.errors:
            first = self.errors[0]
            if first.code:
                text += f" [{shorten(first.code, _SHORT)}]"
            if first.parameter:
                text += f" (parameter {shorten(first.parameter, _SHORT)})"
            if first.message:
                text += f": {shorten(first.message)}"
        elif isinstance(self.body, str) and self.body.strip():
            text += f": {shorten(' '.join(self.body.split()), _SHORT * 2)}"
        if self.request_id:
            text += f" (request id {shorten(self.request_id, MAX_REQUEST_ID_LENGTH)})"
        return text


class BadRequestError(APIError):
    """400: the request was malformed or failed validation at Digital River."""


class AuthenticationError(APIError):
    """401: the API key is missing, malformed or revoked."""


class PermissionDeniedError(APIError):
    """403: the key may not do this."""


class NotFoundError(APIError):
    """404: no such object."""


class ConflictError(APIError):
    """409: the request conflicts with the object's state (e.g. ``order_fulfilled``)."""


class RateLimitError(APIError):
    """429: over the per-key rate limit. ``retry_after`` is in seconds, if the server said."""


class ServerError(APIError):
    """5xx: Digital River failed. For a create, the outcome is unknown."""


class APIConnectionError(DigitalRiverError):
    """No usable response: DNS, refused or reset connection, TLS failure, broken stream.

    :ivar sent: False when the failure happened before any byte of the request left
        (connecting failed, or a deadline or a fleet wait ran out first), so the request
        cannot have had an effect; True when it may have reached Digital River.
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class APITimeoutError(APIConnectionError):
    """No response within the per-attempt timeout or the call's deadline; also raised, with
    ``sent=False``, when the call's deadline leaves no time for a rate-limit slot or for a
    safe-create key another process holds."""


class DecodeError(DigitalRiverError):
    """A 2xx response whose body is not the JSON we expect (or is over the size cap); also
    a webhook body that is not an event (``parse_event``).

    :ivar text: the body as read, with ``secrets`` and any ``Bearer``/``Basic`` credential
        removed (``redact``); ``""`` for a ``PaginationError``.
    :ivar request_id: the response's request id, if sent (also redacted).

    ``str(error)`` shows at most ``MAX_SHOWN_TEXT`` characters of the message.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str,
        request_id: str | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        secrets = tuple(secrets)
        self.text: str = redact(text, secrets)
        self.request_id: str | None = (
            None
            if request_id is None
            else shorten(redact(request_id, secrets), MAX_REQUEST_ID_LENGTH)
        )
        message = shorten(message)  # it may quote the server (an id, a hasMore value)
        if self.request_id:
            message += f" (request id {self.request_id})"
        super().__init__(message)


class KeyReuseError(ValidationError):
    """A safe-create key names a fulfillment (or, in ``bulk_create``, an earlier row) whose
    order, items or quantities differ from the request: the key was used for different
    content. Usually the create was not sent; when a send failed ambiguously first, the
    lookup after it found the key on that other content.

    :ivar key: the safe-create key.
    :ivar fulfillment_id: the existing fulfillment that carries the key; None when the
        clash is with an earlier row of the same ``bulk_create`` run.
    """

    def __init__(self, message: str, *, key: str, fulfillment_id: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.fulfillment_id = fulfillment_id


class CoordinationError(DigitalRiverError):
    """The fleet coordinator could not be used: Redis failed while a safe-create key was
    being claimed (the create was not sent), or while a webhook event id was being recorded
    (``drfulfill.webhooks.RedisDeduplicator``)."""


class WebhookSignatureError(DigitalRiverError):
    """A webhook's ``DigitalRiver-Signature`` is missing, malformed, matches none of the
    signing secrets, or its timestamp is outside the tolerance: do not trust the body.
    Raised by ``verify_signature`` and ``construct_event``; ``webhook_handler`` answers it
    with 400."""


_ERROR_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[APIError]:
    """The exception class for a non-2xx status."""
    if status >= 500:
        return ServerError
    return _ERROR_BY_STATUS.get(status, APIError)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: whole seconds or an HTTP-date.

    :param value: the header's value, or None when absent.
    :param now: the current Unix time, used only for the HTTP-date form (default: now).
    :returns: seconds, never negative; None when the header is absent or unreadable (an
        infinite or NaN number, or a date without a time zone, included).
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf" or "nan" would pause a client forever, or compare as nothing
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    if now is None:
        now = time.time()
    return max(0.0, when.timestamp() - now)


def _parse_errors(body: Any) -> tuple[str | None, tuple[ErrorDetail, ...]]:
    if not isinstance(body, Mapping):
        return None, ()
    kind = body.get("type")
    raw = body.get("errors")
    details = []
    if isinstance(raw, list):
        for entry in raw:
            if not isinstance(entry, Mapping):
                continue
            message = entry.get("message", entry.get("description"))
            details.append(
                ErrorDetail(
                    code=_str_or_none(entry.get("code")),
                    parameter=_str_or_none(entry.get("parameter")),
                    message=_str_or_none(message),
                )
            )
    return _str_or_none(kind), tuple(details)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    text: str,
    *,
    now: float | None = None,
    secrets: Iterable[str] = (),
) -> APIError:
    """Build the exception for a non-2xx response. Pure: tolerates any body.

    Non-JSON bodies (an HTML 502 page from a proxy) are kept as text in ``body`` with
    ``errors == ()``; bodies without ``type``, ``description`` instead of ``message``, and
    empty ``errors`` all give an error. ``secrets`` (the API key) and any ``Bearer``/``Basic``
    credential are removed from everything taken from the response, body and headers alike.

    :param status: the response's status (>= 300).
    :param headers: its headers (any case; a plain dict is searched case-insensitively).
    :param text: its body, decoded as text.
    :param now: the current Unix time, for an HTTP-date ``Retry-After``.
    :param secrets: strings to remove from everything kept (the API key).
    :returns: the ``APIError`` subclass for the status (``APIError`` itself when none is
        specific), with ``type``, ``errors``, ``request_id``, ``body`` and ``retry_after``.
    """
    secrets = tuple(secrets)
    try:
        body: Any = redact_body(json.loads(text), secrets) if text else None
    except (ValueError, RecursionError):  # RecursionError: nesting too deep to decode
        body = redact(text, secrets)
    kind, details = _parse_errors(body)
    return error_class_for(status)(
        status,
        type=kind,
        errors=details,
        request_id=request_id_from(headers, secrets),
        body=body,
        retry_after=parse_retry_after(_header(headers, RETRY_AFTER_HEADER), now=now),
        headers=redact_headers(headers, secrets),
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; multidicts are not
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                return candidate
    return value


_SHORT = 100  # a type, code or parameter: short words, when the server is DR
