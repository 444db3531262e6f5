"""From one candidate's matches to the hits answered: which forces, how likely, and which open requests.

Why a module of its own: this is where the matcher turns "tokens of these key types agreed at this
force" into what a vetting officer is told (spec v2, "Scoring"), and the rule is worth reading and
testing without a transaction around it. Per force, the key types that agreed are scored with
``crossforce.scoring`` (the candidate's name classes, the force's declared record count against all
forces', and the index's false-positive ceiling); a hit below the purpose's report threshold is not
answered at all, and only one at or above its request threshold may open a disclosure request. A
hit-only purpose learns only that a force may hold the person: no key types, no probability, no label.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from crossforce import scoring
from crossforce.domain import Candidate
from crossforce.server.settings import PurposePolicy
from crossforce.server.store.rows import IndexRow

if TYPE_CHECKING:  # tokenmatch imports serving, which imports this module
    from crossforce.server.usecases.tokenmatch import Matches


@dataclass(frozen=True)
class HitRules:
    """What scoring a batch's hits needs, fixed for the batch."""

    thresholds: scoring.Thresholds
    hit_only: bool
    records: Mapping[str, int]
    """Organisation -> records its index declares (the largest over its epochs)."""
    total_records: int
    """All forces' records: the force's share of them is the prior that it holds a given person."""
    fpr: float
    """Per-token false-positive rate of an index: ``Limits.max_filter_fpr``, the ceiling publish
    enforces on every partition, so the probability never credits an index with fewer false hits
    than it may have."""
    params: scoring.ScoringParams = scoring.DEFAULT
    """The parameters probabilities are stated with (the ``scoring_params`` setting's file, if set)."""

    @classmethod
    def of(
        cls,
        policy: PurposePolicy,
        rows: Mapping[tuple[str, int], IndexRow],
        fpr: float,
        params: scoring.ScoringParams = scoring.DEFAULT,
        *,
        records: Mapping[str, int] | None = None,
    ) -> HitRules:
        """``records`` is ``record_counts(rows)`` when the caller already has it (a serving view
        computes it once per publish, not once per check)."""
        if records is None:
            records = record_counts(rows)
        return cls(
            thresholds=scoring.Thresholds(report=policy.report_threshold, request=policy.request_threshold),
            hit_only=not policy.allows_disclosure,
            records=records,
            total_records=sum(records.values()),
            fpr=fpr,
            params=params,
        )


def record_counts(rows: Mapping[tuple[str, int], IndexRow]) -> dict[str, int]:
    """Organisation -> records its index declares, the largest over its epochs (``HitRules.records``)."""
    records: dict[str, int] = {}
    for (org, _epoch), row in rows.items():
        records[org] = max(records.get(org, 0), row.record_count)
    return records


@dataclass(frozen=True)
class ScoredHit:
    """One force's hit as answered: ``column`` is the force's column in the match matrix."""

    org: str
    column: int
    key_types: tuple[int, ...]
    probability: float
    label: int
    may_request: bool
    """At or above the request threshold (never for a hit-only purpose)."""


TYPE_BITS = 64
"""``batch_hits`` holds a set of key types as the bits of one uint64: codes below this (every code the
spec defines is; screening refuses the others before matching)."""
NO_HITS: tuple[ScoredHit, ...] = ()


def scored_hits(
    candidate: Candidate,
    found: npt.NDArray[np.bool_],
    key_types: npt.NDArray[np.uint8],
    orgs: list[str],
    rules: HitRules,
) -> list[ScoredHit]:
    """The hits of one candidate worth answering, in column (organisation) order.

    ``found`` is the candidate's (tokens x forces) match matrix and ``key_types`` each row's type.
    """
    hits: list[ScoredHit] = []
    if not found.any():
        return hits  # most candidates: nothing agreed anywhere, nothing to score
    columns = np.nonzero(found.any(axis=0))[0]
    # Every type the candidate offered: a field offered that no agreeing key vouches for (a date of birth
    # sent, yet only a date-free key agreed) is evidence against the hit (the parameters assume it).
    # Key types are one byte each (uint8), so a set of their bytes is the set of their codes.
    types = np.ascontiguousarray(key_types, dtype=np.uint8)
    sent = frozenset(types.tobytes())
    for col in columns:
        f = int(col)
        agreed = tuple(sorted(set(types[found[:, f]].tobytes())))
        records = rules.records.get(orgs[f], 0)
        probability = remembered_probability(
            agreed,
            sent,
            candidate.forename_class,
            candidate.surname_class,
            records,
            max(records, rules.total_records),
            rules.fpr,
            rules.params,
        )
        label = scoring.label(probability, rules.thresholds)
        if label == scoring.NOT_REPORTED:
            continue
        if rules.hit_only:
            hits.append(ScoredHit(orgs[f], f, (), 0.0, 0, may_request=False))
            continue
        may_request = probability >= rules.thresholds.request
        hits.append(ScoredHit(orgs[f], f, agreed, probability, label, may_request=may_request))
    return hits


@functools.lru_cache(maxsize=1 << 16)
def remembered_probability(
    agreed: tuple[int, ...],
    sent: frozenset[int],
    forename_class: int,
    surname_class: int,
    force_records: int,
    total_records: int,
    fpr: float,
    params: scoring.ScoringParams,
) -> float:
    """``scoring.score``'s probability, remembered: a batch repeats a few hundred distinct (agreed, sent,
    classes, force) patterns across its thousand candidates, and scoring one costs ~0.2 ms of Python
    (measured: half a batch's time without this). Pure inputs, so a remembered answer is the answer."""
    return scoring.score(
        agreed,
        forename_class=forename_class,
        surname_class=surname_class,
        force_records=force_records,
        total_records=total_records,
        fpr=fpr,
        params=params,
        sent_types=sent,
    ).probability


def batch_hits(
    candidates: Sequence[Candidate], matches: Matches, rules: HitRules
) -> list[Sequence[ScoredHit]]:
    """``scored_hits`` for every candidate of a batch at once: the same hits, in the same (column)
    order, with the same probabilities and labels (tests/unit/test_batch_path_equivalence.py).

    Why: most candidates of a batch agree somewhere on some key (a namesake, a shared date of birth),
    ~3 (candidate, force) pairs each on average, nearly all below the report threshold; scored one
    candidate at a time that was ~20 µs a candidate of Python (issue 20). Here the key types that agreed
    at each pair, and those each candidate sent, are found for the whole batch with numpy as bit sets,
    and each distinct (agreed, sent, name classes, force) is scored once with the probability
    ``scored_hits`` states (``remembered_probability``, remembered across batches)."""
    out: list[Sequence[ScoredHit]] = [NO_HITS] * len(candidates)
    found, all_types, starts = matches.found, matches.types, matches.starts
    forces = found.shape[1]
    pairs = np.flatnonzero(found)  # every (token, force) that agreed, token by token
    if pairs.size == 0:
        return out
    if int(all_types.max()) >= TYPE_BITS:  # never after screening; scored the plain way if it were
        return [
            scored_hits(cand, matches.of(k), matches.types_of(k), matches.orgs, rules)
            for k, cand in enumerate(candidates)
        ]
    rows, columns = np.divmod(pairs, forces)
    owners = np.searchsorted(starts, rows, side="right") - 1
    bits = np.left_shift(np.uint64(1), all_types.astype(np.uint64))
    # The (candidate, force) pairs in candidate then column order, with the types that agreed at each.
    pair_keys = owners * forces + columns
    order = np.argsort(pair_keys, kind="stable")
    keys = pair_keys[order]
    firsts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    agreed = np.bitwise_or.reduceat(bits[rows[order]], firsts)
    pair_owners = owners[order][firsts]
    pair_columns = columns[order][firsts]
    # The types each candidate sent (every candidate with a pair has rows; the others are skipped).
    nonempty = starts[1:] > starts[:-1]
    sent = np.zeros(len(candidates), dtype=np.uint64)
    sent[nonempty] = np.bitwise_or.reduceat(bits, starts[:-1][nonempty])
    orgs, thresholds = matches.orgs, rules.thresholds
    scored: dict[tuple[int, int, int, int, int], tuple[float, int, tuple[int, ...]]] = {}
    reported: dict[int, list[ScoredHit]] = {}
    sent_by = sent.tolist()
    for owner, column, agreed_bits in zip(
        pair_owners.tolist(), pair_columns.tolist(), agreed.tolist(), strict=True
    ):
        cand = candidates[owner]
        key = (agreed_bits, sent_by[owner], cand.forename_class, cand.surname_class, column)
        known = scored.get(key)
        if known is None:
            agreed_codes = _codes(agreed_bits)
            records = rules.records.get(orgs[column], 0)
            probability = remembered_probability(
                agreed_codes,
                frozenset(_codes(key[1])),
                cand.forename_class,
                cand.surname_class,
                records,
                max(records, rules.total_records),
                rules.fpr,
                rules.params,
            )
            known = scored[key] = (probability, scoring.label(probability, thresholds), agreed_codes)
        probability, label, agreed_codes = known
        if label == scoring.NOT_REPORTED:
            continue
        hit = (
            ScoredHit(orgs[column], column, (), 0.0, 0, may_request=False)
            if rules.hit_only
            else ScoredHit(
                orgs[column],
                column,
                agreed_codes,
                probability,
                label,
                may_request=probability >= thresholds.request,
            )
        )
        reported.setdefault(owner, []).append(hit)
    for owner, hits in reported.items():
        out[owner] = hits
    return out


@functools.lru_cache(maxsize=4096)
def _codes(bits: int) -> tuple[int, ...]:
    """The key type codes of a bit set, ascending (a batch meets a few dozen sets, again and again)."""
    return tuple(code for code in range(TYPE_BITS) if bits >> code & 1)
