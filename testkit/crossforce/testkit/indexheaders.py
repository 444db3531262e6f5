"""Signed index headers for tests and benchmarks that publish straight to a matcher, without a client.

Why here: tests of the publish path and benchmarks of a republish need a header the matcher accepts for
an index they built (signed by the force's registered key, valid for a day); one builder keeps the
header's fields in one place when the format gains one. A force's own software signs with
``crossforce.client.publishing`` instead.
"""

from __future__ import annotations

import nacl.signing

from crossforce import clock
from crossforce.crypto import envelope
from crossforce.domain import SignedIndexHeader
from crossforce.index.partitioned import PartitionedIndex
from crossforce.wire.index_header import header_for_index


def signed_index_header(
    org: str,
    built: PartitionedIndex,
    signing: nacl.signing.SigningKey,
    *,
    version: int,
    record_count: int,
    epoch: int = 1,
) -> SignedIndexHeader:
    """The honest header for ``built`` (its digest, blocks, partitions and token count), created now and
    expiring in a day, signed with ``signing``."""
    now = clock.now_ms()
    header = header_for_index(
        built,
        org=org,
        epoch=epoch,
        version=version,
        token_count=built.token_count,
        record_count=record_count,
        created_at_ms=now,
        expires_at_ms=now + clock.DAY_MS,
    )
    return SignedIndexHeader(
        header=header, signature=envelope.sign(envelope.INDEX_HEADER_CONTEXT, header, signing)
    )
