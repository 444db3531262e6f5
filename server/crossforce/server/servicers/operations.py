"""Operations service: the operator's report."""

from __future__ import annotations

import grpc

from crossforce.server import status
from crossforce.server.matcher import Matcher
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
from crossforce.wire import operations as wire


class OperationsServicer(rpc.OperationsServicer):
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    @status.unary
    def Report(self, request: pb.ReportRequest, context: grpc.ServicerContext) -> pb.ReportResponse:
        return wire.operator_report_to_pb(self.matcher.operator_report())
