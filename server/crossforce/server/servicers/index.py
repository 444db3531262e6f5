"""Index service: the publish stream and every force's index status."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from crossforce.crypto import pki
from crossforce.errors import ValidationError
from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.server.servicers.streams import StreamSlots
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
from crossforce.wire import index as wire


class IndexServicer(rpc.IndexServicer):
    def __init__(self, matcher: Matcher, *, slots: StreamSlots) -> None:
        self.matcher = matcher
        self.slots = slots

    @status.stream_unary
    def Publish(
        self, request_iterator: Iterator[pb.PublishChunk], context: grpc.ServicerContext
    ) -> pb.PublishResponse:
        who = caller(context)
        self.slots.take()
        try:
            return self._publish(who, request_iterator, context)
        finally:
            self.slots.give_back()

    def _publish(
        self, who: pki.Identity, chunks: Iterator[pb.PublishChunk], context: grpc.ServicerContext
    ) -> pb.PublishResponse:
        header_bytes, signature = wire.signed_header_from_chunk(next(chunks, None))
        header = self.matcher.begin_publish(who, header_bytes, signature)
        buf = bytearray()
        for chunk in chunks:
            bits = wire.bits_from_chunk(chunk)
            self.matcher.check_publish_chunk(header, len(buf), bits)
            buf += bits
        if not context.is_active():
            raise ValidationError(
                "publish was cancelled before it completed; the previous index still serves"
            )
        return wire.publish_receipt_to_pb(self.matcher.finish_publish(who, header, bytes(buf)))

    @status.unary
    def Status(self, request: pb.StatusRequest, context: grpc.ServicerContext) -> pb.StatusResponse:
        return wire.matcher_status_to_pb(self.matcher.matcher_status())
