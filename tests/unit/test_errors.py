import pickle

import pytest

from drfulfill import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DigitalRiverError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from drfulfill.errors import error_class_for, error_from_response, parse_retry_after

CONFLICT = (
    '{"type":"conflict","errors":[{"code":"order_fulfilled","parameter":"orderId",'
    '"message":"Resource \'201454110336\' is fulfilled."}]}'
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (599, ServerError),
        (405, APIError),
        (408, APIError),
    ],
)
def test_status_maps_to_error_class(status, cls):
    assert error_class_for(status) is cls
    error = error_from_response(status, {}, "")
    assert type(error) is cls
    assert isinstance(error, APIError) and isinstance(error, DigitalRiverError)
    assert error.status == status


def test_dr_error_body_is_parsed():
    error = error_from_response(409, {"x-dr-requestid": "req-1"}, CONFLICT)
    assert isinstance(error, ConflictError)
    assert error.type == "conflict"
    assert error.code == "order_fulfilled"
    assert error.errors[0].parameter == "orderId"
    assert error.errors[0].message == "Resource '201454110336' is fulfilled."
    assert error.request_id == "req-1"
    assert error.body["type"] == "conflict"
    text = str(error)
    assert (
        "409" in text and "order_fulfilled" in text and "is fulfilled" in text and "req-1" in text
    )


def test_header_lookup_ignores_case_for_plain_dicts():
    error = error_from_response(404, {"X-DR-RequestId": "abc"}, "{}")
    assert error.request_id == "abc"


def test_description_instead_of_message_and_no_type():
    body = (
        '{"errors":[{"code":"payment_authorization_failed","description":'
        '"Fulfillment cannot be processed","parameter":"orderId"}]}'
    )
    error = error_from_response(409, {}, body)
    assert error.type is None
    assert error.code == "payment_authorization_failed"
    assert error.errors[0].message == "Fulfillment cannot be processed"


@pytest.mark.parametrize(
    "body",
    [
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        '{"type":"bad_gateway","errors":[]}',
        '{"errors":"nonsense"}',
        "[1, 2]",
        "",
        '{"errors":[null, 3, {"message": 5}]}',
    ],
)
def test_odd_bodies_still_give_an_error(body):
    error = error_from_response(502, {}, body)
    assert isinstance(error, ServerError)
    assert "502" in str(error)


def test_a_non_dr_body_gives_no_error_details_and_is_kept_as_text():
    # 0.1.0 made up an ErrorDetail from the page: callers could not tell it from DR's.
    error = error_from_response(502, {}, "<html>\n  <h1>Bad   Gateway</h1></html>")
    assert error.errors == () and error.code is None
    assert error.body == "<html>\n  <h1>Bad   Gateway</h1></html>"
    assert str(error) == "HTTP 502: <html> <h1>Bad Gateway</h1></html>"


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    # Thu, 01 Jan 2026 00:00:30 GMT is 30 s after the injected "now".
    now = 1767225600.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now=now + 10) == 0.0


def test_rate_limit_error_carries_retry_after():
    error = error_from_response(429, {"Retry-After": "120"}, '{"type":"too_many_requests"}')
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 120.0


def test_str_never_contains_the_key():
    error = error_from_response(401, {}, '{"type":"unauthorized","errors":[{"message":"bad key"}]}')
    assert "sk_" not in str(error) and "sk_" not in repr(error)


def test_errors_pickle_round_trip():
    error = error_from_response(429, {"Retry-After": "3", "x-dr-requestid": "r"}, CONFLICT)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimitError
    assert (copy.status, copy.retry_after, copy.request_id, copy.code) == (
        429,
        3.0,
        "r",
        "order_fulfilled",
    )
    assert str(copy) == str(error)


def test_validation_error_is_a_value_error():
    assert issubclass(ValidationError, ValueError)
    assert issubclass(ValidationError, DigitalRiverError)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
def test_a_non_finite_retry_after_is_unreadable(value):
    assert parse_retry_after(value) is None
