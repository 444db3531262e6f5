"""What a published index must satisfy (``crossforce.server.policy.publish``): bytes in, exceptions out.

The header travels as signed bytes; ``crossforce.wire.index_header`` turns verified bytes into fields.
Each named bad header below is an attack or a mistake the matcher must refuse before reading any bits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import pytest

from crossforce.crypto import envelope
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.errors import (
    PermissionDeniedError,
    PreconditionError,
    TooLargeError,
    ValidationError,
    VerificationError,
)
from crossforce.index import bloom as index
from crossforce.index.partitioned import Partition, PartitionedIndex
from crossforce.limits import DEFAULT_LIMITS
from crossforce.server.policy import publish
from crossforce.server.policy.epochs import EpochRules
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.index_header import (
    IndexHeaderFields,
    encode_index_header,
    parse_index_header,
    parse_index_partitions,
    peek_index_header,
)

NOW = 1_700_000_000_000
DAY_MS = 86_400_000  # written out independently of crossforce.clock
TYPES = bytes([16] * 120 + [26] * 60 + [1] * 20)
TOKENS = [os.urandom(32) for _ in range(len(TYPES))]
BUILT = PartitionedIndex.build(TYPES, TOKENS)
KENT = OrgKeys.generate("kent")
ESSEX = OrgKeys.generate("essex")


def _fields(**change: object) -> IndexHeaderFields:
    good = IndexHeaderFields(
        format_version=index.INDEX_FORMAT_VERSION,
        org="kent",
        epoch=1,
        version=5,
        num_blocks=BUILT.num_blocks,
        num_probes=0,
        token_count=len(TOKENS),
        record_count=50,
        bits_sha256=BUILT.sha256(),
        created_at_ms=NOW,
        expires_at_ms=NOW + DAY_MS,
    )
    return dataclasses.replace(good, **change)  # type: ignore[arg-type]


def _partition(key_type: int, num_blocks: int, num_probes: int, token_count: int) -> Partition:
    params = index.IndexParams(num_blocks=num_blocks, num_probes=num_probes)
    return Partition(key_type=key_type, params=params, token_count=token_count)


def _accept(
    fields: IndexHeaderFields,
    *,
    partitions: tuple[Partition, ...] = BUILT.partitions,
    current_version: int | None = None,
) -> publish.AcceptedHeader:
    raw = encode_index_header(fields, partitions)
    return publish.accept_header(
        parse_index_header(raw),
        partitions=parse_index_partitions(raw),
        header_bytes=raw,
        signature=b"sig",
        caller_org="kent",
        current_version=current_version,
        now_ms=NOW,
        limits=DEFAULT_LIMITS,
        epochs=EpochRules(current=2, retired_through=0),
    )


def test_header_round_trips_through_the_wire() -> None:
    fields = _fields()
    raw = encode_index_header(fields, BUILT.partitions)
    assert parse_index_header(raw) == fields
    assert parse_index_partitions(raw) == BUILT.partitions
    assert [p.key_type for p in BUILT.partitions] == [1, 16, 26]


def test_garbage_header_is_a_validation_error_and_peeks_as_nothing() -> None:
    with pytest.raises(ValidationError):
        parse_index_header(b"\xff\xff\xff")
    with pytest.raises(ValidationError):
        parse_index_partitions(b"\xff\xff\xff")
    assert peek_index_header(b"\xff\xff\xff") is None


def test_good_header_and_bits_are_accepted() -> None:
    accepted = _accept(_fields())
    assert accepted.partitions == BUILT.partitions and accepted.version == 5
    assert accepted.size_bytes == BUILT.size_bytes
    assert publish.verify_bits(accepted, BUILT.to_bytes(), DEFAULT_LIMITS) == BUILT


def test_format_1_client_is_told_to_upgrade() -> None:
    with pytest.raises(PreconditionError, match="upgrade the crossforce client"):
        _accept(_fields(format_version=1))


FIRST, SECOND, THIRD = BUILT.partitions
BAD_HEADERS = {
    "names another organisation": (_fields(org="essex"), PermissionDeniedError),
    "unknown format version": (_fields(format_version=99), ValidationError),
    "epoch zero": (_fields(epoch=0), ValidationError),
    "epoch never activated": (_fields(epoch=3), PreconditionError),
    "version zero": (_fields(version=0), ValidationError),
    "short digest": (_fields(bits_sha256=b"\x00" * 31), ValidationError),
    "total blocks not the partitions' sum": (_fields(num_blocks=BUILT.num_blocks + 1), ValidationError),
    "declared size over the limit, whatever its partitions": (_fields(num_blocks=2**27), TooLargeError),
    "total tokens not the partitions' sum": (_fields(token_count=len(TOKENS) - 1), ValidationError),
    "a shared probe count in format 2": (_fields(num_probes=7), ValidationError),
    "already expired": (_fields(expires_at_ms=NOW), PreconditionError),
    "expiry beyond the longest lifetime": (_fields(expires_at_ms=NOW + 10_000 * DAY_MS), ValidationError),
}


@pytest.mark.parametrize(("fields", "error"), BAD_HEADERS.values(), ids=list(BAD_HEADERS))
def test_bad_header_refused(fields: IndexHeaderFields, error: type[Exception]) -> None:
    with pytest.raises(error):
        _accept(fields)


def _totals(partitions: tuple[Partition, ...]) -> IndexHeaderFields:
    """A header whose totals agree with ``partitions``, so only the partition rule is under test."""
    blocks = sum(p.params.num_blocks for p in partitions)
    return _fields(num_blocks=blocks, token_count=sum(p.token_count for p in partitions))


BAD_PARTITIONS = {
    "no partitions": ((), "at least one partition"),
    "key types out of order": ((SECOND, FIRST, THIRD), "key type 1 is out of order"),
    "a key type twice": ((FIRST, SECOND, SECOND), "key type 16 repeats"),
    "an unknown key type": ((FIRST, _partition(99, 2, 10, 20)), "key type 99 is not in the spec"),
    "the withdrawn fragment_postcode": ((FIRST, _partition(22, 2, 10, 20)), "key type 22"),
    "a partition far too small for its tokens": (
        (FIRST, _partition(16, 1, 10, 10**5)),
        "partition for key type 16 refused",
    ),
}


@pytest.mark.parametrize(("partitions", "message"), BAD_PARTITIONS.values(), ids=list(BAD_PARTITIONS))
def test_bad_partitions_refused_naming_the_partition(partitions: tuple[Partition, ...], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _accept(_totals(partitions), partitions=partitions)


MALFORMED = {
    "too many probes": ((16, 5, index.MAX_PROBES + 1, 20), "num_probes"),
    "no probes": ((16, 5, 0, 20), "num_probes"),
    "no blocks": ((16, 0, 5, 20), "num_blocks"),
    "no tokens": ((16, 1, 5, 0), "token_count"),
    "key type 0": ((0, 1, 5, 3), "key_type"),
}


@pytest.mark.parametrize(("raw", "field"), MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_partition_refused_naming_it(raw: tuple[int, int, int, int], field: str) -> None:
    key_type, num_blocks, num_probes, token_count = raw
    msg = pb.IndexHeader.FromString(encode_index_header(_fields(), BUILT.partitions))
    msg.partitions.add(
        key_type=key_type, num_blocks=num_blocks, num_probes=num_probes, token_count=token_count
    )
    with pytest.raises(ValidationError, match=f"index partition 3 .key type {key_type}.: {field}"):
        parse_index_partitions(msg.SerializeToString())


def test_declared_size_over_the_limit_refused() -> None:
    huge = (_partition(16, DEFAULT_LIMITS.max_index_bytes // index.BLOCK_BYTES + 1, 20, 10),)
    with pytest.raises(TooLargeError):
        _accept(_totals(huge), partitions=huge)


@pytest.mark.parametrize("current", [5, 6], ids=["replay", "rollback"])
def test_version_not_newer_than_serving_refused(current: int) -> None:
    with pytest.raises(PreconditionError, match="rollback or replay"):
        _accept(_fields(), current_version=current)


def test_oversized_header_refused_before_anything_else() -> None:
    with pytest.raises(TooLargeError):
        publish.check_header_size(b"\x00" * (DEFAULT_LIMITS.max_index_header_bytes + 1), DEFAULT_LIMITS)
    publish.check_header_size(b"\x00" * DEFAULT_LIMITS.max_index_header_bytes, DEFAULT_LIMITS)


def _verify_signature(signer: OrgKeys, *, registered: bytes | None, declared_org: str | None) -> None:
    raw = encode_index_header(_fields())
    publish.verify_signature(
        header_bytes=raw,
        signature=envelope.sign(envelope.INDEX_HEADER_CONTEXT, raw, signer.signing),
        caller_org="kent",
        registered_signing_key=registered,
        declared_org=declared_org,
    )


def test_header_signed_by_the_registered_key_verifies() -> None:
    _verify_signature(KENT, registered=KENT.signing_public, declared_org="kent")


def test_unregistered_organisation_cannot_publish() -> None:
    with pytest.raises(PreconditionError, match="register"):
        _verify_signature(KENT, registered=None, declared_org="kent")


def test_header_signed_by_another_forces_key_refused() -> None:
    with pytest.raises(VerificationError):
        _verify_signature(ESSEX, registered=KENT.signing_public, declared_org="kent")


def test_stolen_certificate_publishing_another_forces_header_is_a_permission_problem() -> None:
    with pytest.raises(PermissionDeniedError):
        _verify_signature(ESSEX, registered=KENT.signing_public, declared_org="essex")


def test_bits_that_do_not_match_the_signed_digest_refused() -> None:
    accepted = _accept(_fields())
    bits = bytearray(BUILT.to_bytes())
    bits[0] ^= 1
    with pytest.raises(ValidationError, match="SHA-256"):
        publish.verify_bits(accepted, bytes(bits), DEFAULT_LIMITS)
    with pytest.raises(ValidationError, match="bytes of index bits"):
        publish.verify_bits(accepted, BUILT.to_bytes()[:-1], DEFAULT_LIMITS)


def test_one_saturated_partition_refused_naming_it() -> None:
    """A force that fills one partition (say name_dob) hits on everyone's name_dob: refused on its own."""
    words = BUILT.words.copy()
    start = BUILT.partition_starts()[1] * index.BLOCK_WORDS
    words[start : start + SECOND.params.num_blocks * index.BLOCK_WORDS] = 2**64 - 1
    bits = words.tobytes()
    accepted = _accept(_fields(bits_sha256=hashlib.sha256(bits).digest()))
    with pytest.raises(ValidationError, match=r"partition for key type 16.*saturated"):
        publish.verify_bits(accepted, bits, DEFAULT_LIMITS)


def test_bits_per_record_allows_one_block_per_partition_and_no_more() -> None:
    """A one-record index has a block for each key type it holds: honest, not refused; anything bigger is."""
    one_record = PartitionedIndex.build(bytes(range(16, 26)), [os.urandom(32) for _ in range(10)])
    assert one_record.size_bytes * 8 > 4096  # over the per-record budget on its own, by geometry alone
    publish.check_bits_per_record(one_record.size_bytes, 1, 4096, partitions=len(one_record.partitions))
    with pytest.raises(TooLargeError, match="bits for each"):
        publish.check_bits_per_record(one_record.size_bytes + 1, 1, 4096 - 10 * 512, partitions=10)
    with pytest.raises(TooLargeError, match="bits for each"):
        publish.check_bits_per_record(4096 // 8 + index.BLOCK_BYTES + 1, 1, 4096, partitions=1)
