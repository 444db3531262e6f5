"""Officer assertions: an organisation's short-lived, signed statement that a call acts for one officer.

Why (issue 15, finding 1): the officer id on a check was free text, so a caller who rotated it got a fresh
per-officer quota bucket for every new id. An assertion binds the id to the organisation's registered
Ed25519 signing key (the key its registration proved: ``orgkeys``), so only whoever holds that key (the
organisation's own systems, or its issuing desk) can name a new officer, and the matcher keys the officer
bucket on the id it verified. The matcher checks signature, organisation, lifetime and clock; the id's
shape (a collar number, never a name) is ``server.policy.justification``'s rule.

Bytes (``encode``): a version byte, then each field length-prefixed (4-byte big-endian length, as in
``orgkeys``): organisation code and officer id (UTF-8), issued-at and expires-at (8 bytes each,
milliseconds since the epoch), a 16-byte nonce; then the 64-byte Ed25519 signature of those bytes under
``OFFICER_ASSERTION_CONTEXT`` (``envelope``). The nonce makes every assertion distinct, so an audit can
tell two issued for one officer apart. Pure: the file is read and written by the CLI.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import secrets
import struct
from dataclasses import dataclass

import nacl.signing

from crossforce.bytereader import ByteReader
from crossforce.crypto import envelope
from crossforce.crypto.pki import validate_org
from crossforce.errors import ValidationError, VerificationError

OFFICER_ASSERTION_CONTEXT = b"crossforce/v2/officer-assertion"
"""Domain separation: an assertion's signature can never be replayed as an index header or a disclosure."""
METADATA_KEY = "x-crossforce-officer-bin"
"""The gRPC metadata key that carries an encoded assertion (``-bin``: gRPC sends the bytes as they are).
Named here, beside the format, so the server and the SDK share one spelling."""
FORMAT_VERSION = 1
NONCE_BYTES = 16
MAX_LIFETIME_MS = 24 * 3600 * 1000
"""No assertion lives longer than a day: a leaked one is worth a shift, not a career."""
DEFAULT_LIFETIME_MS = 12 * 3600 * 1000
"""One shift."""
MAX_OFFICER_ID_BYTES = 200
MAX_ENCODED_BYTES = 512
"""Far above any real assertion (about 150 bytes); anything larger is refused before it is parsed."""
ARMOUR_BEGIN = "-----BEGIN CROSSFORCE OFFICER ASSERTION-----"
ARMOUR_END = "-----END CROSSFORCE OFFICER ASSERTION-----"


@dataclass(frozen=True)
class OfficerAssertion:
    """What an organisation asserts: ``officer_id`` of ``org`` may act from ``issued_at_ms`` until
    ``expires_at_ms``. ``signature`` is empty until signed (``sign``)."""

    org: str
    officer_id: str
    issued_at_ms: int
    expires_at_ms: int
    nonce: bytes
    signature: bytes = b""

    def payload(self) -> bytes:
        """The exact bytes the signature covers (everything but the signature)."""
        _check_fields(self)
        return (
            struct.pack(">B", FORMAT_VERSION)
            + _field(self.org.encode())
            + _field(self.officer_id.encode())
            + struct.pack(">QQ", self.issued_at_ms, self.expires_at_ms)
            + _field(self.nonce)
        )

    def encode(self) -> bytes:
        """The signed assertion as sent in ``METADATA_KEY``: payload then signature."""
        if len(self.signature) != envelope.SIGNATURE_BYTES:
            raise ValidationError("an officer assertion must be signed before it is sent", field="signature")
        return self.payload() + self.signature

    def armoured(self) -> str:
        """The encoded assertion as text for a file (base64 between BEGIN/END lines, like PEM)."""
        body = base64.b64encode(self.encode()).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join([ARMOUR_BEGIN, *lines, ARMOUR_END]) + "\n"

    def is_live(self, now_ms: int) -> bool:
        return self.issued_at_ms <= now_ms < self.expires_at_ms


_U32 = struct.Struct(">I")
"""Every variable-length field is prefixed by its length as a big-endian 32-bit number."""


def _field(value: bytes) -> bytes:
    return _U32.pack(len(value)) + value


def _check_fields(a: OfficerAssertion) -> None:
    validate_org(a.org)
    if not a.officer_id or len(a.officer_id.encode()) > MAX_OFFICER_ID_BYTES:
        raise ValidationError(f"must be 1 to {MAX_OFFICER_ID_BYTES} bytes", field="officer_id")
    for name in ("issued_at_ms", "expires_at_ms"):
        value = getattr(a, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise ValidationError("must be a time in milliseconds since the epoch", field=name)
    if a.expires_at_ms <= a.issued_at_ms:
        raise ValidationError("must be after issued_at", field="expires_at")
    if a.expires_at_ms - a.issued_at_ms > MAX_LIFETIME_MS:
        raise ValidationError("an officer assertion lives at most 24 hours", field="expires_at")
    if len(a.nonce) != NONCE_BYTES:
        raise ValidationError(f"must be {NONCE_BYTES} bytes", field="nonce")


def issue(
    signing: nacl.signing.SigningKey,
    *,
    org: str,
    officer_id: str,
    now_ms: int,
    lifetime_ms: int = DEFAULT_LIFETIME_MS,
) -> OfficerAssertion:
    """A fresh assertion for ``officer_id`` of ``org``, valid from ``now_ms`` for ``lifetime_ms`` (at most
    24 h), signed with the organisation's signing key."""
    unsigned = OfficerAssertion(
        org=org,
        officer_id=officer_id,
        issued_at_ms=now_ms,
        expires_at_ms=now_ms + lifetime_ms,
        nonce=secrets.token_bytes(NONCE_BYTES),
    )
    signature = envelope.sign(OFFICER_ASSERTION_CONTEXT, unsigned.payload(), signing)
    return dataclasses.replace(unsigned, signature=signature)


def parse(encoded: bytes) -> OfficerAssertion:
    """The assertion in ``encoded`` (``OfficerAssertion.encode``), its fields checked but its signature
    NOT verified (``verify`` does that). ValidationError names what is malformed."""
    if len(encoded) > MAX_ENCODED_BYTES:
        raise ValidationError(f"officer assertion exceeds {MAX_ENCODED_BYTES} bytes")
    if len(encoded) < envelope.SIGNATURE_BYTES + 1:
        raise ValidationError("officer assertion is truncated")
    payload, signature = encoded[: -envelope.SIGNATURE_BYTES], encoded[-envelope.SIGNATURE_BYTES :]
    read = ByteReader(payload, "officer assertion")
    (version,) = struct.unpack(">B", read.take(1, "version"))
    if version != FORMAT_VERSION:
        raise ValidationError(
            f"officer assertion format {version} is not supported (expected {FORMAT_VERSION})"
        )
    _, org = read.text(_U32, 64, "organisation")
    _, officer_id = read.text(_U32, MAX_OFFICER_ID_BYTES, "officer id")
    issued_at_ms, expires_at_ms = struct.unpack(">QQ", read.take(16, "times"))
    nonce = read.field(_U32, NONCE_BYTES, "nonce")
    if not read.done():
        raise ValidationError("officer assertion has trailing bytes")
    assertion = OfficerAssertion(
        org=org,
        officer_id=officer_id,
        issued_at_ms=issued_at_ms,
        expires_at_ms=expires_at_ms,
        nonce=nonce,
        signature=signature,
    )
    if assertion.payload() != payload:  # also re-checks every field (_check_fields)
        raise ValidationError("officer assertion is not in canonical form")
    return assertion


def verify(
    encoded: bytes, *, org: str, signing_public: bytes, now_ms: int, max_skew_ms: int
) -> OfficerAssertion:
    """The assertion in ``encoded`` if it is ``org``'s, signed by ``signing_public``, and live at
    ``now_ms`` (issued at most ``max_skew_ms`` in the future: clocks differ). ValidationError if it is
    malformed, VerificationError naming the first check it fails."""
    assertion = verify_signature(encoded, org=org, signing_public=signing_public)
    check_live(assertion, now_ms=now_ms, max_skew_ms=max_skew_ms)
    return assertion


def verify_signature(encoded: bytes, *, org: str, signing_public: bytes) -> OfficerAssertion:
    """``verify`` without the clock: the same bytes always give the same answer, so a verifier may
    remember it (then call ``check_live`` every time)."""
    assertion = parse(encoded)
    if assertion.org != org:
        raise VerificationError(f"the officer assertion was issued by {assertion.org}, not by {org}")
    envelope.verify(OFFICER_ASSERTION_CONTEXT, assertion.payload(), assertion.signature, signing_public)
    return assertion


def check_live(assertion: OfficerAssertion, *, now_ms: int, max_skew_ms: int) -> None:
    """VerificationError unless ``assertion`` is live at ``now_ms``, allowing its issuer's clock to run
    ``max_skew_ms`` ahead."""
    if assertion.issued_at_ms > now_ms + max_skew_ms:
        raise VerificationError("the officer assertion is issued in the future (check the issuer's clock)")
    if now_ms >= assertion.expires_at_ms:
        raise VerificationError("the officer assertion has expired; issue a new one")


def from_armoured(text: str) -> bytes:
    """The encoded assertion inside ``armoured`` text (not parsed or verified); ValidationError if the
    text is not one armoured assertion."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != ARMOUR_BEGIN or lines[-1] != ARMOUR_END:
        raise ValidationError(f"not an officer assertion file (expected {ARMOUR_BEGIN} ... {ARMOUR_END})")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("the officer assertion file's body is not base64") from exc
