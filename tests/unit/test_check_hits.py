"""Which forces a check answers, with what probability, and which hits may open a request (usecases.hits)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from crossforce import scoring
from crossforce.domain import Candidate, QueryToken
from crossforce.server.settings import PurposePolicy
from crossforce.server.store.rows import IndexRow
from crossforce.server.usecases.hits import HitRules, scored_hits
from crossforce.testkit.indexrows import index_row

NAME_DOB, PHONETIC_DOB, NAME_YEAR, PNC_ID = 16, 17, 27, 1
ORGS = ["kent", "essex", "surrey"]
FPR = 5e-8


def row(org: str, records: int, epoch: int = 1) -> IndexRow:
    return index_row(org, epoch, record_count=records, token_count=1)


ROWS = {(o, 1): row(o, n) for o, n in zip(ORGS, (1_000_000, 800_000, 600_000), strict=True)}


def policy(report: float = 0.5, request: float = 0.5, *, disclosure: bool = True) -> PurposePolicy:
    return PurposePolicy(
        code="p",
        description="a purpose",
        allows_disclosure=disclosure,
        deadline_days=14 if disclosure else 0,
        report_threshold=report,
        request_threshold=request,
    )


def candidate(types: list[int], *, forename_class: int = 3, surname_class: int = 3) -> Candidate:
    tokens = [QueryToken(key_type=t, epoch=1, token=os.urandom(32)) for t in types]
    return Candidate.of(tokens, forename_class=forename_class, surname_class=surname_class)


def expected(agreed: list[int], org: str, cand: Candidate) -> float:
    total = sum(r.record_count for r in ROWS.values())
    return scoring.score(
        agreed,
        forename_class=cand.forename_class,
        surname_class=cand.surname_class,
        force_records=ROWS[(org, 1)].record_count,
        total_records=total,
        fpr=FPR,
    ).probability


def test_each_force_is_scored_from_the_key_types_that_agreed_there() -> None:
    cand = candidate([NAME_DOB, PHONETIC_DOB, NAME_YEAR])
    found = np.array([[True, False, False], [True, True, False], [True, True, False]])
    types = np.frombuffer(bytes([NAME_DOB, PHONETIC_DOB, NAME_YEAR]), dtype=np.uint8)
    rules = HitRules.of(policy(report=0.01, request=0.01), ROWS, FPR)
    hits = scored_hits(cand, found, types, ORGS, rules)
    assert [(h.org, h.key_types) for h in hits] == [
        ("kent", (NAME_DOB, PHONETIC_DOB, NAME_YEAR)),
        ("essex", (PHONETIC_DOB, NAME_YEAR)),
    ]
    assert hits[0].probability == pytest.approx(expected([NAME_DOB, PHONETIC_DOB, NAME_YEAR], "kent", cand))
    assert hits[1].probability == pytest.approx(expected([PHONETIC_DOB, NAME_YEAR], "essex", cand))
    assert [h.label for h in hits] == [scoring.label(h.probability, rules.thresholds) for h in hits]


def test_the_candidates_name_classes_move_the_probability() -> None:
    found = np.array([[True, False, False]])
    types = np.frombuffer(bytes([NAME_DOB]), dtype=np.uint8)
    rules = HitRules.of(policy(report=1e-9, request=1e-9), ROWS, FPR)
    common = scored_hits(candidate([NAME_DOB], forename_class=0, surname_class=0), found, types, ORGS, rules)
    rare = scored_hits(candidate([NAME_DOB], forename_class=5, surname_class=5), found, types, ORGS, rules)
    assert rare[0].probability > common[0].probability


def test_a_hit_below_the_report_threshold_is_not_answered_and_one_below_request_opens_nothing() -> None:
    cand = candidate([NAME_DOB, NAME_YEAR])
    found = np.array([[True, False, False], [False, True, False]])  # kent: name+dob; essex: a year only
    types = np.frombuffer(bytes([NAME_DOB, NAME_YEAR]), dtype=np.uint8)
    strong, weak = expected([NAME_DOB], "kent", cand), expected([NAME_YEAR], "essex", cand)
    assert weak < strong
    between = (weak + strong) / 2
    hits = scored_hits(cand, found, types, ORGS, HitRules.of(policy(report=between, request=1.0), ROWS, FPR))
    assert [h.org for h in hits] == ["kent"]
    assert hits[0].may_request is (strong >= 1.0)
    everything = HitRules.of(policy(report=weak / 2, request=between), ROWS, FPR)
    both = scored_hits(cand, found, types, ORGS, everything)
    assert [(h.org, h.may_request) for h in both] == [("kent", True), ("essex", False)]


def test_a_hit_only_purpose_learns_only_that_a_force_may_hold_the_person() -> None:
    cand = candidate([NAME_DOB, PNC_ID])
    found = np.array([[True, False, True], [True, False, False]])
    types = np.frombuffer(bytes([NAME_DOB, PNC_ID]), dtype=np.uint8)
    rules = HitRules.of(policy(report=0.01, request=0.01, disclosure=False), ROWS, FPR)
    hits = scored_hits(cand, found, types, ORGS, rules)
    assert [h.org for h in hits] == ["kent", "surrey"]
    assert all(h.key_types == () and h.probability == 0.0 and h.label == 0 for h in hits)
    assert not any(h.may_request for h in hits)


def test_a_force_on_two_epochs_counts_once_toward_all_records() -> None:
    rows = {**ROWS, ("kent", 2): row("kent", 1_100_000, epoch=2)}
    rules = HitRules.of(policy(), rows, FPR)
    assert rules.records["kent"] == 1_100_000
    assert rules.total_records == 1_100_000 + 800_000 + 600_000


def test_no_agreement_anywhere_answers_no_hit() -> None:
    cand = candidate([NAME_DOB])
    found = np.zeros((1, 3), dtype=bool)
    types = np.frombuffer(bytes([NAME_DOB]), dtype=np.uint8)
    assert scored_hits(cand, found, types, ORGS, HitRules.of(policy(), ROWS, FPR)) == []
