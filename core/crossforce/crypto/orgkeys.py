"""An organisation's long-term keys and the proof that registers them with the matcher.

Each organisation holds an Ed25519 signing key (index headers, disclosures) and an X25519 box key
(disclosures are encrypted to it). It registers the public halves with the matcher together with a
signature, made with the signing key, over an unambiguous encoding of (organisation, signing public,
box public): proof that the registrant holds the signing key, and that it vouches for this box key
under this organisation code. The matcher also checks the mTLS identity names the same organisation.

Key file: ``<dir>/org-keys.json`` (0600), a single file so the two keys are always replaced together::

    {"format": "crossforce-org-keys/1", "org": "humberside",
     "signing_seed": "<64 hex>", "box_private": "<64 hex>"}

plus ``<dir>/org-keys.pub.json`` (0644) with the public halves, for sharing.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.public
import nacl.signing

from crossforce.crypto import envelope
from crossforce.crypto.pki import ORG_CODE_RE, validate_org
from crossforce.errors import NotFoundError, ValidationError
from crossforce.fsutil import atomic_write, atomic_write_private, make_private_dir, read_limited

KEY_FILE = "org-keys.json"
PUBLIC_FILE = "org-keys.pub.json"
KEY_FORMAT = "crossforce-org-keys/1"
PUBLIC_FORMAT = "crossforce-org-public-keys/1"
KEY_BYTES = 32
MAX_KEY_FILE_BYTES = 16 * 1024


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

    def save(self, directory: Path) -> None:
        """Write the private key file (0600) and the public key file, each atomically."""
        directory = Path(directory)
        make_private_dir(directory)
        private = {
            "format": KEY_FORMAT,
            "org": self.org,
            "signing_seed": bytes(self.signing).hex(),
            "box_private": bytes(self.box).hex(),
        }
        public = {
            "format": PUBLIC_FORMAT,
            "org": self.org,
            "signing_public": self.signing_public.hex(),
            "box_public": self.box_public.hex(),
        }
        atomic_write_private(directory / KEY_FILE, (json.dumps(private, indent=2) + "\n").encode())
        atomic_write(directory / PUBLIC_FILE, (json.dumps(public, indent=2) + "\n").encode(), mode=0o644)

    @classmethod
    def load(cls, directory: Path, *, org: str | None = None) -> OrgKeys:
        """Read ``<directory>/org-keys.json``; ValidationError says what is wrong, never the key bytes.

        Pass ``org`` to refuse a key file that belongs to another organisation.
        """
        path = Path(directory) / KEY_FILE
        try:
            raw = read_limited(path, MAX_KEY_FILE_BYTES)
        except FileNotFoundError as exc:
            raise NotFoundError(f"organisation key file not found at {path}") from exc
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise ValidationError(f"{path}: not valid JSON") from None
        if not isinstance(doc, dict):
            raise ValidationError(f"{path}: expected a JSON object")
        if doc.get("format") != KEY_FORMAT:
            raise ValidationError(f"{path}: format must be {KEY_FORMAT!r}")
        unknown = set(doc) - {"format", "org", "signing_seed", "box_private"}
        if unknown:
            raise ValidationError(f"{path}: unknown fields {sorted(unknown)}")
        file_org = doc.get("org")
        if not isinstance(file_org, str) or not ORG_CODE_RE.fullmatch(file_org):
            raise ValidationError(f"{path}: org is missing or not a valid organisation code")
        if org is not None and file_org != org:
            raise ValidationError(f"{path}: keys belong to {file_org!r}, expected {org!r}")
        seed = _hex_key(doc, "signing_seed", path)
        box = _hex_key(doc, "box_private", path)
        return cls(org=file_org, signing=nacl.signing.SigningKey(seed), box=nacl.public.PrivateKey(box))


def _hex_key(doc: dict[str, Any], name: str, path: Path) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str) or len(value) != 2 * KEY_BYTES:
        raise ValidationError(f"{path}: {name} must be {2 * KEY_BYTES} hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValidationError(f"{path}: {name} is not hex") from None


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
