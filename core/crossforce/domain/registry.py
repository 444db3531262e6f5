"""Registry: organisations and their registered public keys."""

from __future__ import annotations

from dataclasses import dataclass

from crossforce.auditlog.treehead import SignedTreeHead


@dataclass(frozen=True)
class Organisation:
    """An organisation's registered public keys; ``log_index`` is the audit leaf that recorded them."""

    org: str
    display_name: str
    signing_key: bytes
    box_key: bytes
    key_version: int
    registered_at_ms: int
    log_index: int
    certificate: bytes = b""
    """DER of the certificate that bound version 1 (key history only)."""
    certificate_proof: bytes = b""
    """That certificate's signature over version 1 (``orgkeys.verify_key_binding``; key history only)."""
    previous_key_proof: bytes = b""
    """The previous signing key's hand-over to these keys (``orgkeys.verify_key_change``; later versions,
    key history only)."""


@dataclass(frozen=True)
class KeyRegistration:
    """An organisation's claim to its public keys (proto ``RegisterRequest``).

    ``proof`` is the Ed25519 signature by ``signing_key`` over the registration context
    (``crossforce.crypto.orgkeys``); ``org`` must be the caller certificate's organisation.
    """

    org: str
    signing_key: bytes
    box_key: bytes
    proof: bytes
    display_name: str
    certificate_proof: bytes = b""
    """First registration: the caller's certificate key over the keys as version 1."""
    previous_key_proof: bytes = b""
    """Key change: the previous signing key's hand-over to these keys."""


@dataclass(frozen=True)
class Registered:
    """The answer to a registration: the keys as stored, and a head that includes their log entry."""

    organisation: Organisation
    tree_head: SignedTreeHead
