"""``bulk_create``: many fulfillments, concurrently, each created exactly once across re-runs.

Why a row is never created twice:

* Every row has a deterministic key (``request_key``, an explicit key, or the key already in
  its metadata), stored in the fulfillment's metadata, so whether a row was created can always
  be asked of Digital River.
* Every row is verified with DR before its create, unless the journal says it is done: with
  ``since`` one sweep of the fulfillments created since then answers every row; otherwise one
  lookup per order answers all rows of that order. A journal that is new, moved, deleted,
  truncated or from another machine costs requests (and, with no coordinator, a settle
  window at the start: an earlier run's doubt may have lived only in its memory). A run
  made without its journal leaves doubts that journal cannot show a later run: use the same
  journal every time, or a coordinator.
* Creates go through the safe-create component (``SafeCreator``): doubtful creates are
  looked up across the settle window before any resend, and fleet claims guard each key.
* Rows sharing a key within a run are created once: the later ones wait for the first.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Iterable,
    Mapping,
)
from datetime import datetime
from typing import Any, Protocol

import attrs

from ._bulkrun import BulkRun, RequestRows, is_fatal
from ._constants import (
    DEFAULT_BULK_CONCURRENCY,
    DEFAULT_IDEMPOTENCY_FIELD,
)
from ._convert import unstructure
from ._journal import claim_journal, journal_in_doubt
from ._safecreate import SafeCreator, as_fulfillment_request
from .errors import ValidationError
from .models import BulkResult, FulfillmentRequest

__all__ = [
    "KeyFunction",
    "ProgressCallback",
    "bulk_create",
    "claim_journal",
    "is_fatal",
    "journal_in_doubt",
    "request_key",
]

KeyFunction = Callable[[FulfillmentRequest], str]
"""Gives a row's safe-create key; the same request must always give the same key."""

ProgressCallback = Callable[[BulkResult], object]
"""Called (synchronously) once per finished row, just before the row is yielded."""


class CreatesSafely(Protocol):
    """What ``bulk_create`` needs of ``client.fulfillments``: its safe-create component."""

    @property
    def safe_create(self) -> SafeCreator | None: ...


# String fields of FulfillmentRequest whose value can serve as a row's key.
_KEY_FIELDS = frozenset(
    field.name
    for field in attrs.fields(FulfillmentRequest)
    if field.name not in ("items", "metadata")
)


def request_key(
    request: FulfillmentRequest | Mapping[str, Any],
    idempotency_field: str = DEFAULT_IDEMPOTENCY_FIELD,
) -> str:
    """The key ``bulk_create`` gives a row when no key is given: 32 hex characters.

    A sha256 of the request's wire JSON (keys sorted, no spaces) without the safe-create
    field in ``metadata`` (and without ``metadata`` if nothing else is in it, since the wire
    body is the same either way). A dict and the equal ``FulfillmentRequest`` give the same key,
    in every run. Identical rows share a key, so they are created once.

    :param request: a ``FulfillmentRequest``, or a dict with the same snake_case keys.
    :param idempotency_field: the metadata field that carries the safe-create key (the
        client's ``idempotency_field``); its value is left out of the hash.
    :returns: the first 32 hex characters of the sha256.
    :raises ValidationError: when ``request`` is a dict that is not a valid request.
    """
    body = unstructure(as_fulfillment_request(request))
    metadata = body.get("metadata")
    if metadata is not None:  # a copy: the encoder never aliases the model's dict
        metadata.pop(idempotency_field, None)
        if not metadata:
            del body["metadata"]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def bulk_create(
    fulfillments: CreatesSafely,
    requests: RequestRows,
    *,
    concurrency: int | None = None,
    key: str | KeyFunction | None = None,
    journal: str | os.PathLike[str] | None = None,
    stop_on_error: bool = False,
    on_progress: ProgressCallback | None = None,
    since: datetime | None = None,
) -> AsyncGenerator[BulkResult, None]:
    """Create a fulfillment per input row; yield a ``BulkResult`` per row as each finishes.

    Input is read lazily, so memory does not grow with it: at most ``concurrency`` requests
    are in flight, and a few times as many rows (rows waiting out a doubtful create's
    settle window hold no request slot, so they never hold the others back). An async
    iterable is never waited on while rows already pulled are unsent. Results come in
    completion order; ``result.index`` is the row's position in the input. A row that is
    invalid or fails yields ``ok=False`` with the ``error`` (for a row that is not a valid
    request, ``key`` is ``""`` and ``request`` is the input as given); the other rows go on
    unless ``stop_on_error``.

    Rows with the same key are one fulfillment: it is created once and the other rows
    report it with ``resumed=True``; a key found on a fulfillment (or an earlier row) with
    other content fails the row with ``KeyReuseError``. Every row not recorded ``done`` in
    the journal is verified with Digital River before it is created.

    Every key the run created, found or left in doubt is remembered for the rest of the
    run, however long the input (``RunKeys``: about 34 MB per million keys): a repeat of it
    is never sent again.

    The journal is an optimisation for what is done, never the source of truth: a new,
    moved, truncated or deleted journal costs the verification above and, with no
    coordinator, a wait of one settle window from the run's start before the first lookup or
    sweep (an earlier run's doubt may have lived only in its memory). A journal records only
    the runs made with it: a run without it (``journal=None``, another file) may leave
    creates in doubt that a later run with it does not wait for. The file is
    locked while a run uses it; a row's ``started`` mark is committed (fsynced, off the
    event loop) before its create is sent. Its table ``journal`` has one row per key:
    ``key, idx, status ('started'|'done'|'failed'), fulfillment_id, fulfillment_json,
    error, updated``. A row whose create ended with its outcome unknown stays ``started``
    (a re-run waits it out); ``failed`` is a definite failure. A journal is bound to the API
    (base URL and test/live mode) of its first ``started`` or ``done`` row, and unbound when
    a run ends with neither in it.

    Stop early with ``break`` inside ``contextlib.aclosing(...)``, ``await results.aclose()``
    or by cancelling the consuming task: rows in flight are cancelled, and the journal keeps
    each row ``done``, ``started`` (its create was out: a re-run waits it out) or ``failed``
    (stopped before its create went out).

    :param fulfillments: ``client.fulfillments`` (anything with a ``safe_create``).
    :param requests: a sync or async iterable of ``FulfillmentRequest`` or dicts with the
        same snake_case keys.
    :param concurrency: the most requests in flight (an int >= 1); None for
        ``DEFAULT_BULK_CONCURRENCY``.
    :param key: None for ``request_key`` (a hash of the request), the name of a string
        field of ``FulfillmentRequest`` (e.g. ``"shipment_id"``) whose value is the key, or
        a function of the request (an exception from it fails that row). A key already in
        the request's ``metadata`` under the client's ``idempotency_field`` wins.
    :param journal: path of an SQLite file that makes re-runs cheap: keys recorded ``done``
        are yielded with ``resumed=True`` without any request. None: no journal.
    :param stop_on_error: stop reading input after the first failed row, let the rows in
        flight finish, yield them, and end.
    :param on_progress: called synchronously with each result, just before it is yielded.
    :param since: the earliest time an earlier run of this input could have started
        (timezone-aware); then one sweep of the fulfillments created since then (less
        ``BULK_SINCE_MARGIN``, 5 minutes, for clock skew with Digital River) verifies
        every row (the cheapest way: a fresh run spends nearly all requests on creates).
        Without it, one lookup per order verifies all rows of that order.
    :returns: an async generator of one ``BulkResult`` per input row. Nothing is read or
        sent before the first iteration.
    :raises ValidationError: at once, when the client's ``idempotency_field`` is None
        (without keys, exactly-once is impossible) or an argument is invalid; on the first
        iteration, when the journal cannot be opened or belongs to another API.
    :raises DigitalRiverError: on the first iteration, when another run holds the journal
        (after waiting up to 5 s for it), or later when the journal's file fails.
    :raises AuthenticationError: from the iteration, when a row met it (see ``is_fatal``):
        no row is started after it, rows waiting to send are cancelled (a create already
        out is let finish), every row that finished is yielded first, and then the error
        is raised, instead of failing every row. The same for ``PermissionDeniedError``,
        ``CoordinationError`` and an ``APIConnectionError`` raised before anything was
        sent. With ``since``, an error of the sweep is raised on the first iteration,
        before any row; without it, a failed per-order lookup fails its rows.
    """
    creator = fulfillments.safe_create
    if creator is None:
        raise ValidationError(
            "bulk_create needs the safe-create protocol: the Client's idempotency_field is None"
        )
    # Bulk traffic: interactive calls of the same client (or fleet) go before it.
    creator = creator.with_priority("bulk")
    if concurrency is None:
        concurrency = DEFAULT_BULK_CONCURRENCY
    elif isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if isinstance(requests, (str, bytes, Mapping)) or not isinstance(
        requests, (Iterable, AsyncIterable)
    ):
        raise ValidationError(
            "requests must be an iterable or async iterable of FulfillmentRequest or dicts, "
            f"got {type(requests).__name__}"
        )
    if since is not None and (
        not isinstance(since, datetime) or since.tzinfo is None or since.utcoffset() is None
    ):
        raise ValidationError(f"since must be a timezone-aware datetime, got {since!r}")
    run = BulkRun(
        creator,
        key_of=_key_function(key, creator.field),
        concurrency=concurrency,
        stop_on_error=stop_on_error,
        on_progress=on_progress,
    )
    return run.results(requests, journal, since)


def _key_function(key: str | KeyFunction | None, field: str) -> KeyFunction:
    if key is None:
        return lambda request: request_key(request, field)
    if isinstance(key, str):
        if key not in _KEY_FIELDS:
            raise ValidationError(
                f"key={key!r} is not a string field of FulfillmentRequest; "
                f"use one of {', '.join(sorted(_KEY_FIELDS))}, or a function"
            )
        return lambda request: _field_value(request, key)
    if callable(key):
        return key
    raise ValidationError(f"key must be None, a field name or a function, got {key!r}")


def _field_value(request: FulfillmentRequest, name: str) -> str:
    value = getattr(request, name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} is the key field and must not be empty, got {value!r}")
    return value
