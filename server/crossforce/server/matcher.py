"""The matcher facade: wires the use cases together; the servicers call it and nothing else.

Each service's behaviour lives in its own use case (``crossforce.server.usecases``): ``Registry``,
``Publishing`` (over the ``IndexTable`` that serves checks), ``Checking``, ``Broker`` (disclosure
requests) and ``auditreads``. This class decides nothing: it builds them over one store, one audit log,
one clock and one write lock, and forwards each public method. Everything acknowledged has been
committed, with its audit event in the same transaction, before the method returns. The matcher holds
only keyed-hash tokens, Bloom filters, routing metadata and ciphertext: no method here receives a raw
name, date or identifier, and no log line or error text quotes request content.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.clock import Clock, now_ms
from crossforce.crypto.pki import Identity
from crossforce.domain import CheckOutcome, IndexStatus, Justification, QueryToken
from crossforce.server.audit import AuditLog
from crossforce.server.policy import disclosure
from crossforce.server.policy.publish import AcceptedHeader
from crossforce.server.policy.quotas import QuotaBook
from crossforce.server.settings import ServerSettings
from crossforce.server.store.protocols import Storage
from crossforce.server.store.rows import IndexRow, OrgRow, RequestRow
from crossforce.server.usecases import auditreads, broker
from crossforce.server.usecases.broker import Broker
from crossforce.server.usecases.checking import Checking
from crossforce.server.usecases.publishing import Publishing
from crossforce.server.usecases.quotareplay import replay_quotas
from crossforce.server.usecases.registry import Registry
from crossforce.server.usecases.serving import IndexTable


class Matcher:
    def __init__(
        self,
        *,
        storage: Storage,
        settings: ServerSettings,
        audit: AuditLog,
        clock: Clock = now_ms,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.limits = settings.limits
        self.audit = audit
        self.clock = clock
        self.quotas = QuotaBook(settings.quotas, settings.purposes)
        clock = self._now  # read through the facade: replacing ``self.clock`` moves every use case
        write_lock = threading.RLock()
        """One writer at a time for changes decided on in-memory state (versions, request states)."""
        self.registry = Registry(
            store=storage, audit=audit, limits=self.limits, clock=clock, write_lock=write_lock
        )
        self.table = IndexTable.load(storage)
        self.publishing = Publishing(
            store=storage,
            table=self.table,
            registry=self.registry,
            audit=audit,
            limits=self.limits,
            clock=clock,
            write_lock=write_lock,
        )
        self.broker = Broker(
            store=storage, audit=audit, settings=settings, clock=clock, write_lock=write_lock
        )
        self.checking = Checking(
            table=self.table,
            broker=self.broker,
            quotas=self.quotas,
            audit=audit,
            settings=settings,
            clock=clock,
        )
        self.request_opened = self.broker.request_opened
        replay_quotas(self.quotas, settings.quotas, storage, size=audit.size, now_ms=clock())

    def _now(self) -> int:
        return self.clock()

    # ------------------------------------------------------------------ epochs and status
    def active_epochs(self) -> tuple[int, ...]:
        return self.table.active_epochs()

    def current_epoch(self) -> int:
        return self.table.current_epoch()

    def status(self) -> list[IndexStatus]:
        return self.table.status(self.clock(), max_age_s=self.settings.index_max_age_s)

    # ------------------------------------------------------------------ registration
    def registered_orgs(self) -> list[str]:
        return self.registry.registered_orgs()

    def organisation(self, org: str) -> OrgRow:
        return self.registry.organisation(org)

    def organisations(self) -> list[OrgRow]:
        return self.registry.organisations()

    def register(
        self,
        who: Identity,
        *,
        org: str,
        signing_key: bytes,
        box_key: bytes,
        proof: bytes,
        display_name: str,
    ) -> tuple[OrgRow, SignedTreeHead]:
        return self.registry.register(
            who, org=org, signing_key=signing_key, box_key=box_key, proof=proof, display_name=display_name
        )

    # ------------------------------------------------------------------ publishing
    def begin_publish(self, who: Identity, header_bytes: bytes, signature: bytes) -> AcceptedHeader:
        return self.publishing.begin(who, header_bytes, signature)

    def finish_publish(
        self, who: Identity, header: AcceptedHeader, bits: bytes
    ) -> tuple[IndexRow, SignedTreeHead]:
        return self.publishing.finish(who, header, bits)

    # ------------------------------------------------------------------ checks
    def validate_justification(self, who: Identity, why: Justification) -> None:
        self.checking.validate_justification(who, why)

    def validate_candidate(self, tokens: Sequence[QueryToken], position: int | None = None) -> None:
        self.checking.validate_candidate(tokens, position)

    def check(
        self,
        who: Identity,
        candidates: Sequence[Sequence[QueryToken]],
        why: Justification,
        *,
        open_requests: bool,
    ) -> CheckOutcome:
        return self.checking.check(who, candidates, why, open_requests=open_requests)

    # ------------------------------------------------------------------ disclosure
    @staticmethod
    def unpack_tokens(packed: bytes) -> list[QueryToken]:
        return broker.unpack_tokens(packed)

    def get_request(self, who: Identity, request_id: str) -> RequestRow:
        return self.broker.get_request(who, request_id)

    def list_requests(
        self, who: Identity, *, as_holder: bool, states: Sequence[int], limit: int
    ) -> list[RequestRow]:
        return self.broker.list_requests(who, as_holder=as_holder, states=states, limit=limit)

    def transition(
        self,
        who: Identity,
        request_id: str,
        action: disclosure.Action,
        *,
        sealed: bytes | None = None,
        refusal_reason: int = 0,
        officer_id: str = "",
    ) -> RequestRow:
        return self.broker.transition(
            who, request_id, action, sealed=sealed, refusal_reason=refusal_reason, officer_id=officer_id
        )

    def fetch_disclosure(self, who: Identity, request_id: str) -> RequestRow:
        return self.broker.fetch_disclosure(who, request_id)

    def overdue(self, who: Identity, *, everyone: bool) -> list[RequestRow]:
        return self.broker.overdue(who, everyone=everyone)

    def overdue_count(self) -> int:
        """How many requests are overdue, whoever they belong to (the operator's report)."""
        return self.broker.overdue_count()

    def view(self, row: RequestRow) -> disclosure.RequestView:
        """What the disclosure policy needs to know about a stored request."""
        return broker.view_of(row)

    def is_overdue(self, row: RequestRow) -> bool:
        return self.broker.is_overdue(row)

    # ------------------------------------------------------------------ audit reads
    def readable_entry(self, who: Identity, entry: bytes) -> bytes:
        """The event bytes if the caller may read them (auditors: all; others: their own events)."""
        return auditreads.readable_entry(who, entry)
