"""verify_signature / sign_test_payload against hand-made vectors and hostile headers."""

from __future__ import annotations

import pytest

import drfulfill
from drfulfill import DigitalRiverError, ValidationError
from drfulfill.webhooks import (
    SIGNATURE_HEADER,
    WebhookSignatureError,
    sign_test_payload,
    verify_signature,
)
from tests.webhooks._vectors import BODY, NOW, OLD_SECRET, SECRET, hand_header, hand_signature


def test_error_is_a_digitalriver_error_exported_from_both_places() -> None:
    assert issubclass(WebhookSignatureError, DigitalRiverError)
    assert drfulfill.WebhookSignatureError is WebhookSignatureError
    assert SIGNATURE_HEADER == "DigitalRiver-Signature"


def test_a_hand_made_signature_verifies() -> None:
    verify_signature(BODY, hand_header(), SECRET, now=NOW)


def test_tampered_body_is_refused() -> None:
    tampered = BODY.replace(b'"liveMode":false}', b'"liveMode":true}', 1)
    assert tampered != BODY
    with pytest.raises(WebhookSignatureError, match="no signature"):
        verify_signature(tampered, hand_header(), SECRET, now=NOW)


def test_one_extra_byte_is_refused() -> None:
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY + b"\n", hand_header(), SECRET, now=NOW)


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, hand_header(secret="whsec_attacker"), SECRET, now=NOW)


def test_rotation_old_and_new_secret_both_pass_when_both_are_given() -> None:
    old = hand_header(secret=OLD_SECRET)
    new = hand_header(secret=SECRET)
    verify_signature(BODY, old, [SECRET, OLD_SECRET], now=NOW)
    verify_signature(BODY, new, (SECRET, OLD_SECRET), now=NOW)
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, old, [SECRET], now=NOW)  # the old one was dropped


def test_the_timestamp_is_part_of_what_is_signed() -> None:
    signature = hand_signature(SECRET, str(NOW), BODY)
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, f"{NOW + 1}, {signature}", SECRET, now=NOW)


@pytest.mark.parametrize("offset", [301, 10_000])
def test_stale_timestamp_is_refused(offset: int) -> None:
    with pytest.raises(WebhookSignatureError, match="old"):
        verify_signature(BODY, hand_header(), SECRET, now=NOW + offset)


@pytest.mark.parametrize("offset", [301, 10_000])
def test_future_timestamp_is_refused(offset: int) -> None:
    with pytest.raises(WebhookSignatureError, match="future"):
        verify_signature(BODY, hand_header(), SECRET, now=NOW - offset)


def test_timestamp_within_tolerance_passes_both_ways_and_tolerance_is_configurable() -> None:
    verify_signature(BODY, hand_header(), SECRET, now=NOW + 300)
    verify_signature(BODY, hand_header(), SECRET, now=NOW - 300)
    verify_signature(BODY, hand_header(), SECRET, now=NOW + 3600, tolerance=3600)
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, hand_header(), SECRET, now=NOW + 11, tolerance=10)


def test_default_now_is_the_current_time() -> None:
    with pytest.raises(WebhookSignatureError, match="old"):
        verify_signature(BODY, hand_header(timestamp=NOW), SECRET)  # 2023: long stale


def test_millisecond_timestamp_is_read_as_milliseconds() -> None:
    stamp = str(NOW * 1000 + 250)
    header = f"{stamp}, {hand_signature(SECRET, stamp, BODY)}"
    verify_signature(BODY, header, SECRET, now=NOW)
    with pytest.raises(WebhookSignatureError, match="old"):
        verify_signature(BODY, header, SECRET, now=NOW + 301)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header_is_refused(header: str | None) -> None:
    with pytest.raises(WebhookSignatureError, match="missing"):
        verify_signature(BODY, header, SECRET, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"{NOW}",
        f"{NOW},",
        ", , ,",
        f"{hand_signature(SECRET, str(NOW), BODY)}",
        f"soon, {hand_signature(SECRET, str(NOW), BODY)}",
        f"-{NOW}, {hand_signature(SECRET, str(NOW), BODY)}",
        f"{NOW}e3, {hand_signature(SECRET, str(NOW), BODY)}",
        f"{NOW}, ünïcödé",
    ],
)
def test_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, header, SECRET, now=NOW)


def test_labelled_parts_and_a_header_without_space() -> None:
    signature = hand_signature(SECRET, str(NOW), BODY)
    verify_signature(BODY, f"t={NOW}, v0={signature}", SECRET, now=NOW)
    verify_signature(BODY, f"t={NOW},v0={signature}", SECRET, now=NOW)
    verify_signature(BODY, f"v0={signature}, t={NOW}", SECRET, now=NOW)
    verify_signature(BODY, f"{NOW}, v1={signature}", SECRET, now=NOW)


def test_a_labelled_timestamp_may_be_signed_with_its_label() -> None:
    signature = hand_signature(SECRET, f"t={NOW}", BODY)  # the connector signs the part as sent
    verify_signature(BODY, f"t={NOW}, {signature}", SECRET, now=NOW)


def test_several_signatures_any_one_matching_passes() -> None:
    good = hand_signature(SECRET, str(NOW), BODY)
    bad = hand_signature("whsec_other", str(NOW), BODY)
    verify_signature(BODY, f"{NOW}, {bad}, {good}", SECRET, now=NOW)
    verify_signature(BODY, f"t={NOW}, v0={bad}, v0={good}", SECRET, now=NOW)
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, f"{NOW}, {bad}, {bad}", SECRET, now=NOW)


def test_a_stale_header_with_a_valid_signature_is_still_refused() -> None:
    # Replay: a captured, correctly signed delivery re-sent later.
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, hand_header(timestamp=NOW - 3600), SECRET, now=NOW)


@pytest.mark.parametrize("secrets", ["", [], [""], ["ok", ""]])
def test_no_usable_secret_is_a_programming_error(secrets: object) -> None:
    with pytest.raises(ValidationError):
        verify_signature(BODY, hand_header(), secrets, now=NOW)  # type: ignore[arg-type]


def test_a_text_payload_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValidationError, match="bytes"):
        verify_signature(BODY.decode(), hand_header(), SECRET, now=NOW)  # type: ignore[arg-type]


def test_sign_test_payload_matches_the_hand_made_header() -> None:
    assert sign_test_payload(BODY, SECRET, timestamp=NOW) == hand_header()


def test_sign_test_payload_defaults_to_now() -> None:
    header = sign_test_payload(BODY, SECRET)
    verify_signature(BODY, header, SECRET)  # fresh by default
    stamp = int(header.split(", ")[0])
    assert header == hand_header(timestamp=stamp)


def test_undecodable_header_bytes_are_refused_not_crashed() -> None:
    # aiohttp hands over undecodable header bytes as lone surrogates (surrogateescape).
    raw = f"{NOW}, ".encode() + b"\xff\xfe"
    header = raw.decode("utf-8", "surrogateescape")
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, header, SECRET, now=NOW)
