"""Audit reads and every trust decision the SDK takes: the log key, tree heads, organisations' keys.

This is the I/O shell of ``crossforce.client.trust`` (python-tuf's ``Updater`` around its
``TrustedMetadataSet``): it fetches bytes from the matcher and hands them to the pure rules, inside one
``TrustStore`` transaction whenever the answer changes what is trusted. It never decides trust itself.

- ``observe_head`` is the one path for every signed tree head the matcher shows (answers to registration,
  publish and checks, and ``tree_head``): a head is kept only through ``HeadTracker.observe``, and an
  inconsistent one raises VerificationError, loudly.
- ``inclusion`` fetches a leaf and its proof and lets ``trust.verify_inclusion`` decide.
- ``organisation_keys`` pins another organisation's keys only on their whole proven key history, and
  ``check_own_keys`` alarms on a key event for this organisation that it did not make (``keyhistory``).
- ``verify_log`` verifies the whole log incrementally: it fetches only the entries added since the head
  the profile's ``VerifiedLog`` last verified, with the matcher's consistency proof from that head, and
  hands them to ``crossforce.auditlog.verify`` (``verify_extension``; ``verify_snapshot`` from zero).
- ``witnessed`` checks a head against the witnesses the profile pinned from the operator's published
  file: the matcher's C2SP checkpoint must carry a quorum of their cosignatures and the head must be a
  prefix of it (``trust.witnessed``); ``verify_log`` requires it whenever witnesses are configured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from crossforce.auditlog import checkpoint, merkle, treehead
from crossforce.auditlog.verify import (
    LogSnapshot,
    VerifiedPrefix,
    extend_frontier,
    verify_extension,
    verify_snapshot,
)
from crossforce.client import trust
from crossforce.client.connection import Connection
from crossforce.client.keyhistory import Anchors, KeyPins
from crossforce.client.truststore import TrustStore
from crossforce.client.verifiedlog import VerifiedLog
from crossforce.domain import ConsistencyProof, InclusionProof, LogEntry, Organisation, SignedTreeHead
from crossforce.errors import CrossforceError, ValidationError, VerificationError
from crossforce.wire import audit as wire_audit
from crossforce.wire.common import tree_head_from_pb

ENTRIES_PAGE = 1000
"""Log entries fetched per ``GetEntries`` call when reading a range."""


@dataclass(frozen=True, kw_only=True)
class LogVerification:
    """What one ``verify_log`` run proved, and what it cost."""

    head: SignedTreeHead
    """The head now verified leaf by leaf (and kept in the profile's ``VerifiedLog``)."""
    verified_before: int
    """Leaves verified by earlier runs and not fetched again (0 on the first run and with ``full``)."""
    fetched: int
    """Entries fetched from the matcher by this run."""
    full: bool
    proved: tuple[str, ...]
    witnessed: trust.Witnessed | None = None
    """The cosigned checkpoint the head is a prefix of; None when the profile has no witnesses."""


class AuditReader:
    """The matcher's log as this client may read it, checked against the profile's trust state."""

    def __init__(self, *, connection: Connection, trust_store: TrustStore, anchors: Anchors) -> None:
        self._conn = connection
        self._trust = trust_store
        self._keys = KeyPins(
            connection=connection,
            trust_store=trust_store,
            tree_head=self.tree_head,
            inclusion_proof=self._inclusion_proof,
            anchors=anchors,
        )

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

    def shown_head(self) -> SignedTreeHead:
        """The matcher's latest head exactly as shown, neither verified nor kept (a monitor judges it)."""
        return tree_head_from_pb(
            self._conn.call(self._conn.audit.GetTreeHead, wire_audit.tree_head_request())
        )

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
            txn.state = trust.observe_head_fetching(txn.state, new, self._consistency)
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
        self.witnessed_leaf(leaf_index, head)  # with witnesses configured, the leaf must be witnessed too
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

    def verify_log(
        self,
        store: VerifiedLog,
        *,
        full: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> LogVerification:
        """Verify the log up to the matcher's latest head, fetching only what ``store`` has not verified.

        ``full`` fetches and verifies every entry again and replaces the stored copy (after checking the
        copy's head is a prefix of the log as fetched). ``progress(fetched, to_fetch)`` is called as
        entries arrive. Nothing is stored unless everything verified.
        """
        key = self.log_key()
        earlier = _kept_or_none(store, key) if full else None
        kept = None if full else store.checkpoint(key)
        previous = self.last_head()
        head = self.tree_head()  # signature and consistency with the profile's kept head, then kept
        start = kept.head.head.tree_size if kept is not None else 0
        size = head.head.tree_size
        if size < start:
            raise VerificationError(
                f"the log shrank from {start} to {size} entries since it was last verified"
            )
        consistency = self._consistency(start, size) if 0 < start < size else []
        leaves: list[bytes] = []
        events: list[bytes] = []
        for e in self.entries(start, size):
            if e.index != start + len(leaves):
                raise VerificationError(
                    f"the matcher returned entry {e.index} where {start + len(leaves)} was expected"
                )
            leaves.append(bytes(e.leaf_hash))
            events.append(bytes(e.entry))
            if progress is not None:
                progress(len(leaves), size - start)
        if kept is None:
            snap = LogSnapshot(head=head, log_key=key, leaf_hashes=leaves, entries=events, previous=previous)
            proved = verify_snapshot(snap, key)
            new = VerifiedPrefix(head=head, frontier=extend_frontier((), 0, leaves))
            if earlier is not None:
                proved.append(_still_prefix(earlier, leaves))
        else:
            new, proved = verify_extension(
                log_key=key, kept=kept, head=head, consistency=consistency, leaf_hashes=leaves, entries=events
            )
        witnessed = self.witnessed(head)  # before anything is stored: a split view stores nothing
        store.extend(
            log_key=key, kept=new, start=start, leaf_hashes=leaves, entries=events, replace=kept is None
        )
        return LogVerification(
            head=head,
            verified_before=start,
            fetched=len(leaves),
            full=full,
            proved=tuple(proved),
            witnessed=witnessed,
        )

    # ------------------------------------------------------------------ witnesses
    def checkpoint(self, tree_size: int = 0) -> bytes:
        """The matcher's checkpoint note for ``tree_size`` (0: the newest), with its cosignatures, as sent."""
        msg = self._conn.call(self._conn.audit.GetCheckpoint, wire_audit.checkpoint_request(tree_size))
        return wire_audit.checkpoint_from_pb(msg)[1]

    def witnessed(self, head: SignedTreeHead) -> trust.Witnessed | None:
        """Prove ``head`` witnessed by the profile's quorum (``trust.witnessed``), or raise
        VerificationError; None when the profile has no witnesses (the head is then not witnessed).

        The matcher's best cosigned checkpoint of at least the head's size is tried first, then its
        newest (witnesses cosign the newest they see). Both failing is an alarm.
        """
        state = self._trust.load()
        if not state.witness_policy.witnesses:
            return None
        key = self.log_key()
        size = head.head.tree_size
        errors: list[VerificationError] = []
        for wanted in dict.fromkeys((size, 0)):
            try:  # a checkpoint the matcher cannot serve or that does not parse is an alarm too
                note = self.checkpoint(wanted)
                got = checkpoint.open_checkpoint(note, key)[0].tree_size
                proof = self._consistency(size, got) if 0 < size < got else []
                return trust.witnessed(state, head, note, proof)
            except (VerificationError, ValidationError) as exc:
                errors.append(exc if isinstance(exc, VerificationError) else VerificationError(str(exc)))
        split = [e for e in errors if str(e).startswith("split view")]
        raise (split or errors)[-1]

    def witnessed_leaf(self, leaf_index: int, head: SignedTreeHead) -> trust.Witnessed | None:
        """Prove leaf ``leaf_index`` of the verified ``head`` under a checkpoint a quorum of the profile's
        witnesses cosigned (``trust.witnessed_leaf``), or raise VerificationError; None without witnesses.
        Used for every inclusion proof, so a disclosure's logged approval is checked on the witnessed log."""
        state = self._trust.load()
        if not state.witness_policy.witnesses:
            return None
        size = head.head.tree_size
        try:
            note = self.checkpoint(leaf_index + 1)  # the best cosigned one holding that leaf
            got = checkpoint.open_checkpoint(note, self.log_key())[0].tree_size
            first, second = sorted((got, size))
            proof = self._consistency(first, second) if 0 < first < second else []
        except ValidationError as exc:
            raise VerificationError(f"the matcher's checkpoint is not usable: {exc}") from None
        return trust.witnessed_leaf(state, head, leaf_index, note, proof)

    # ------------------------------------------------------------------ organisations' keys
    def organisation_keys(self, org: str) -> Organisation:
        """Another organisation's public keys, pinned only on a key history that proves them, after
        checking this organisation's own (``keyhistory.KeyPins``; issue 16)."""
        return self._keys.organisation_keys(org)

    def check_own_keys(self) -> Organisation:
        """Alarm (VerificationError) on any logged key event for this organisation its keys did not make."""
        return self._keys.check_own_keys()


def _kept_or_none(store: VerifiedLog, key: bytes) -> VerifiedPrefix | None:
    """The stored checkpoint for ``--full`` to compare against; a damaged copy is what --full repairs."""
    try:
        return store.checkpoint(key)
    except CrossforceError:
        return None


def _still_prefix(earlier: VerifiedPrefix, leaves: list[bytes]) -> str:
    """The head an earlier run verified is a prefix of the log fetched whole (else history was rewritten)."""
    size = earlier.head.head.tree_size
    if size > len(leaves) or merkle.root_from_leaf_hashes(leaves[:size]) != earlier.head.head.root_hash:
        raise VerificationError(
            f"the first {size} entries no longer match the head verified earlier: history was rewritten"
        )
    return f"the first {size} leaves still hash to the head an earlier run verified"
