"""Disclosure service: requests as each party may see them, decisions, sealed disclosures, overdue report.

The facade answers with requests as the caller may see them: who sees a request's matched tokens is the
pure policy's call (``policy.disclosure.sees_matched_tokens``, applied by the broker): only the holding
force, the one party that can resolve them against its local token store.

Resolve, Approve and Refuse pass the request's idempotency key on (empty: none): a retried decision that
already applied is answered with the request as it now is (``usecases.broker``).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from crossforce.domain import Party
from crossforce.server import status
from crossforce.server.auth import caller, check_still_admitted
from crossforce.server.matcher import Matcher
from crossforce.server.officers import decision_officer
from crossforce.server.policy import disclosure
from crossforce.server.servicers.streams import StreamSlots
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
from crossforce.wire import disclosure as wire

WATCH_POLL_S = 1.0
"""How long a watch waits for a change before it re-reads (a check, a decision or a cancel wakes it); also
how often it re-checks that its caller's certificate is still not revoked."""


class DisclosureServicer(rpc.DisclosureServicer):
    def __init__(self, matcher: Matcher, *, watch_slots: StreamSlots) -> None:
        self.matcher = matcher
        self.watch_slots = watch_slots

    @status.unary
    def ListRequests(
        self, request: pb.ListRequestsRequest, context: grpc.ServicerContext
    ) -> pb.ListRequestsResponse:
        who = caller(context)
        party = wire.party_from_pb(request.party)
        # The broker directly: the matcher facade's list_requests answers the first page only.
        broker = self.matcher.broker
        rows, next_token = broker.list_requests_page(
            who,
            as_holder=party is Party.HOLDER,
            states=[int(s) for s in wire.states_from_pb(request.states)],
            limit=request.limit,
            page_token=request.page_token,
        )
        response = wire.list_requests_response([broker.shown(who, r) for r in rows])
        response.next_page_token = next_token
        return response

    @status.streaming
    def WatchRequests(
        self, request: pb.WatchRequestsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.DisclosureRequest]:
        who = caller(context)
        party = wire.watch_party_from_pb(request.party)
        states = [int(s) for s in wire.states_from_pb(request.states)]
        feed = self.matcher.request_feed(who, party=party, states=states)  # refuses a party's wrong role
        self.watch_slots.take()
        try:
            # Wake the waiting thread the moment the call ends (cancel, deadline), not at the next poll.
            context.add_callback(self.matcher.wake_watchers)
            while context.is_active():
                check_still_admitted(context)  # a revoked caller's watch ends within one poll interval
                changed, more = feed.poll()
                for req in changed:
                    yield wire.disclosure_request_to_pb(req)
                if not more:
                    self.matcher.wait_for_new_request(timeout_s=WATCH_POLL_S)
        finally:
            self.watch_slots.give_back()

    @status.unary
    def GetRequest(
        self, request: pb.GetRequestRequest, context: grpc.ServicerContext
    ) -> pb.DisclosureRequest:
        who = caller(context)
        return wire.disclosure_request_to_pb(self.matcher.get_request(who, request.request_id))

    @status.unary
    def Resolve(self, request: pb.ResolveRequest, context: grpc.ServicerContext) -> pb.DisclosureRequest:
        who = caller(context)
        action = (
            disclosure.Action.RESOLVE_CONFIRMED if request.confirmed else disclosure.Action.RESOLVE_NO_MATCH
        )
        shown = self.matcher.transition(
            who, request.request_id, action, idempotency_key=request.idempotency_key
        )
        return wire.disclosure_request_to_pb(shown)

    @status.unary
    def Approve(self, request: pb.ApproveRequest, context: grpc.ServicerContext) -> pb.DisclosureRequest:
        who = caller(context)
        officer = decision_officer(self.matcher, context, request.officer_id)
        # An empty payload reaches the policy as b"", which refuses it (policy.disclosure.apply).
        shown = self.matcher.transition(
            who,
            request.request_id,
            disclosure.Action.APPROVE,
            sealed=bytes(request.sealed_payload),
            officer_id=officer.officer_id,
            officer_verified=officer.verified,
            idempotency_key=request.idempotency_key,
        )
        return wire.disclosure_request_to_pb(shown)

    @status.unary
    def Refuse(self, request: pb.RefuseRequest, context: grpc.ServicerContext) -> pb.DisclosureRequest:
        who = caller(context)
        reason = wire.refusal_from_pb(request.reason)
        officer = decision_officer(self.matcher, context, request.officer_id)
        shown = self.matcher.transition(
            who,
            request.request_id,
            disclosure.Action.REFUSE,
            refusal_reason=int(reason),
            officer_id=officer.officer_id,
            officer_verified=officer.verified,
            idempotency_key=request.idempotency_key,
        )
        return wire.disclosure_request_to_pb(shown)

    @status.unary
    def FetchDisclosure(
        self, request: pb.FetchDisclosureRequest, context: grpc.ServicerContext
    ) -> pb.SealedDisclosure:
        return wire.sealed_disclosure_to_pb(
            self.matcher.fetch_disclosure(caller(context), request.request_id)
        )

    @status.unary
    def OverdueReport(
        self, request: pb.OverdueReportRequest, context: grpc.ServicerContext
    ) -> pb.OverdueReportResponse:
        return wire.overdue_report_to_pb(self.matcher.overdue_report(caller(context)))
