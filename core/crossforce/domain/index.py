"""Index: the signed index header, publishing and every force's index status.

The header has one shape here, shared by the force that signs it, the wire conversion
(``crossforce.wire.index_header``) and the matcher's publish rules (``crossforce.server.policy.publish``):
``IndexHeaderFields`` is what a header declares, ``SignedIndexHeader`` its exact bytes and signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossforce.auditlog.treehead import SignedTreeHead


@dataclass(frozen=True, kw_only=True)
class IndexHeaderFields:
    """What an index header declares (proto ``IndexHeader``, field for field).

    A value, not the signed bytes: protobuf is not canonical, so the bytes a force signed, never a
    re-encoding of this value, are what is stored and verified.
    """

    format_version: int
    org: str
    epoch: int
    version: int
    num_blocks: int
    num_probes: int
    token_count: int
    record_count: int
    bits_sha256: bytes
    created_at_ms: int
    expires_at_ms: int


@dataclass(frozen=True)
class SignedIndexHeader:
    """An index header's exact bytes and the force's signature over them (sent first in a publish)."""

    header: bytes
    signature: bytes


@dataclass(frozen=True)
class IndexStatus:
    """A force's current published index, as the matcher sees it (``stale`` says why it may be skipped)."""

    org: str
    epoch: int
    version: int
    record_count: int
    token_count: int
    size_bytes: int
    published_at_ms: int
    expires_at_ms: int
    stale: bool
    stale_reason: str


@dataclass(frozen=True)
class MatcherStatus:
    """Every force's index and the epochs in use (proto ``StatusResponse``); epochs newest first."""

    indexes: tuple[IndexStatus, ...]
    current_epoch: int
    active_epochs: tuple[int, ...]
    registered_orgs: tuple[str, ...]
    expected_orgs: tuple[str, ...] = ()
    """The forces every check is expected to search (settings, plus every force that has published)."""


@dataclass(frozen=True)
class PublishReceipt:
    """The matcher's acknowledgement of a publish: committed, logged at ``log_index``, under ``tree_head``."""

    org: str
    epoch: int
    version: int
    log_index: int
    tree_head: SignedTreeHead


@dataclass(frozen=True)
class PublishResult:
    """What a force's publish did, end to end (the SDK's summary: counts, size, time taken)."""

    org: str
    epoch: int
    version: int
    record_count: int
    token_count: int
    index_bytes: int
    log_index: int
    seconds: float
