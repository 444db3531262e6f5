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

from crossforce.crypto import envelope
from crossforce.crypto.pki import validate_org
from crossforce.errors import ValidationError

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
