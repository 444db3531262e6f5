"""Checking: a vetting body's candidates against every force's index, in one vectorised pass.

Invariants (docs/architecture.md, query; docs/threat-model.md): the matcher receives only keyed-hash
tokens. Every request is validated and its quota charged in units (all or nothing, for every candidate
accepted; ``policy.candidates.cost``) before any index is read; a refused charge is itself logged. A
batch-level problem (no candidates, too many, a bad justification, a purpose that allows no requests, a
quota refusal) refuses the call; a candidate that was not made from one record or that the matcher
cannot check (``policy.candidates.check_candidate``) is answered alone with a ``CandidateError``, is not
charged, logged or matched, and never affects the others (issue 13, item 4). Every token is checked
against every force of its epoch, in its own key type's partition, hit or miss, with no early exit, so
hits and misses cost the same work. Each force's hit is scored (``crossforce.scoring``) from the key
types that agreed there and the candidate's name classes; only hits at or above the purpose's report
threshold are answered, and only those at or above its request threshold open a disclosure request. A
hit-only purpose's hit says only that the force may hold the person. Each candidate's CHECK event (with
its cost), and the requests its hits open (each naming the holder's index versions it matched and the
probability stated), commit in one transaction before the answer is returned. Every answer carries its
coverage (``policy.coverage``), decided from the same view of the index table the tokens were matched
against.

Retries (issue 17): a check may carry an idempotency key (``usecases.idempotency``). Its answer is stored
under the key in the same transaction as its events; a retry with the key, on this matcher or another
sharing the database, gets that answer back and is charged, logged and opened nothing again. The key is
looked up before the quota is charged, and again inside the transaction, which is the authority (a
retry racing its own first attempt may be charged twice, but never recorded twice).

It runs over 400 lines: charging, matching, scoring, recording and replaying are the steps of one
check, each already a short method, and splitting them across modules would spread one transaction's
rules apart (what a candidate may hold and cost is ``policy.candidates``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from crossforce.auditlog.events import QuotaDenied
from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.clock import Clock
from crossforce.crypto.pki import Identity
from crossforce.domain import (
    Candidate,
    CandidateError,
    CheckOutcome,
    CheckResult,
    Coverage,
    ForceHit,
    IndexRef,
    Justification,
    NotSearchedReason,
)
from crossforce.errors import (
    AlreadyExistsError,
    CrossforceError,
    PreconditionError,
    TooLargeError,
    UnavailableError,
    ValidationError,
    status_name_for,
)
from crossforce.server.audit import AuditLog
from crossforce.server.policy import candidates as shape
from crossforce.server.policy import coverage
from crossforce.server.policy.quotas import QuotaBook
from crossforce.server.settings import PurposePolicy, ServerSettings
from crossforce.server.store.protocols import Transaction
from crossforce.server.store.rows import IdempotentRow, IndexRow
from crossforce.server.usecases import idempotency
from crossforce.server.usecases.broker import Broker, Opening
from crossforce.server.usecases.calibration import load_scoring_params
from crossforce.server.usecases.checkevents import CheckEvents, check_ids
from crossforce.server.usecases.common import check_text
from crossforce.server.usecases.hits import HitRules, ScoredHit, batch_hits, scored_hits
from crossforce.server.usecases.quotareplay import anomaly_event
from crossforce.server.usecases.refusals import RefusalGate
from crossforce.server.usecases.serving import IndexTable, ServingView
from crossforce.server.usecases.tokenmatch import Matches, match_tokens

DENIAL_TEXT_CHARS = 200
"""How much of a quota refusal's text the QUOTA_DENIED event keeps."""
JUSTIFICATION_FIELDS = ("purpose", "legal_basis", "case_reference", "officer_id")
STALE_REASONS = frozenset({NotSearchedReason.EXPIRED, NotSearchedReason.RETIRED_EPOCH_ONLY})
"""Reasons a force that holds an index was not searched because of that index (``stale_orgs``)."""


BATCH_SCORING_MIN = 8
"""Candidates from which a check's hits are scored for the whole batch at once (``batch_hits``); fewer
(a single check) are scored one by one (``hits.scored_hits``), which costs less for one candidate."""


@dataclass(frozen=True)
class Scored:
    """One accepted candidate that has hits, ready to record: its hits worth answering, its match matrix
    (which of its tokens matched where: a request carries those), and the quota units it was charged."""

    hits: Sequence[ScoredHit]
    found: npt.NDArray[np.bool_]
    cost: int


def facts_of(rows: Mapping[tuple[str, int], IndexRow]) -> list[coverage.IndexFacts]:
    """The index rows as the coverage rule sees them."""
    return [
        coverage.IndexFacts(
            org=r.org,
            epoch=r.epoch,
            version=r.version,
            published_at_ms=r.published_at_ms,
            expires_at_ms=r.expires_at_ms,
        )
        for r in rows.values()
    ]


def _outcome(
    answers: Sequence[CheckResult | None], answered: Coverage, stale: tuple[str, ...], head: SignedTreeHead
) -> CheckOutcome:
    """The answer to a check, once every candidate has its result."""
    return CheckOutcome(
        results=tuple(a for a in answers if a is not None),
        forces_searched=len(answered.searched),
        stale_orgs=stale,
        tree_head=head,
        coverage=answered,
    )


def refused_result(exc: CrossforceError) -> CheckResult:
    """How one refused candidate is answered: no check id, no hits, and its error (a gRPC status name
    and the text, which never quotes a token)."""
    return CheckResult(
        check_id="", hits=(), error=CandidateError(code=status_name_for(exc), message=str(exc))
    )


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
        self._per_type = shape.max_per_type(self._limits)
        self._shapes_passed: set[bytes] = set()
        """Key-type patterns found valid under ``_limits`` (``shape.check_candidate``'s ``passed``)."""
        chosen = Path(settings.scoring_params) if settings.scoring_params else None
        self._scoring, self.scoring_sha256 = load_scoring_params(chosen)
        """Read once at start: a file that is missing or malformed stops the matcher with its path."""
        self._refusals = RefusalGate()
        self.refusals = self._refusals
        """Read by the matcher's flusher (``refusals.write_drained``)."""

    @property
    def settings(self) -> ServerSettings:
        """The deployment's settings (the servicer reads the officer-credential rule from them)."""
        return self._settings

    def validate_justification(self, who: Identity, why: Justification) -> PurposePolicy:
        """The justification's policy, once its four fields and the caller's purposes check out."""
        for name in JUSTIFICATION_FIELDS:
            check_text(name, getattr(why, name), self._limits.max_text_chars, required=True)
        policy = self._settings.purpose_for(who.org, why.purpose)
        self._settings.check_justification(who.org, why)  # no personal data in what is kept forever
        return policy

    def check(
        self,
        who: Identity,
        candidates: Sequence[Candidate],
        why: Justification,
        *,
        open_requests: bool,
        idempotency_key: str = "",
        officer_verified: bool = True,
    ) -> CheckOutcome:
        """A batch: each candidate the matcher cannot check is answered with its own error.

        ``officer_verified`` False: ``why.officer_id`` is the caller's free text, not an organisation's
        signed credential (``officer_credentials = "optional"``); every event of the check says so."""
        return self._check(
            who,
            candidates,
            why,
            open_requests=open_requests,
            alone=False,
            key=idempotency_key,
            officer_verified=officer_verified,
        )

    def check_one(
        self,
        who: Identity,
        candidate: Candidate,
        why: Justification,
        *,
        open_requests: bool,
        idempotency_key: str = "",
        officer_verified: bool = True,
    ) -> CheckOutcome:
        """A single ``Check``: a candidate the matcher cannot check fails the call with its status, so
        the caller gets a clear error rather than an answer that holds nothing but that error."""
        return self._check(
            who,
            [candidate],
            why,
            open_requests=open_requests,
            alone=True,
            key=idempotency_key,
            officer_verified=officer_verified,
        )

    def _check(
        self,
        who: Identity,
        candidates: Sequence[Candidate],
        why: Justification,
        *,
        open_requests: bool,
        alone: bool,
        key: str,
        officer_verified: bool,
    ) -> CheckOutcome:
        key = idempotency.checked_key(key)
        policy = self._validate(who, candidates, why, open_requests=open_requests)
        digest = b""
        if key:
            digest = idempotency.check_digest(candidates, why, open_requests=open_requests, alone=alone)
            earlier = self._broker.answers.idempotent(who.org, key)
            if earlier is not None:
                return self._replayed(earlier, digest)
        view = self._table.view()
        active = view.active  # once per batch, not once per candidate
        refused = shape.screen(
            candidates,
            limits=self._limits,
            active=active,
            per_type=self._per_type,
            passed=self._shapes_passed,
        )
        if alone and refused[0] is not None:
            raise refused[0]
        positions = [i for i, exc in enumerate(refused) if exc is None]
        accepted = [candidates[i] for i in positions]
        now = self._clock()
        costs = [shape.cost(c) for c in accepted]
        if accepted:
            self._charge(who, why, sum(costs), now, officer_verified=officer_verified)
        matches = self.match(accepted, now, view)
        rules = HitRules.of(
            policy, view.rows, self._limits.max_filter_fpr, self._scoring, records=view.record_counts
        )
        hits = self._hits(accepted, matches, rules)  # scored before the transaction, which only writes
        answers = [refused_result(exc) if exc is not None else None for exc in refused]
        answered = self._coverage(view, accepted, now)
        stale = tuple(f.org for f in answered.not_searched if f.reason in STALE_REASONS)
        if accepted:
            events = CheckEvents(
                at_ms=now,
                actor_org=who.org,
                actor_role=who.role,
                officer_id=why.officer_id,
                purpose=why.purpose,
                legal_basis=why.legal_basis,
                case_reference=why.case_reference,
                officer_unverified=int(not officer_verified),
            )
            # Encoded before the transaction: its body runs under the audit log's lock, which every
            # other writer waits for, so only what needs the transaction is done inside it.
            ids = check_ids(len(accepted))
            entries = [
                self._prepare(its_hits, cost, events, check_id=check_id, open_requests=open_requests)
                for its_hits, cost, check_id in zip(hits, costs, ids, strict=True)
            ]
            try:
                with self._audit.transaction(now) as tx:
                    earlier = tx.idempotent(who.org, key) if key else None
                    if earlier is None:
                        indexes: list[int] = []
                        plain: list[bytes] = []  # no-hit candidates' events, staged together in order
                        for k, (i, check_id, entry) in enumerate(zip(positions, ids, entries, strict=True)):
                            if entry is not None and not hits[k]:  # most candidates: nothing to open
                                answers[i] = CheckResult(check_id=check_id, hits=())
                                plain.append(entry)
                                continue
                            indexes.extend(self._audit.append_encoded_many(tx, plain))
                            plain.clear()
                            answers[i], log_index = self._record(
                                tx,
                                who,
                                why,
                                candidates[i],
                                Scored(hits[k], matches.of(k), costs[k]),
                                matches,
                                now,
                                events,
                                check_id=check_id,
                                entry=entry,
                                open_requests=open_requests,
                            )
                            indexes.append(log_index)
                        indexes.extend(self._audit.append_encoded_many(tx, plain))
                        if key:
                            answer = idempotency.encode_check(
                                _outcome(answers, answered, stale, self._audit.head)
                            )
                            tx.put_idempotent(
                                idempotency.answer_row(
                                    org=who.org,
                                    key=key,
                                    digest=digest,
                                    response=answer,
                                    log_index=indexes[0],
                                    now_ms=now,
                                )
                            )
            except AlreadyExistsError:
                # The key was stored between our lookup and our write: the stored answer stands.
                earlier = self._broker.answers.idempotent(who.org, key) if key else None
                if earlier is None:
                    raise
            if earlier is not None:
                return self._replayed(earlier, digest)
        outcome = _outcome(answers, answered, stale, self._audit.head)
        if any(h.request_id for r in outcome.results for h in r.hits):
            self._broker.notify_opened()
        return outcome

    def match(self, candidates: Sequence[Candidate], now: int, view: ServingView) -> Matches:
        """Every token against every force of its epoch (``tokenmatch.match_tokens``); one method, so the
        matching core can be timed on its own (tests/reliability/test_timing.py wraps it)."""
        return match_tokens(candidates, now, view)

    @staticmethod
    def _hits(accepted: Sequence[Candidate], matches: Matches, rules: HitRules) -> list[Sequence[ScoredHit]]:
        """Each accepted candidate's hits worth answering: a batch's at once (``batch_hits``), a few
        candidates' one by one (``hits.scored_hits``); the same hits either way."""
        if len(accepted) >= BATCH_SCORING_MIN:
            return batch_hits(accepted, matches, rules)
        return [
            scored_hits(cand, matches.of(k), matches.types_of(k), matches.orgs, rules)
            for k, cand in enumerate(accepted)
        ]

    def _replayed(self, earlier: IdempotentRow, digest: bytes) -> CheckOutcome:
        """The stored answer to this very request, under the current tree head (which commits to its
        events); FAILED_PRECONDITION if the key answered another request."""
        same = idempotency.same_request(earlier, digest)
        self._audit.catch_up_to(same.log_index + 1)  # committed on another matcher: show a head holding it
        if self._audit.size <= same.log_index:
            raise UnavailableError("this matcher has not yet loaded the answer's log entry; retry shortly")
        return idempotency.decode_check(same.response, self._audit.head)

    def _coverage(self, view: ServingView, accepted: Sequence[Candidate], now: int) -> Coverage:
        """Which expected forces were searched for every accepted candidate (``policy.coverage``),
        remembered by the view until the next publish or expiry (``ServingView.coverage``)."""
        return view.coverage(self._settings.expected_forces, common_epochs(accepted), now)

    def expected_orgs(self) -> tuple[str, ...]:
        """The organisations every check is expected to search (settings, and every one that published)."""
        return coverage.expected_orgs(self._settings.expected_forces, self._table.published_orgs())

    def _validate(
        self,
        who: Identity,
        candidates: Sequence[Candidate],
        why: Justification,
        *,
        open_requests: bool,
    ) -> PurposePolicy:
        """The batch-level checks, which refuse the whole call; returns the purpose's policy."""
        if not candidates:
            raise ValidationError("no candidates to check")
        if len(candidates) > self._limits.max_batch_candidates:
            raise TooLargeError(
                f"{len(candidates)} candidates exceed the batch limit of {self._limits.max_batch_candidates}"
            )
        policy = self.validate_justification(who, why)
        if open_requests and not policy.allows_disclosure:
            raise PreconditionError(
                f"purpose {why.purpose} allows only a hit/no-hit answer; check again without opening requests"
            )
        return policy

    def _charge(
        self, who: Identity, why: Justification, cost: int, now: int, *, officer_verified: bool
    ) -> None:
        try:
            self._quotas.charge(
                org=who.org, officer=why.officer_id, purpose=why.purpose, cost=cost, now_ms=now
            )
        except Exception as exc:
            self._log_anomalies(now)
            # One QUOTA_DENIED per organisation, purpose, limit and minute; the rest are counted into it.
            limit = str(getattr(exc, "limit", type(exc).__name__))
            key = (who.org, "quota", f"{why.purpose}/{limit}")
            text = str(exc)[:DENIAL_TEXT_CHARS]

            def event_for(at_ms: int, suppressed: int) -> QuotaDenied:
                return QuotaDenied(
                    at_ms=at_ms,
                    actor_org=who.org,
                    actor_role=who.role,
                    officer_id=why.officer_id,
                    purpose=why.purpose,
                    limit=text,
                    suppressed=suppressed,
                    officer_unverified=int(not officer_verified),
                )

            suppressed = self._refusals.admit(key, now, event_for)
            if suppressed is None:
                raise
            try:
                with self._audit.transaction(now) as tx:
                    self._audit.append(tx, event_for(now, suppressed))
            except BaseException:
                self._refusals.restore(key, suppressed + 1)  # counted into the next event instead
                raise
            raise
        self._log_anomalies(now)

    def _log_anomalies(self, now: int) -> None:
        """Write the rate anomalies the last charge raised (rare: one per organisation per window) to
        the audit log, so the operator's alert survives a restart; kept for the next call if that fails."""
        alerts = self._quotas.unlogged_anomalies()
        if not alerts:
            return
        try:
            with self._audit.transaction(now) as tx:
                for alert in alerts:
                    self._audit.append(tx, anomaly_event(alert))
        except BaseException:
            self._quotas.requeue_anomalies(alerts)
            raise

    def _record(
        self,
        tx: Transaction,
        who: Identity,
        why: Justification,
        candidate: Candidate,
        scored: Scored,
        matches: Matches,
        now: int,
        events: CheckEvents,
        *,
        check_id: str,
        entry: bytes | None,
        open_requests: bool,
    ) -> tuple[CheckResult, int]:
        """One candidate's hits, the requests they open, and its CHECK event, staged in ``tx``; returns the
        result and the event's log index. ``entry`` is the event already encoded (``_prepare``), or None
        when it names requests opened here (``events``, the batch's, encodes it then)."""
        hits: list[ForceHit] = []
        tokens = candidate.query_tokens() if open_requests and scored.hits else ()
        for hit in scored.hits:
            request_id = ""
            if open_requests and hit.may_request:
                matched = tuple(t for t, m in zip(tokens, scored.found[:, hit.column], strict=True) if m)
                opening = Opening(
                    requester=who,
                    why=why,
                    check_id=check_id,
                    holder_org=hit.org,
                    tokens=matched,
                    key_types=hit.key_types,
                    strength=hit.label,
                    probability=hit.probability,
                    now_ms=now,
                    matched=tuple(
                        IndexRef(epoch=e, version=matches.rows[(hit.org, e)].version)
                        for e in sorted({t.epoch for t in matched})
                    ),
                )
                request_id = self._broker.open_request(tx, opening)
            hits.append(
                ForceHit(
                    org=hit.org,
                    strength=hit.label,
                    key_types=hit.key_types,
                    request_id=request_id,
                    probability=hit.probability,
                )
            )
        if entry is None:
            entry = events.encode(
                check_id,
                hits=tuple(h.org for h in hits),
                requests=tuple(h.request_id for h in hits if h.request_id),
                cost=scored.cost,
            )
        log_index = self._audit.append_encoded(tx, entry)
        return CheckResult(check_id=check_id, hits=tuple(hits)), log_index

    @staticmethod
    def _prepare(
        hits: Sequence[ScoredHit], cost: int, events: CheckEvents, *, check_id: str, open_requests: bool
    ) -> bytes | None:
        """A candidate's CHECK event's bytes when nothing in them waits for the transaction: none of its
        ``hits`` opens a request (``_record`` opens them only when ``open_requests`` and the hit
        ``may_request``), so the event names its hits and no request; else None."""
        if open_requests and any(hit.may_request for hit in hits):
            return None
        orgs = tuple(hit.org for hit in hits)
        return events.encode(check_id, hits=orgs, requests=(), cost=cost)


def common_epochs(accepted: Sequence[Candidate]) -> frozenset[int]:
    """The epochs every accepted candidate carries tokens for (a block without tokens carries none):
    what coverage reports searched. A batch repeats one pattern or two, each intersected once."""
    patterns: set[tuple[int, ...]] = set()
    for cand in accepted:
        blocks = cand.blocks
        if len(blocks) == 1 and blocks[0].key_types:  # nearly every candidate
            patterns.add((blocks[0].epoch,))
        else:
            patterns.add(tuple(b.epoch for b in blocks if len(b)))
    if not patterns:
        return frozenset()
    return frozenset(set.intersection(*(set(p) for p in patterns)))
