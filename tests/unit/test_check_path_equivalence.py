"""The check path's shortcuts give exactly what the long way gives (issue 20: same answers, same log bytes).

Each shortcut is compared with the plain computation on random inputs: a batch's CHECK events encoded
from per-shape templates (``usecases.checkevents``) against ``Check.encode``; the candidate screening that
remembers key-type patterns that passed against the screening that does not; the cost remembered per
pattern against the sum of date spans; hit scoring against the rule written out with ``np.unique``; hit
rules from a view's remembered record counts against rules from the rows.
"""

from __future__ import annotations

import random
import uuid

import numpy as np
import pytest

from crossforce import scoring
from crossforce.auditlog.events import Check, parse_event
from crossforce.domain import (
    Candidate,
    Coverage,
    NotSearchedReason,
    QueryToken,
    SearchedForce,
    TokenBlock,
    UnsearchedForce,
)
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.errors import CrossforceError, ValidationError
from crossforce.limits import Limits
from crossforce.server.policy import candidates as shape
from crossforce.server.settings import PurposePolicy
from crossforce.server.store.rows import IndexRow
from crossforce.server.usecases import checkevents
from crossforce.server.usecases.checkevents import CheckEvents, check_ids
from crossforce.server.usecases.hits import HitRules, record_counts, scored_hits
from crossforce.testkit.indexrows import index_row
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire import matching as wire

ORGS = ["avon-and-somerset", "essex", "kent", "metropolitan", "surrey"]
TEXTS = ["Police Act 1997 s113B", "C-" + "0" * 32, "f" * 40, "Ünïcode case ✓", "O-1"]
"""Justification texts, two of them holding the characters the template's probe ids are made of."""


def events(rng: random.Random, unverified: int) -> CheckEvents:
    return CheckEvents(
        at_ms=rng.randrange(2**40),
        actor_org="dbs",
        actor_role="vetting-officer",
        officer_id=rng.choice(TEXTS),
        purpose="school-staff-vetting",
        legal_basis=rng.choice(TEXTS),
        case_reference=rng.choice(TEXTS),
        officer_unverified=unverified,
    )


@pytest.mark.parametrize("seed", range(6))
def test_templated_check_events_are_the_encoders_bytes(seed: int) -> None:
    rng = random.Random(seed)
    batch = events(rng, unverified=seed % 2)
    for _ in range(400):
        check_id = rng.getrandbits(128).to_bytes(16, "big").hex()
        hits = tuple(sorted(rng.sample(ORGS, rng.choice([0, 0, 0, 1, 2]))))
        requests = tuple(f"r{rng.getrandbits(32)}" for _ in hits) if rng.random() < 0.1 else ()
        cost = rng.choice([0, 1, 366, 700, 733])
        got = batch.encode(check_id, hits, requests, cost)
        want = Check(
            at_ms=batch.at_ms,
            actor_org=batch.actor_org,
            actor_role=batch.actor_role,
            check_id=check_id,
            officer_id=batch.officer_id,
            purpose=batch.purpose,
            legal_basis=batch.legal_basis,
            case_reference=batch.case_reference,
            hits=hits,
            requests=requests,
            cost=cost,
            officer_unverified=batch.officer_unverified,
        ).encode()
        assert got == want
        assert parse_event(got) == parse_event(want)


def test_an_id_that_is_not_32_hex_characters_takes_the_encoder_and_is_still_refused_like_it() -> None:
    batch = events(random.Random(1), unverified=0)
    for _ in range(3):  # the shape is templated from the second time on
        assert batch.encode("a" * 32, (), (), 5) == batch.event("a" * 32, (), (), 5).encode()
    assert batch.encode("short-id", (), (), 5) == batch.event("short-id", (), (), 5).encode()
    with pytest.raises(ValidationError):
        batch.encode("a" * 32, ("kent,essex",), (), 5)  # a list item with a comma: the encoder refuses
    with pytest.raises(ValidationError):
        batch.encode("a" * 32, ("kent,essex",), (), 5)  # and again, once the shape has been seen


LIMITS = Limits()
PER_TYPE = shape.max_per_type(LIMITS)
KNOWN = sorted(KEY_TYPES)


def random_block(rng: random.Random) -> TokenBlock:
    """Mostly valid key-type patterns from a small pool, some with an unknown type or one type too many."""
    pool = [bytes(rng.choice(KNOWN) for _ in range(rng.randrange(1, 20))) for _ in range(6)]
    key_types = bytearray(rng.choice(pool))
    roll = rng.random()
    if roll < 0.1:
        key_types[rng.randrange(len(key_types))] = rng.choice([0, 200, 255])
    elif roll < 0.2:
        code = rng.choice(KNOWN)
        key_types += bytes([code]) * (int(PER_TYPE[code]) + 1)
    tokens = b"".join(rng.getrandbits(256).to_bytes(32, "big") for _ in key_types)
    if rng.random() < 0.05 and len(key_types) > 1:
        tokens = tokens[:32] + tokens[:32] + tokens[64:]  # a token twice
    return TokenBlock(epoch=1, key_types=bytes(key_types), tokens=tokens)


def verdict(candidate: Candidate, passed: set[bytes] | None) -> tuple[str, str] | None:
    try:
        shape.check_candidate(candidate, limits=LIMITS, active=(1,), per_type=PER_TYPE, passed=passed)
    except CrossforceError as exc:
        return type(exc).__name__, str(exc)
    return None


def test_screening_that_remembers_patterns_refuses_and_admits_exactly_what_the_full_rules_do() -> None:
    rng = random.Random(7)
    passed: set[bytes] = set()
    outcomes = set()
    for _ in range(2000):
        candidate = Candidate(blocks=(random_block(rng),))
        want = verdict(candidate, None)
        assert verdict(candidate, passed) == want
        outcomes.add(None if want is None else want[0])
    assert outcomes == {None, "ValidationError"}  # both outcomes were exercised
    assert len(passed) <= shape.PATTERNS_KEPT


def test_cost_remembered_per_pattern_is_the_sum_of_date_spans() -> None:
    rng = random.Random(3)
    for _ in range(500):
        blocks = tuple(random_block(rng) for _ in range(rng.randrange(1, 3)))
        spans = [int(shape.DATE_SPAN[np.frombuffer(b.key_types, dtype=np.uint8)].sum()) for b in blocks]
        want = max(1, *spans)
        assert shape.cost(Candidate(blocks=blocks)) == want


def row(org: str, records: int, epoch: int) -> IndexRow:
    return index_row(org, epoch, record_count=records, token_count=1)


ROWS = {(o, e): row(o, 10_000 * (i + 1) * e, e) for i, o in enumerate(ORGS) for e in (1, 2)}
POLICY = PurposePolicy(
    code="p",
    description="a purpose",
    allows_disclosure=True,
    deadline_days=14,
    report_threshold=1e-6,
    request_threshold=0.5,
)


def scored_the_long_way(
    candidate: Candidate, found: np.ndarray, key_types: np.ndarray, rules: HitRules
) -> list[tuple[str, int, tuple[int, ...], float, int, bool]]:
    """The hit rule written out plainly (as it was before the shortcuts)."""
    out = []
    sent = frozenset(int(t) for t in np.unique(key_types))
    for col in np.nonzero(found.any(axis=0))[0]:
        f = int(col)
        agreed = tuple(sorted({int(t) for t in key_types[found[:, f]]}))
        records = rules.records.get(ORGS[f], 0)
        probability = scoring.score(
            agreed,
            forename_class=candidate.forename_class,
            surname_class=candidate.surname_class,
            force_records=records,
            total_records=max(records, rules.total_records),
            fpr=rules.fpr,
            params=rules.params,
            sent_types=sent,
        ).probability
        label = scoring.label(probability, rules.thresholds)
        if label != scoring.NOT_REPORTED:
            out.append((ORGS[f], f, agreed, probability, label, probability >= rules.thresholds.request))
    return out


def test_hit_scoring_and_rules_from_remembered_record_counts_match_the_long_way() -> None:
    rules = HitRules.of(POLICY, ROWS, 5e-8)
    assert HitRules.of(POLICY, ROWS, 5e-8, records=record_counts(ROWS)) == rules
    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 26))
        key_types = rng.choice(np.array(KNOWN, dtype=np.uint8), size=n)
        found = rng.random((n, len(ORGS))) < rng.choice([0.0, 0.05, 0.3])
        candidate = Candidate.of(
            [QueryToken(key_type=int(t), epoch=1, token=bytes(32)) for t in range(n)],
            forename_class=int(rng.integers(0, 6)),
            surname_class=int(rng.integers(0, 6)),
        )
        got = [
            (h.org, h.column, h.key_types, h.probability, h.label, h.may_request)
            for h in scored_hits(candidate, found, key_types, ORGS, rules)
        ]
        assert got == scored_the_long_way(candidate, found, key_types, rules)


def test_a_coverage_message_kept_between_checks_is_the_one_built_and_no_answer_can_change_it() -> None:
    coverage = Coverage(
        searched=tuple(
            SearchedForce(org=o, epoch=1, version=i + 1, published_at_ms=10 * i, expires_at_ms=10**12)
            for i, o in enumerate(ORGS)
        ),
        not_searched=(UnsearchedForce(org="cumbria", reason=NotSearchedReason.EXPIRED),),
    )
    built = wire._build_coverage(coverage)
    first = wire.coverage_to_pb(coverage)
    first.searched[0].org = "changed"  # a caller's copy is its own
    del first.searched[1:]
    for _ in range(2):
        assert wire.coverage_to_pb(coverage) == built
        response = pb.CheckResponse(coverage=wire._coverage_message(coverage))
        assert response.coverage == built
        response.coverage.searched[0].version = 99
    assert wire._coverage_message(coverage) == built
    other = Coverage(searched=coverage.searched[:1], not_searched=())
    assert wire.coverage_to_pb(other) == wire._build_coverage(other)


def test_check_ids_are_what_uuid4_hex_gives_and_never_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = check_ids(5000)
    assert len(set(ids)) == len(ids) == 5000
    for check_id in ids:
        parsed = uuid.UUID(hex=check_id)
        assert parsed.hex == check_id and len(check_id) == 32
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert check_ids(0) == []
    raw = bytes(range(16))  # the same random bytes give the same id both ways
    monkeypatch.setattr(checkevents.os, "urandom", lambda n: raw * (n // 16))
    assert check_ids(2) == [uuid.UUID(bytes=raw, version=4).hex] * 2
