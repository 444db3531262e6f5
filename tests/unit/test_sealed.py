"""Sealed disclosures: the matcher relays them but can neither read, alter, forge nor misroute them."""

from __future__ import annotations

import hashlib
import json

import nacl.public
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.crypto import envelope, sealed
from crossforce.crypto.sealed import DisclosurePayload, open_sealed, seal
from crossforce.errors import TooLargeError, ValidationError, VerificationError

REQUEST_ID = "6f1c0d2e9a8b4c3d"
HOLDER = "kent"
REQUESTER = "humberside"

HOLDER_SIGNING = nacl.signing.SigningKey(bytes(range(32)))
OTHER_FORCE_SIGNING = nacl.signing.SigningKey(bytes(range(1, 33)))
REQUESTER_BOX = nacl.public.PrivateKey(bytes(range(2, 34)))
THIRD_PARTY_BOX = nacl.public.PrivateKey(bytes(range(3, 35)))

PAYLOAD = DisclosurePayload(
    summary="Cautioned 2019 (theft)",
    records=({"record_id": "K-1", "surname": "Ng"},),
    point_of_contact="desk@kent.example",
)


def _seal(payload: DisclosurePayload = PAYLOAD, **overrides: object) -> bytes:
    kwargs: dict[str, object] = {
        "payload": payload,
        "request_id": REQUEST_ID,
        "holder_org": HOLDER,
        "requester_org": REQUESTER,
        "holder_signing": HOLDER_SIGNING,
        "requester_box_public": bytes(REQUESTER_BOX.public_key),
        "requester_key_version": 1,
    }
    kwargs.update(overrides)
    return seal(**kwargs)  # type: ignore[arg-type]


def _open(blob: bytes, **overrides: object) -> DisclosurePayload:
    kwargs: dict[str, object] = {
        "sealed": blob,
        "request_id": REQUEST_ID,
        "holder_org": HOLDER,
        "requester_org": REQUESTER,
        "requester_box": REQUESTER_BOX,
        "requester_key_version": 1,
        "holder_signing_public": bytes(HOLDER_SIGNING.verify_key),
    }
    kwargs.update(overrides)
    return open_sealed(**kwargs).payload  # type: ignore[arg-type]


def _forge_plaintext(statement: bytes, signature: bytes, body: bytes) -> bytes:
    """What anyone (the matcher included) can put in a sealed box to the requester."""
    lp = sealed._lp
    plaintext = sealed.MAGIC + bytes([sealed.FORMAT_VERSION]) + lp(statement) + lp(signature) + lp(body)
    return bytes(nacl.public.SealedBox(REQUESTER_BOX.public_key).encrypt(plaintext))


# --- round trips -------------------------------------------------------------------------------------


def test_round_trip() -> None:
    assert _open(_seal()) == PAYLOAD


def test_payload_bytes_are_canonical_json() -> None:
    data = PAYLOAD.to_bytes()
    assert (
        data
        == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert DisclosurePayload.from_bytes(data) == PAYLOAD


def test_payload_repr_hides_personal_data() -> None:
    assert "Ng" not in repr(PAYLOAD) and "theft" not in repr(PAYLOAD)


def test_records_cannot_be_mutated_after_sealing() -> None:
    record = {"surname": "Ng"}
    payload = DisclosurePayload(summary="s", records=(record,), point_of_contact="p")
    record["surname"] = "changed"
    assert payload.records[0]["surname"] == "Ng"


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=50, deadline=None)
@given(
    summary=text,
    records=st.lists(st.dictionaries(text, text, max_size=4), max_size=4),
    contact=text,
)
def test_round_trip_any_payload(summary: str, records: list[dict[str, str]], contact: str) -> None:
    payload = DisclosurePayload(summary=summary, records=tuple(records), point_of_contact=contact)
    assert DisclosurePayload.from_bytes(payload.to_bytes()) == payload
    assert _open(_seal(payload)) == payload


def test_two_seals_of_the_same_payload_differ() -> None:
    """Ephemeral sender keys: the matcher cannot tell that two disclosures carry the same payload."""
    assert _seal() != _seal()


# --- the attacks -------------------------------------------------------------------------------------


def test_third_party_box_key_cannot_decrypt() -> None:
    with pytest.raises(VerificationError, match="not addressed to this organisation"):
        _open(_seal(), requester_box=THIRD_PARTY_BOX)


def test_flipping_any_ciphertext_byte_is_detected() -> None:
    short = DisclosurePayload(summary="x", records=(), point_of_contact="y")
    blob = _seal(short)
    assert _open(blob) == short
    for position in range(len(blob)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(blob)
            tampered[position] ^= mask
            with pytest.raises(VerificationError):
                _open(bytes(tampered))


@pytest.mark.parametrize("cut", [0, 1, 47, 48, -1])
def test_truncated_ciphertext_rejected(cut: int) -> None:
    blob = _seal()
    with pytest.raises(VerificationError):
        _open(blob[:cut])


def test_appended_bytes_rejected() -> None:
    with pytest.raises(VerificationError):
        _open(_seal() + b"\x00")


def test_disclosure_resigned_by_another_force_rejected() -> None:
    blob = _seal(holder_signing=OTHER_FORCE_SIGNING)
    with pytest.raises(VerificationError, match="signature does not verify under kent"):
        _open(blob)


def test_matcher_forged_disclosure_rejected() -> None:
    """The matcher knows the requester's public box key, so it can seal; it cannot sign as the holder."""
    body = PAYLOAD.to_bytes()
    statement = sealed.signed_statement(
        request_id=REQUEST_ID,
        holder_org=HOLDER,
        requester_org=REQUESTER,
        payload_sha256=hashlib.sha256(body).digest(),
        recipient_box_key=bytes(REQUESTER_BOX.public_key),
        recipient_key_version=1,
    )
    with pytest.raises(VerificationError, match="signature"):
        _open(_forge_plaintext(statement, b"\x00" * 64, body))


def test_signature_from_another_context_rejected() -> None:
    body = PAYLOAD.to_bytes()
    statement = sealed.signed_statement(
        request_id=REQUEST_ID,
        holder_org=HOLDER,
        requester_org=REQUESTER,
        payload_sha256=hashlib.sha256(body).digest(),
        recipient_box_key=bytes(REQUESTER_BOX.public_key),
        recipient_key_version=1,
    )
    signature = envelope.sign(envelope.INDEX_HEADER_CONTEXT, statement, HOLDER_SIGNING)
    with pytest.raises(VerificationError, match="signature"):
        _open(_forge_plaintext(statement, signature, body))


def test_payload_swapped_under_a_genuine_signature_rejected() -> None:
    body = PAYLOAD.to_bytes()
    statement = sealed.signed_statement(
        request_id=REQUEST_ID,
        holder_org=HOLDER,
        requester_org=REQUESTER,
        payload_sha256=hashlib.sha256(body).digest(),
        recipient_box_key=bytes(REQUESTER_BOX.public_key),
        recipient_key_version=1,
    )
    signature = envelope.sign(envelope.DISCLOSURE_CONTEXT, statement, HOLDER_SIGNING)
    other = DisclosurePayload(summary="nothing", records=(), point_of_contact="").to_bytes()
    with pytest.raises(VerificationError, match="does not match its signed digest"):
        _open(_forge_plaintext(statement, signature, other))


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("request_id", "another-request", "request id"),
        ("holder_org", "essex", "holding organisation"),
        ("requester_org", "dbs", "requesting organisation"),
    ],
)
def test_misrouted_disclosure_rejected(field: str, value: str, what: str) -> None:
    """A genuine disclosure replayed under another request, or presented as from or to another
    organisation: the signature still verifies, the signed binding does not."""
    with pytest.raises(VerificationError, match=f"different {what}.*misrouted"):
        _open(_seal(), **{field: value})


def test_requester_binding_survives_re_encryption() -> None:
    """The matcher cannot decrypt, but a second requester who received a disclosure could re-seal its
    plaintext to itself under another name; the signed requester org still says who it was for."""
    blob = _seal(requester_org="dbs")
    with pytest.raises(VerificationError, match="different requesting organisation"):
        _open(blob)


@pytest.mark.parametrize(
    "plaintext",
    [
        b"",
        b"CFSD",
        b"CFSD\x02",
        b"XXXX\x01",
        b"CFSD\x01\x00\x00\x00\x05ab",
        b"CFSD\x01\xff\xff\xff\xff",
    ],
)
def test_malformed_frames_rejected(plaintext: bytes) -> None:
    blob = bytes(nacl.public.SealedBox(REQUESTER_BOX.public_key).encrypt(plaintext))
    with pytest.raises(VerificationError):
        _open(blob)


def test_oversized_sealed_disclosure_refused() -> None:
    big = DisclosurePayload(summary="a" * 2000, records=(), point_of_contact="")
    with pytest.raises(TooLargeError):
        _seal(big, max_sealed_bytes=1000)
    with pytest.raises(TooLargeError):
        _open(_seal(big), max_sealed_bytes=1000)


def test_sealed_sha256_is_of_the_ciphertext() -> None:
    blob = _seal()
    assert sealed.sealed_sha256(blob) == hashlib.sha256(blob).digest()


# --- strict payload parsing --------------------------------------------------------------------------

CANONICAL = b'{"point_of_contact":"p","records":[],"summary":"s"}'


@pytest.mark.parametrize(
    "data",
    [
        b'{"point_of_contact": "p", "records": [], "summary": "s"}',  # spaces
        b'{"summary":"s","records":[],"point_of_contact":"p"}',  # unsorted
        b'{"point_of_contact":"p","records":[],"summary":"s","extra":"x"}',
        b'{"point_of_contact":"p","records":[]}',
        b'{"point_of_contact":"p","records":[],"summary":"s","summary":"t"}',
        b'{"point_of_contact":"p","records":[],"summary":1}',
        b'{"point_of_contact":"p","records":[{"a":1}],"summary":"s"}',
        b'{"point_of_contact":"p","records":["x"],"summary":"s"}',
        b'{"point_of_contact":"p","records":{},"summary":"s"}',
        b'{"point_of_contact":"p","records":[],"summary":NaN}',
        b'{"point_of_contact":"p","records":[],"summary":"\\u00e9"}',  # escaped non-ASCII
        b"[]",
        b"\xff",
        b"",
    ],
)
def test_non_canonical_or_malformed_payload_rejected(data: bytes) -> None:
    assert DisclosurePayload.from_bytes(CANONICAL).summary == "s"
    with pytest.raises(ValidationError):
        DisclosurePayload.from_bytes(data)


def test_malformed_payload_signed_by_holder_is_a_verification_error() -> None:
    body = b'{"summary":"s"}'
    statement = sealed.signed_statement(
        request_id=REQUEST_ID,
        holder_org=HOLDER,
        requester_org=REQUESTER,
        payload_sha256=hashlib.sha256(body).digest(),
        recipient_box_key=bytes(REQUESTER_BOX.public_key),
        recipient_key_version=1,
    )
    signature = envelope.sign(envelope.DISCLOSURE_CONTEXT, statement, HOLDER_SIGNING)
    with pytest.raises(VerificationError, match="malformed"):
        _open(_forge_plaintext(statement, signature, body))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"summary": 1, "records": (), "point_of_contact": ""},
        {"summary": "s", "records": "abc", "point_of_contact": ""},
        {"summary": "s", "records": ({"a": 1},), "point_of_contact": ""},
        {"summary": "\ud800", "records": (), "point_of_contact": ""},
    ],
)
def test_payload_rejects_non_text(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DisclosurePayload(**kwargs)  # type: ignore[arg-type]


def test_seal_rejects_bad_box_key_and_empty_ids() -> None:
    with pytest.raises(ValidationError):
        _seal(requester_box_public=b"\x00" * 31)
    with pytest.raises(ValidationError):
        _seal(request_id="")
