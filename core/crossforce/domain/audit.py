"""Audit log reads: proofs, entries and the log key (verified by ``crossforce.auditlog``, never here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 9162 2.1.4 proof that the tree of size ``first`` is a prefix of the tree of size ``second``."""

    first: int
    second: int
    hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 2.1.3 proof for one leaf; ``entry`` holds the event bytes only if the caller may read them."""

    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]
    entry: bytes


@dataclass(frozen=True)
class LogEntry:
    """One leaf of the audit log; ``entry`` is empty when the event does not concern the caller."""

    index: int
    leaf_hash: bytes
    entry: bytes


@dataclass(frozen=True)
class LogKey:
    """The matcher's Ed25519 log key, for clients to pin."""

    public_key: bytes
    log_id: str
