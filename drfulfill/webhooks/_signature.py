"""Digital River's webhook signature: check it (``verify_signature``) and make one for tests.

DR documents only that ``DigitalRiver-Signature`` holds a timestamp and a signature made with
the endpoint's signing secret. DR's own Salesforce connector reads it as
``"{timestamp}, {signature}"`` with ``signature = base64(HMAC-SHA256(secret,
"{timestamp}.{raw body}"))``; this module follows that and also tolerates
``t=``/``v0=``-style labels and several signatures (see ``verify_signature``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Iterable

from .._constants import WEBHOOK_TOLERANCE
from .._options import check_seconds
from ..errors import ValidationError, WebhookSignatureError

__all__ = ["SIGNATURE_HEADER", "sign_test_payload", "verify_signature"]

SIGNATURE_HEADER = "DigitalRiver-Signature"
"""The request header that carries the timestamp and the signature."""

# "t=1700000000" or "v0=abc…=": a short label, then the value. A bare base64 HMAC-SHA256
# (44 characters, "=" only at the end) never matches, so it is never mistaken for a label.
_LABELLED = re.compile(r"([A-Za-z][A-Za-z0-9_]{0,15})=(.+)", re.ASCII)
_TIMESTAMP = re.compile(r"\d{1,20}(?:\.\d{1,9})?", re.ASCII)
_TIMESTAMP_LABELS = frozenset({"t", "ts", "timestamp"})
# Above this a timestamp is read as milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973.
_MILLISECONDS_ABOVE = 1e11
_MALFORMED = f"malformed {SIGNATURE_HEADER} header: expected '<timestamp>, <signature>'"


def verify_signature(
    payload: bytes | bytearray | memoryview,
    header: str | None,
    secrets: str | Iterable[str],
    *,
    tolerance: float = WEBHOOK_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check a webhook's ``DigitalRiver-Signature`` header against the raw request body.

    Accepted header forms: ``"{timestamp}, {signature}"`` (DR's), either part optionally
    labelled (``t=…``, ``v0=…``), parts separated by a comma with or without a space, and
    more than one signature (any match passes). The timestamp is Unix time in seconds,
    an integer or with a fraction; a value above 1e11 is read as milliseconds. The signed
    text is ``"{timestamp}.{body}"`` with the timestamp as it appears in the header, with
    or without its label. Comparisons are constant-time (``hmac.compare_digest``).

    :param payload: the body exactly as received (bytes, before any JSON parsing).
    :param header: the ``DigitalRiver-Signature`` header's value (None when absent).
    :param secrets: the endpoint's signing secret, or several (after a rotation DR keeps
        the old secret valid for 12 hours: pass both), as a list or any iterable.
    :param tolerance: the most seconds the timestamp may be away from ``now``, in either
        direction: a finite number >= 0.
    :param now: the current Unix time (default: the system clock), for tests.
    :returns: None, when one signature in the header matches one secret and the timestamp
        is within ``tolerance``.
    :raises WebhookSignatureError: when the header is missing or malformed, no signature
        matches, or the timestamp is too old or too far in the future.
    :raises ValidationError: before the header is read, when ``secrets`` is None, empty or
        holds a non-string or empty secret, ``tolerance`` is not a finite number >= 0, or
        ``payload`` is not bytes (``bytes``, ``bytearray`` or ``memoryview``).
    """
    keys = secret_keys(secrets)
    check_tolerance(tolerance)
    verified_signatures(payload, header, keys, tolerance=tolerance, now=now)


def verified_signatures(
    payload: bytes | bytearray | memoryview,
    header: str | None,
    keys: list[bytes],
    *,
    tolerance: float,
    now: float | None,
) -> tuple[float, list[bytes]]:
    """``verify_signature`` with its arguments checked: the timestamp (Unix seconds) and
    every signature of the header that matched (what makes a delivery a replay when seen
    again, whatever else its header holds)."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ValidationError("payload must be the raw request body as bytes")
    stamp_part, stamp, signatures = _parse_header(header)
    body = bytes(payload)
    expected = [
        _sign(key, text, body) for key in keys for text in dict.fromkeys((stamp_part, stamp))
    ]
    # Check every pair (no early exit) so the time taken does not depend on which matched.
    matched = []
    for candidate in signatures:
        for value in expected:
            if hmac.compare_digest(value, candidate):
                matched.append(value)
    if not matched:
        raise WebhookSignatureError("no signature in the header matches a signing secret")
    seconds = _check_age(float(stamp), tolerance, time.time() if now is None else now)
    return seconds, matched


def check_tolerance(tolerance: object) -> None:
    """``ValidationError`` unless ``tolerance`` is a finite number of seconds >= 0 (``nan``
    would accept a signature of any age)."""
    check_seconds("tolerance", tolerance, positive=False)


def sign_test_payload(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The ``DigitalRiver-Signature`` value DR would send for ``payload``, for your tests.

    :param payload: the body to sign, as it will be sent.
    :param secret: the signing secret.
    :param timestamp: Unix seconds to sign with (default: now).
    :returns: ``"{timestamp}, {base64 HMAC-SHA256}"``, which ``verify_signature`` accepts.
    :raises ValidationError: when ``secret`` is not a non-empty string.
    """
    if not isinstance(secret, str):
        raise ValidationError("secret must be a non-empty signing secret")
    (key,) = secret_keys(secret)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return f"{stamp}, {_sign(key, stamp, bytes(payload)).decode('ascii')}"


def _sign(key: bytes, timestamp: str, body: bytes) -> bytes:
    digest = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).digest()
    return base64.b64encode(digest)


def secret_keys(secrets: str | Iterable[str]) -> list[bytes]:
    """The signing secrets as HMAC keys, read once (an iterator is consumed here);
    ``ValidationError`` unless there is at least one and each is a non-empty string."""
    problem = ValidationError("secrets must be a non-empty signing secret or a list of them")
    if isinstance(secrets, str):
        listed: list[object] = [secrets]
    elif isinstance(secrets, Iterable) and not isinstance(secrets, (bytes, bytearray)):
        listed = list(secrets)
    else:  # None (an unset environment variable), a number, bytes
        raise problem
    keys = [secret.encode("utf-8") for secret in listed if isinstance(secret, str) and secret]
    if not keys or len(keys) != len(listed):
        raise problem
    return keys


def _parse_header(header: str | None) -> tuple[str, str, list[bytes]]:
    """(timestamp part as sent, its bare value, the signatures as bytes)."""
    if header is None or not header.strip():
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header is missing")
    parts = [part.strip() for part in header.split(",") if part.strip()]
    if len(parts) < 2:
        raise WebhookSignatureError(_MALFORMED)
    labelled = [_LABELLED.fullmatch(part) for part in parts]
    stamp_index = next(
        (
            i
            for i, match in enumerate(labelled)
            if match is not None and match[1].lower() in _TIMESTAMP_LABELS
        ),
        0,
    )
    stamp_match = labelled[stamp_index]
    stamp = stamp_match[2] if stamp_match is not None else parts[stamp_index]
    signatures = [
        # "replace": undecodable header bytes arrive as lone surrogates; they never match.
        (match[2] if match is not None else part).encode("utf-8", "replace")
        for i, (part, match) in enumerate(zip(parts, labelled, strict=True))
        if i != stamp_index
    ]
    if not _TIMESTAMP.fullmatch(stamp) or not signatures:
        raise WebhookSignatureError(_MALFORMED)
    return parts[stamp_index], stamp, signatures


def _check_age(timestamp: float, tolerance: float, now: float) -> float:
    """The timestamp in seconds, once it is within ``tolerance`` of ``now``."""
    seconds = timestamp / 1000 if timestamp > _MILLISECONDS_ABOVE else timestamp
    age = now - seconds
    if age > tolerance:
        raise WebhookSignatureError(
            f"the signature timestamp is {age:.0f} s old (tolerance {tolerance:g} s)"
        )
    if -age > tolerance:
        raise WebhookSignatureError(
            f"the signature timestamp is {-age:.0f} s in the future (tolerance {tolerance:g} s)"
        )
    return seconds
