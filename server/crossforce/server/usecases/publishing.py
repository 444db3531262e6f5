"""Publishing: a force replaces its serving index with a newer signed generation.

Invariants (docs/architecture.md, publish; the rules are ``policy.publish``): the header is verified
against the registered key before it is parsed, and everything decidable from it is decided before any
chunk is read; bits must match the signed digest and a plausible fill. Versions strictly increase per
(organisation, epoch), re-checked against the stored row inside the transaction that records the
publish (another matcher on the same storage may have published meanwhile), so no rollback or replay.
The epoch must be live (``usecases.epochs``: activated by the operator, not retired), checked from the
header and again in that transaction; a publish never changes the epochs (issue 15 item 3).
Bits are written and superseded files pruned under one publish lock, so a prune never removes the file
of a publish in flight; the next snapshot is built before the write lock is taken (copying the shared
table takes seconds at 10M records), so disclosure transitions never wait for the copy. Every refusal
after the size check is logged as PUBLISH_REFUSED with the error's class name only.
"""

from __future__ import annotations

import logging
import threading

from crossforce.auditlog.events import PublishAccepted, PublishRefused
from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.clock import Clock
from crossforce.crypto.pki import Identity
from crossforce.errors import PreconditionError, TooLargeError, ValidationError
from crossforce.index.partitioned import PartitionedIndex
from crossforce.limits import Limits
from crossforce.server.audit import AuditLog
from crossforce.server.policy import publish
from crossforce.server.policy.publish import AcceptedHeader
from crossforce.server.policy.settings import ServerSettings
from crossforce.server.store.protocols import IndexStore
from crossforce.server.store.rows import IndexRow
from crossforce.server.usecases.epochs import Epochs
from crossforce.server.usecases.refusals import RefusalGate
from crossforce.server.usecases.registry import Registry
from crossforce.server.usecases.serving import IndexTable, Prepared
from crossforce.wire.index_header import parse_index_header, parse_index_partitions, peek_index_header

log = logging.getLogger("crossforce.server")

DEFAULT_MAX_BITS_PER_RECORD = ServerSettings().max_index_bits_per_record


class Publishing:
    def __init__(
        self,
        *,
        store: IndexStore,
        table: IndexTable,
        registry: Registry,
        audit: AuditLog,
        limits: Limits,
        clock: Clock,
        write_lock: threading.RLock,
        max_bits_per_record: int = DEFAULT_MAX_BITS_PER_RECORD,
        epochs: Epochs | None = None,
    ) -> None:
        """``max_bits_per_record``: settings ``max_index_bits_per_record``. ``epochs``: the operator's
        epoch state, which every publish is checked against (one over the same store by default)."""
        self._store = store
        self._epochs = epochs or Epochs(
            store=store, table=table, audit=audit, clock=clock, write_lock=write_lock
        )
        self._max_bits_per_record = max_bits_per_record
        self._refusals = RefusalGate()
        self.refusals = self._refusals
        """Read by the matcher's flusher (``refusals.write_drained``)."""
        self._table = table
        self._registry = registry
        self._audit = audit
        self._limits = limits
        self._clock = clock
        self._write_lock = write_lock
        self._publish_lock = threading.Lock()

    def begin(self, who: Identity, header_bytes: bytes, signature: bytes) -> AcceptedHeader:
        """Everything decidable from the header, before any chunk is read."""
        publish.check_header_size(header_bytes, self._limits)
        declared = peek_index_header(header_bytes)  # unverified: only to choose a refusal
        try:
            publish.verify_signature(
                header_bytes=header_bytes,
                signature=signature,
                caller_org=who.org,
                registered_signing_key=self._registry.signing_key(who.org),
                declared_org=declared.org if declared else None,
            )
            fields = parse_index_header(header_bytes)
            serving = self._table.row(who.org, fields.epoch)
            return publish.accept_header(
                fields,
                partitions=parse_index_partitions(header_bytes),
                header_bytes=header_bytes,
                signature=signature,
                caller_org=who.org,
                current_version=serving.version if serving else None,
                now_ms=self._clock(),
                limits=self._limits,
                epochs=self._epochs.rules(),
                max_bits_per_record=self._max_bits_per_record,
            )
        except Exception as exc:
            self._log_refused(who, type(exc).__name__)
            raise

    def finish(
        self, who: Identity, header: AcceptedHeader, bits: bytes | memoryview
    ) -> tuple[IndexRow, SignedTreeHead]:
        try:
            new_index = publish.verify_bits(header, bits, self._limits)
        except Exception as exc:
            self._log_refused(who, type(exc).__name__)
            raise
        sha_hex = header.bits_sha256.hex()
        with self._publish_lock:
            self._store.write_bits(sha_hex, bits)
            prepared = self._table.prepare(header.org, header.epoch, new_index)
            result = self._commit(who, header, sha_hex, new_index, prepared)
            self._store.prune_bits()
            return result

    def _commit(
        self,
        who: Identity,
        header: AcceptedHeader,
        sha_hex: str,
        new_index: PartitionedIndex,
        prepared: Prepared,
    ) -> tuple[IndexRow, SignedTreeHead]:
        now = self._clock()
        with self._write_lock:
            with self._audit.transaction(now) as tx:
                # Decided inside the transaction: it sees every publish committed before it, whichever
                # matcher took it, and the table has followed them (the audit log caught up first).
                current = tx.index(header.org, header.epoch)
                if current is not None and header.version <= current.version:
                    raise PreconditionError(
                        f"index version {header.version} is not newer than the serving version "
                        f"{current.version}"
                    )
                # The operator may have retired the epoch since ``begin`` (on any matcher): checked again.
                self._epochs.rules().check_publish(header.epoch)
                idx = self._audit.append(
                    tx,
                    PublishAccepted(
                        at_ms=now,
                        actor_org=who.org,
                        actor_role=who.role,
                        org=header.org,
                        epoch=header.epoch,
                        version=header.version,
                        record_count=header.record_count,
                        token_count=header.token_count,
                        bits_sha256=header.bits_sha256,
                        expires_at_ms=header.expires_at_ms,
                    ),
                )
                row = IndexRow(
                    org=header.org,
                    epoch=header.epoch,
                    version=header.version,
                    header=header.header_bytes,
                    signature=header.signature,
                    bits_sha256=sha_hex,
                    num_blocks=header.num_blocks,
                    num_probes=0,  # format 2: each partition has its own (in the stored header)
                    token_count=header.token_count,
                    record_count=header.record_count,
                    published_at_ms=now,
                    expires_at_ms=header.expires_at_ms,
                    log_index=idx,
                )
                tx.put_index(row)
            self._table.install(row, new_index, self._table.retired_through, prepared=prepared)
        log.info("accepted index from %s epoch %d version %d", header.org, header.epoch, header.version)
        return row, self._audit.head

    def check_chunk(self, header: AcceptedHeader, received: int, bits: bytes) -> None:
        """Refuse a chunk over the chunk limit, or one that would take the bits past the size the header
        declares (``received`` bytes so far); checked as each chunk arrives, not logged."""
        max_chunk = self._limits.max_chunk_bytes
        if len(bits) > max_chunk:
            raise TooLargeError(f"chunk exceeds {max_chunk} bytes")
        expected = header.size_bytes
        if received + len(bits) > expected:
            raise ValidationError(f"more index bits than the {expected} bytes the header declares")

    def _log_refused(self, who: Identity, reason: str) -> None:
        """Log the refusal, or count it into the next such event (one per organisation, reason and minute:
        ``usecases.refusals``)."""
        now = self._clock()
        key = (who.org, "publish", reason)

        def event_for(at_ms: int, suppressed: int) -> PublishRefused:
            return PublishRefused(
                at_ms=at_ms, actor_org=who.org, actor_role=who.role, reason=reason, suppressed=suppressed
            )

        suppressed = self._refusals.admit(key, now, event_for)
        if suppressed is None:
            return
        try:
            with self._write_lock, self._audit.transaction(now) as tx:
                self._audit.append(tx, event_for(now, suppressed))
        except Exception:  # the refusal itself must still reach the caller
            self._refusals.restore(key, suppressed + 1)  # counted into the next event instead
            log.warning("could not log a refused publish by %s", who.org)
