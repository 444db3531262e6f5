"""What a published index must satisfy before it may replace the one serving (docs/threat-model.md).

Pure: the publishing use case hands in the signed header bytes, the registered key, the current version
and the header's fields (parsed by ``crossforce.wire.index_header`` only after ``verify_signature``
passed). Everything that can be decided from the header (identity, parameters, declared size, version,
expiry) is decided here, before any chunk is read; ``verify_bits`` decides the rest once the bits are in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from crossforce.clock import DAY_S, SECOND_MS
from crossforce.crypto import envelope
from crossforce.domain import IndexHeaderFields
from crossforce.errors import (
    PermissionDeniedError,
    PreconditionError,
    TooLargeError,
    ValidationError,
    VerificationError,
)
from crossforce.index import bloom as index
from crossforce.limits import Limits

BITS_SHA256_BYTES = 32


@dataclass(frozen=True, kw_only=True)
class AcceptedHeader:
    org: str
    epoch: int
    version: int
    params: index.IndexParams
    token_count: int
    record_count: int
    bits_sha256: bytes
    created_at_ms: int
    expires_at_ms: int
    header_bytes: bytes
    signature: bytes


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
    header_bytes: bytes,
    signature: bytes,
    caller_org: str,
    current_version: int | None,
    now_ms: int,
    limits: Limits,
    max_epoch: int | None = None,
    max_bits_per_record: int | None = None,
) -> AcceptedHeader:
    """Every rule decidable from a header whose signature ``verify_signature`` accepted.

    ``max_bits_per_record`` (settings ``max_index_bits_per_record``) caps the declared size relative to
    the declared record count, so one force cannot make the matcher hold a huge, nearly empty filter
    (issue 15, item 11); ``limits.max_index_bytes`` caps it whatever is declared."""
    if header.org != caller_org:
        raise PermissionDeniedError(
            f"certificate is for {caller_org} but the index header names another organisation"
        )
    if header.format_version != index.INDEX_FORMAT_VERSION:
        raise ValidationError(
            f"index format version {header.format_version} is not supported "
            f"(expected {index.INDEX_FORMAT_VERSION})"
        )
    if header.epoch < 1:
        raise ValidationError("epoch must be >= 1")
    if max_epoch is not None and header.epoch > max_epoch:
        # Retirement is sticky: one force jumping far ahead would retire every other force's epoch.
        raise PreconditionError(
            f"epoch {header.epoch} is ahead of the network: the epochs in use allow at most {max_epoch}"
        )
    if header.version < 1:
        raise ValidationError("version must be >= 1")
    if len(header.bits_sha256) != BITS_SHA256_BYTES:
        raise ValidationError("bits_sha256 must be 32 bytes")
    if header.num_blocks < 1 or header.num_blocks > index.MAX_BLOCKS:
        raise ValidationError(f"num_blocks must be in [1, {index.MAX_BLOCKS}]")
    if not 1 <= header.num_probes <= index.MAX_PROBES:
        raise ValidationError(f"num_probes must be in [1, {index.MAX_PROBES}]")
    params = index.IndexParams(num_blocks=header.num_blocks, num_probes=header.num_probes)
    if params.size_bytes > limits.max_index_bytes:
        raise TooLargeError(
            f"declared index of {params.size_bytes} bytes exceeds the limit of {limits.max_index_bytes} bytes"
        )
    if max_bits_per_record is not None:
        check_bits_per_record(params.size_bytes, header.record_count, max_bits_per_record)
    if header.token_count < 1:
        raise ValidationError("token_count must be >= 1")
    try:
        index.check_declared(params, header.token_count, limits=limits)
    except ValidationError as exc:
        raise ValidationError(
            f"index parameters refused: {exc}; rebuild with crossforce's parameter choice"
        ) from exc
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
        params=params,
        token_count=header.token_count,
        record_count=header.record_count,
        bits_sha256=header.bits_sha256,
        created_at_ms=header.created_at_ms,
        expires_at_ms=header.expires_at_ms,
        header_bytes=header_bytes,
        signature=signature,
    )


def check_bits_per_record(size_bytes: int, record_count: int, max_bits_per_record: int) -> None:
    """Refuse a declared index bigger than ``max_bits_per_record`` bits for each record it declares."""
    if record_count < 1:
        raise ValidationError("record_count must be >= 1")
    if size_bytes * 8 > max_bits_per_record * record_count:
        raise TooLargeError(
            f"declared index of {size_bytes} bytes is more than {max_bits_per_record} bits for each of its "
            f"{record_count} records; rebuild with crossforce's parameter choice"
        )


def verify_bits(header: AcceptedHeader, bits: bytes, limits: Limits) -> index.BloomIndex:
    """Digest, exact length and a fill ratio consistent with the declared token count."""
    if len(bits) != header.params.size_bytes:
        raise ValidationError(
            f"received {len(bits)} bytes of index bits, header declares {header.params.size_bytes}"
        )
    if hashlib.sha256(bits).digest() != header.bits_sha256:
        raise ValidationError("SHA-256 of the received bits does not match the signed header")
    bloom = index.BloomIndex.from_bytes(header.params, bits)
    try:
        index.check_fill(bloom, header.token_count, limits=limits)
    except ValidationError as exc:
        raise ValidationError(f"{exc}: a saturated or mis-sized filter is refused") from exc
    return bloom
