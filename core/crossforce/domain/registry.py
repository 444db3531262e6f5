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


@dataclass(frozen=True)
class Registered:
    """The answer to a registration: the keys as stored, and a head that includes their log entry."""

    organisation: Organisation
    tree_head: SignedTreeHead
