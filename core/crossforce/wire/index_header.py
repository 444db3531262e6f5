"""The signed index header: the exact bytes a force signs, to and from a plain frozen value.

Why here: the header is a protobuf message (``crossforce.v2.IndexHeader``), and only ``crossforce.wire``
may touch protobuf. The publish rules (``crossforce.server.policy.publish``) receive the domain's
``IndexHeaderFields`` and never see a message. Invariants:

- ``parse_index_header`` is called on bytes whose signature has already been verified (sign bytes, never
  re-serialised messages); ``peek_index_header`` is the one exception, for choosing which refusal to give
  and for routing, and its answer is never trusted.
- Parsing raises only ``ValidationError``, never ``DecodeError`` or ``ValueError``.
- Format 2's partitions (``IndexHeader.partitions``) are read by ``parse_index_partitions`` into the index
  package's ``Partition`` values (the domain's ``IndexHeaderFields`` carries the totals only).
- ``encode_index_header(parse_index_header(b))`` need not equal ``b`` (protobuf is not canonical), which
  is why the signed bytes, not the value, are what is stored and verified.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from crossforce.domain import IndexHeaderFields
from crossforce.errors import ValidationError
from crossforce.index.bloom import INDEX_FORMAT_VERSION, IndexParams
from crossforce.index.partitioned import Partition, PartitionedIndex
from crossforce.v2 import crossforce_pb2 as pb


def _message(header_bytes: bytes) -> pb.IndexHeader:
    msg = pb.IndexHeader()
    try:
        msg.ParseFromString(header_bytes)
    except DecodeError as exc:
        raise ValidationError("index header is not a valid IndexHeader message") from exc
    return msg


def parse_index_header(header_bytes: bytes) -> IndexHeaderFields:
    """The fields of a serialised ``IndexHeader``; ValidationError if the bytes are not one."""
    msg = _message(header_bytes)
    return IndexHeaderFields(
        format_version=msg.format_version,
        org=msg.org,
        epoch=msg.epoch,
        version=msg.version,
        num_blocks=msg.num_blocks,
        num_probes=msg.num_probes,
        token_count=msg.token_count,
        record_count=msg.record_count,
        bits_sha256=bytes(msg.bits_sha256),
        created_at_ms=msg.created_at_ms,
        expires_at_ms=msg.expires_at_ms,
    )


def parse_index_partitions(header_bytes: bytes) -> tuple[Partition, ...]:
    """The partitions a serialised ``IndexHeader`` declares, in its order (empty for format 1).

    ValidationError naming the partition (position and key type) if one is malformed; the order, the
    totals and the FPR are the publish rules' to check."""
    out = []
    for position, msg in enumerate(_message(header_bytes).partitions):
        try:
            params = IndexParams(num_blocks=msg.num_blocks, num_probes=msg.num_probes)
            out.append(Partition(key_type=msg.key_type, params=params, token_count=msg.token_count))
        except ValidationError as exc:
            raise ValidationError(f"index partition {position} (key type {msg.key_type}): {exc}") from exc
    return tuple(out)


def peek_index_header(header_bytes: bytes) -> IndexHeaderFields | None:
    """The fields of unverified header bytes, or None if they do not parse. Never trust the answer."""
    try:
        return parse_index_header(header_bytes)
    except ValidationError:
        return None


def encode_index_header(fields: IndexHeaderFields, partitions: tuple[Partition, ...] = ()) -> bytes:
    """The bytes a force signs for ``fields`` and its index's ``partitions`` (format 2)."""
    return pb.IndexHeader(
        format_version=fields.format_version,
        org=fields.org,
        epoch=fields.epoch,
        version=fields.version,
        num_blocks=fields.num_blocks,
        num_probes=fields.num_probes,
        token_count=fields.token_count,
        record_count=fields.record_count,
        bits_sha256=fields.bits_sha256,
        created_at_ms=fields.created_at_ms,
        expires_at_ms=fields.expires_at_ms,
        partitions=[
            pb.IndexPartition(
                key_type=p.key_type,
                num_blocks=p.params.num_blocks,
                num_probes=p.params.num_probes,
                token_count=p.token_count,
            )
            for p in partitions
        ],
    ).SerializeToString()


def header_for_index(
    built: PartitionedIndex,
    *,
    org: str,
    epoch: int,
    version: int,
    token_count: int,
    record_count: int,
    created_at_ms: int,
    expires_at_ms: int,
) -> bytes:
    """The header bytes that describe ``built`` (its blocks, digest and partitions) for a publish: one
    place for what a force signs, whether its client or a test that publishes without one builds it."""
    return encode_index_header(
        IndexHeaderFields(
            format_version=INDEX_FORMAT_VERSION,
            org=org,
            epoch=epoch,
            version=version,
            num_blocks=built.num_blocks,
            num_probes=0,  # format 2: each partition declares its own
            token_count=token_count,
            record_count=record_count,
            bits_sha256=built.sha256(),
            created_at_ms=created_at_ms,
            expires_at_ms=expires_at_ms,
        ),
        built.partitions,
    )
