"""Matcher service: candidate checks, single and batch, and the empty round trip.

Candidates reach the matcher as the domain ``Candidate`` (packed token blocks and name classes, framing
already checked by ``wire.matching``); what they may hold is the checking use case's to judge. A check's
idempotency key travels in the query (``CheckQuery.idempotency_key``) to the checking use case, which
validates it and answers a retry with the first answer (``usecases.idempotency``).
"""

from __future__ import annotations

import grpc

from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
from crossforce.wire import matching as wire


class MatcherServicer(rpc.MatcherServicer):
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    @status.unary
    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:
        """One candidate: a candidate the matcher cannot check fails the call with its status."""
        query = wire.check_query_from_pb(request)
        outcome = self.matcher.check_one(
            caller(context),
            query.candidates[0],
            query.justification,
            open_requests=query.open_requests,
            idempotency_key=query.idempotency_key,
        )
        return wire.check_response_to_pb(outcome)

    @status.unary
    def CheckBatch(
        self, request: pb.CheckBatchRequest, context: grpc.ServicerContext
    ) -> pb.CheckBatchResponse:
        """Many candidates: each one the matcher cannot check is answered alone; the rest are checked."""
        query = wire.check_query_from_pb(request)
        outcome = self.matcher.check(
            caller(context),
            query.candidates,
            query.justification,
            open_requests=query.open_requests,
            idempotency_key=query.idempotency_key,
        )
        return wire.check_batch_response_to_pb(outcome)

    @status.unary
    def Ping(self, request: pb.PingRequest, context: grpc.ServicerContext) -> pb.PingResponse:
        return pb.PingResponse()
