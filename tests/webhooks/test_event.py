"""parse_event / construct_event: DR's envelope, typed objects, tolerance, malformed bodies."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from drfulfill import DecodeError, DigitalRiverError, Fulfillment, FulfillmentReturn
from drfulfill.models import FulfillmentReturnState
from drfulfill.webhooks import Event, WebhookSignatureError, construct_event, parse_event
from tests.webhooks._vectors import BODY, NOW, SECRET, hand_header

# Shapes from DR's GitBook examples (FACTS.md §8): envelope, fulfillment plus orderDetails.
FULFILLMENT_EVENT: dict[str, Any] = {
    "id": "6c6a1a5e-7d35-4a8a-a7ac-b9bcf7f2f6e5",
    "type": "fulfillment.created",
    "data": {
        "object": {
            "id": "ful_14776912-d0ff-4f11-974f-17b0f2830ea2",
            "createdTime": "2022-07-01T17:55:58Z",
            "items": [
                {"quantity": 2, "cancelQuantity": 0, "skuId": "b0fd", "itemId": "158140150336"}
            ],
            "orderId": "231388420336",
            "liveMode": False,
            "orderDetails": {"id": "231388420336", "currency": "USD", "state": "fulfilled"},
        }
    },
    "liveMode": False,
    "createdTime": "2023-03-28T18:23:52.939306Z",
    "webhookIds": ["wh_1"],
    "digitalriverVersion": "2021-12-13",
}

RETURN_OBJECT: dict[str, Any] = {
    "id": "ret_1",
    "createdTime": "2024-05-01T12:00:00Z",
    "fulfillmentOrderId": "fo_1",
    "upstreamId": "240001",
    "state": "pending",
    "livemode": True,
    "items": [{"fulfillmentOrderItemId": "foi_1", "quantity": 1, "state": "pending"}],
}


def event(type_: str, obj: Any, **extra: Any) -> dict[str, Any]:
    return {"id": "evt_1", "type": type_, "data": {"object": obj}, **extra}


def test_fulfillment_created_gives_a_fulfillment_and_the_envelope() -> None:
    parsed = parse_event(json.dumps(FULFILLMENT_EVENT).encode())
    assert isinstance(parsed, Event)
    assert parsed.id == FULFILLMENT_EVENT["id"]
    assert parsed.type == "fulfillment.created"
    assert parsed.created_time == datetime(2023, 3, 28, 18, 23, 52, 939306, tzinfo=timezone.utc)
    assert parsed.live_mode is False
    assert parsed.extra == {"webhookIds": ["wh_1"], "digitalriverVersion": "2021-12-13"}
    assert parsed.data.previous_attributes is None
    fulfillment = parsed.object
    assert parsed.data.object is fulfillment
    assert isinstance(fulfillment, Fulfillment)
    assert fulfillment.id == "ful_14776912-d0ff-4f11-974f-17b0f2830ea2"
    assert fulfillment.items[0].quantity == 2
    assert fulfillment.order_details == {
        "id": "231388420336",
        "currency": "USD",
        "state": "fulfilled",
    }


def test_the_create_spelling_is_a_fulfillment_too() -> None:
    obj = {"id": "ful_2", "orderId": "1", "createdTime": "2024-05-01T12:00:00Z", "items": []}
    parsed = parse_event(event("fulfillment.create", obj))
    assert isinstance(parsed.object, Fulfillment)
    assert parsed.object.order_id == "1"


@pytest.mark.parametrize("state", ["created", "pending", "accepted", "rejected"])
def test_fulfillment_return_events_give_a_fulfillment_return(state: str) -> None:
    parsed = parse_event(event(f"fulfillment_return.{state}", {**RETURN_OBJECT, "state": state}))
    assert isinstance(parsed.object, FulfillmentReturn)
    assert parsed.object.state == FulfillmentReturnState(state)
    assert parsed.object.live_mode is True  # the return's "livemode" spelling


def test_previous_attributes_and_other_data_keys() -> None:
    body = {
        "id": "evt_2",
        "type": "fulfillment_return.accepted",
        "data": {"object": RETURN_OBJECT, "previousAttributes": {"state": "pending"}, "x": 1},
    }
    parsed = parse_event(body)
    assert parsed.data.previous_attributes == {"state": "pending"}
    assert parsed.data.extra == {"x": 1}


@pytest.mark.parametrize(
    "type_",
    [
        "order.fulfilled",
        "order.charge.capture.complete",
        "order.charge.capture.failed",
        "fulfillment_order.shipped",
        "fulfillment_cancellation.created",
        "something.brand_new",
    ],
)
def test_other_and_unknown_types_keep_the_raw_mapping(type_: str) -> None:
    obj = {"id": "x", "weird": [1, 2], "state": "complete"}
    parsed = parse_event(event(type_, obj))
    assert parsed.object == obj
    assert not isinstance(parsed.object, (Fulfillment, FulfillmentReturn))


def test_drifted_fields_never_fail() -> None:
    body = event(
        "fulfillment.created",
        {"id": 12345, "createdTime": "2024-05-01T12:00:00Z", "orderId": "1", "items": [], "x": 1},
        createdTime="yesterday",
        liveMode="false",
    )
    parsed = parse_event(body)
    assert parsed.created_time is None and parsed.extra["createdTime"] == "yesterday"
    assert parsed.live_mode is False
    assert isinstance(parsed.object, Fulfillment)
    assert parsed.object.id == "12345"
    assert parsed.object.extra == {"x": 1}


def test_a_fulfillment_without_the_fields_dr_always_sends_is_a_decode_error() -> None:
    body = event("fulfillment.created", {"id": "ful_1", "createdTime": "not a time"})
    with pytest.raises(DecodeError):
        parse_event(body)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"a string"',
        b"{}",
        b'{"id": "e", "type": "fulfillment.created"}',
        b'{"id": "e", "type": "fulfillment.created", "data": []}',
        b'{"id": "e", "type": "fulfillment.created", "data": {"object": "x"}}',
        b'{"id": "e", "type": ["x"], "data": {"object": {}}}',
        b'{"type": "fulfillment.created", "data": {"object": {}}}',
        b"[" * 100_000,
    ],
)
def test_malformed_payload_is_a_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_event(payload)
    assert isinstance(caught.value, DigitalRiverError)


def test_text_payload_is_accepted() -> None:
    assert parse_event(BODY.decode()).type == "fulfillment.created"


def test_construct_event_verifies_then_parses() -> None:
    parsed = construct_event(BODY, hand_header(), SECRET, now=NOW)
    assert isinstance(parsed.object, Fulfillment)
    assert parsed.object.order_id == "240001"


def test_construct_event_refuses_a_bad_signature_before_parsing() -> None:
    with pytest.raises(WebhookSignatureError):
        construct_event(BODY, hand_header(secret="nope"), SECRET, now=NOW)
    with pytest.raises(WebhookSignatureError):
        construct_event(b"not json", hand_header(secret="nope"), SECRET, now=NOW)


def test_construct_event_with_a_valid_signature_on_a_non_event_is_a_decode_error() -> None:
    body = b"[]"
    with pytest.raises(DecodeError):
        construct_event(body, hand_header(body=body), SECRET, now=NOW)


def test_construct_event_tolerance() -> None:
    with pytest.raises(WebhookSignatureError):
        construct_event(BODY, hand_header(), SECRET, now=NOW + 61, tolerance=60)
