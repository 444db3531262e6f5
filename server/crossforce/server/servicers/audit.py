"""Audit service: tree heads, proofs and entries, each entry's bytes only where the caller may read them."""

from __future__ import annotations

import grpc

from crossforce.domain import ConsistencyProof, InclusionProof, LogEntry, LogKey
from crossforce.errors import TooLargeError, ValidationError
from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.v1 import crossforce_pb2 as pb
from crossforce.v1 import crossforce_pb2_grpc as rpc
from crossforce.wire import audit as wire
from crossforce.wire.common import tree_head_to_pb

LOG_ID_HEX_CHARS = 16
"""A log's id is the first 64 bits of its public key, in hex."""


class AuditServicer(rpc.AuditServicer):
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    @status.unary
    def GetTreeHead(self, request: pb.GetTreeHeadRequest, context: grpc.ServicerContext) -> pb.SignedTreeHead:
        return tree_head_to_pb(self.matcher.audit.head)

    @status.unary
    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.ConsistencyProof:
        hashes = self.matcher.audit.consistency_proof(request.first, request.second)
        return wire.consistency_proof_to_pb(
            ConsistencyProof(first=request.first, second=request.second, hashes=tuple(hashes))
        )

    @status.unary
    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.InclusionProof:
        who = caller(context)
        hashes = self.matcher.audit.inclusion_proof(request.leaf_index, request.tree_size)
        entries = self.matcher.audit.entries(request.leaf_index, request.leaf_index + 1)
        entry = self.matcher.readable_entry(who, entries[0][1]) if entries else b""
        return wire.inclusion_proof_to_pb(
            InclusionProof(
                leaf_index=request.leaf_index, tree_size=request.tree_size, hashes=tuple(hashes), entry=entry
            )
        )

    @status.unary
    def GetEntries(
        self, request: pb.GetEntriesRequest, context: grpc.ServicerContext
    ) -> pb.GetEntriesResponse:
        who = caller(context)
        size = self.matcher.audit.size
        if not request.start <= request.end <= size:
            raise ValidationError(f"entries range must satisfy start <= end <= {size} (the log size)")
        limit = self.matcher.limits.max_entries_per_fetch
        if request.end - request.start > limit:
            raise TooLargeError(f"at most {limit} entries per call; page through the log")
        rows = self.matcher.audit.entries(request.start, request.end)
        return wire.entries_to_pb(
            LogEntry(index=i, leaf_hash=leaf, entry=self.matcher.readable_entry(who, entry))
            for i, entry, leaf in rows
        )

    @status.unary
    def GetLogKey(self, request: pb.GetLogKeyRequest, context: grpc.ServicerContext) -> pb.LogKey:
        key = self.matcher.audit.public_key
        return wire.log_key_to_pb(LogKey(public_key=key, log_id=key.hex()[:LOG_ID_HEX_CHARS]))
