"""Audit reads and every trust decision the SDK takes: the log key, tree heads, organisations' keys.

This is the I/O shell of ``crossforce.client.trust`` (python-tuf's ``Updater`` around its
``TrustedMetadataSet``): it fetches bytes from the matcher and hands them to the pure rules, inside one
``TrustStore`` transaction whenever the answer changes what is trusted. It never decides trust itself.

- ``observe_head`` is the one path for every signed tree head the matcher shows (answers to registration,
  publish and checks, and ``tree_head``): a head is kept only through ``HeadTracker.observe``, and an
  inconsistent one raises VerificationError, loudly.
- ``inclusion`` fetches a leaf and its proof and lets ``trust.verify_inclusion`` decide.
- ``organisation_keys`` pins another organisation's keys on first sight and re-pins them only on the log's
  evidence of a newer key change (``trust.pin_org_keys``).
"""

from __future__ import annotations

from collections.abc import Iterator

from crossforce.auditlog import treehead
from crossforce.client import trust
from crossforce.client.connection import Connection
from crossforce.client.truststore import TrustStore
from crossforce.domain import ConsistencyProof, InclusionProof, LogEntry, Organisation, SignedTreeHead
from crossforce.errors import ValidationError, VerificationError
from crossforce.wire import audit as wire_audit
from crossforce.wire import registry as wire_registry
from crossforce.wire.common import tree_head_from_pb

ENTRIES_PAGE = 1000
"""Log entries fetched per ``GetEntries`` call when reading a range."""


class AuditReader:
    """The matcher's log as this client may read it, checked against the profile's trust state."""

    def __init__(self, *, connection: Connection, trust_store: TrustStore) -> None:
        self._conn = connection
        self._trust = trust_store

    # ------------------------------------------------------------------ log key and heads
    def log_key(self) -> bytes:
        """The matcher's log key, pinned in the profile on first sight (a different key later is refused)."""
        pinned = self._trust.load().log_key
        if pinned is not None:
            return pinned
        got = wire_audit.log_key_from_pb(
            self._conn.call(self._conn.audit.GetLogKey, wire_audit.log_key_request())
        )
        with self._trust.transaction() as txn:
            txn.state = trust.pin_log_key(txn.state, got.public_key)
            return got.public_key

    def last_head(self) -> SignedTreeHead | None:
        """The last head this profile verified, or None before the first."""
        return self._trust.load().head

    def tree_head(self) -> SignedTreeHead:
        """Fetch the matcher's latest head, verify it against the kept one, and return the head kept."""
        msg = self._conn.call(self._conn.audit.GetTreeHead, wire_audit.tree_head_request())
        return self.observe_head(tree_head_from_pb(msg))

    def observe_head(self, new: SignedTreeHead) -> SignedTreeHead:
        """Verify a head the matcher showed us against the last one kept; keep the newer; return it.

        The consistency proof is fetched under the profile's lock, so the head it starts from is the one
        the rules then check against, whatever other threads or processes did meanwhile.
        """
        key = self.log_key()
        treehead.verify_tree_head(new, key)  # refuse a bad signature before taking the lock
        with self._trust.transaction() as txn:
            span = trust.head_proof_range(txn.state, new)
            proof = self._consistency(*span) if span else []
            txn.state = trust.observe_head(txn.state, new, proof)
            kept = txn.state.head
        if kept is None:  # observe_head always keeps a head; this only satisfies the type
            raise VerificationError("no tree head was kept")
        return kept

    def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """The matcher's proof that its tree of size ``first`` is a prefix of the one of size ``second``,
        as sent (the caller checks it, e.g. with ``merkle.verify_consistency``)."""
        resp = self._conn.call(
            self._conn.audit.GetConsistencyProof, wire_audit.consistency_proof_request(first, second)
        )
        return wire_audit.consistency_proof_from_pb(resp)

    def _consistency(self, first: int, second: int) -> list[bytes]:
        try:
            proof = self.consistency_proof(first, second)
        except ValidationError as exc:
            raise VerificationError(
                f"the matcher signed a head of size {second} but cannot prove it consistent with size {first}"
            ) from exc
        return list(proof.hashes)

    # ------------------------------------------------------------------ entries
    def inclusion(self, leaf_index: int) -> InclusionProof:
        """Fetch and verify the inclusion of one event in the latest head; returns the proof."""
        head = self.tree_head()
        proof = self._inclusion_proof(leaf_index, head.head.tree_size)
        msg = self._conn.call(
            self._conn.audit.GetEntries, wire_audit.entries_request(leaf_index, leaf_index + 1)
        )
        trust.verify_inclusion(head, leaf_index, wire_audit.entries_from_pb(msg), proof)
        return proof

    def _inclusion_proof(self, leaf_index: int, tree_size: int) -> InclusionProof:
        msg = self._conn.call(
            self._conn.audit.GetInclusionProof, wire_audit.inclusion_proof_request(leaf_index, tree_size)
        )
        return wire_audit.inclusion_proof_from_pb(msg)

    def entries(self, start: int, end: int, *, page: int = ENTRIES_PAGE) -> Iterator[LogEntry]:
        """Entries ``start`` to ``end`` (exclusive), paged; an entry that does not concern us is empty."""
        for lo in range(start, end, page):
            resp = self._conn.call(
                self._conn.audit.GetEntries, wire_audit.entries_request(lo, min(end, lo + page))
            )
            yield from wire_audit.entries_from_pb(resp)

    # ------------------------------------------------------------------ organisations' keys
    def organisation_keys(self, org: str) -> Organisation:
        """Another organisation's public keys, pinned on first sight and checked against the audit log."""
        msg = self._conn.call(
            self._conn.registry.GetOrganisation, wire_registry.get_organisation_request(org)
        )
        found = wire_registry.organisation_from_pb(msg)
        seen = trust.Pin(signing_key=found.signing_key, box_key=found.box_key, key_version=found.key_version)
        if trust.pinned_keys_match(self._trust.load(), org, seen):
            return found
        head = self.tree_head()
        proof = self._inclusion_proof(found.log_index, head.head.tree_size)
        evidence = trust.KeyEvidence(
            head=head, leaf_index=found.log_index, entry=proof.entry, hashes=tuple(proof.hashes)
        )
        with self._trust.transaction() as txn:
            txn.state = trust.pin_org_keys(txn.state, org, seen, evidence)
        return found
