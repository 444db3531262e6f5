"""Disclosure: requests as each party sees them, sealed disclosures, resolutions, overdue reports."""

from __future__ import annotations

from dataclasses import dataclass

from crossforce.domain.checks import Justification, QueryToken
from crossforce.domain.enums import RefusalReason, RequestState
from crossforce.encoding.records import Record


@dataclass(frozen=True)
class IndexRef:
    """One published index of a force: the (epoch, version) a hit matched."""

    epoch: int
    version: int


@dataclass(frozen=True)
class DisclosureRequest:
    """A disclosure request as a party sees it (proto ``DisclosureRequest``).

    ``matched_tokens`` is empty unless the caller is the holding force (the only party that can resolve
    them); ``overdue`` is computed by the matcher at the time of the answer.
    """

    request_id: str
    check_id: str
    requester_org: str
    holder_org: str
    justification: Justification
    matched_tokens: tuple[QueryToken, ...]
    key_types: tuple[int, ...]
    strength: int
    state: RequestState
    created_at_ms: int
    deadline_ms: int
    updated_at_ms: int
    overdue: bool
    refusal_reason: RefusalReason
    log_index: int
    matched_indexes: tuple[IndexRef, ...] = ()
    """The holder's index versions the hit matched (one per epoch); empty for requests opened before
    the matcher recorded them. The holder resolves against the token generation of that version."""


@dataclass(frozen=True)
class SealedDisclosure:
    """An approved disclosure as the matcher relays it: ciphertext it cannot read, and its digest."""

    request_id: str
    requester_org: str
    holder_org: str
    sealed_payload: bytes
    payload_sha256: bytes
    state: RequestState


@dataclass(frozen=True)
class Resolution:
    """A holder's resolution of a request against its local token store (never leaves the holder)."""

    request: DisclosureRequest
    confirmed: bool
    records: tuple[Record, ...]


@dataclass(frozen=True)
class OverdueReport:
    """Requests past their deadline, as of ``generated_at_ms``."""

    requests: tuple[DisclosureRequest, ...]
    generated_at_ms: int
