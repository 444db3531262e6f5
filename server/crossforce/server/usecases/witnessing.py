"""Checkpoints for witnesses and clients, and the cosignatures witnesses return (issue 16).

The matcher serves its tree heads as C2SP checkpoints (``crossforce.auditlog.checkpoint``) with every
stored cosignature appended, and stores a cosignature only when it is a valid tlog-cosignature/v1 by a
witness named in the settings (``witnesses``) over a checkpoint this log signed: the checkpoint of that
tree size, rebuilt from the log. A witness's newer cosignature on the same size replaces its older one.
Witnesses ask for the newest checkpoint; clients ask for one at least as large as what they verify and
get the best cosigned one (``checkpoint``).

What this does not do is decide anything for clients: a client checks the cosignatures against the
witnesses the operator published (not against this list), so a matcher that stores or serves the wrong
ones only fails its clients' quorum.
"""

from __future__ import annotations

from collections.abc import Sequence

from crossforce.auditlog import checkpoint
from crossforce.auditlog.logkey import WitnessPolicy
from crossforce.clock import Clock
from crossforce.errors import PreconditionError, ValidationError, VerificationError
from crossforce.server.audit import AuditLog
from crossforce.server.store.protocols import CosignatureStore


class Witnessing:
    """The log's checkpoints with their cosignatures, and the one way cosignatures get in."""

    def __init__(
        self, *, store: CosignatureStore, audit: AuditLog, witnesses: Sequence[str], clock: Clock
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        vkeys = tuple(witnesses)
        self._witnesses = {
            w.name: w for w in checkpoint.witness_verifiers(WitnessPolicy(witnesses=vkeys, quorum=len(vkeys)))
        }

    def checkpoint(self, tree_size: int = 0) -> tuple[int, bytes]:
        """``(tree_size, note)``: the matcher's signature first, then the stored cosignatures on it.

        ``tree_size`` 0 asks for the newest checkpoint (what witnesses cosign). A client asking for
        ``tree_size`` N wants one *at least* N entries large that witnesses cosigned (to accept a head
        of N entries, or a leaf below N): it gets the checkpoint of at least N entries with the most
        cosignatures (the smallest of those), or the one of N entries if none is cosigned yet. The answer
        names its own size, and the client checks everything it relies on.
        """
        self._audit.catch_up_to(tree_size)  # a size another matcher on the same storage signed
        if tree_size > self._audit.size:
            raise ValidationError(
                f"tree size {tree_size} is beyond the log, which holds {self._audit.size} entries",
                field="tree_size",
            )
        size = tree_size or self._audit.size
        if tree_size:
            best = self._store.best_cosigned_size(tree_size)
            size = best if best is not None and best <= self._audit.size else tree_size
        note = self._audit.checkpoint(size)
        lines = [checkpoint.parse_signature_line(line) for line in self._store.cosignatures(size)]
        return size, checkpoint.with_signatures(note, lines)

    def add_cosignature(self, tree_size: int, signature_line: str) -> int:
        """Verify and keep one witness's cosignature on the checkpoint of ``tree_size``; returns how many
        cosignatures that checkpoint now has. PreconditionError for a witness not configured here (the
        role check has passed by then: this is the matcher's settings, not the caller's rights)."""
        if tree_size < 1:
            raise ValidationError("must name the tree size of the checkpoint cosigned", field="tree_size")
        try:
            line = checkpoint.parse_signature_line(signature_line)
        except ValidationError as exc:
            raise ValidationError(str(exc), field="signature_line") from None
        witness = self._witnesses.get(line.name)
        if witness is None or witness.key_id != line.key_id:
            raise PreconditionError(
                f"witness {line.name} is not configured on this matcher (settings: witnesses)"
            )
        note = self._audit.checkpoint(tree_size)  # ValidationError for a size this log has not reached
        signed, _ = checkpoint.open_checkpoint(note, self._audit.public_key)
        try:
            timestamp = checkpoint.verify_cosignature(signed, line, witness)
        except VerificationError as exc:
            raise ValidationError(
                f"{exc}: it is not a cosignature on this log's checkpoint of size {tree_size}",
                field="signature_line",
            ) from None
        # Through the audit log's group commit: the one writer on this store. No leaf is appended, so no
        # new head is signed; the row commits with the batch.
        with self._audit.transaction(self._clock()) as tx:
            tx.put_cosignature(tree_size, witness.name, line.line.rstrip("\n"), timestamp)
        return len(self._store.cosignatures(tree_size))
