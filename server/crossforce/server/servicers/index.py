"""Index service: the publish stream and every force's index status."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from crossforce.crypto import pki
from crossforce.domain import MatcherStatus, PublishReceipt
from crossforce.errors import TooLargeError, ValidationError
from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.server.servicers.streams import StreamSlots
from crossforce.v1 import crossforce_pb2 as pb
from crossforce.v1 import crossforce_pb2_grpc as rpc
from crossforce.wire import index as wire


class IndexServicer(rpc.IndexServicer):
    def __init__(self, matcher: Matcher, *, slots: StreamSlots) -> None:
        self.matcher = matcher
        self.slots = slots

    def Publish(
        self, request_iterator: Iterator[pb.PublishChunk], context: grpc.ServicerContext
    ) -> pb.PublishResponse:
        try:
            who = caller(context)
            self.slots.take()
            try:
                return self._publish(who, request_iterator, context)
            finally:
                self.slots.give_back()
        except grpc.RpcError:
            raise  # the client cancelled or its deadline passed mid-stream: nothing to answer
        except Exception as exc:
            if status.already_aborted(exc):
                raise
            status.abort(context, exc)

    def _publish(
        self, who: pki.Identity, chunks: Iterator[pb.PublishChunk], context: grpc.ServicerContext
    ) -> pb.PublishResponse:
        header_bytes, signature = wire.signed_header_from_chunk(next(chunks, None))
        header = self.matcher.begin_publish(who, header_bytes, signature)
        expected = header.params.size_bytes
        max_chunk = self.matcher.limits.max_chunk_bytes
        buf = bytearray()
        for chunk in chunks:
            bits = wire.bits_from_chunk(chunk)
            if len(bits) > max_chunk:
                raise TooLargeError(f"chunk exceeds {max_chunk} bytes")
            if len(buf) + len(bits) > expected:
                raise ValidationError(f"more index bits than the {expected} bytes the header declares")
            buf += bits
        if not context.is_active():
            raise ValidationError(
                "publish was cancelled before it completed; the previous index still serves"
            )
        row, head = self.matcher.finish_publish(who, header, bytes(buf))
        return wire.publish_receipt_to_pb(
            PublishReceipt(
                org=row.org, epoch=row.epoch, version=row.version, log_index=row.log_index, tree_head=head
            )
        )

    @status.unary
    def Status(self, request: pb.StatusRequest, context: grpc.ServicerContext) -> pb.StatusResponse:
        return wire.matcher_status_to_pb(
            MatcherStatus(
                indexes=tuple(self.matcher.status()),
                current_epoch=self.matcher.current_epoch(),
                active_epochs=tuple(self.matcher.active_epochs()),
                registered_orgs=tuple(self.matcher.registered_orgs()),
            )
        )
