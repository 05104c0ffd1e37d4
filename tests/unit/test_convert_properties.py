"""Property-based tests of the converter: only DecodeError escapes, and decode -> encode
round-trips; the fast path and the tolerant reader agree."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drfulfill._convert import decoder, format_datetime, structure, unstructure
from drfulfill._datetimes import parse_datetime, parse_fast_utc
from drfulfill.errors import DecodeError
from drfulfill.models import Fulfillment, FulfillmentItem, FulfillmentReturn

RESPONSE_MODELS = [Fulfillment, FulfillmentItem, FulfillmentReturn]

WIRE_KEYS = [
    "id",
    "createdTime",
    "orderId",
    "items",
    "liveMode",
    "livemode",
    "metadata",
    "orderDetails",
    "itemId",
    "quantity",
    "cancelQuantity",
    "distributorCost",
    "shippingCost",
    "state",
    "type",
    "location",
    "address",
    "unitAttributes",
    "fulfillmentOrderItemId",
]

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["2018-04-25T20:36:00Z", "2018-04-25T20:36:00.5Z", "pending", "1e5000"])
)
JSON_LIKE = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(WIRE_KEYS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(RESPONSE_MODELS), JSON_LIKE)
def test_structure_raises_only_decode_error(cls: type, data: Any) -> None:
    try:
        decoded: Any = structure(data, cls)
    except DecodeError:
        return
    assert isinstance(decoded, cls)
    unstructure(decoded)  # whatever decodes, encodes
    # The decoder of response bodies leaves items unbuilt: building them on read never
    # raises, and gives what structure gave.
    deferred: Any = decoder(cls)(data)
    assert repr(deferred) == repr(decoded) and hash(deferred) == hash(decoded)
    assert deferred == decoded


# --- valid DR objects ---------------------------------------------------------------------

IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20)
TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)
MONEY = st.integers(min_value=0, max_value=10**9) | st.floats(min_value=0.01, max_value=1e9)
COUNTS = st.integers(min_value=0, max_value=10**6)


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


WIRE_ITEMS = _optional(
    itemId=IDS,
    skuId=IDS,
    quantity=COUNTS,
    cancelQuantity=COUNTS,
    distributorCost=MONEY,
    shippingCost=MONEY,
    trackingNumber=st.text(max_size=10),
)
WIRE_FULFILLMENTS = st.builds(
    lambda required, optional: {**required, **optional},
    st.fixed_dictionaries(
        {
            "id": IDS,
            "createdTime": TIMES.map(format_datetime),
            "orderId": IDS,
            "items": st.lists(WIRE_ITEMS, max_size=3),
        }
    ),
    _optional(
        currency=st.sampled_from(["USD", "EUR"]),
        liveMode=st.booleans(),
        metadata=st.dictionaries(IDS, st.text(max_size=5) | st.integers() | st.booleans()),
        trackingCompany=st.text(max_size=10),
        newField=st.lists(st.integers(), max_size=2),
    ),
)
WIRE_RETURNS = st.fixed_dictionaries(
    {"id": IDS, "createdTime": TIMES.map(format_datetime)},
    optional={
        "state": st.sampled_from(["created", "pending", "accepted", "on_hold"]),
        "type": st.sampled_from(["client", "warehouse", "brand_new"]),
        "livemode": st.booleans(),
        "items": st.lists(
            _optional(
                fulfillmentOrderItemId=IDS,
                quantity=COUNTS,
                state=st.sampled_from(["pending", "x"]),
                unitAttributes=st.lists(_optional(serialNumber=IDS), min_size=1, max_size=2),
            ),
            min_size=1,  # an empty optional list is omitted when encoded
            max_size=2,
        ),
    },
)


@pytest.mark.parametrize(
    ("cls", "wires"), [(Fulfillment, WIRE_FULFILLMENTS), (FulfillmentReturn, WIRE_RETURNS)]
)
def test_decode_encode_round_trips(cls: type, wires: st.SearchStrategy[dict[str, Any]]) -> None:
    @settings(max_examples=100, deadline=None)
    @given(wires)
    def check(wire: dict[str, Any]) -> None:
        decoded: Any = structure(wire, cls)
        assert unstructure(decoded) == wire
        assert structure(unstructure(decoded), cls) == decoded

    check()


@pytest.mark.parametrize(
    ("cls", "wires"), [(Fulfillment, WIRE_FULFILLMENTS), (FulfillmentReturn, WIRE_RETURNS)]
)
def test_the_fast_path_and_the_tolerant_reader_agree(
    cls: type, wires: st.SearchStrategy[dict[str, Any]]
) -> None:
    @settings(max_examples=100, deadline=None)
    @given(wires)
    def check(wire: dict[str, Any]) -> None:
        fast: Any = structure(wire, cls)
        # An unknown key sends the whole object to the tolerant reader.
        tolerant: Any = structure({**wire, "zzUnknown": 1}, cls)
        assert tolerant.extra == {**fast.extra, "zzUnknown": 1}
        assert attrs.evolve(tolerant, extra=fast.extra) == fast

    check()


@settings(max_examples=300, deadline=None)
@given(TIMES, st.sampled_from([0, 3, 6]))
def test_fast_time_reader_matches_the_full_parser(moment: datetime, digits: int) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    text += "Z"
    assert parse_fast_utc(text) == parse_datetime(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789-T:.Z+ z٣", min_size=20, max_size=27))
def test_fast_time_reader_accepts_only_what_the_full_parser_reads_alike(text: str) -> None:
    try:
        fast = parse_fast_utc(text)
    except ValueError:
        return
    assert fast == parse_datetime(text)
