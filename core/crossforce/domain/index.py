"""Index: publishing and every force's index status."""

from __future__ import annotations

from dataclasses import dataclass

from crossforce.auditlog.treehead import SignedTreeHead


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
