"""Domain-separated Ed25519 signatures over exact bytes.

We sign bytes, never re-serialised messages (protobuf serialisation is not canonical), and every
signature covers a context string first so a signature made for one purpose (an index header) can never
be replayed as another (a tree head, a disclosure). Signed message = context || 0x00 || payload.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.signing

from crossforce.errors import ValidationError, VerificationError

INDEX_HEADER_CONTEXT = b"crossforce/v1/index-header"
REGISTRATION_CONTEXT = b"crossforce/v1/registration"
DISCLOSURE_CONTEXT = b"crossforce/v1/disclosure"
TREE_HEAD_CONTEXT = b"crossforce/v1/tree-head"

SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32


def _framed(context: bytes, payload: bytes) -> bytes:
    if b"\x00" in context:
        raise ValidationError("context strings must not contain NUL", field="context")
    return context + b"\x00" + payload


def sign(context: bytes, payload: bytes, key: nacl.signing.SigningKey) -> bytes:
    """Return the 64-byte Ed25519 signature of ``payload`` under ``context``."""
    return bytes(key.sign(_framed(context, payload)).signature)


def verify(context: bytes, payload: bytes, signature: bytes, public_key: bytes) -> None:
    """Raise VerificationError unless ``signature`` is ``public_key``'s over ``payload`` in ``context``."""
    if len(signature) != SIGNATURE_BYTES:
        raise VerificationError(f"signature must be {SIGNATURE_BYTES} bytes, got {len(signature)}")
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise VerificationError(f"public key must be {PUBLIC_KEY_BYTES} bytes, got {len(public_key)}")
    try:
        nacl.signing.VerifyKey(public_key).verify(_framed(context, payload), signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as exc:
        raise VerificationError(f"bad signature for {context.decode()}") from exc
