"""Index service: the publish stream and every force's index status."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np

from crossforce.crypto import pki
from crossforce.errors import UnavailableError, ValidationError
from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.server.policy.publish import AcceptedHeader
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
        bits = self._receive(header, chunks)
        if not context.is_active():
            raise ValidationError(
                "publish was cancelled before it completed; the previous index still serves"
            )
        return wire.publish_receipt_to_pb(self.matcher.finish_publish(who, header, bits))

    def _receive(self, header: AcceptedHeader, chunks: Iterator[pb.PublishChunk]) -> memoryview:
        """The chunks' bytes, received into one buffer allocated once at the size the signed header
        declares (already within limits), and returned as a read-only view of what arrived.

        Why: growing a ``bytearray`` and then copying it to ``bytes`` held two or three copies of the
        largest force's index at once (issue 20: RSS 1.75x index bytes at a 10M-record republish). The
        buffer is a numpy array, so the snapshot serves these very words (a force with a segment of its
        own) or copies them once (a shared segment); it is made read-only before verification, so the
        bits verified are the bits served. Pages are only touched as chunks arrive; a short publish
        returns only what arrived (and is refused for its length), an overlong chunk is refused by
        ``check_publish_chunk`` before it is written."""
        try:
            words = np.empty(header.size_bytes, dtype=np.uint8)
        except MemoryError:  # a host that does not overcommit: say so, as storage that is full would
            raise UnavailableError(
                "the matcher cannot reserve memory for this index now; the previous index still serves, "
                "retry later"
            ) from None
        received = 0
        with words.data.cast("B") as into:
            for chunk in chunks:
                bits = wire.bits_from_chunk(chunk)
                self.matcher.check_publish_chunk(header, received, bits)
                into[received : received + len(bits)] = bits
                received += len(bits)
        words.flags.writeable = False
        return words.data.cast("B")[:received]

    @status.unary
    def Status(self, request: pb.StatusRequest, context: grpc.ServicerContext) -> pb.StatusResponse:
        return wire.matcher_status_to_pb(self.matcher.matcher_status())
