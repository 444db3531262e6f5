"""gRPC servicers: thin translations between protobuf and ``Matcher``.

Each method resolves the caller from the certificate, checks the role matrix, validates, calls the
matcher and converts back. Errors are raised, never aborted here: ``status.unary``/``streaming`` map them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Iterator, Sequence

import grpc

from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.crypto import pki
from crossforce.errors import ResourceExhaustedError, TooLargeError, ValidationError
from crossforce.server import disclosure, roles, status
from crossforce.server.identity import IdentityResolver
from crossforce.server.matcher import CheckOutcome, IndexStatus, Justification, Matcher, QueryToken
from crossforce.server.storage import OrgRow, RequestRow
from crossforce.v1 import crossforce_pb2 as pb
from crossforce.v1 import crossforce_pb2_grpc as rpc


class StreamSlots:
    """A cap on one kind of long-lived stream. Each open stream holds a worker thread for its whole life,
    so without a cap a few slow publishers or idle watchers would leave no thread for anyone else."""

    def __init__(self, kind: str, slots: int) -> None:
        self.kind = kind
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)

    def take(self) -> None:
        if not self._free.acquire(blocking=False):
            raise ResourceExhaustedError(
                f"all {self.slots} {self.kind} streams the matcher allows at once are open; retry shortly"
            )

    def give_back(self) -> None:
        self._free.release()


class _Base:
    def __init__(self, matcher: Matcher, identify: IdentityResolver) -> None:
        self.matcher = matcher
        self.identify = identify

    def caller(self, context: grpc.ServicerContext, method: str) -> pki.Identity:
        who = self.identify(context)
        roles.authorise_rpc(method, who.role)
        return who


def tree_head_pb(sth: SignedTreeHead) -> pb.SignedTreeHead:
    return pb.SignedTreeHead(
        tree_size=sth.head.tree_size,
        timestamp_ms=sth.head.timestamp_ms,
        root_hash=sth.head.root_hash,
        signature=sth.signature,
    )


def org_pb(row: OrgRow) -> pb.Organisation:
    return pb.Organisation(**dataclasses.asdict(row))  # same field names by design


def index_status_pb(s: IndexStatus) -> pb.ForceIndexStatus:
    return pb.ForceIndexStatus(**dataclasses.asdict(s))  # same field names by design


def _justification(msg: pb.Justification) -> Justification:
    return Justification(
        purpose=msg.purpose,
        legal_basis=msg.legal_basis,
        case_reference=msg.case_reference,
        officer_id=msg.officer_id,
    )


def _tokens(candidate: pb.Candidate) -> list[QueryToken]:
    return [QueryToken(t.key_type, t.epoch, bytes(t.token)) for t in candidate.tokens]


def _results_pb(outcome: CheckOutcome) -> list[pb.CheckResult]:
    return [
        pb.CheckResult(
            check_id=r.check_id,
            hits=[
                pb.ForceHit(
                    org=h.org,
                    strength=pb.Strength.ValueType(h.strength),
                    key_types=list(h.key_types),
                    request_id=h.request_id,
                )
                for h in r.hits
            ],
        )
        for r in outcome.results
    ]


class RegistryServicer(_Base, rpc.RegistryServicer):
    @status.unary
    def Register(self, request: pb.RegisterRequest, context: grpc.ServicerContext) -> pb.RegisterResponse:
        who = self.caller(context, "Registry/Register")
        row, head = self.matcher.register(
            who,
            org=request.org,
            signing_key=bytes(request.signing_key),
            box_key=bytes(request.box_key),
            proof=bytes(request.proof),
            display_name=request.display_name,
        )
        return pb.RegisterResponse(organisation=org_pb(row), tree_head=tree_head_pb(head))

    @status.unary
    def GetOrganisation(
        self, request: pb.GetOrganisationRequest, context: grpc.ServicerContext
    ) -> pb.Organisation:
        self.caller(context, "Registry/GetOrganisation")
        return org_pb(self.matcher.organisation(request.org))

    @status.unary
    def ListOrganisations(
        self, request: pb.ListOrganisationsRequest, context: grpc.ServicerContext
    ) -> pb.ListOrganisationsResponse:
        self.caller(context, "Registry/ListOrganisations")
        return pb.ListOrganisationsResponse(organisations=[org_pb(r) for r in self.matcher.organisations()])


class IndexServicer(_Base, rpc.IndexServicer):
    def __init__(self, matcher: Matcher, identify: IdentityResolver, *, slots: StreamSlots) -> None:
        super().__init__(matcher, identify)
        self.slots = slots

    def Publish(
        self, request_iterator: Iterator[pb.PublishChunk], context: grpc.ServicerContext
    ) -> pb.PublishResponse:
        try:
            who = self.caller(context, "Index/Publish")
            self.slots.take()
            try:
                return self._publish(who, request_iterator, context)
            finally:
                self.slots.give_back()
        except grpc.RpcError:
            raise  # the client cancelled or its deadline passed mid-stream: nothing to answer
        except Exception as exc:
            if type(exc) is Exception and not exc.args:
                raise
            status.abort(context, exc)

    def _publish(
        self, who: pki.Identity, chunks: Iterator[pb.PublishChunk], context: grpc.ServicerContext
    ) -> pb.PublishResponse:
        first = next(chunks, None)
        if first is None or first.WhichOneof("part") != "header":
            raise ValidationError("the first message of a publish must be the signed header")
        header = self.matcher.begin_publish(who, bytes(first.header.header), bytes(first.header.signature))
        expected = header.params.size_bytes
        buf = bytearray()
        digest = hashlib.sha256()
        for chunk in chunks:
            if chunk.WhichOneof("part") != "bits":
                raise ValidationError("only bits may follow the header")
            if len(chunk.bits) > self.matcher.limits.max_chunk_bytes:
                raise TooLargeError(f"chunk exceeds {self.matcher.limits.max_chunk_bytes} bytes")
            if len(buf) + len(chunk.bits) > expected:
                raise ValidationError(f"more index bits than the {expected} bytes the header declares")
            buf += chunk.bits
            digest.update(chunk.bits)
        if not context.is_active():
            raise ValidationError(
                "publish was cancelled before it completed; the previous index still serves"
            )
        row, head = self.matcher.finish_publish(who, header, bytes(buf))
        return pb.PublishResponse(
            org=row.org,
            epoch=row.epoch,
            version=row.version,
            log_index=row.log_index,
            tree_head=tree_head_pb(head),
        )

    @status.unary
    def Status(self, request: pb.StatusRequest, context: grpc.ServicerContext) -> pb.StatusResponse:
        self.caller(context, "Index/Status")
        return pb.StatusResponse(
            indexes=[index_status_pb(s) for s in self.matcher.status()],
            current_epoch=self.matcher.current_epoch(),
            active_epochs=list(self.matcher.active_epochs()),
            registered_orgs=self.matcher.registered_orgs(),
        )


class MatcherServicer(_Base, rpc.MatcherServicer):
    @status.unary
    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:
        who = self.caller(context, "Matcher/Check")
        outcome = self.matcher.check(
            who,
            [_tokens(request.candidate)],
            _justification(request.justification),
            open_requests=request.open_requests,
        )
        return pb.CheckResponse(
            result=_results_pb(outcome)[0],
            forces_searched=outcome.forces_searched,
            stale_orgs=list(outcome.stale_orgs),
            tree_head=tree_head_pb(outcome.tree_head),
        )

    @status.unary
    def CheckBatch(
        self, request: pb.CheckBatchRequest, context: grpc.ServicerContext
    ) -> pb.CheckBatchResponse:
        who = self.caller(context, "Matcher/CheckBatch")
        outcome = self.matcher.check(
            who,
            [_tokens(c) for c in request.candidates],
            _justification(request.justification),
            open_requests=request.open_requests,
        )
        return pb.CheckBatchResponse(
            results=_results_pb(outcome),
            forces_searched=outcome.forces_searched,
            stale_orgs=list(outcome.stale_orgs),
            tree_head=tree_head_pb(outcome.tree_head),
        )

    def Ping(self, request: pb.PingRequest, context: grpc.ServicerContext) -> pb.PingResponse:
        return pb.PingResponse()


def request_pb(row: RequestRow, *, for_holder: bool, overdue: bool) -> pb.DisclosureRequest:
    from crossforce.server.matcher import Matcher as _M

    tokens = (
        [
            pb.QueryToken(key_type=t.key_type, epoch=t.epoch, token=t.token)
            for t in _M.unpack_tokens(row.tokens)
        ]
        if for_holder
        else []
    )
    return pb.DisclosureRequest(
        request_id=row.request_id,
        check_id=row.check_id,
        requester_org=row.requester_org,
        holder_org=row.holder_org,
        justification=pb.Justification(
            purpose=row.purpose,
            legal_basis=row.legal_basis,
            case_reference=row.case_reference,
            officer_id=row.officer_id,
        ),
        matched_tokens=tokens,
        key_types=list(row.key_types),
        strength=pb.Strength.ValueType(row.strength),
        state=pb.RequestState.ValueType(row.state),
        created_at_ms=row.created_at_ms,
        deadline_ms=row.deadline_ms,
        updated_at_ms=row.updated_at_ms,
        overdue=overdue,
        refusal_reason=pb.RefusalReason.ValueType(row.refusal_reason),
        log_index=row.log_index,
    )


class DisclosureServicer(_Base, rpc.DisclosureServicer):
    def __init__(self, matcher: Matcher, identify: IdentityResolver, *, watch_slots: StreamSlots) -> None:
        super().__init__(matcher, identify)
        self.watch_slots = watch_slots

    def _pb(self, who: pki.Identity, row: RequestRow) -> pb.DisclosureRequest:
        view = self.matcher.view(row)
        tokens = disclosure.sees_matched_tokens(view, caller_org=who.org, caller_role=who.role)
        return request_pb(row, for_holder=tokens, overdue=self.matcher.is_overdue(row))

    @status.unary
    def ListRequests(
        self, request: pb.ListRequestsRequest, context: grpc.ServicerContext
    ) -> pb.ListRequestsResponse:
        who = self.caller(context, "Disclosure/ListRequests")
        if request.party not in (pb.HOLDER, pb.REQUESTER):
            raise ValidationError("party must be HOLDER or REQUESTER")
        rows = self.matcher.list_requests(
            who, as_holder=request.party == pb.HOLDER, states=sorted(set(request.states)), limit=request.limit
        )
        return pb.ListRequestsResponse(requests=[self._pb(who, r) for r in rows])

    @status.streaming
    def WatchRequests(
        self, request: pb.WatchRequestsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.DisclosureRequest]:
        who = self.caller(context, "Disclosure/WatchRequests")
        states: list[int] = sorted({int(x) for x in request.states}) or [int(disclosure.State.OPEN)]
        self.watch_slots.take()
        try:
            # Wake the waiting thread the moment the call ends (cancel, deadline), not at the next poll.
            context.add_callback(self._wake_watchers)
            seen: set[tuple[str, int]] = set()
            while context.is_active():
                rows = self.matcher.list_requests(who, as_holder=True, states=states, limit=0)
                for row in rows:
                    if (row.request_id, row.state) not in seen:
                        seen.add((row.request_id, row.state))
                        yield self._pb(who, row)
                with self.matcher.request_opened:
                    self.matcher.request_opened.wait(timeout=1.0)
        finally:
            self.watch_slots.give_back()

    def _wake_watchers(self) -> None:
        with self.matcher.request_opened:
            self.matcher.request_opened.notify_all()

    @status.unary
    def GetRequest(
        self, request: pb.GetRequestRequest, context: grpc.ServicerContext
    ) -> pb.DisclosureRequest:
        who = self.caller(context, "Disclosure/GetRequest")
        return self._pb(who, self.matcher.get_request(who, request.request_id))

    @status.unary
    def Resolve(self, request: pb.ResolveRequest, context: grpc.ServicerContext) -> pb.DisclosureRequest:
        who = self.caller(context, "Disclosure/Resolve")
        action = (
            disclosure.Action.RESOLVE_CONFIRMED if request.confirmed else disclosure.Action.RESOLVE_NO_MATCH
        )
        return self._pb(who, self.matcher.transition(who, request.request_id, action))

    @status.unary
    def Approve(self, request: pb.ApproveRequest, context: grpc.ServicerContext) -> pb.DisclosureRequest:
        who = self.caller(context, "Disclosure/Approve")
        if not request.sealed_payload:
            raise ValidationError("sealed_payload is required to approve")
        row = self.matcher.transition(
            who,
            request.request_id,
            disclosure.Action.APPROVE,
            sealed=bytes(request.sealed_payload),
            officer_id=request.officer_id,
        )
        return self._pb(who, row)

    @status.unary
    def Refuse(self, request: pb.RefuseRequest, context: grpc.ServicerContext) -> pb.DisclosureRequest:
        who = self.caller(context, "Disclosure/Refuse")
        if request.reason not in pb.RefusalReason.values() or request.reason == pb.REFUSAL_REASON_UNSPECIFIED:
            raise ValidationError("reason must be one of " + ", ".join(pb.RefusalReason.keys()[1:]))
        row = self.matcher.transition(
            who,
            request.request_id,
            disclosure.Action.REFUSE,
            refusal_reason=request.reason,
            officer_id=request.officer_id,
        )
        return self._pb(who, row)

    @status.unary
    def FetchDisclosure(
        self, request: pb.FetchDisclosureRequest, context: grpc.ServicerContext
    ) -> pb.SealedDisclosure:
        who = self.caller(context, "Disclosure/FetchDisclosure")
        row = self.matcher.fetch_disclosure(who, request.request_id)
        return pb.SealedDisclosure(
            request_id=row.request_id,
            requester_org=row.requester_org,
            holder_org=row.holder_org,
            sealed_payload=row.sealed or b"",
            payload_sha256=row.sealed_sha256 or b"",
            state=pb.RequestState.ValueType(row.state),
        )

    @status.unary
    def OverdueReport(
        self, request: pb.OverdueReportRequest, context: grpc.ServicerContext
    ) -> pb.OverdueReportResponse:
        who = self.caller(context, "Disclosure/OverdueReport")
        rows = self.matcher.overdue(who, everyone=roles.sees_all_requests(who.role))
        return pb.OverdueReportResponse(
            requests=[request_pb(r, for_holder=False, overdue=True) for r in rows],
            generated_at_ms=self.matcher.clock(),
        )


class AuditServicer(_Base, rpc.AuditServicer):
    @status.unary
    def GetTreeHead(self, request: pb.GetTreeHeadRequest, context: grpc.ServicerContext) -> pb.SignedTreeHead:
        self.caller(context, "Audit/GetTreeHead")
        return tree_head_pb(self.matcher.audit.head)

    @status.unary
    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.ConsistencyProof:
        self.caller(context, "Audit/GetConsistencyProof")
        hashes = self.matcher.audit.consistency_proof(request.first, request.second)
        return pb.ConsistencyProof(first=request.first, second=request.second, hashes=hashes)

    @status.unary
    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.InclusionProof:
        who = self.caller(context, "Audit/GetInclusionProof")
        hashes = self.matcher.audit.inclusion_proof(request.leaf_index, request.tree_size)
        entries = self.matcher.audit.entries(request.leaf_index, request.leaf_index + 1)
        entry = self.matcher.readable_entry(who, entries[0][1]) if entries else b""
        return pb.InclusionProof(
            leaf_index=request.leaf_index, tree_size=request.tree_size, hashes=hashes, entry=entry
        )

    @status.unary
    def GetEntries(
        self, request: pb.GetEntriesRequest, context: grpc.ServicerContext
    ) -> pb.GetEntriesResponse:
        who = self.caller(context, "Audit/GetEntries")
        size = self.matcher.audit.size
        if not request.start <= request.end <= size:
            raise ValidationError(f"entries range must satisfy start <= end <= {size} (the log size)")
        limit = self.matcher.limits.max_entries_per_fetch
        if request.end - request.start > limit:
            raise TooLargeError(f"at most {limit} entries per call; page through the log")
        rows = self.matcher.audit.entries(request.start, request.end)
        return pb.GetEntriesResponse(
            entries=[
                pb.LogEntry(index=i, leaf_hash=leaf, entry=self.matcher.readable_entry(who, entry))
                for i, entry, leaf in rows
            ]
        )

    @status.unary
    def GetLogKey(self, request: pb.GetLogKeyRequest, context: grpc.ServicerContext) -> pb.LogKey:
        self.caller(context, "Audit/GetLogKey")
        return pb.LogKey(
            public_key=self.matcher.audit.public_key, log_id=self.matcher.audit.public_key.hex()[:16]
        )


class OperationsServicer(_Base, rpc.OperationsServicer):
    @status.unary
    def Report(self, request: pb.ReportRequest, context: grpc.ServicerContext) -> pb.ReportResponse:
        self.caller(context, "Operations/Report")
        alerts = [
            pb.Alert(at_ms=a.at_ms, org=a.org, kind=a.kind, detail=a.detail)
            for a in self.matcher.quotas.alerts()
        ]
        overdue = self.matcher.storage.open_requests_before(self.matcher.clock())
        return pb.ReportResponse(
            alerts=alerts,
            overdue_requests=len(overdue),
            log_size=self.matcher.audit.size,
            indexes=[index_status_pb(s) for s in self.matcher.status()],
        )


def add_all(server: grpc.Server, matcher: Matcher, identify: IdentityResolver, *, stream_slots: int) -> None:
    """Register every servicer; at most ``stream_slots`` publish and as many watch streams run at once."""
    rpc.add_RegistryServicer_to_server(RegistryServicer(matcher, identify), server)
    publish = StreamSlots("publish", stream_slots)
    rpc.add_IndexServicer_to_server(IndexServicer(matcher, identify, slots=publish), server)
    rpc.add_MatcherServicer_to_server(MatcherServicer(matcher, identify), server)
    watch = StreamSlots("WatchRequests", stream_slots)
    rpc.add_DisclosureServicer_to_server(DisclosureServicer(matcher, identify, watch_slots=watch), server)
    rpc.add_AuditServicer_to_server(AuditServicer(matcher, identify), server)
    rpc.add_OperationsServicer_to_server(OperationsServicer(matcher, identify), server)


SERVICE_NAMES: Sequence[str] = tuple(
    pb.DESCRIPTOR.services_by_name[name].full_name
    for name in ("Registry", "Index", "Matcher", "Disclosure", "Audit", "Operations")
)
