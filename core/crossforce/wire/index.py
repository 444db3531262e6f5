"""Index service messages: the publish stream, its receipt, and every force's index status.

The signed index header itself (the exact bytes a force signs) is ``crossforce.wire.index_header``;
this module only frames it and the bits into the client stream and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from crossforce.domain import IndexStatus, MatcherStatus, PublishReceipt
from crossforce.errors import ValidationError
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import tree_head_from_pb, tree_head_to_pb


def publish_chunks(
    header: bytes, signature: bytes, bits: bytes, *, chunk_bytes: int
) -> Iterator[pb.PublishChunk]:
    """The publish client stream: the signed header first, then the bits in order, ``chunk_bytes`` each."""
    yield pb.PublishChunk(header=pb.SignedIndexHeader(header=header, signature=signature))
    view = memoryview(bits)
    for start in range(0, len(bits), chunk_bytes):
        yield pb.PublishChunk(bits=bytes(view[start : start + chunk_bytes]))


def signed_header_from_chunk(chunk: pb.PublishChunk | None) -> tuple[bytes, bytes]:
    """``(header_bytes, signature)`` from the first chunk of a publish; anything else is a ValidationError."""
    if chunk is None or chunk.WhichOneof("part") != "header":
        raise ValidationError("the first message of a publish must be the signed header")
    return bytes(chunk.header.header), bytes(chunk.header.signature)


def bits_from_chunk(chunk: pb.PublishChunk) -> bytes:
    """The bits a later chunk carries; a second header is a ValidationError."""
    if chunk.WhichOneof("part") != "bits":
        raise ValidationError("only bits may follow the header")
    return bytes(chunk.bits)


def publish_receipt_to_pb(receipt: PublishReceipt) -> pb.PublishResponse:
    return pb.PublishResponse(
        org=receipt.org,
        epoch=receipt.epoch,
        version=receipt.version,
        log_index=receipt.log_index,
        tree_head=tree_head_to_pb(receipt.tree_head),
    )


def publish_receipt_from_pb(msg: pb.PublishResponse) -> PublishReceipt:
    return PublishReceipt(
        org=msg.org,
        epoch=msg.epoch,
        version=msg.version,
        log_index=msg.log_index,
        tree_head=tree_head_from_pb(msg.tree_head),
    )


def index_status_to_pb(s: IndexStatus) -> pb.ForceIndexStatus:
    return pb.ForceIndexStatus(
        org=s.org,
        epoch=s.epoch,
        version=s.version,
        record_count=s.record_count,
        token_count=s.token_count,
        size_bytes=s.size_bytes,
        published_at_ms=s.published_at_ms,
        expires_at_ms=s.expires_at_ms,
        stale=s.stale,
        stale_reason=s.stale_reason,
    )


def index_status_from_pb(msg: pb.ForceIndexStatus) -> IndexStatus:
    return IndexStatus(
        org=msg.org,
        epoch=msg.epoch,
        version=msg.version,
        record_count=msg.record_count,
        token_count=msg.token_count,
        size_bytes=msg.size_bytes,
        published_at_ms=msg.published_at_ms,
        expires_at_ms=msg.expires_at_ms,
        stale=msg.stale,
        stale_reason=msg.stale_reason,
    )


def index_statuses_from_pb(msgs: Iterable[pb.ForceIndexStatus]) -> tuple[IndexStatus, ...]:
    return tuple(index_status_from_pb(m) for m in msgs)


def status_request() -> pb.StatusRequest:
    return pb.StatusRequest()


def matcher_status_to_pb(status: MatcherStatus) -> pb.StatusResponse:
    return pb.StatusResponse(
        indexes=[index_status_to_pb(s) for s in status.indexes],
        current_epoch=status.current_epoch,
        active_epochs=list(status.active_epochs),
        registered_orgs=list(status.registered_orgs),
        expected_orgs=list(status.expected_orgs),
    )


def matcher_status_from_pb(msg: pb.StatusResponse) -> MatcherStatus:
    return MatcherStatus(
        indexes=index_statuses_from_pb(msg.indexes),
        current_epoch=msg.current_epoch,
        active_epochs=tuple(msg.active_epochs),
        registered_orgs=tuple(msg.registered_orgs),
        expected_orgs=tuple(msg.expected_orgs),
    )
