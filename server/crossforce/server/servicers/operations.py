"""Operations service: the operator's report and the operator's epoch acts."""

from __future__ import annotations

import grpc

from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
from crossforce.wire import epochs as wire_epochs
from crossforce.wire import operations as wire


class OperationsServicer(rpc.OperationsServicer):
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    @status.unary
    def Report(self, request: pb.ReportRequest, context: grpc.ServicerContext) -> pb.ReportResponse:
        return wire.operator_report_to_pb(self.matcher.operator_report())

    @status.unary
    def ActivateEpoch(
        self, request: pb.ActivateEpochRequest, context: grpc.ServicerContext
    ) -> pb.EpochStatusResponse:
        state = self.matcher.activate_epoch(caller(context), request.epoch)
        return wire_epochs.epoch_state_to_pb(state)

    @status.unary
    def RetireEpoch(
        self, request: pb.RetireEpochRequest, context: grpc.ServicerContext
    ) -> pb.EpochStatusResponse:
        state = self.matcher.retire_epoch(
            caller(context), request.epoch, force_override=request.force_override
        )
        return wire_epochs.epoch_state_to_pb(state)

    @status.unary
    def EpochStatus(
        self, request: pb.EpochStatusRequest, context: grpc.ServicerContext
    ) -> pb.EpochStatusResponse:
        return wire_epochs.epoch_state_to_pb(self.matcher.epoch_status())
