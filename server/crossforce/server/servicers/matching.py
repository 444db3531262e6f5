"""Matcher service: candidate checks, single and batch, and the empty round trip.

Candidates reach the matcher as the domain ``Candidate`` (packed token blocks and name classes, framing
already checked by ``wire.matching``); what they may hold is the checking use case's to judge. A check's
idempotency key travels in the query (``CheckQuery.idempotency_key``) to the checking use case, which
validates it and answers a retry with the first answer (``usecases.idempotency``).

The officer a check acts for is the one its officer credential asserts (``crossforce.server.officers``),
decided here from the call's metadata before the matcher sees the justification, so every step after it
(quota bucket, audit event, request rows) uses the verified id.
"""

from __future__ import annotations

import dataclasses

import grpc

from crossforce.domain import CheckQuery
from crossforce.server import officers, status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
from crossforce.wire import matching as wire


class MatcherServicer(rpc.MatcherServicer):
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.officers = officers.for_matcher(matcher)

    def _officer_query(
        self, query: CheckQuery, context: grpc.ServicerContext
    ) -> tuple[CheckQuery, officers.Officer]:
        """``query`` with the officer id its credential asserts (or the free text, where allowed), and
        that officer (``verified`` False for free text: the check's events say so)."""
        why, acting = self.officers.justified(
            caller(context), query.justification, officers.presented(context)
        )
        return dataclasses.replace(query, justification=why), acting

    @status.unary
    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:
        """One candidate: a candidate the matcher cannot check fails the call with its status."""
        query, acting = self._officer_query(wire.check_query_from_pb(request), context)
        outcome = self.matcher.check_one(
            caller(context),
            query.candidates[0],
            query.justification,
            open_requests=query.open_requests,
            idempotency_key=query.idempotency_key,
            officer_verified=acting.verified,
        )
        return wire.check_response_to_pb(outcome)

    @status.unary
    def CheckBatch(
        self, request: pb.CheckBatchRequest, context: grpc.ServicerContext
    ) -> pb.CheckBatchResponse:
        """Many candidates: each one the matcher cannot check is answered alone; the rest are checked."""
        query, acting = self._officer_query(wire.check_query_from_pb(request), context)
        outcome = self.matcher.check(
            caller(context),
            query.candidates,
            query.justification,
            open_requests=query.open_requests,
            idempotency_key=query.idempotency_key,
            officer_verified=acting.verified,
        )
        return wire.check_batch_response_to_pb(outcome)

    @status.unary
    def Ping(self, request: pb.PingRequest, context: grpc.ServicerContext) -> pb.PingResponse:
        return pb.PingResponse()
