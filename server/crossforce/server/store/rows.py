"""The matcher's stored records as plain frozen values: what every store backend reads and writes.

Invariants: none of these holds a raw name, date or identifier (tokens are keyed hashes, payloads are
ciphertext); a backend stores them field for field and returns them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class OrgRow:
    org: str
    display_name: str
    signing_key: bytes
    box_key: bytes
    key_version: int
    registered_at_ms: int
    log_index: int


@dataclass(frozen=True, kw_only=True)
class IndexRow:
    org: str
    epoch: int
    version: int
    header: bytes
    signature: bytes
    bits_sha256: str
    num_blocks: int
    num_probes: int
    token_count: int
    record_count: int
    published_at_ms: int
    expires_at_ms: int
    log_index: int


@dataclass(frozen=True, kw_only=True)
class RequestRow:
    request_id: str
    check_id: str
    requester_org: str
    holder_org: str
    purpose: str
    legal_basis: str
    case_reference: str
    officer_id: str
    key_types: tuple[int, ...]
    strength: int
    tokens: bytes
    state: int
    created_at_ms: int
    deadline_ms: int
    updated_at_ms: int
    log_index: int
    refusal_reason: int = 0
    sealed: bytes | None = None
    sealed_sha256: bytes | None = None
    matched_indexes: tuple[tuple[int, int], ...] = ()
    """The holder's (epoch, version) of each index the hit matched; empty for requests stored before
    the matcher recorded them (schema version 1)."""
    approval_log_index: int = 0
    """The audit leaf of the approval transition (its event carries ``sealed_sha256``); 0 until approved,
    and for requests approved before schema version 3."""
    probability_ppm: int = 0
    """The probability the check stated for this hit, in millionths; 0 for requests opened before schema
    version 5 (SQLite) / 2 (PostgreSQL). Compared with the outcome by the reliability report."""


@dataclass(frozen=True, kw_only=True)
class HeadRow:
    tree_size: int
    timestamp_ms: int
    root: bytes
    signature: bytes


@dataclass(frozen=True, kw_only=True)
class IdempotentRow:
    """A write's answer kept under the caller's idempotency key: a retry (on this matcher or another)
    with the same key and the same request gets ``response`` back and changes nothing."""

    org: str
    key: str
    request_sha256: bytes
    """SHA-256 of the request as first sent: the same key with a different request is refused."""
    response: bytes
    """The serialized answer (an opaque, backend-agnostic blob: the servicer's protobuf bytes)."""
    log_index: int
    created_at_ms: int
