"""Disclosure service: requests as each party may see them, decisions, sealed disclosures, overdue report.

Who sees a request's matched tokens is the pure policy's call (``policy.disclosure.sees_matched_tokens``):
only the holding force, the one party that can resolve them against its local token store.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from crossforce.crypto import pki
from crossforce.domain import (
    DisclosureRequest,
    Justification,
    OverdueReport,
    Party,
    RefusalReason,
    RequestState,
    SealedDisclosure,
)
from crossforce.errors import ValidationError
from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.server.policy import disclosure, roles
from crossforce.server.servicers.streams import StreamSlots
from crossforce.server.store import RequestRow
from crossforce.v1 import crossforce_pb2 as pb
from crossforce.v1 import crossforce_pb2_grpc as rpc
from crossforce.wire import disclosure as wire

WATCH_POLL_S = 1.0
"""How long a watch waits for a new request before it re-reads (a cancel wakes it at once)."""


def request_view(row: RequestRow, *, for_holder: bool, overdue: bool) -> DisclosureRequest:
    """A stored request as a party sees it; ``for_holder`` decides whether the matched tokens are shown."""
    return DisclosureRequest(
        request_id=row.request_id,
        check_id=row.check_id,
        requester_org=row.requester_org,
        holder_org=row.holder_org,
        justification=Justification(
            purpose=row.purpose,
            legal_basis=row.legal_basis,
            case_reference=row.case_reference,
            officer_id=row.officer_id,
        ),
        matched_tokens=tuple(Matcher.unpack_tokens(row.tokens)) if for_holder else (),
        key_types=tuple(row.key_types),
        strength=row.strength,
        state=RequestState(row.state),
        created_at_ms=row.created_at_ms,
        deadline_ms=row.deadline_ms,
        updated_at_ms=row.updated_at_ms,
        overdue=overdue,
        refusal_reason=RefusalReason(row.refusal_reason),
        log_index=row.log_index,
    )


class DisclosureServicer(rpc.DisclosureServicer):
    def __init__(self, matcher: Matcher, *, watch_slots: StreamSlots) -> None:
        self.matcher = matcher
        self.watch_slots = watch_slots

    def _shown(self, who: pki.Identity, row: RequestRow) -> pb.DisclosureRequest:
        tokens = disclosure.sees_matched_tokens(
            self.matcher.view(row), caller_org=who.org, caller_role=who.role
        )
        return wire.disclosure_request_to_pb(
            request_view(row, for_holder=tokens, overdue=self.matcher.is_overdue(row))
        )

    @status.unary
    def ListRequests(
        self, request: pb.ListRequestsRequest, context: grpc.ServicerContext
    ) -> pb.ListRequestsResponse:
        who = caller(context)
        party = wire.party_from_pb(request.party)
        rows = self.matcher.list_requests(
            who,
            as_holder=party is Party.HOLDER,
            states=[int(s) for s in wire.states_from_pb(request.states)],
            limit=request.limit,
        )
        return pb.ListRequestsResponse(requests=[self._shown(who, r) for r in rows])

    @status.streaming
    def WatchRequests(
        self, request: pb.WatchRequestsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.DisclosureRequest]:
        who = caller(context)
        states = [int(s) for s in wire.states_from_pb(request.states)] or [int(RequestState.OPEN)]
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
                        yield self._shown(who, row)
                with self.matcher.request_opened:
                    self.matcher.request_opened.wait(timeout=WATCH_POLL_S)
        finally:
            self.watch_slots.give_back()

    def _wake_watchers(self) -> None:
        with self.matcher.request_opened:
            self.matcher.request_opened.notify_all()

    @status.unary
    def GetRequest(
        self, request: pb.GetRequestRequest, context: grpc.ServicerContext
    ) -> pb.DisclosureRequest:
        who = caller(context)
        return self._shown(who, self.matcher.get_request(who, request.request_id))

    @status.unary
    def Resolve(self, request: pb.ResolveRequest, context: grpc.ServicerContext) -> pb.DisclosureRequest:
        who = caller(context)
        action = (
            disclosure.Action.RESOLVE_CONFIRMED if request.confirmed else disclosure.Action.RESOLVE_NO_MATCH
        )
        return self._shown(who, self.matcher.transition(who, request.request_id, action))

    @status.unary
    def Approve(self, request: pb.ApproveRequest, context: grpc.ServicerContext) -> pb.DisclosureRequest:
        who = caller(context)
        if not request.sealed_payload:
            raise ValidationError("sealed_payload is required to approve")
        row = self.matcher.transition(
            who,
            request.request_id,
            disclosure.Action.APPROVE,
            sealed=bytes(request.sealed_payload),
            officer_id=request.officer_id,
        )
        return self._shown(who, row)

    @status.unary
    def Refuse(self, request: pb.RefuseRequest, context: grpc.ServicerContext) -> pb.DisclosureRequest:
        who = caller(context)
        reason = wire.refusal_from_pb(request.reason)
        row = self.matcher.transition(
            who,
            request.request_id,
            disclosure.Action.REFUSE,
            refusal_reason=int(reason),
            officer_id=request.officer_id,
        )
        return self._shown(who, row)

    @status.unary
    def FetchDisclosure(
        self, request: pb.FetchDisclosureRequest, context: grpc.ServicerContext
    ) -> pb.SealedDisclosure:
        row = self.matcher.fetch_disclosure(caller(context), request.request_id)
        return wire.sealed_disclosure_to_pb(
            SealedDisclosure(
                request_id=row.request_id,
                requester_org=row.requester_org,
                holder_org=row.holder_org,
                sealed_payload=row.sealed or b"",
                payload_sha256=row.sealed_sha256 or b"",
                state=RequestState(row.state),
            )
        )

    @status.unary
    def OverdueReport(
        self, request: pb.OverdueReportRequest, context: grpc.ServicerContext
    ) -> pb.OverdueReportResponse:
        who = caller(context)
        rows = self.matcher.overdue(who, everyone=roles.sees_all_requests(who.role))
        return wire.overdue_report_to_pb(
            OverdueReport(
                requests=tuple(request_view(r, for_holder=False, overdue=True) for r in rows),
                generated_at_ms=self.matcher.clock(),
            )
        )
