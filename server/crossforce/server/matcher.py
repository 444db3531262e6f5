"""The matcher facade: wires the use cases together; the servicers call it and nothing else.

Each service's behaviour lives in its own use case (``crossforce.server.usecases``): ``Registry``,
``Publishing`` (over the ``IndexTable`` that serves checks), ``Checking``, ``Broker`` (disclosure
requests) and ``AuditReads``. This class decides nothing: it builds them over one store, one audit log,
one clock and one write lock, and forwards each public method, taking and returning domain values (no
store rows, no protobuf); the store, the log and the quota book are its own, reached only through these
methods. Everything acknowledged has been committed, with its audit event in the same transaction,
before the method returns. The matcher holds only keyed-hash tokens, Bloom filters, routing metadata and
ciphertext: no method here receives a raw name, date or identifier, and no log line or error text quotes
request content.

Several matchers may share one storage (PostgreSQL). What each keeps in memory then follows the audit
log, which tells it every entry the others append (``AuditLog.follow``): a registration re-reads that
organisation's row, a publish loads that force's index, a logged check charges the quota book, a request
opened or changed wakes the watchers. Decisions that depend on a stored row read it inside the
transaction that records them, so they hold whichever matcher made the last change.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from crossforce.auditlog.events import AuditEvent, DisclosureTransition
from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.clock import Clock, now_ms
from crossforce.crypto.pki import Identity
from crossforce.domain import (
    Candidate,
    CheckOutcome,
    ConsistencyProof,
    DisclosureRequest,
    InclusionProof,
    IndexStatus,
    Justification,
    LogEntry,
    LogKey,
    MatcherStatus,
    OperatorReport,
    Organisation,
    OverdueReport,
    Party,
    PublishReceipt,
    Registered,
    SealedDisclosure,
)
from crossforce.domain.epochs import EpochState
from crossforce.server.audit import AuditLog
from crossforce.server.policy import disclosure
from crossforce.server.policy.publish import AcceptedHeader
from crossforce.server.policy.quotas import QuotaBook
from crossforce.server.policy.reliability import reliability_table
from crossforce.server.settings import ServerSettings
from crossforce.server.store.protocols import Storage
from crossforce.server.usecases.auditreads import AuditReads
from crossforce.server.usecases.broker import Broker, sealed_disclosure
from crossforce.server.usecases.checking import Checking
from crossforce.server.usecases.epochs import Epochs
from crossforce.server.usecases.publishing import Publishing
from crossforce.server.usecases.quotareplay import QuotaFollower, replay_quotas
from crossforce.server.usecases.refusals import RefusalFlusher
from crossforce.server.usecases.registry import Registry, organisation_of
from crossforce.server.usecases.requestfeed import RequestFeed
from crossforce.server.usecases.retention import Retention
from crossforce.server.usecases.serving import IndexTable
from crossforce.server.usecases.witnessing import Witnessing


class Matcher:
    def __init__(
        self,
        *,
        storage: Storage,
        settings: ServerSettings,
        audit: AuditLog,
        clock: Clock = now_ms,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._audit = audit
        self.clock = clock
        """Replaceable (tests move time): every use case reads the time through the facade."""
        self._quotas = QuotaBook(settings.quotas, settings.purposes)
        limits = settings.limits
        clock = self._now  # read through the facade: replacing ``self.clock`` moves every use case
        write_lock = threading.RLock()
        """One writer at a time for changes decided on in-memory state (versions, request states)."""
        self.registry = Registry(
            store=storage, audit=audit, limits=limits, clock=clock, write_lock=write_lock
        )
        self._table = IndexTable.load(storage)
        self.epochs = Epochs(
            store=storage, table=self._table, audit=audit, clock=clock, write_lock=write_lock
        )
        self.publishing = Publishing(
            store=storage,
            table=self._table,
            registry=self.registry,
            audit=audit,
            limits=limits,
            clock=clock,
            write_lock=write_lock,
            max_bits_per_record=settings.max_index_bits_per_record,
            epochs=self.epochs,
        )
        self.broker = Broker(
            store=storage, audit=audit, settings=settings, clock=clock, write_lock=write_lock
        )
        self.checking = Checking(
            table=self._table,
            broker=self.broker,
            quotas=self._quotas,
            audit=audit,
            settings=settings,
            clock=clock,
        )
        self.audit_reads = AuditReads(audit=audit, limits=limits)
        self.retention = Retention(
            store=storage, audit=audit, settings=settings, clock=clock, write_lock=write_lock
        )
        self.witnessing = Witnessing(store=storage, audit=audit, witnesses=settings.witnesses, clock=clock)
        # The quota book is charged with the log up to the audit log's size, and the followers take every
        # entry after it: nothing has written since the audit log was opened, so none is missed or
        # charged twice. Only then may anything write (the purge) or follow other matchers.
        replay_quotas(self._quotas, settings.quotas, storage, size=audit.size, now_ms=clock())
        audit.follow(self.registry.follow)
        audit.follow(self._table.follow)
        audit.follow(QuotaFollower(self._quotas))
        audit.follow(self._wake_watchers_on_requests)
        audit.start_following()
        self.epochs.start()  # logs the epoch state once, at the first start on this storage
        self.retention.start()  # purges what finished requests no longer need, now and hourly
        self._refusal_flusher = RefusalFlusher(
            (self.checking.refusals, self.publishing.refusals), audit, clock
        )
        self._refusal_flusher.start()  # refusal counts whose minute has passed reach the log

    def _now(self) -> int:
        return self.clock()

    def _wake_watchers_on_requests(self, log_index: int, event: AuditEvent) -> None:
        """A request opened or changed on another matcher: this matcher's watchers look now."""
        del log_index
        if isinstance(event, DisclosureTransition):
            self.broker.notify_opened()

    def close(self) -> None:
        """Commit what the audit log has staged, stop its committer, then close the store; call once,
        after the server has stopped taking calls."""
        self.retention.stop()
        self._refusal_flusher.stop()  # writes every count still held, while the log is still open
        self._audit.close()
        self._storage.close()

    # ------------------------------------------------------------------ epochs and status
    def active_epochs(self) -> tuple[int, ...]:
        return self._table.active_epochs()

    def current_epoch(self) -> int:
        return self._table.current_epoch()

    def status(self) -> list[IndexStatus]:
        return self._table.status(self.clock(), max_age_s=self._settings.index_max_age_s)

    def matcher_status(self) -> MatcherStatus:
        """Every force's index, the epochs in use, who has registered and who every check must search."""
        return MatcherStatus(
            indexes=tuple(self.status()),
            current_epoch=self.current_epoch(),
            active_epochs=tuple(self.active_epochs()),
            registered_orgs=tuple(self.registered_orgs()),
            expected_orgs=self.checking.expected_orgs(),
        )

    def operator_report(self) -> OperatorReport:
        """Quota alerts, overdue requests (whoever they belong to), log size and index status."""
        return OperatorReport(
            alerts=tuple(self._quotas.alerts()),
            overdue_requests=self.broker.overdue_count(),
            log_size=self.audit_reads.size(),
            indexes=tuple(self.status()),
            reliability=tuple(reliability_table(self._storage.request_outcomes())),
        )

    def epoch_status(self) -> EpochState:
        return self.epochs.status()

    def activate_epoch(self, who: Identity, epoch: int) -> EpochState:
        return self.epochs.activate(who, epoch)

    def retire_epoch(self, who: Identity, epoch: int, *, force_override: bool) -> EpochState:
        return self.epochs.retire(who, epoch, force_override=force_override)

    # ------------------------------------------------------------------ registration
    def registered_orgs(self) -> list[str]:
        return self.registry.registered_orgs()

    def organisation(self, org: str) -> Organisation:
        return organisation_of(self.registry.organisation(org))

    def organisations(self) -> list[Organisation]:
        return [organisation_of(r) for r in self.registry.organisations()]

    def register(
        self,
        who: Identity,
        *,
        org: str,
        signing_key: bytes,
        box_key: bytes,
        proof: bytes,
        display_name: str,
        certificate: bytes = b"",
        certificate_proof: bytes = b"",
        previous_key_proof: bytes = b"",
    ) -> Registered:
        row, head = self.registry.register(
            who,
            org=org,
            signing_key=signing_key,
            box_key=box_key,
            proof=proof,
            display_name=display_name,
            certificate=certificate,
            certificate_proof=certificate_proof,
            previous_key_proof=previous_key_proof,
        )
        return Registered(organisation=organisation_of(row), tree_head=head)

    def key_history(self, org: str) -> list[Organisation]:
        return self.registry.key_history(org)

    # ------------------------------------------------------------------ publishing
    def begin_publish(self, who: Identity, header_bytes: bytes, signature: bytes) -> AcceptedHeader:
        return self.publishing.begin(who, header_bytes, signature)

    def check_publish_chunk(self, header: AcceptedHeader, received: int, bits: bytes) -> None:
        """Refuse a chunk that is too large, or that overruns the header's size after ``received`` bytes."""
        self.publishing.check_chunk(header, received, bits)

    def finish_publish(
        self, who: Identity, header: AcceptedHeader, bits: bytes | memoryview
    ) -> PublishReceipt:
        row, head = self.publishing.finish(who, header, bits)
        return PublishReceipt(
            org=row.org, epoch=row.epoch, version=row.version, log_index=row.log_index, tree_head=head
        )

    # ------------------------------------------------------------------ checks
    def check(
        self,
        who: Identity,
        candidates: Sequence[Candidate],
        why: Justification,
        *,
        open_requests: bool,
        idempotency_key: str = "",
        officer_verified: bool = True,
    ) -> CheckOutcome:
        """A batch: each candidate the matcher cannot check is answered with its own error."""
        return self.checking.check(
            who,
            candidates,
            why,
            open_requests=open_requests,
            idempotency_key=idempotency_key,
            officer_verified=officer_verified,
        )

    def check_one(
        self,
        who: Identity,
        candidate: Candidate,
        why: Justification,
        *,
        open_requests: bool,
        idempotency_key: str = "",
        officer_verified: bool = True,
    ) -> CheckOutcome:
        """A single check: a candidate the matcher cannot check fails the call."""
        return self.checking.check_one(
            who,
            candidate,
            why,
            open_requests=open_requests,
            idempotency_key=idempotency_key,
            officer_verified=officer_verified,
        )

    # ------------------------------------------------------------------ disclosure
    def get_request(self, who: Identity, request_id: str) -> DisclosureRequest:
        return self.broker.shown(who, self.broker.get_request(who, request_id))

    def list_requests(
        self, who: Identity, *, as_holder: bool, states: Sequence[int], limit: int
    ) -> list[DisclosureRequest]:
        rows = self.broker.list_requests(who, as_holder=as_holder, states=states, limit=limit)
        return [self.broker.shown(who, r) for r in rows]

    def transition(
        self,
        who: Identity,
        request_id: str,
        action: disclosure.Action,
        *,
        sealed: bytes | None = None,
        refusal_reason: int = 0,
        officer_id: str = "",
        officer_verified: bool = True,
        idempotency_key: str = "",
    ) -> DisclosureRequest:
        row = self.broker.transition(
            who,
            request_id,
            action,
            sealed=sealed,
            refusal_reason=refusal_reason,
            officer_id=officer_id,
            officer_verified=officer_verified,
            idempotency_key=idempotency_key,
        )
        return self.broker.shown(who, row)

    def fetch_disclosure(self, who: Identity, request_id: str) -> SealedDisclosure:
        return sealed_disclosure(self.broker.fetch_disclosure(who, request_id))

    def overdue_report(self, who: Identity) -> OverdueReport:
        return self.broker.overdue_report(who)

    def request_feed(self, who: Identity, *, party: Party, states: Sequence[int]) -> RequestFeed:
        """A watch's feed of requests changing state, as ``who`` may see them as ``party``."""
        return RequestFeed(
            broker=self.broker,
            store=self._storage,
            who=who,
            party=party,
            states=states,
            page=self._settings.limits.max_list_results,
        )

    def wait_for_new_request(self, timeout_s: float) -> None:
        """Block until a check opens requests, ``wake_watchers`` is called, or ``timeout_s`` passes."""
        self.broker.wait_for_new_request(timeout_s)

    def wake_watchers(self) -> None:
        """Wake every ``wait_for_new_request`` at once (a watcher's call ended: it must not wait a poll)."""
        self.broker.notify_opened()

    # ------------------------------------------------------------------ audit reads
    def tree_head(self) -> SignedTreeHead:
        return self.audit_reads.head()

    def log_size(self) -> int:
        return self.audit_reads.size()

    def log_key(self) -> LogKey:
        return self.audit_reads.log_key()

    def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        return self.audit_reads.consistency_proof(first, second)

    def inclusion_proof(self, who: Identity, leaf_index: int, tree_size: int) -> InclusionProof:
        return self.audit_reads.inclusion_proof(who, leaf_index, tree_size)

    def log_entries(self, who: Identity, start: int, end: int) -> list[LogEntry]:
        return self.audit_reads.entries(who, start, end)

    def checkpoint(self, tree_size: int) -> tuple[int, bytes]:
        return self.witnessing.checkpoint(tree_size)

    def add_cosignature(self, tree_size: int, signature_line: str) -> int:
        return self.witnessing.add_cosignature(tree_size, signature_line)
