"""Checks: the tokens a vetting officer sends, why, and what the matcher answers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.domain.enums import NotSearchedReason, strength_label


@dataclass(frozen=True)
class QueryToken:
    """One keyed-hash token of a query: the matcher never sees the identifier it came from."""

    key_type: int
    epoch: int
    token: bytes


NAME_CLASS_COMMONEST = 0
NAME_CLASS_UNLISTED = 5
"""Name-frequency classes (docs/spec.md v2, "Name classes"): 0 the commonest names, 5 a name absent from
the public tables. A candidate that does not say is scored as class 0: the least evidence, never more."""


@dataclass(frozen=True)
class TokenBlock:
    """One epoch's tokens of a candidate, packed: ``key_types[i]`` is the type of ``tokens[32*i:32*i+32]``.

    Packed because a check carries ~25 tokens and a batch up to 1,000 candidates: one bytes field per
    block costs the wire and the matcher nothing per token (issue 20), where a message per token did.
    """

    epoch: int
    key_types: bytes
    tokens: bytes

    def __len__(self) -> int:
        return len(self.key_types)

    def query_tokens(self) -> tuple[QueryToken, ...]:
        """The block as one QueryToken per token (for disclosure requests and tests)."""
        return tuple(
            QueryToken(key_type=kt, epoch=self.epoch, token=self.tokens[32 * i : 32 * i + 32])
            for i, kt in enumerate(self.key_types)
        )


@dataclass(frozen=True)
class Candidate:
    """One person checked: a token block per epoch in use, and how common the person's names are.

    The classes are the client's, from the public tables of the spec; the matcher uses them only for the
    chance that a stranger agrees by accident (a lower class is commoner: less evidence).
    """

    blocks: tuple[TokenBlock, ...]
    forename_class: int = NAME_CLASS_COMMONEST
    surname_class: int = NAME_CLASS_COMMONEST

    @classmethod
    def of(
        cls,
        tokens: Iterable[QueryToken],
        *,
        forename_class: int = NAME_CLASS_COMMONEST,
        surname_class: int = NAME_CLASS_COMMONEST,
    ) -> Candidate:
        """Pack tokens (any order, any epochs) into one block per epoch, in order of first appearance."""
        by_epoch: dict[int, tuple[bytearray, bytearray]] = {}
        for t in tokens:
            types, data = by_epoch.setdefault(t.epoch, (bytearray(), bytearray()))
            types.append(t.key_type)
            data += t.token
        blocks = tuple(
            TokenBlock(epoch=e, key_types=bytes(k), tokens=bytes(d)) for e, (k, d) in by_epoch.items()
        )
        return cls(blocks=blocks, forename_class=forename_class, surname_class=surname_class)

    @property
    def token_count(self) -> int:
        return sum(len(b) for b in self.blocks)

    def query_tokens(self) -> tuple[QueryToken, ...]:
        """Every token as a QueryToken, block by block."""
        return tuple(t for b in self.blocks for t in b.query_tokens())


@dataclass(frozen=True)
class Justification:
    """Why a check or a disclosure request was made; recorded in the audit log with the act.

    All four fields are required by the matcher (validated there against its settings).
    """

    purpose: str
    legal_basis: str
    case_reference: str
    officer_id: str


@dataclass(frozen=True)
class CheckQuery:
    """One or more candidates checked under one justification (proto ``CheckRequest``/``CheckBatch``).

    Each candidate is one person's packed tokens; the order of ``candidates`` is the order of the results.
    ``idempotency_key`` (empty: none) is chosen by the client once per query and sent unchanged on every
    retry, so the matcher applies the query once however often it arrives.
    """

    candidates: tuple[Candidate, ...]
    justification: Justification
    open_requests: bool
    idempotency_key: str = ""


@dataclass(frozen=True)
class ForceHit:
    """One force whose index matched a check; ``request_id`` is set when a disclosure request was opened."""

    org: str
    strength: int
    key_types: tuple[int, ...]
    request_id: str = ""
    probability: float = 0.0
    """That this force holds the person (0 for hit-only purposes); ``strength`` is its label."""

    @property
    def strength_name(self) -> str:
        return strength_label(self.strength)


@dataclass(frozen=True)
class SearchedForce:
    """A force a check searched, and the index (epoch, version) it was searched against."""

    org: str
    epoch: int
    version: int
    published_at_ms: int
    expires_at_ms: int


@dataclass(frozen=True)
class UnsearchedForce:
    """An expected force a check did not search, and why."""

    org: str
    reason: NotSearchedReason


@dataclass(frozen=True)
class Coverage:
    """Which expected forces a check searched and which it did not.

    Why this exists: "no trace" is only true of the forces searched. An answer that hides a force that
    never published or whose index expired tells a vetting officer "nothing known" when a force may hold
    a record (the Bichard inquiry). ``complete`` is the one test for printing NO TRACE.
    """

    searched: tuple[SearchedForce, ...] = ()
    not_searched: tuple[UnsearchedForce, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every expected force was searched (and at least one force was)."""
        return bool(self.searched) and not self.not_searched

    @property
    def expected(self) -> int:
        return len(self.searched) + len(self.not_searched)


@dataclass(frozen=True)
class CandidateError:
    """Why one candidate of a check was refused (a gRPC status name and a message with no raw value)."""

    code: str
    message: str


@dataclass(frozen=True)
class CheckResult:
    """The hits for one ``check_id`` of a batch (empty ``hits`` means no force matched).

    ``error`` is set (and ``check_id`` empty) when this candidate alone was refused; nothing was charged
    or logged for it and the other candidates of the batch were checked as usual.
    """

    check_id: str
    hits: tuple[ForceHit, ...]
    error: CandidateError | None = None


@dataclass(frozen=True)
class CheckReport:
    """One candidate's answer, as a vetting officer reads it: its hits and how complete the search was."""

    check_id: str
    hits: tuple[ForceHit, ...]
    forces_searched: int
    stale_orgs: tuple[str, ...]
    coverage: Coverage = Coverage()
    error: CandidateError | None = None

    @property
    def no_trace(self) -> bool:
        """No hit at any force searched and nothing refused (says nothing of forces not searched)."""
        return not self.hits and self.error is None

    @property
    def complete(self) -> bool:
        """Every expected force was searched: only then is ``no_trace`` an answer of "nothing known"."""
        return self.error is None and self.coverage.complete


@dataclass(frozen=True)
class CheckOutcome:
    """The answer to a batch of checks, with the tree head that commits to its audit event."""

    results: tuple[CheckResult, ...]
    forces_searched: int
    stale_orgs: tuple[str, ...]
    tree_head: SignedTreeHead
    coverage: Coverage = Coverage()

    def reports(self) -> tuple[CheckReport, ...]:
        """One report per candidate, in the order the candidates were sent."""
        return tuple(
            CheckReport(
                check_id=r.check_id,
                hits=r.hits,
                forces_searched=self.forces_searched,
                stale_orgs=self.stale_orgs,
                coverage=self.coverage,
                error=r.error,
            )
            for r in self.results
        )
