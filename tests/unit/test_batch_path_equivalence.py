"""A batch's shortcuts give exactly what checking its candidates one by one gives (issue 20: same answers,
same log bytes).

Each batch-wide step is compared with the per-candidate rule it replaces, on random inputs: screening
(``candidates.screen`` against ``check_candidate``, error type and message), hit scoring
(``hits.batch_hits`` against ``hits.scored_hits``), the kernel fed in memory order
(``tokenmatch.kernel_check`` against ``matchkernel.check``), the epochs coverage reports searched, and
the whole path: a batch checked by a Matcher against the same candidates checked one at a time, with
the same check ids and clock, must write the same CHECK entries byte for byte and answer the same.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossforce import scoring
from crossforce.crypto.pki import Identity
from crossforce.domain import Candidate, Justification, TokenBlock
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.errors import CrossforceError, status_name_for
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot
from crossforce.limits import Limits
from crossforce.scoring import model as scoring_model
from crossforce.server import matchkernel
from crossforce.server.matcher import Matcher
from crossforce.server.policy import candidates as shape
from crossforce.server.settings import PurposePolicy, ServerSettings
from crossforce.server.usecases import checking, tokenmatch
from crossforce.server.usecases import hits as hits_module
from crossforce.server.usecases.hits import HitRules, remembered_probability, scored_hits
from crossforce.server.usecases.tokenmatch import Matches
from crossforce.testkit.indexrows import index_row
from crossforce.testkit.publishstream import PublishStreamMatcher

LIMITS = Limits()
PER_TYPE = shape.max_per_type(LIMITS)
KNOWN = sorted(KEY_TYPES)


# ------------------------------------------------------------------ screening


def _tokens(rng: random.Random, count: int) -> bytes:
    return b"".join(rng.getrandbits(256).to_bytes(32, "big") for _ in range(count))


def _odd_block(rng: random.Random, epoch: int, pool: list[bytes]) -> TokenBlock:
    """A block from a small pool of key-type patterns, sometimes broken one of the ways a candidate can be."""
    key_types = bytearray(rng.choice(pool))
    tokens = _tokens(rng, len(key_types))
    roll = rng.random()
    if roll < 0.04:
        key_types[rng.randrange(len(key_types))] = rng.choice([0, 200, 255])  # unknown type
    elif roll < 0.08:
        code = rng.choice(KNOWN)
        key_types += bytes([code]) * (int(PER_TYPE[code]) + 1)  # more of a type than a record yields
        tokens = _tokens(rng, len(key_types))
    elif roll < 0.12 and len(key_types) > 1:
        tokens = tokens[:32] + tokens[:32] + tokens[64:]  # a token twice
    elif roll < 0.16 and len(key_types) > 1:
        tokens = tokens[:32] + tokens[:8] + bytes(24) + tokens[64:]  # two tokens sharing 8 bytes only
    elif roll < 0.18:
        tokens = tokens[:-1]  # a byte short
    elif roll < 0.20:
        key_types, tokens = bytearray(), b""  # no tokens
    elif roll < 0.22:
        key_types = bytearray([KNOWN[0]]) * (LIMITS.max_tokens_per_candidate + 1)
        tokens = _tokens(rng, len(key_types))
    return TokenBlock(epoch=epoch, key_types=bytes(key_types), tokens=tokens)


def _odd_candidate(rng: random.Random, pool: list[bytes]) -> Candidate:
    blocks = [_odd_block(rng, 1, pool)]
    roll = rng.random()
    if roll < 0.05:
        blocks.append(_odd_block(rng, 2, pool))  # a second epoch
    elif roll < 0.08:
        blocks.append(_odd_block(rng, 1, pool))  # a second block of the same epoch
    elif roll < 0.10:
        blocks = []
    elif roll < 0.13:
        blocks = [_odd_block(rng, 3, pool)]  # an epoch not in use
    classes = [rng.randrange(6) for _ in range(2)]
    if rng.random() < 0.03:
        classes[rng.randrange(2)] = rng.choice([-1, 6, 99])
    return Candidate(blocks=tuple(blocks), forename_class=classes[0], surname_class=classes[1])


def _verdict(exc: CrossforceError | None) -> tuple[str, str] | None:
    return None if exc is None else (type(exc).__name__, str(exc))


def _one_by_one(candidate: Candidate, active: tuple[int, ...]) -> tuple[str, str] | None:
    try:
        shape.check_candidate(candidate, limits=LIMITS, active=active, per_type=PER_TYPE)
    except CrossforceError as exc:
        return _verdict(exc)
    return None


@pytest.mark.parametrize(("seed", "active"), [(0, (1, 2)), (1, (1,)), (2, ()), (3, (2, 1))])
def test_batch_screening_refuses_and_admits_exactly_what_check_candidate_does(
    seed: int, active: tuple[int, ...]
) -> None:
    rng = random.Random(seed)
    pool = [bytes(rng.choice(KNOWN) for _ in range(rng.randrange(1, 24))) for _ in range(8)]
    passed: set[bytes] = set()
    kinds = set()
    for _ in range(6):  # the patterns remembered by one batch speed up the next
        batch = [_odd_candidate(rng, pool) for _ in range(300)]
        got = [
            _verdict(v)
            for v in shape.screen(batch, limits=LIMITS, active=active, per_type=PER_TYPE, passed=passed)
        ]
        want = [_one_by_one(c, active) for c in batch]
        assert got == want
        kinds |= {None if w is None else w[0] for w in want}
    assert {None, "ValidationError", "TooLargeError"} <= kinds
    assert ("PreconditionError" in kinds) == bool(active)


def test_tokens_sharing_their_first_bytes_are_not_taken_for_the_same_token() -> None:
    first = bytes(range(32))
    second = first[:8] + bytes(24)
    fine = Candidate(blocks=(TokenBlock(epoch=1, key_types=bytes([1, 2]), tokens=first + second),))
    twice = Candidate(blocks=(TokenBlock(epoch=1, key_types=bytes([1, 2]), tokens=first + first),))
    passed = {bytes([1, 2])}
    verdicts = shape.screen([fine, twice] * 10, limits=LIMITS, active=(1,), per_type=PER_TYPE, passed=passed)
    assert verdicts[0::2] == [None] * 10
    assert all("a token appears twice" in str(v) for v in verdicts[1::2])


# ------------------------------------------------------------------ hit scoring

ORGS = ["avon-and-somerset", "essex", "kent", "metropolitan", "surrey", "sussex", "thames-valley"]
ROWS = {
    (o, e): index_row(o, e, record_count=5_000 * (i + 1) * e, token_count=1)
    for i, o in enumerate(ORGS)
    for e in (1, 2)
}


def _policy(report: float, request: float, *, disclosure: bool = True) -> PurposePolicy:
    return PurposePolicy(
        code="p",
        description="a purpose",
        allows_disclosure=disclosure,
        deadline_days=14,
        report_threshold=report,
        request_threshold=request,
    )


def _matches(rng: np.random.Generator, sizes: list[int], density: float) -> Matches:
    starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    total = int(starts[-1])
    types = rng.choice(np.array(KNOWN, dtype=np.uint8), size=total)
    found = rng.random((total, len(ORGS))) < density
    return Matches(found=found, types=types, starts=starts, orgs=list(ORGS), rows=ROWS)


@pytest.mark.parametrize("seed", range(6))
def test_batch_hits_are_the_hits_scored_one_candidate_at_a_time(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for policy in (_policy(1e-6, 0.5), _policy(0.2, 0.9), _policy(1e-6, 1e-6, disclosure=False)):
        rules = HitRules.of(policy, ROWS, 5e-8)
        for density in (0.0, 0.01, 0.1, 0.5):
            sizes = [int(s) for s in rng.integers(0, 30, size=int(rng.integers(1, 120)))]
            matches = _matches(rng, sizes, density)
            cands = [
                Candidate(blocks=(), forename_class=int(rng.integers(6)), surname_class=int(rng.integers(6)))
                for _ in sizes
            ]
            got = hits_module.batch_hits(cands, matches, rules)
            want = [
                scored_hits(c, matches.of(k), matches.types_of(k), matches.orgs, rules)
                for k, c in enumerate(cands)
            ]
            assert [list(g) for g in got] == want


def test_the_epochs_every_candidate_carries_are_the_plain_intersection() -> None:
    rng = random.Random(5)
    for _ in range(300):
        cands = [
            Candidate(
                blocks=tuple(
                    TokenBlock(epoch=e, key_types=bytes([1]) * n, tokens=bytes(32 * n))
                    for e, n in (
                        (rng.randrange(1, 4), rng.choice([0, 1, 2])) for _ in range(rng.randrange(0, 3))
                    )
                )
            )
            for _ in range(rng.randrange(0, 6))
        ]
        sets = [{b.epoch for b in c.blocks if len(b)} for c in cands]
        assert checking.common_epochs(cands) == (frozenset(set.intersection(*sets)) if sets else frozenset())


# ------------------------------------------------------------------ a score from remembered terms


def _score_the_long_way(
    agreed: Any, sent: Any, fc: int, sc: int, records: int, total: int, fpr: float, params: Any
) -> float:
    """``scoring.score``'s probability computed as it was before its terms were remembered."""
    best = None
    outcome_slope, outcome_intercept = params.outcome_calibration
    for levels in scoring.explanations(agreed, sent):
        if all(level == scoring.NONE for level in levels.values()) or records == 0:
            probability = 0.0
        else:
            classes = {"forename": fc, "surname": sc}
            log_m = log_q = 0.0
            for field, level in levels.items():
                u = scoring.field_u(field, level, name_class=classes.get(field, 0), params=params)
                m = params.m_none[field] if level == scoring.NONE else params.m[field][level]
                log_m += math.log(m)
                log_q += math.log(u)
            coincidence = -math.expm1(-records * math.exp(log_q)) + fpr
            prior = min(1.0 - 1e-9, params.base_rate * records / max(1, total))
            log_odds = math.log(prior / (1.0 - prior)) + log_m - math.log(max(1e-300, min(1.0, coincidence)))
            slope, intercept = params.family_calibration.get(scoring.family(levels), params.calibration)
            x = outcome_slope * (slope * log_odds + intercept) + outcome_intercept
            probability = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        best = probability if best is None else max(best, probability)
    return 0.0 if best is None else best


def test_a_score_from_remembered_terms_is_the_same_float_as_the_long_way() -> None:
    rng = random.Random(21)
    shifted = dataclasses.replace(
        scoring.DEFAULT, base_rate=scoring.DEFAULT.base_rate * 3, outcome_calibration=(1.3, -0.2)
    )
    for _ in range(3_000):
        sent = rng.sample(KNOWN, rng.randrange(0, 14))
        agreed = rng.sample(sent or KNOWN, rng.randrange(1, min(5, len(sent or KNOWN)) + 1))
        if rng.random() < 0.5:
            agreed = sorted(agreed)
        fc, sc = rng.randrange(6), rng.randrange(6)
        records = rng.choice([0, 1, 500, 30_000, 150_000])
        total = records + rng.choice([0, 1_000_000])
        fpr = rng.choice([0.0, 5e-8, 1e-3])
        params = rng.choice([scoring.DEFAULT, shifted])
        for sent_as in (tuple(sent), frozenset(sent)):
            got = scoring.score(
                tuple(agreed),
                forename_class=fc,
                surname_class=sc,
                force_records=records,
                total_records=total,
                fpr=fpr,
                params=params,
                sent_types=sent_as,
            )
            assert got.probability == _score_the_long_way(
                agreed, sent_as, fc, sc, records, total, fpr, params
            )


# ------------------------------------------------------------------ the kernel in memory order


def test_a_batch_fed_to_the_kernel_in_memory_order_answers_row_for_row() -> None:
    rng = np.random.default_rng(9)
    kinds = np.array(KNOWN, dtype=np.uint8)
    members: list[tuple[int, bytes]] = []
    indexes = {}
    for org in ORGS:
        tokens = rng.integers(0, 256, size=(3_000, 32), dtype=np.uint8)
        types = rng.choice(kinds[:-1], size=3_000)  # one type no force holds
        indexes[org] = PartitionedIndex.build(types, tokens, 0.01)
        members += [(int(t), bytes(k)) for t, k in zip(types[:400], tokens[:400], strict=True)]
    snapshot = MatchSnapshot.build(indexes)
    count = tokenmatch.SORTED_MIN_TOKENS + 500
    chosen = [members[int(i)] for i in rng.integers(len(members), size=count // 2)]
    types = np.concatenate(
        [np.array([t for t, _ in chosen], dtype=np.uint8), rng.choice(kinds, size=count - len(chosen))]
    )
    tokens = np.concatenate(
        [
            np.frombuffer(b"".join(k for _, k in chosen), dtype=np.uint8).reshape(-1, 32),
            rng.integers(0, 256, size=(count - len(chosen), 32), dtype=np.uint8),
        ]
    )
    order = rng.permutation(count)
    types, tokens = types[order], np.ascontiguousarray(tokens[order])
    got = tokenmatch.kernel_check(snapshot, tokens, types)
    want = matchkernel.check(snapshot, tokens, types)
    assert got.any() and (got == want).all()
    small = tokenmatch.kernel_check(snapshot, tokens[:50], types[:50])
    assert (small == want[:50]).all()


# ------------------------------------------------------------------ the whole path, through a Matcher

FORCES = ("essex", "kent", "metropolitan", "surrey")
SETTINGS = """
[quotas]
org_rate_per_s = 1000000000000.0
org_burst = 1000000000000000
officer_rate_per_s = 1000000000000.0
officer_burst = 1000000000000000
[purposes.school-staff-vetting]
daily_limit_per_org = 1000000000000000
[purposes.hit-only-screening]
daily_limit_per_org = 1000000000000000
"""
VETTER = Identity(
    org="dbs", role="vetting-officer", fingerprint="t", not_after=datetime.now(UTC) + timedelta(days=1)
)
PURPOSES = ("school-staff-vetting", "hit-only-screening")


def _why(purpose: str) -> Justification:
    return Justification(
        purpose=purpose, legal_basis="Police Act 1997 s113B", case_reference="C-1", officer_id="O-1"
    )


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Matcher, dict[str, list[tuple[int, bytes]]]]]:
    """A Matcher on SQLite to which four forces published, and the (type, token) pairs each holds."""
    net = PublishStreamMatcher(
        tmp_path, chunk_bytes=1 << 16, settings=ServerSettings.from_toml_text(SETTINGS)
    )
    rng = np.random.default_rng(3)
    kinds = np.array(KNOWN, dtype=np.uint8)
    holds: dict[str, list[tuple[int, bytes]]] = {}
    for org in FORCES:
        net.register(org)
        types = rng.choice(kinds, size=2_000)
        tokens = rng.integers(0, 256, size=(2_000, 32), dtype=np.uint8)
        bloom = PartitionedIndex.build(types, tokens)
        net.publish(org, net.chunks(org, bloom, version=1, record_count=500))
        holds[org] = [(int(t), bytes(k)) for t, k in zip(types, tokens, strict=True)]
    try:
        yield net.matcher, holds
    finally:
        net.close()


def _candidates(rng: random.Random, holds: dict[str, list[tuple[int, bytes]]], count: int) -> list[Candidate]:
    """Candidates of one block within the per-type limits: some mostly of tokens one force holds (hits of
    every strength), some with one held token among random ones, most of random tokens; a few refused
    for an unknown key type."""
    pool = [code for code in KNOWN for _ in range(min(3, int(PER_TYPE[code])))]
    by_type: dict[tuple[str, int], list[bytes]] = {}
    for org, pairs in holds.items():
        for code, token in pairs:
            by_type.setdefault((org, code), []).append(token)
    # A few key-type patterns, as a force's records give (which fields a record has): once judged, a
    # pattern lets ``screen`` clear its candidates by the batch shortcut.
    patterns = [rng.sample(pool, rng.randrange(8, 26)) for _ in range(6)]
    out = []
    for _ in range(count):
        types = list(rng.choice(patterns))
        tokens = [rng.getrandbits(256).to_bytes(32, "big") for _ in types]
        org = rng.choice(FORCES)
        roll = rng.random()
        share = 0.8 if roll < 0.15 else 0.1 if roll < 0.5 else 0.0
        for j, code in enumerate(types):
            if rng.random() < share and by_type.get((org, code)):
                tokens[j] = rng.choice(by_type[(org, code)])
        if len(set(tokens)) != len(tokens):
            continue
        key_types = bytes(types)
        if rng.random() < 0.03:
            key_types = bytes([200]) + key_types[1:]
        block = TokenBlock(epoch=1, key_types=key_types, tokens=b"".join(tokens))
        out.append(
            Candidate(blocks=(block,), forename_class=rng.randrange(6), surname_class=rng.randrange(6))
        )
    # Refused by the rules the shortcut must hand back: a token twice, and a second block of epoch 1.
    first = out[0].blocks[0]
    twice = first.tokens[:32] + first.tokens[:-32]
    out.insert(7, Candidate(blocks=(TokenBlock(epoch=1, key_types=first.key_types, tokens=twice),)))
    out.insert(11, Candidate(blocks=(first, first)))
    return out


def _run(
    matcher: Matcher, monkeypatch: pytest.MonkeyPatch, ids: Iterator[int], call: Any
) -> tuple[Any, list[bytes]]:
    """The call's answer and every log entry it appended, read back from the stored log (whichever
    way the check path staged them), with check ids drawn from ``ids``."""
    audit = matcher.checking._audit
    monkeypatch.setattr(checking, "check_ids", lambda n: [f"{next(ids):032x}" for _ in range(n)])
    start = audit.size
    answer = call()
    return answer, [entry for _index, entry, _leaf in audit.entries(start, audit.size)]


@pytest.mark.parametrize("purpose", PURPOSES)
def test_a_batch_writes_the_entries_and_answers_of_its_candidates_checked_one_by_one(
    held: tuple[Matcher, dict[str, list[tuple[int, bytes]]]], monkeypatch: pytest.MonkeyPatch, purpose: str
) -> None:
    matcher, holds = held
    fixed = matcher.clock()
    monkeypatch.setattr(matcher, "clock", lambda: fixed)
    batch = _candidates(random.Random(purpose), holds, 160)  # > SORTED_MIN_TOKENS tokens in all
    assert sum(c.token_count for c in batch) >= tokenmatch.SORTED_MIN_TOKENS
    why = _why(purpose)
    matcher.check(VETTER, batch[:20], why, open_requests=False)  # judges the patterns, as earlier checks do
    shortcut: list[int] = []
    real_sorted_out = shape._sorted_out

    def counted(*args: Any, **kwargs: Any) -> tuple[list[int], list[int]]:
        quick, slow = real_sorted_out(*args, **kwargs)
        shortcut.append(len(quick))
        return quick, slow

    monkeypatch.setattr(shape, "_sorted_out", counted)
    together, batch_entries = _run(
        matcher,
        monkeypatch,
        itertools.count(),
        lambda: matcher.check(VETTER, batch, why, open_requests=False),
    )
    assert shortcut and shortcut[0] > len(batch) // 2, "the batch shortcut cleared most candidates"
    _forget_scores()  # the one-by-one answers are computed afresh, not read back from the batch's
    ids = itertools.count()
    alone: list[Any] = []
    alone_entries: list[bytes] = []
    for cand in batch:
        try:
            outcome, entries = _run(
                matcher,
                monkeypatch,
                ids,
                lambda c=cand: matcher.check_one(VETTER, c, why, open_requests=False),
            )
        except CrossforceError as exc:
            alone.append((status_name_for(exc), str(exc)))
            continue
        alone.append(outcome.results[0])
        alone_entries += entries
    assert len(batch_entries) == sum(r.error is None for r in together.results)  # one per candidate checked
    assert batch_entries == alone_entries
    assert [r if r.error is None else (r.error.code, r.error.message) for r in together.results] == alone
    hits = [h for r in together.results for h in r.hits]
    assert hits and len(hits) < len(batch)  # some candidates hit, most do not
    refused = [r.error.message for r in together.results if r.error is not None]
    assert any("appears twice" in m for m in refused) and any("second block" in m for m in refused), refused


def _forget_scores() -> None:
    """Empty the remembered scores both paths share, so neither reads back an answer the other made."""
    remembered_probability.cache_clear()
    scoring_model._patterns.cache_clear()
    scoring_model._field_terms.cache_clear()


def _acceptable(cand: Candidate) -> bool:
    """One block of a known first key type and no token twice: a candidate check_one answers."""
    if len(cand.blocks) != 1 or cand.blocks[0].key_types[0] == 200:
        return False
    tokens = cand.blocks[0].tokens
    return len({tokens[i : i + 32] for i in range(0, len(tokens), 32)}) * 32 == len(tokens)


def test_a_batch_opening_requests_answers_as_its_candidates_checked_one_by_one(
    held: tuple[Matcher, dict[str, list[tuple[int, bytes]]]],
) -> None:
    matcher, holds = held
    batch = [c for c in _candidates(random.Random(11), holds, 120) if _acceptable(c)]
    why = _why("school-staff-vetting")
    together = matcher.check(VETTER, batch, why, open_requests=True)
    _forget_scores()
    alone = [matcher.check_one(VETTER, c, why, open_requests=True).results[0] for c in batch]

    def seen(results: Any) -> list[list[tuple[str, int, tuple[int, ...], float, bool]]]:
        return [
            [(h.org, h.strength, h.key_types, h.probability, bool(h.request_id)) for h in r.hits]
            for r in results
        ]

    assert seen(together.results) == seen(alone)
    assert any(h.request_id for r in together.results for h in r.hits)
