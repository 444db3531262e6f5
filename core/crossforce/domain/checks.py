"""Checks: the tokens a vetting officer sends, why, and what the matcher answers."""

from __future__ import annotations

from dataclasses import dataclass

from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.domain.enums import strength_label


@dataclass(frozen=True)
class QueryToken:
    """One keyed-hash token of a query: the matcher never sees the identifier it came from."""

    key_type: int
    epoch: int
    token: bytes


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

    Each candidate is the tuple of its tokens; the order of ``candidates`` is the order of the results.
    """

    candidates: tuple[tuple[QueryToken, ...], ...]
    justification: Justification
    open_requests: bool


@dataclass(frozen=True)
class ForceHit:
    """One force whose index matched a check; ``request_id`` is set when a disclosure request was opened."""

    org: str
    strength: int
    key_types: tuple[int, ...]
    request_id: str = ""

    @property
    def strength_name(self) -> str:
        return strength_label(self.strength)


@dataclass(frozen=True)
class CheckResult:
    """The hits for one ``check_id`` of a batch (empty ``hits`` means no force matched)."""

    check_id: str
    hits: tuple[ForceHit, ...]


@dataclass(frozen=True)
class CheckReport:
    """One candidate's answer, as a vetting officer reads it: its hits and how complete the search was."""

    check_id: str
    hits: tuple[ForceHit, ...]
    forces_searched: int
    stale_orgs: tuple[str, ...]

    @property
    def no_trace(self) -> bool:
        return not self.hits


@dataclass(frozen=True)
class CheckOutcome:
    """The answer to a batch of checks, with the tree head that commits to its audit event."""

    results: tuple[CheckResult, ...]
    forces_searched: int
    stale_orgs: tuple[str, ...]
    tree_head: SignedTreeHead

    def reports(self) -> tuple[CheckReport, ...]:
        """One report per candidate, in the order the candidates were sent."""
        return tuple(
            CheckReport(
                check_id=r.check_id,
                hits=r.hits,
                forces_searched=self.forces_searched,
                stale_orgs=self.stale_orgs,
            )
            for r in self.results
        )
