"""Audit service: tree heads, proofs and entries, each entry's bytes only where the caller may read them;
checkpoints with their witness cosignatures, and the RPC witnesses return cosignatures through."""

from __future__ import annotations

import grpc

from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
from crossforce.wire import audit as wire
from crossforce.wire.common import tree_head_to_pb


class AuditServicer(rpc.AuditServicer):
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    @status.unary
    def GetTreeHead(self, request: pb.GetTreeHeadRequest, context: grpc.ServicerContext) -> pb.SignedTreeHead:
        return tree_head_to_pb(self.matcher.tree_head())

    @status.unary
    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.ConsistencyProof:
        return wire.consistency_proof_to_pb(self.matcher.consistency_proof(request.first, request.second))

    @status.unary
    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.InclusionProof:
        who = caller(context)
        return wire.inclusion_proof_to_pb(
            self.matcher.inclusion_proof(who, request.leaf_index, request.tree_size)
        )

    @status.unary
    def GetEntries(
        self, request: pb.GetEntriesRequest, context: grpc.ServicerContext
    ) -> pb.GetEntriesResponse:
        who = caller(context)
        return wire.entries_to_pb(self.matcher.log_entries(who, request.start, request.end))

    @status.unary
    def GetLogKey(self, request: pb.GetLogKeyRequest, context: grpc.ServicerContext) -> pb.LogKey:
        return wire.log_key_to_pb(self.matcher.log_key())

    @status.unary
    def GetCheckpoint(self, request: pb.GetCheckpointRequest, context: grpc.ServicerContext) -> pb.Checkpoint:
        return wire.checkpoint_to_pb(*self.matcher.checkpoint(request.tree_size))

    @status.unary
    def AddCosignature(
        self, request: pb.AddCosignatureRequest, context: grpc.ServicerContext
    ) -> pb.AddCosignatureResponse:
        tree_size, line = wire.cosignature_request_from_pb(request)
        return wire.cosignature_count_to_pb(self.matcher.add_cosignature(tree_size, line))
