"""The officer assertion format (``crossforce.crypto.officer``): exact bytes, and every way to refuse one."""

from __future__ import annotations

import dataclasses

import nacl.signing
import pytest

from crossforce.crypto import envelope, officer
from crossforce.errors import ValidationError, VerificationError

NOW = 1_790_000_000_000
HOUR = 3600 * 1000
KEY = nacl.signing.SigningKey(b"\x01" * 32)
OTHER_KEY = nacl.signing.SigningKey(b"\x02" * 32)
PUBLIC = bytes(KEY.verify_key)


def issued(**changes: object) -> officer.OfficerAssertion:
    fields: dict[str, object] = {"org": "dbs", "officer_id": "DBS-4411", "now_ms": NOW}
    fields.update(changes)
    return officer.issue(KEY, **fields)  # type: ignore[arg-type]


def verify(
    encoded: bytes, *, org: str = "dbs", now: int = NOW, public: bytes = PUBLIC
) -> officer.OfficerAssertion:
    return officer.verify(encoded, org=org, signing_public=public, now_ms=now, max_skew_ms=5 * 60 * 1000)


def test_an_issued_assertion_verifies_and_says_who_for_how_long() -> None:
    got = verify(issued().encode())
    assert (got.org, got.officer_id) == ("dbs", "DBS-4411")
    assert got.issued_at_ms == NOW and got.expires_at_ms == NOW + officer.DEFAULT_LIFETIME_MS
    assert len(got.nonce) == officer.NONCE_BYTES


def test_two_assertions_for_one_officer_differ_by_their_nonce() -> None:
    assert issued().encode() != issued().encode()


def test_the_payload_is_length_prefixed_and_the_signature_is_domain_separated() -> None:
    a = issued()
    payload = a.payload()
    assert payload[0] == officer.FORMAT_VERSION
    assert payload[1:5] == (3).to_bytes(4, "big") and payload[5:8] == b"dbs"
    assert a.encode() == payload + a.signature
    envelope.verify(officer.OFFICER_ASSERTION_CONTEXT, payload, a.signature, PUBLIC)
    with pytest.raises(VerificationError):  # the same signature under another purpose's context
        envelope.verify(envelope.REGISTRATION_CONTEXT, payload, a.signature, PUBLIC)


def test_an_assertion_for_another_organisation_is_refused() -> None:
    with pytest.raises(VerificationError, match="issued by dbs, not by ofsted"):
        verify(issued().encode(), org="ofsted")


def test_an_assertion_signed_by_another_key_is_refused() -> None:
    with pytest.raises(VerificationError, match="bad signature"):
        verify(officer.issue(OTHER_KEY, org="dbs", officer_id="DBS-4411", now_ms=NOW).encode())


def test_an_expired_assertion_is_refused() -> None:
    encoded = issued(lifetime_ms=HOUR).encode()
    verify(encoded, now=NOW + HOUR - 1)
    with pytest.raises(VerificationError, match="expired"):
        verify(encoded, now=NOW + HOUR)


def test_an_assertion_issued_in_the_future_is_refused_beyond_the_skew() -> None:
    verify(issued(now_ms=NOW + 5 * 60 * 1000).encode())  # within the skew: a clock running ahead
    with pytest.raises(VerificationError, match="future"):
        verify(issued(now_ms=NOW + 5 * 60 * 1000 + 1).encode())


def test_no_assertion_lives_longer_than_a_day() -> None:
    issued(lifetime_ms=officer.MAX_LIFETIME_MS)
    with pytest.raises(ValidationError, match="24 hours"):
        issued(lifetime_ms=officer.MAX_LIFETIME_MS + 1)


def test_a_signed_long_lived_assertion_is_refused_when_parsed() -> None:
    """An issuer that ignores the rule (signs a week) is refused by the verifier, not only by ``issue``."""
    a = issued()
    raw = (
        bytes([officer.FORMAT_VERSION])
        + (3).to_bytes(4, "big")
        + b"dbs"
        + (8).to_bytes(4, "big")
        + b"DBS-4411"
        + NOW.to_bytes(8, "big")
        + (NOW + 7 * 24 * HOUR).to_bytes(8, "big")
        + (16).to_bytes(4, "big")
        + a.nonce
    )
    signed = raw + envelope.sign(officer.OFFICER_ASSERTION_CONTEXT, raw, KEY)
    with pytest.raises(ValidationError, match="24 hours"):
        verify(signed)


@pytest.mark.parametrize("where", [0, 6, 20, 40, -1])
def test_any_changed_byte_is_refused(where: int) -> None:
    encoded = bytearray(issued().encode())
    encoded[where] ^= 0x01
    with pytest.raises((ValidationError, VerificationError)):
        verify(bytes(encoded))


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[:-1], "truncated|signature"),
        (lambda b: b[:50], "truncated"),
        (lambda b: b"", "truncated"),
        (lambda b: b + b"\x00", "trailing|signature"),
        (lambda b: b * 5, "exceeds"),
    ],
)
def test_malformed_bytes_are_a_validation_error(mangle: object, message: str) -> None:
    encoded = issued().encode()
    with pytest.raises((ValidationError, VerificationError), match=message):
        verify(mangle(encoded))  # type: ignore[operator]


def test_the_file_form_round_trips_and_refuses_anything_else() -> None:
    a = issued()
    text = a.armoured()
    assert text.startswith(officer.ARMOUR_BEGIN) and text.rstrip().endswith(officer.ARMOUR_END)
    assert officer.from_armoured(text) == a.encode()
    with pytest.raises(ValidationError, match="not an officer assertion file"):
        officer.from_armoured("hello")
    with pytest.raises(ValidationError, match="base64"):
        officer.from_armoured(f"{officer.ARMOUR_BEGIN}\n!!!\n{officer.ARMOUR_END}\n")


def test_an_unsigned_assertion_cannot_be_encoded() -> None:
    with pytest.raises(ValidationError, match="signed"):
        dataclasses.replace(issued(), signature=b"").encode()
