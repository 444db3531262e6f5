"""Checking: a vetting body's candidates against every force's index, in one vectorised pass.

Invariants (docs/architecture.md, query; docs/threat-model.md): the matcher receives only keyed-hash
tokens. Every request is validated and its quota charged (all or nothing, for the batch's full candidate
count) before any index is read; a refused charge is itself logged. Every token is checked against
every force of its epoch, hit or miss, with no early exit, so hits and misses cost the same work. Each
candidate's CHECK event, and the disclosure requests its hits open, commit in one transaction before
the answer is returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crossforce.auditlog.events import Check, QuotaDenied
from crossforce.clock import Clock
from crossforce.crypto.pki import Identity
from crossforce.domain import CheckOutcome, CheckResult, ForceHit, Justification, QueryToken
from crossforce.encoding import matchkeys
from crossforce.errors import PreconditionError, TooLargeError, ValidationError
from crossforce.index import bloom as index
from crossforce.server.audit import AuditLog
from crossforce.server.policy.quotas import QuotaBook
from crossforce.server.settings import ServerSettings
from crossforce.server.store.protocols import Transaction
from crossforce.server.usecases.broker import Broker, Opening
from crossforce.server.usecases.common import check_text
from crossforce.server.usecases.serving import IndexTable

DENIAL_TEXT_CHARS = 200
"""How much of a quota refusal's text the QUOTA_DENIED event keeps."""
JUSTIFICATION_FIELDS = ("purpose", "legal_basis", "case_reference", "officer_id")


@dataclass(frozen=True)
class Matches:
    """Per candidate a (tokens x forces) bool matrix over ``orgs``; ``stale`` forces answered nothing."""

    per_candidate: list[np.ndarray]
    orgs: list[str]
    stale: list[str]


class Checking:
    def __init__(
        self,
        *,
        table: IndexTable,
        broker: Broker,
        quotas: QuotaBook,
        audit: AuditLog,
        settings: ServerSettings,
        clock: Clock,
    ) -> None:
        self._table = table
        self._broker = broker
        self._quotas = quotas
        self._audit = audit
        self._settings = settings
        self._limits = settings.limits
        self._clock = clock

    def validate_justification(self, who: Identity, why: Justification) -> None:
        for name in JUSTIFICATION_FIELDS:
            check_text(name, getattr(why, name), self._limits.max_text_chars, required=True)
        self._settings.purpose_for(who.org, why.purpose)

    def validate_candidate(self, tokens: Sequence[QueryToken], position: int | None = None) -> None:
        where = "" if position is None else f"candidate {position}: "
        if not tokens:
            raise ValidationError(f"{where}a candidate needs at least one token")
        if len(tokens) > self._limits.max_tokens_per_candidate:
            raise TooLargeError(
                f"{where}{len(tokens)} tokens exceed the limit of {self._limits.max_tokens_per_candidate}"
            )
        active = self._table.active_epochs()
        for i, t in enumerate(tokens):
            if len(t.token) != self._limits.token_bytes:
                raise ValidationError(
                    f"{where}token {i} is {len(t.token)} bytes; tokens are {self._limits.token_bytes}"
                )
            if t.key_type not in matchkeys.KEY_TYPES:
                raise ValidationError(f"{where}token {i} has unknown key type {t.key_type}")
            if active and t.epoch not in active:
                raise PreconditionError(
                    f"{where}token {i} is for epoch {t.epoch}, which is not in use; active epochs: "
                    + ", ".join(str(e) for e in active)
                )

    def check(
        self,
        who: Identity,
        candidates: Sequence[Sequence[QueryToken]],
        why: Justification,
        *,
        open_requests: bool,
    ) -> CheckOutcome:
        self._validate(who, candidates, why, open_requests=open_requests)
        now = self._clock()
        self._charge(who, why, len(candidates), now)
        matches = self.match(candidates, now)
        with self._audit.transaction(now) as tx:
            results = tuple(
                self._record(tx, who, why, cand, found, matches.orgs, now, open_requests=open_requests)
                for cand, found in zip(candidates, matches.per_candidate, strict=True)
            )
        if open_requests and any(r.hits for r in results):
            self._broker.notify_opened()
        return CheckOutcome(
            results=results,
            forces_searched=len(matches.orgs) - len(matches.stale),
            stale_orgs=tuple(matches.stale),
            tree_head=self._audit.head,
        )

    def _validate(
        self,
        who: Identity,
        candidates: Sequence[Sequence[QueryToken]],
        why: Justification,
        *,
        open_requests: bool,
    ) -> None:
        if not candidates:
            raise ValidationError("no candidates to check")
        if len(candidates) > self._limits.max_batch_candidates:
            raise TooLargeError(
                f"{len(candidates)} candidates exceed the batch limit of {self._limits.max_batch_candidates}"
            )
        self.validate_justification(who, why)
        for pos, cand in enumerate(candidates):
            self.validate_candidate(cand, pos if len(candidates) > 1 else None)
        if open_requests and not self._settings.purpose(why.purpose).allows_disclosure:
            raise PreconditionError(
                f"purpose {why.purpose} allows only a hit/no-hit answer; check again without opening requests"
            )

    def _charge(self, who: Identity, why: Justification, cost: int, now: int) -> None:
        try:
            self._quotas.charge(
                org=who.org, officer=why.officer_id, purpose=why.purpose, cost=cost, now_ms=now
            )
        except Exception as exc:
            with self._audit.transaction(now) as tx:
                denial = QuotaDenied(
                    at_ms=now,
                    actor_org=who.org,
                    actor_role=who.role,
                    officer_id=why.officer_id,
                    purpose=why.purpose,
                    limit=str(exc)[:DENIAL_TEXT_CHARS],
                )
                self._audit.append(tx, denial)
            raise

    def _record(
        self,
        tx: Transaction,
        who: Identity,
        why: Justification,
        candidate: Sequence[QueryToken],
        found: np.ndarray,
        orgs: list[str],
        now: int,
        *,
        open_requests: bool,
    ) -> CheckResult:
        """One candidate's hits, the requests they open, and its CHECK event, staged in ``tx``."""
        check_id = uuid.uuid4().hex
        hits: list[ForceHit] = []
        for f in np.nonzero(found.any(axis=0))[0]:
            hit_tokens = tuple(t for t, m in zip(candidate, found[:, f], strict=True) if m)
            key_types = tuple(sorted({t.key_type for t in hit_tokens}))
            strength = matchkeys.hit_strength(key_types)
            if strength == 0:
                continue
            request_id = ""
            if open_requests:
                opening = Opening(
                    requester=who,
                    why=why,
                    check_id=check_id,
                    holder_org=orgs[f],
                    tokens=hit_tokens,
                    key_types=key_types,
                    strength=strength,
                    now_ms=now,
                )
                request_id = self._broker.open_request(tx, opening)
            hits.append(ForceHit(org=orgs[f], strength=strength, key_types=key_types, request_id=request_id))
        self._audit.append(
            tx,
            Check(
                at_ms=now,
                actor_org=who.org,
                actor_role=who.role,
                check_id=check_id,
                officer_id=why.officer_id,
                purpose=why.purpose,
                legal_basis=why.legal_basis,
                case_reference=why.case_reference,
                hits=tuple(h.org for h in hits),
                requests=tuple(h.request_id for h in hits if h.request_id),
            ),
        )
        return CheckResult(check_id=check_id, hits=tuple(hits))

    def match(self, candidates: Sequence[Sequence[QueryToken]], now: int) -> Matches:
        """Every token against every force of its epoch, in one vectorised pass per epoch (no early exit)."""
        view = self._table.view()
        active = set(view.active)
        latest: dict[str, int] = {}  # one pass over the rows, not one per force
        for (o, e), r in view.rows.items():
            latest[o] = max(latest.get(o, 0), r.expires_at_ms if e in active else 0)
        orgs = sorted(latest)
        col = {o: i for i, o in enumerate(orgs)}
        stale = [o for o in orgs if latest[o] <= now]
        flat = [t for cand in candidates for t in cand]
        out = np.zeros((len(flat), len(orgs)), dtype=bool)
        token_epochs = np.array([t.epoch for t in flat], dtype=np.int64)
        for epoch, snap in view.snapshots.items():
            if epoch not in active:
                continue
            rows = np.nonzero(token_epochs == epoch)[0]
            if rows.size == 0:
                continue
            tokens = index.token_array(b"".join(flat[i].token for i in rows))
            found = snap.check(tokens)
            expired = np.array([view.rows[(o, epoch)].expires_at_ms <= now for o in snap.orgs], dtype=bool)
            found &= ~expired
            cols = np.array([col[o] for o in snap.orgs], dtype=np.int64)
            out[np.ix_(rows, cols)] |= found
        split: list[np.ndarray] = []
        start = 0
        for cand in candidates:
            split.append(out[start : start + len(cand)])
            start += len(cand)
        return Matches(per_candidate=split, orgs=orgs, stale=stale)
