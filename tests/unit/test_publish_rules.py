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
from crossforce.limits import DEFAULT_LIMITS
from crossforce.server.policy import publish
from crossforce.wire.index_header import (
    IndexHeaderFields,
    encode_index_header,
    parse_index_header,
    peek_index_header,
)

NOW = 1_700_000_000_000
DAY_MS = 86_400_000  # written out independently of crossforce.clock
TOKENS = [os.urandom(32) for _ in range(200)]
BLOOM = index.BloomIndex.build(TOKENS, index.choose_params(len(TOKENS)))
KENT = OrgKeys.generate("kent")
ESSEX = OrgKeys.generate("essex")


def _fields(**change: object) -> IndexHeaderFields:
    good = IndexHeaderFields(
        format_version=index.INDEX_FORMAT_VERSION,
        org="kent",
        epoch=1,
        version=5,
        num_blocks=BLOOM.params.num_blocks,
        num_probes=BLOOM.params.num_probes,
        token_count=len(TOKENS),
        record_count=50,
        bits_sha256=BLOOM.sha256(),
        created_at_ms=NOW,
        expires_at_ms=NOW + DAY_MS,
    )
    return dataclasses.replace(good, **change)  # type: ignore[arg-type]


def _accept(fields: IndexHeaderFields, *, current_version: int | None = None) -> publish.AcceptedHeader:
    raw = encode_index_header(fields)
    return publish.accept_header(
        parse_index_header(raw),
        header_bytes=raw,
        signature=b"sig",
        caller_org="kent",
        current_version=current_version,
        now_ms=NOW,
        limits=DEFAULT_LIMITS,
        max_epoch=2,
    )


def test_header_round_trips_through_the_wire() -> None:
    fields = _fields()
    assert parse_index_header(encode_index_header(fields)) == fields


def test_garbage_header_is_a_validation_error_and_peeks_as_nothing() -> None:
    with pytest.raises(ValidationError):
        parse_index_header(b"\xff\xff\xff")
    assert peek_index_header(b"\xff\xff\xff") is None


def test_good_header_and_bits_are_accepted() -> None:
    accepted = _accept(_fields())
    assert accepted.params == BLOOM.params and accepted.version == 5
    assert publish.verify_bits(accepted, BLOOM.to_bytes(), DEFAULT_LIMITS).to_bytes() == BLOOM.to_bytes()


BAD_HEADERS = {
    "names another organisation": (_fields(org="essex"), PermissionDeniedError),
    "unknown format version": (_fields(format_version=99), ValidationError),
    "epoch zero": (_fields(epoch=0), ValidationError),
    "epoch far ahead of the network": (_fields(epoch=3), PreconditionError),
    "version zero": (_fields(version=0), ValidationError),
    "short digest": (_fields(bits_sha256=b"\x00" * 31), ValidationError),
    "no blocks": (_fields(num_blocks=0), ValidationError),
    "too many probes": (_fields(num_probes=index.MAX_PROBES + 1), ValidationError),
    "no tokens": (_fields(token_count=0), ValidationError),
    "filter far too small for its tokens": (_fields(token_count=10**7), ValidationError),
    "already expired": (_fields(expires_at_ms=NOW), PreconditionError),
    "expiry beyond the longest lifetime": (_fields(expires_at_ms=NOW + 10_000 * DAY_MS), ValidationError),
}


@pytest.mark.parametrize(("fields", "error"), BAD_HEADERS.values(), ids=list(BAD_HEADERS))
def test_bad_header_refused(fields: IndexHeaderFields, error: type[Exception]) -> None:
    with pytest.raises(error):
        _accept(fields)


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
    bits = bytearray(BLOOM.to_bytes())
    bits[0] ^= 1
    with pytest.raises(ValidationError, match="SHA-256"):
        publish.verify_bits(accepted, bytes(bits), DEFAULT_LIMITS)
    with pytest.raises(ValidationError, match="bytes of index bits"):
        publish.verify_bits(accepted, BLOOM.to_bytes()[:-1], DEFAULT_LIMITS)


def test_saturated_filter_refused() -> None:
    full = b"\xff" * BLOOM.params.size_bytes
    accepted = _accept(_fields(bits_sha256=hashlib.sha256(full).digest()))
    with pytest.raises(ValidationError, match="saturated"):
        publish.verify_bits(accepted, full, DEFAULT_LIMITS)
