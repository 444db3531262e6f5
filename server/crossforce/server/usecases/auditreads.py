"""Audit reads: tree heads, proofs, the log key, and which stored log entries a caller is shown.

Read-only: nothing here appends to the log or changes state. Invariant: the operator's auditors (role
``auditor``, kind ``operator``) read every entry; any other caller, another organisation's auditor
included, reads the entries its type says its organisation may (``AuditEvent.readers`` and ``PUBLIC``:
registrations, key changes and epoch changes are public, since every client checks pinned keys against
them), and gets empty bytes for the rest, so the leaf is still provable but its content stays hidden.
An entry that does not parse as a typed event is shown to the operator's auditors only.
"""

from __future__ import annotations

from crossforce.auditlog.events import parse_event
from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.crypto.pki import Identity
from crossforce.domain import ConsistencyProof, InclusionProof, LogEntry, LogKey
from crossforce.errors import TooLargeError, ValidationError
from crossforce.limits import Limits
from crossforce.server.audit import AuditLog
from crossforce.server.policy import roles

LOG_ID_HEX_CHARS = 16
"""A log's id is the first 64 bits of its public key, in hex."""


def readable_entry(who: Identity, entry: bytes) -> bytes:
    """``entry`` if the caller may read it, else ``b""``."""
    if roles.sees_all_audit_entries(who.role, who.kind):
        return entry
    try:
        event = parse_event(entry)
    except ValidationError:
        return b""
    return entry if event.readable_by(who.org) else b""


class AuditReads:
    """What any caller may read of the audit log, as domain values."""

    def __init__(self, *, audit: AuditLog, limits: Limits) -> None:
        self._audit = audit
        self._limits = limits

    def head(self) -> SignedTreeHead:
        return self._audit.head

    def size(self) -> int:
        return self._audit.size

    def log_key(self) -> LogKey:
        key = self._audit.public_key
        return LogKey(public_key=key, log_id=key.hex()[:LOG_ID_HEX_CHARS])

    def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        hashes = self._audit.consistency_proof(first, second)
        return ConsistencyProof(first=first, second=second, hashes=tuple(hashes))

    def inclusion_proof(self, who: Identity, leaf_index: int, tree_size: int) -> InclusionProof:
        """The proof for one leaf, with its entry's bytes only if ``who`` may read them."""
        hashes = self._audit.inclusion_proof(leaf_index, tree_size)
        entries = self._audit.entries(leaf_index, leaf_index + 1)
        entry = readable_entry(who, entries[0][1]) if entries else b""
        return InclusionProof(leaf_index=leaf_index, tree_size=tree_size, hashes=tuple(hashes), entry=entry)

    def entries(self, who: Identity, start: int, end: int) -> list[LogEntry]:
        """Entries ``start`` to ``end`` (exclusive), at most ``max_entries_per_fetch`` of them, each with
        its bytes only if ``who`` may read them."""
        self._audit.catch_up_to(end)  # a range another matcher on the same storage has signed
        size = self._audit.size
        if not start <= end <= size:
            raise ValidationError(f"entries range must satisfy start <= end <= {size} (the log size)")
        limit = self._limits.max_entries_per_fetch
        if end - start > limit:
            raise TooLargeError(f"at most {limit} entries per call; page through the log")
        return [
            LogEntry(index=i, leaf_hash=leaf, entry=readable_entry(who, entry))
            for i, entry, leaf in self._audit.entries(start, end)
        ]
