"""Signature vectors built by hand with hmac/base64, independent of the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"
NOW = 1_700_000_000

BODY = json.dumps(
    {
        "id": "2bde7b4a-3c1e-4e0d-9f4f-5d1c0b6e9a11",
        "type": "fulfillment.created",
        "data": {
            "object": {
                "id": "ful_1",
                "createdTime": "2023-03-28T18:23:50Z",
                "orderId": "240001",
                "items": [{"itemId": "1", "quantity": 1}],
                "liveMode": False,
            }
        },
        "liveMode": False,
        "createdTime": "2023-03-28T18:23:52.939306Z",
        "webhookIds": ["wh_1"],
        "digitalriverVersion": "2021-12-13",
    },
    separators=(",", ":"),
).encode()


def hand_signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, "{timestamp}.{body}")), as DR's own connector checks it."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def hand_header(secret: str = SECRET, timestamp: int = NOW, body: bytes = BODY) -> str:
    return f"{timestamp}, {hand_signature(secret, str(timestamp), body)}"
