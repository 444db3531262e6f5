"""Disclosure: requests as each party sees them, sealed disclosures, resolutions, overdue reports.

Request ids are 32 lower-case hex characters (a UUID4). People may type a prefix instead, as with git
object names: ``parse_request_ref`` says which kind a typed id is, the same way on both sides of the
wire; the matcher resolves a prefix among the requests the caller may see, so a prefix never reveals
another organisation's request.
"""

from __future__ import annotations

import enum
import string
from dataclasses import dataclass

from crossforce.domain.checks import Justification, QueryToken
from crossforce.domain.enums import RefusalReason, RequestState
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError

REQUEST_ID_CHARS = 32
"""A full request id: 32 lower-case hex characters."""
MIN_ID_PREFIX_CHARS = 6
"""The shortest prefix accepted for a request id (git accepts 4; 6 keeps typos from landing on a match)."""
SHORT_ID_CHARS = 12
"""How many characters of a request id lists show (like ``git log --oneline``)."""
_HEX = frozenset(string.hexdigits)


class RefKind(enum.Enum):
    EXACT = "exact"
    """A whole id (or text that cannot be a prefix): looked up as is."""
    PREFIX = "prefix"
    """6 to 31 hex characters: resolved among the requests the caller may see."""


@dataclass(frozen=True)
class RequestRef:
    """A request id as typed, normalised: hex is lower-cased."""

    kind: RefKind
    text: str


def parse_request_ref(typed: str) -> RequestRef:
    """Which kind of reference ``typed`` is; ValidationError for a hex prefix shorter than 6 characters.

    Text that is not hex, or is longer than an id, is left EXACT: it names no request, and the lookup
    answers it the same way as any unknown id.
    """
    text = typed.strip()
    if not text or any(c not in _HEX for c in text) or len(text) > REQUEST_ID_CHARS:
        return RequestRef(RefKind.EXACT, typed)
    text = text.lower()
    if len(text) == REQUEST_ID_CHARS:
        return RequestRef(RefKind.EXACT, text)
    if len(text) < MIN_ID_PREFIX_CHARS:
        raise ValidationError(
            f"request id prefix {text} is too short: give at least {MIN_ID_PREFIX_CHARS} hex characters",
            field="request_id",
        )
    return RequestRef(RefKind.PREFIX, text)


def short_id(request_id: str) -> str:
    """The first ``SHORT_ID_CHARS`` characters, as lists show an id (any prefix of 6+ is accepted back)."""
    return request_id[:SHORT_ID_CHARS]


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
    urgent: bool = False
    """The purpose is marked urgent in the matcher's settings (safeguarding): triage it first."""
    probability: float = 0.0
    """The probability the check stated for this hit (0: hit-only purpose, or not recorded)."""


@dataclass(frozen=True)
class SealedDisclosure:
    """An approved disclosure as the matcher relays it: ciphertext it cannot read, and its digest."""

    request_id: str
    requester_org: str
    holder_org: str
    sealed_payload: bytes
    payload_sha256: bytes
    state: RequestState
    approval_log_index: int = 0
    """The audit leaf of the holder's approval (its DISCLOSURE_TRANSITION carries the ciphertext's
    SHA-256): the requester proves its inclusion and compares the digest with what it fetched."""


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
