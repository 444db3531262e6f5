"""An organisation's long-term keys and the proof that registers them with the matcher.

Each organisation holds an Ed25519 signing key (index headers, disclosures) and an X25519 box key
(disclosures are encrypted to it). It registers the public halves with the matcher together with a
signature, made with the signing key, over an unambiguous encoding of (organisation, signing public,
box public): proof that the registrant holds the signing key, and that it vouches for this box key
under this organisation code. The matcher also checks the mTLS identity names the same organisation.

Pure: the key file (``org-keys.json``) is read and written by ``crossforce.keystore``, never here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import nacl.public
import nacl.signing
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from crossforce.crypto import envelope
from crossforce.crypto.certificates import PrivateKey
from crossforce.crypto.pki import validate_org
from crossforce.errors import ValidationError, VerificationError

KEY_BYTES = 32
"""Ed25519 seeds and X25519 keys, private and public, are all 32 bytes."""


@dataclass(frozen=True)
class OrgKeys:
    """An organisation's private signing and box keys. ``repr`` never shows key material."""

    org: str
    signing: nacl.signing.SigningKey = field(repr=False)
    box: nacl.public.PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        validate_org(self.org)

    @classmethod
    def generate(cls, org: str) -> OrgKeys:
        return cls(org=org, signing=nacl.signing.SigningKey.generate(), box=nacl.public.PrivateKey.generate())

    @property
    def signing_public(self) -> bytes:
        return bytes(self.signing.verify_key)

    @property
    def box_public(self) -> bytes:
        return bytes(self.box.public_key)


def _field(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def registration_payload(org: str, signing_public: bytes, box_public: bytes) -> bytes:
    """The exact bytes a registration signs: each field as a 4-byte big-endian length then its bytes,
    in the order organisation code (UTF-8), signing public key, box public key.

    Length prefixes keep the encoding injective, so no two distinct registrations share a payload.
    """
    validate_org(org)
    for name, key in (("signing_public", signing_public), ("box_public", box_public)):
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ValidationError(f"must be {KEY_BYTES} bytes", field=name)
    return _field(org.encode()) + _field(signing_public) + _field(box_public)


def sign_registration(keys: OrgKeys) -> bytes:
    """Proof of possession of the signing key, binding the box key to the organisation code."""
    payload = registration_payload(keys.org, keys.signing_public, keys.box_public)
    return envelope.sign(envelope.REGISTRATION_CONTEXT, payload, keys.signing)


def verify_registration(org: str, signing_public: bytes, box_public: bytes, proof: bytes) -> None:
    """Raise VerificationError unless ``proof`` is ``signing_public``'s registration of these keys for
    ``org`` (ValidationError if the inputs are malformed)."""
    payload = registration_payload(org, signing_public, box_public)
    envelope.verify(envelope.REGISTRATION_CONTEXT, payload, proof, signing_public)


# ---------------------------------------------------------------------------------------------- continuity
# docs/threat-model.md "the operator swaps an organisation's keys": the matcher's operator holds the log key
# and could log a key change carrying keys it made. Each key version therefore carries a proof the
# operator cannot make: version 1 a signature by the organisation's CA-issued certificate key, every later
# version a signature by the previous version's signing key.
FIRST_KEY_VERSION = 1
KEY_BINDING_CONTEXT = b"crossforce/v1/key-binding"
"""Context of a certificate's signature over an organisation's first keys."""
KEY_CHANGE_CONTEXT = b"crossforce/v1/key-change"
"""Context of a previous signing key's signature over the keys that replace it."""


def key_binding_payload(org: str, signing_public: bytes, box_public: bytes, key_version: int) -> bytes:
    """The bytes a certificate key signs to bind an organisation's first keys: the context, then each
    field length-prefixed (organisation code, signing key, box key, key version as 8 bytes)."""
    return (
        _field(KEY_BINDING_CONTEXT)
        + registration_payload(org, signing_public, box_public)
        + struct.pack(">Q", _version(key_version))
    )


def key_change_payload(
    org: str, signing_public: bytes, box_public: bytes, key_version: int, previous_version: int
) -> bytes:
    """The bytes a previous signing key signs to hand over to new keys: the context, the new keys as in
    ``registration_payload``, then the new and previous key versions (8 bytes each)."""
    if _version(key_version) != _version(previous_version) + 1:
        raise ValidationError("a key change moves to the next key version", field="key_version")
    return (
        _field(KEY_CHANGE_CONTEXT)
        + registration_payload(org, signing_public, box_public)
        + struct.pack(">QQ", key_version, previous_version)
    )


def _version(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise ValidationError("must be a positive integer", field="key_version")
    return value


def sign_key_binding(keys: OrgKeys, certificate_key: PrivateKey) -> bytes:
    """The certificate's proof over ``keys`` as version 1 (ECDSA P-256 with SHA-256, or Ed25519)."""
    payload = key_binding_payload(keys.org, keys.signing_public, keys.box_public, FIRST_KEY_VERSION)
    if isinstance(certificate_key, ec.EllipticCurvePrivateKey):
        return certificate_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    return certificate_key.sign(payload)


def verify_key_binding(
    org: str, signing_public: bytes, box_public: bytes, proof: bytes, certificate_der: bytes
) -> None:
    """Raise VerificationError unless ``proof`` is the certificate's signature over these keys as ``org``'s
    version 1. Does not check who issued the certificate or whom it names (the caller does)."""
    payload = key_binding_payload(org, signing_public, box_public, FIRST_KEY_VERSION)
    try:
        public = x509.load_der_x509_certificate(certificate_der).public_key()
    except (ValueError, TypeError) as exc:
        raise VerificationError("the key binding's certificate is not a DER X.509 certificate") from exc
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(proof, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(proof, payload)
        else:
            raise VerificationError("the key binding's certificate key is neither EC P-256 nor Ed25519")
    except InvalidSignature as exc:
        raise VerificationError(f"the certificate's proof over {org}'s first keys does not verify") from exc


def sign_key_change(previous: OrgKeys, new: OrgKeys, *, new_version: int) -> bytes:
    """``previous``'s hand-over to ``new`` as key version ``new_version``."""
    payload = key_change_payload(new.org, new.signing_public, new.box_public, new_version, new_version - 1)
    return envelope.sign(KEY_CHANGE_CONTEXT, payload, previous.signing)


def verify_key_change(
    org: str,
    signing_public: bytes,
    box_public: bytes,
    key_version: int,
    proof: bytes,
    previous_signing_public: bytes,
) -> None:
    """Raise VerificationError unless ``proof`` is ``previous_signing_public``'s hand-over to these keys as
    ``org``'s version ``key_version``."""
    payload = key_change_payload(org, signing_public, box_public, key_version, key_version - 1)
    envelope.verify(KEY_CHANGE_CONTEXT, payload, proof, previous_signing_public)
