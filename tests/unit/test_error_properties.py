"""Property-based tests of the error factory and the 2xx decoder: whatever a server sends,
only drfulfill errors come out, they pickle, and the key is never in them."""

import json
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from drfulfill import APIError, DecodeError
from drfulfill._wire import decode_json_object
from drfulfill.errors import error_from_response, redact

KEYS = st.from_regex(r"\Ask_(test_)?[A-Za-z0-9]{8,24}\Z")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
ERROR_BODY = st.fixed_dictionaries(
    {},
    optional={
        "type": JSON,
        "errors": st.lists(
            st.fixed_dictionaries(
                {}, optional={"code": JSON, "parameter": JSON, "message": JSON, "description": JSON}
            )
            | JSON,
            max_size=3,
        )
        | JSON,
    },
)
HEADERS = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "x-dr-requestid", "X-Other"]), st.text()
)


def leak(key):
    """Ways a server may send the key back: raw, after Bearer, JSON-escaped."""
    escaped = "".join(f"\\u{ord(c):04x}" for c in key)
    return st.sampled_from([key, f"Bearer {key}", f"authorization: bearer {key}", escaped])


@st.composite
def leaky_text(draw):
    key = draw(KEYS)
    base = draw(st.one_of(ERROR_BODY.map(json.dumps), st.text()))
    at = draw(st.integers(0, len(base)))
    return key, base[:at] + draw(leak(key)) + base[at:]


def texts_of(error):
    yield str(error)
    yield repr(error)
    yield repr(vars(error))
    yield pickle.dumps(error).decode("latin-1")


@settings(max_examples=100, deadline=None)
@given(
    status=st.integers(300, 599),
    headers=HEADERS,
    body=st.one_of(st.text(), ERROR_BODY.map(json.dumps)),
)
def test_any_error_response_gives_an_api_error_that_pickles(status, headers, body):
    error = error_from_response(status, headers, body)
    assert isinstance(error, APIError) and error.status == status
    assert error.retry_after is None or error.retry_after >= 0
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)


@settings(max_examples=100, deadline=None)
@given(status=st.integers(300, 599), leaked=leaky_text(), header_leak=st.booleans())
def test_the_key_never_survives_the_error_factory(status, leaked, header_leak):
    key, text = leaked
    headers = {"x-dr-requestid": f"id {key}"} if header_leak else {}
    error = error_from_response(status, headers, text, secrets=[key])
    for each in texts_of(error):
        assert key not in each


@settings(max_examples=100, deadline=None)
@given(payload=st.one_of(st.binary(), JSON.map(lambda v: json.dumps(v).encode())))
def test_any_2xx_body_decodes_to_an_object_or_raises_decode_error(payload):
    try:
        decoded = decode_json_object(payload, None)
    except DecodeError as error:
        assert pickle.loads(pickle.dumps(error)).text == error.text
    else:
        assert isinstance(decoded, dict)


@settings(max_examples=100, deadline=None)
@given(key=KEYS, text=st.text(), token=st.from_regex(r"\A[A-Za-z0-9._=+/-]{1,40}\Z"))
def test_redact_removes_the_key_and_credentials(key, text, token):
    cleaned = redact(f"{text}{key} Bearer {token}{text}", [key])
    assert key not in cleaned
    assert f"Bearer {token}" not in cleaned or token == "[redacted]"
