"""What a published index must satisfy before it may replace the one serving (docs/threat-model.md).

Pure: the publishing use case hands in the signed header bytes, the registered key, the current version
and the header's fields (parsed by ``crossforce.wire.index_header`` only after ``verify_signature``
passed). Everything that can be decided from the header (identity, format, partitions, declared size,
version, expiry) is decided here, before any chunk is read; ``verify_bits`` decides the rest once the bits
are in. Index format 2 (``crossforce.index.partitioned``): each partition is checked on its own (known key
type, parameters, FPR at its declared count, fill), and refusals name the partition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from crossforce.clock import DAY_S, SECOND_MS
from crossforce.crypto import envelope
from crossforce.domain import IndexHeaderFields
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.errors import (
    PermissionDeniedError,
    PreconditionError,
    TooLargeError,
    ValidationError,
    VerificationError,
)
from crossforce.index import bloom as index
from crossforce.index.params import FORMAT_1
from crossforce.index.partitioned import Partition, PartitionedIndex, check_layout
from crossforce.limits import Limits
from crossforce.server.policy.epochs import EpochRules

BITS_SHA256_BYTES = 32


@dataclass(frozen=True, kw_only=True)
class AcceptedHeader:
    org: str
    epoch: int
    version: int
    partitions: tuple[Partition, ...]
    token_count: int
    record_count: int
    bits_sha256: bytes
    created_at_ms: int
    expires_at_ms: int
    header_bytes: bytes
    signature: bytes

    @property
    def num_blocks(self) -> int:
        return sum(p.params.num_blocks for p in self.partitions)

    @property
    def size_bytes(self) -> int:
        return self.num_blocks * index.BLOCK_BYTES


def check_header_size(header_bytes: bytes, limits: Limits) -> None:
    """Refuse an oversized header before anything else is done with it (it is not even logged)."""
    if len(header_bytes) > limits.max_index_header_bytes:
        raise TooLargeError(f"index header is larger than {limits.max_index_header_bytes} bytes")


def verify_signature(
    *,
    header_bytes: bytes,
    signature: bytes,
    caller_org: str,
    registered_signing_key: bytes | None,
    declared_org: str | None,
) -> None:
    """The header bytes are signed by the caller's registered key; raise otherwise.

    ``declared_org`` is the organisation the unverified header names (None if it does not parse); it only
    chooses the refusal: a header naming another organisation is a permission problem whoever signed it
    (e.g. another force's key with a stolen certificate).
    """
    if registered_signing_key is None:
        raise PreconditionError(f"organisation {caller_org} has not registered its keys; run register first")
    try:
        envelope.verify(envelope.INDEX_HEADER_CONTEXT, header_bytes, signature, registered_signing_key)
    except VerificationError:
        if declared_org and declared_org != caller_org:
            raise PermissionDeniedError(
                f"certificate is for {caller_org} but the index header names another organisation"
            ) from None
        raise


def accept_header(
    header: IndexHeaderFields,
    *,
    partitions: tuple[Partition, ...],
    header_bytes: bytes,
    signature: bytes,
    caller_org: str,
    current_version: int | None,
    now_ms: int,
    limits: Limits,
    epochs: EpochRules | None = None,
    max_bits_per_record: int | None = None,
) -> AcceptedHeader:
    """Every rule decidable from a header whose signature ``verify_signature`` accepted.

    ``partitions``: what the header declares (``wire.index_header.parse_index_partitions``).
    ``epochs``: the operator's epoch state; a publish under an epoch it has not activated, or has retired,
    is refused (issue 15 item 3: a force publishing under made-up epochs retired everyone else's).
    ``max_bits_per_record`` (settings ``max_index_bits_per_record``) caps the declared size relative to
    the declared record count, so one force cannot make the matcher hold a huge, nearly empty filter
    (issue 15, item 11); ``limits.max_index_bytes`` caps it whatever is declared."""
    if header.org != caller_org:
        raise PermissionDeniedError(
            f"certificate is for {caller_org} but the index header names another organisation"
        )
    check_format(header.format_version)
    if header.epoch < 1:
        raise ValidationError("epoch must be >= 1")
    if epochs is not None:
        epochs.check_publish(header.epoch)
    if header.version < 1:
        raise ValidationError("version must be >= 1")
    if len(header.bits_sha256) != BITS_SHA256_BYTES:
        raise ValidationError("bits_sha256 must be 32 bytes")
    # The declared size first (the totals are checked against the partitions next): an oversized index
    # is a resource problem whatever else is wrong with its header.
    size_bytes = header.num_blocks * index.BLOCK_BYTES
    if size_bytes > limits.max_index_bytes:
        raise TooLargeError(
            f"declared index of {size_bytes} bytes exceeds the limit of {limits.max_index_bytes} bytes"
        )
    if max_bits_per_record is not None:
        check_bits_per_record(
            size_bytes, header.record_count, max_bits_per_record, partitions=len(partitions)
        )
    check_partitions(header, partitions, limits)
    if current_version is not None and header.version <= current_version:
        raise PreconditionError(
            f"index version {header.version} is not newer than the serving version {current_version} "
            f"for epoch {header.epoch} (rollback or replay refused)"
        )
    if header.expires_at_ms <= now_ms:
        raise PreconditionError("index has already expired; set an expiry in the future")
    if header.expires_at_ms > now_ms + limits.max_index_lifetime_s * SECOND_MS:
        raise ValidationError(f"expiry is more than {limits.max_index_lifetime_s // DAY_S} days ahead")
    return AcceptedHeader(
        org=header.org,
        epoch=header.epoch,
        version=header.version,
        partitions=partitions,
        token_count=header.token_count,
        record_count=header.record_count,
        bits_sha256=header.bits_sha256,
        created_at_ms=header.created_at_ms,
        expires_at_ms=header.expires_at_ms,
        header_bytes=header_bytes,
        signature=signature,
    )


def check_format(format_version: int) -> None:
    """Format 2 only. Format 1 is a client older than spec v2: FAILED_PRECONDITION telling it to upgrade."""
    if format_version == FORMAT_1:
        raise PreconditionError(
            f"index format {FORMAT_1} (spec v1) is no longer accepted: upgrade the crossforce client, which "
            f"builds format {index.INDEX_FORMAT_VERSION} (one partition per key type), and publish again"
        )
    if format_version != index.INDEX_FORMAT_VERSION:
        raise ValidationError(
            f"index format version {format_version} is not supported (expected {index.INDEX_FORMAT_VERSION})"
        )


def check_partitions(header: IndexHeaderFields, partitions: tuple[Partition, ...], limits: Limits) -> None:
    """Known key types, strictly ascending; each partition's parameters and FPR at its declared count
    within limits; the header's totals are the partitions' sums (num_probes 0: each has its own)."""
    check_layout(partitions)
    for partition in partitions:
        name = f"index partition for key type {partition.key_type}"
        if partition.key_type not in KEY_TYPES:
            raise ValidationError(f"{name}: key type {partition.key_type} is not in the spec's key table")
        try:
            index.check_declared(partition.params, partition.token_count, limits=limits)
        except ValidationError as exc:
            raise ValidationError(
                f"{name} refused: {exc}; rebuild with crossforce's parameter choice"
            ) from exc
    blocks = sum(p.params.num_blocks for p in partitions)
    tokens = sum(p.token_count for p in partitions)
    if header.num_blocks != blocks:
        raise ValidationError(f"num_blocks {header.num_blocks} is not the partitions' total {blocks}")
    if header.token_count != tokens:
        raise ValidationError(f"token_count {header.token_count} is not the partitions' total {tokens}")
    if header.num_probes != 0:
        raise ValidationError("num_probes must be 0 in format 2 (each partition declares its own)")


def check_bits_per_record(
    size_bytes: int, record_count: int, max_bits_per_record: int, *, partitions: int = 1
) -> None:
    """Refuse a declared index bigger than ``max_bits_per_record`` bits for each record it declares, plus
    one block per partition: a partition is at least one block however few tokens it holds, so a small
    honest index (one record: a block for each of its ~10 key types) is not refused for its geometry."""
    if record_count < 1:
        raise ValidationError("record_count must be >= 1")
    allowed = max_bits_per_record * record_count + partitions * index.BLOCK_BITS
    if size_bytes * 8 > allowed:
        raise TooLargeError(
            f"declared index of {size_bytes} bytes is more than {max_bits_per_record} bits for each of its "
            f"{record_count} records (plus a block per partition); rebuild with crossforce's parameter choice"
        )


def verify_bits(header: AcceptedHeader, bits: bytes | memoryview, limits: Limits) -> PartitionedIndex:
    """Digest, exact length and, per partition, a fill ratio consistent with its declared token count."""
    if len(bits) != header.size_bytes:
        raise ValidationError(
            f"received {len(bits)} bytes of index bits, header declares {header.size_bytes}"
        )
    if hashlib.sha256(bits).digest() != header.bits_sha256:
        raise ValidationError("SHA-256 of the received bits does not match the signed header")
    partitioned = PartitionedIndex.from_bytes(header.partitions, bits)
    for partition, bloom in partitioned.filters():
        try:
            index.check_fill(bloom, partition.token_count, limits=limits)
        except ValidationError as exc:
            raise ValidationError(
                f"index partition for key type {partition.key_type}: {exc}: a saturated or mis-sized filter "
                "is refused"
            ) from exc
    return partitioned
