"""Match quality of spec v1 keys (fixed strengths) beside spec v2 keys (calibrated probabilities), one run.

Simulated forces publish their records as token sets (plain Python sets: the Bloom filter's own false
positives are the index benchmark's business; scoring is given the index's target FPR), through the
client's door (``validate_record``: placeholders emptied). Sightings of people they hold and of people held
nowhere are then checked against every force with both key sets, and for each we report:

- recall: (query, holding force) pairs that hit at the right force;
- false-force rate: queries for held people that hit a force not holding them (a namesake);
- false-trace rate: queries for people held nowhere that hit any force;
- v1 per strength label (weak/medium/strong, ``hit_strength``), v2 per probability threshold
  (``crossforce.scoring.score``), the exact name+DOB baseline beside both;
- tokens and index bits per record (v1: one filter per force; v2: one partition per key type, each sized by
  ``choose_params`` at the default FPR);
- a reliability table for v2: deciles of stated probability with n, observed precision and the gap;
- v2 recall per error kind in the pair, per record class, false traces by relation to someone held;
- ``--ablate``: v2 recall and false rates at the default threshold with each key type removed.

``--fit`` re-estimates the scoring parameters on this run (m from the true pairs' agreement levels,
Platt calibration on every scored pair, shifted per pattern family) and, with ``--write``, stores them
as the package's default (``crossforce/scoring/params-v2.json``). Fit on one seed and report on another;
``bench.quality_snapshot`` and ``bench.quality_tune`` refit the curves on saved runs in seconds.

Profiles (``crossforce.testkit.simulate.PROFILES``): ``realistic`` (default): 43 forces at their relative
sizes, errors per (query, held record) pair at the rates of docs/records.md; ``classic``: four forces,
errors by ``--level`` in the query only.

Usage: ``python -m bench.quality [--records N] [--people N] [--absent N] [--seed S] [--keys v1,v2]
[--ablate] [--fit [--write]] [--names-only]``. Default 100,000 records; ``--records 1000000`` for the
national-scale figures (docs/quality.md). The last line printed is one JSON object.

This module is over 400 lines because the scoring and its printed tables are one report: every figure
the tables print is computed in the same pass, and splitting would separate a number from its label.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Protocol

from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.encoding.nameclasses import name_classes
from crossforce.encoding.normalise import (
    NormalisedName,
    normalise_given_names,
    normalise_name,
    normalise_previous_name,
    normalise_surname,
    parse_date_parts,
)
from crossforce.encoding.phonetic import canonical_forename
from crossforce.encoding.recordrules import validate_record
from crossforce.encoding.records import IDENTIFIER_FIELDS, Record
from crossforce.index.params import DEFAULT_TARGET_FPR, choose_params
from crossforce.scoring import (
    DEFAULT,
    NAME_CLASSES,
    NONE,
    ScoringParams,
    agreement_levels,
    evidence,
    explanations,
    family,
    fit_calibration,
    fit_family_calibration,
    fit_m,
    score,
)
from crossforce.testkit.realistic import RealisticSimulator
from crossforce.testkit.simulate import (
    LEVELS,
    PROFILES,
    ForceSimulator,
    Level,
    Profile,
    Sighting,
    as_query,
    make_simulator,
)

DEFAULT_FORCES = ("west-midlands", "kent", "lancashire", "north-wales")
DEFAULT_RECORDS = 48_000
REALISTIC_RECORDS = 100_000
SHARED_FRACTION = 0.05
"""Higher than the simulator default so people held by two or more forces are well represented."""
GOAL_RECALL = 0.97
GOAL_FALSE_RATE = 0.005
GOAL_CALIBRATION_GAP = 0.05
GOAL_DECILE_MIN = 100
DEFAULT_THRESHOLD = 0.6
"""The default report threshold (server policy ``DEFAULT_REPORT_THRESHOLD``)."""
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.9, 0.95)
V1_STRENGTHS = {"weak": 1, "medium": 2, "strong": 3}
ARMS = ("v1", "v2")

BaselineKey = tuple[str, str, str]
Matches = list[dict[str, frozenset[int]]]
"""Per query: force -> key types that matched there (forces with no match left out)."""


class _Tokeniser(Protocol):
    def record_tokens(self, record: Record) -> list[tuple[int, bytes]]: ...


def baseline_keys(record: Record) -> set[BaselineKey]:
    """Normalised full forenames, compact surname and ISO date, for the current and each previous name.

    What a careful exact-match system does: fold case, accents and punctuation, then demand equality.
    """
    parts = parse_date_parts(record.date_of_birth)
    date = parts.date() if parts is not None else None
    if date is None or not record.given_names:
        return set()
    names: list[NormalisedName | None] = [normalise_name(record.given_names, record.surname)]
    names += [normalise_previous_name(p, record.given_names) for p in record.previous_names]
    return {(" ".join(n.given), n.surname, date.iso()) for n in names if n is not None and n.given}


def _legacy_v1() -> ModuleType:
    """Spec v1's frozen key derivation (owner: encoding); imported late so v2-only runs never need it."""
    from crossforce.encoding import legacy_v1

    return legacy_v1


def _v2_tokeniser(secret: bytes) -> _Tokeniser:
    from crossforce.encoding.tokens import Tokeniser

    return Tokeniser(secret=secret, epoch=1)


@dataclass(frozen=True)
class _Query:
    sighting: Sighting
    holders: frozenset[str]
    person: int | None
    relation: str
    classes: tuple[int, int] = (0, 0)


@dataclass
class Arm:
    """One key set's matches on the run's queries, and what its index costs."""

    name: str
    matches: Matches
    sent: list[frozenset[int]]
    """Per query: the key types its tokens carried (what a candidate tells the matcher)."""
    tokens_per_record: float
    bits_per_record: float
    bits_per_record_by_type: dict[int, float]
    seconds: float


@dataclass
class Outcome:
    """Recall, false-force and false-trace of one decision rule."""

    pairs: int = 0
    found: int = 0
    held_queries: int = 0
    false_force: int = 0
    absent_queries: int = 0
    false_trace: int = 0

    def add(self, holders: frozenset[str], hits: set[str]) -> None:
        self.pairs += len(holders)
        self.found += len(hits & holders)
        if holders:
            self.held_queries += 1
            self.false_force += bool(hits - holders)
        else:
            self.absent_queries += 1
            self.false_trace += bool(hits)

    def rates(self) -> dict[str, float]:
        return {
            "recall": round(self.found / max(1, self.pairs), 5),
            "false_force": round(self.false_force / max(1, self.held_queries), 5),
            "false_trace": round(self.false_trace / max(1, self.absent_queries), 5),
        }

    def goal_met(self) -> bool:
        r = self.rates()
        return r["recall"] >= GOAL_RECALL and max(r["false_force"], r["false_trace"]) <= GOAL_FALSE_RATE


@dataclass
class World:
    """The simulated forces and the checks run against them."""

    sim: ForceSimulator | RealisticSimulator
    held: dict[str, list[Record]]
    queries: list[_Query]
    door: Callable[[Record], Record]
    force_records: dict[str, int] = field(default_factory=dict)

    @property
    def total_records(self) -> int:
        return sum(self.force_records.values())

    def base_rate(self) -> float:
        """Holding forces per query: the prior's scale for this stream of checks (``ScoringParams``)."""
        return sum(len(q.holders) for q in self.queries) / max(1, len(self.queries))


def build_world(
    *,
    people: int,
    absent: int,
    seed: int,
    level: Level,
    records: int,
    forces: Sequence[str] | None,
    profile: Profile,
    names_only: bool,
) -> World:
    sim = make_simulator(seed, records, profile=profile, shared_fraction=SHARED_FRACTION, forces=forces)
    door = _names_and_dates if names_only else validate_record
    held = {code: [door(r) for r in sim.records_for(code)] for code in sim.forces}
    queries = [
        dataclasses.replace(q, classes=name_classes(door(q.sighting.record)))
        for q in _queries(sim, seed, level, people, absent)
    ]
    return World(sim, held, queries, door, {code: len(recs) for code, recs in held.items()})


def _names_and_dates(record: Record) -> Record:
    """What issue 14's held-out data holds: names, date of birth and sex; no identifier, no postcode."""
    blank = dict.fromkeys((*IDENTIFIER_FIELDS, "postcode"), "")
    return validate_record(dataclasses.replace(record, **blank))  # type: ignore[arg-type]


def _queries(
    sim: ForceSimulator | RealisticSimulator, seed: int, level: Level, people: int, absent: int
) -> list[_Query]:
    """Sightings of held people, then of people held nowhere (the classic stream is as it always was)."""
    rng = random.Random(f"bench.quality:{seed}:{level}")
    population = sorted(sim.people())
    out = []
    for _ in range(people):
        person = rng.choice(population)
        if isinstance(sim, RealisticSimulator):
            sighting = sim.sighting_detail(person, rng)
        else:
            sighting = sim.sighting_detail(person, rng, level)
        out.append(_Query(sighting, frozenset(sim.holders(person)), person, ""))
    for _ in range(absent):
        if isinstance(sim, RealisticSimulator):
            pid = sim.absent_id(rng)
            out.append(_Query(sim.sighting_detail(pid, rng), frozenset(), None, sim.relation(pid)))
        else:
            out.append(_Query(as_query(sim.absent_person(rng), rng, level), frozenset(), None, "unrelated"))
    return out


def match_arm(name: str, tokeniser: _Tokeniser, world: World, *, partitioned: bool) -> Arm:
    """Publish every force's tokens, check every query, keep only which key types matched where.

    Forces are published one at a time and their token sets dropped after matching, so memory holds one
    force's set, not the nation's.
    """
    started = time.perf_counter()
    query_tokens = [tokeniser.record_tokens(world.door(q.sighting.record)) for q in world.queries]
    matches: Matches = [{} for _ in world.queries]
    token_count = 0
    bits = 0
    bits_by_type: Counter[int] = Counter()
    for code, recs in world.held.items():
        by_type: dict[int, set[bytes]] = defaultdict(set)
        for record in recs:
            for key_type, token in tokeniser.record_tokens(record):
                by_type[key_type].add(token)
        token_count += sum(len(s) for s in by_type.values())
        if partitioned:
            for key_type, type_tokens in by_type.items():
                size = choose_params(len(type_tokens)).size_bits
                bits += size
                bits_by_type[key_type] += size
        else:
            bits += choose_params(sum(len(s) for s in by_type.values())).size_bits
        for qi, tokens in enumerate(query_tokens):
            matched = frozenset(kt for kt, tok in tokens if tok in by_type.get(kt, ()))
            if matched:
                matches[qi][code] = matched
        del by_type
        gc.collect()
    total = max(1, world.total_records)
    return Arm(
        name,
        matches,
        [frozenset(kt for kt, _ in tokens) for tokens in query_tokens],
        token_count / total,
        bits / total,
        {kt: b / total for kt, b in sorted(bits_by_type.items())},
        time.perf_counter() - started,
    )


def baseline_matches(world: World) -> list[set[str]]:
    keys = [baseline_keys(world.door(q.sighting.record)) for q in world.queries]
    out: list[set[str]] = [set() for _ in world.queries]
    for code, recs in world.held.items():
        published = {k for r in recs for k in baseline_keys(r)}
        for qi, query_keys in enumerate(keys):
            if not query_keys.isdisjoint(published):
                out[qi].add(code)
    return out


def probabilities(arm: Arm, world: World, params: ScoringParams) -> list[dict[str, float]]:
    """v2: each matched force's stated probability, as the matcher would state it."""
    total = world.total_records
    return [
        {
            code: score(
                types,
                forename_class=q.classes[0],
                surname_class=q.classes[1],
                force_records=world.force_records[code],
                total_records=total,
                fpr=DEFAULT_TARGET_FPR,
                params=params,
                sent_types=sent,
            ).probability
            for code, types in hits.items()
        }
        for q, hits, sent in zip(world.queries, arm.matches, arm.sent, strict=True)
    ]


def outcome(world: World, hits_per_query: Sequence[set[str]]) -> Outcome:
    result = Outcome()
    for q, hits in zip(world.queries, hits_per_query, strict=True):
        result.add(q.holders, hits)
    return result


def at_threshold(probs: Sequence[Mapping[str, float]], threshold: float) -> list[set[str]]:
    return [{code for code, p in row.items() if p >= threshold} for row in probs]


def reliability(
    world: World, probs: Sequence[Mapping[str, float]]
) -> list[dict[str, str | float | int | bool]]:
    """Deciles of stated probability over every scored (query, force) pair: is a 0.8 right 8 times in 10?"""
    n = [0] * 10
    stated = [0.0] * 10
    right = [0] * 10
    for q, row in zip(world.queries, probs, strict=True):
        for code, p in row.items():
            d = min(9, int(p * 10))
            n[d] += 1
            stated[d] += p
            right[d] += code in q.holders
    table: list[dict[str, str | float | int | bool]] = []
    for d in range(10):
        if not n[d]:
            continue
        mean, observed = stated[d] / n[d], right[d] / n[d]
        gap = observed - mean
        table.append({
            "decile": f"{d / 10:.1f}-{(d + 1) / 10:.1f}", "n": n[d], "stated": round(mean, 4),
            "observed": round(observed, 4), "gap": round(gap, 4),
            "flag": n[d] >= GOAL_DECILE_MIN and abs(gap) > GOAL_CALIBRATION_GAP,
        })  # fmt: skip
    return table


def fit(world: World, arm: Arm, prior: ScoringParams, version: str) -> ScoringParams:
    """m from the agreement levels of true pairs, then Platt calibration of every scored pair's log-odds."""
    true_levels = [
        agreement_levels(hits.get(code, ()), sent)
        for q, hits, sent in zip(world.queries, arm.matches, arm.sent, strict=True)
        for code in q.holders
    ]
    m, m_none = fit_m(true_levels, prior.m, prior.m_none)
    unfitted = dataclasses.replace(
        prior, m=m, m_none=m_none, name_frequency=class_frequencies(world, prior), calibration=(1.0, 0.0),
        family_calibration={},
    )  # fmt: skip
    checks = [
        (q.classes, hits, sent, q.holders)
        for q, hits, sent in zip(world.queries, arm.matches, arm.sent, strict=True)
    ]
    fitted = fit_curves(checks, unfitted, world.force_records)
    return dataclasses.replace(fitted, version=version)


Check = tuple[tuple[int, int], Mapping[str, frozenset[int]], frozenset[int], frozenset[str]]
"""One query as calibration sees it: name classes, force -> key types agreed, types sent, holders."""


def fit_curves(
    checks: Sequence[Check], params: ScoringParams, force_records: Mapping[str, int]
) -> ScoringParams:
    """``params`` with the global Platt curve and one per pattern family refitted on every scored
    (query, force) pair; m, u and the rest are left as they are."""
    return curves_from_hits(calibration_hits(checks, params, force_records), params)


def calibration_hits(
    checks: Sequence[Check], params: ScoringParams, force_records: Mapping[str, int]
) -> list[tuple[str, float, bool]]:
    """(family, uncalibrated log-odds, same person) per scored (query, force) pair. Each hit is
    represented by its best explanation (the highest log-odds, what the global curve would pick)."""
    total = sum(force_records.values())
    hits: list[tuple[str, float, bool]] = []
    for classes, matched, sent, holders in checks:
        for code, types in matched.items():
            best: tuple[float, str] | None = None
            for levels in explanations(types, sent):
                if all(level == NONE for level in levels.values()):
                    continue
                _, lo = evidence(
                    levels, forename_class=classes[0], surname_class=classes[1],
                    force_records=force_records[code], total_records=total, fpr=DEFAULT_TARGET_FPR,
                    params=params,
                )  # fmt: skip
                if best is None or lo > best[0]:
                    best = (lo, family(levels))
            if best is not None:
                hits.append((best[1], best[0], code in holders))
    return hits


def curves_from_hits(hits: Sequence[tuple[str, float, bool]], params: ScoringParams) -> ScoringParams:
    """``params`` with the global curve fitted on every hit and a shifted one per family with enough."""
    curve = fit_calibration([lo for _, lo, _ in hits], [same for _, _, same in hits])
    families = fit_family_calibration(hits, curve)
    return dataclasses.replace(params, calibration=curve, family_calibration=families)


def class_frequencies(world: World, prior: ScoringParams) -> dict[str, tuple[float, ...]]:
    """Per name class, the chance two people of the forces' records both bear a name of the class, given
    one does: sum n(n-1) / (N sum n) over the class's names (unbiased for the size-biased mean share).

    u for an exact name is the share of that name; the class only says which band the share is in, and
    a band of unlisted names (rare in the national tables, but some common in one community) is worth
    exactly what the population shows. A class with no pair keeps its prior.
    """
    from crossforce.encoding.nameclasses import forename_class, surname_class

    counts: dict[str, Counter[str]] = {"forename": Counter(), "surname": Counter()}
    for recs in world.held.values():
        for record in recs:
            full = [g for g in normalise_given_names(record.given_names) if len(g) > 1]
            if full:
                counts["forename"][canonical_forename(full[0])] += 1
            parsed = normalise_surname(record.surname)
            if parsed is not None:
                counts["surname"][parsed[0]] += 1
    classify = {"forename": forename_class, "surname": surname_class}
    out: dict[str, tuple[float, ...]] = {}
    for name_field, counter in counts.items():
        total = sum(counter.values())
        same = [0.0] * NAME_CLASSES
        mass = [0] * NAME_CLASSES
        for name, n in counter.items():
            c = classify[name_field](name)
            same[c] += n * (n - 1)
            mass[c] += n
        out[name_field] = tuple(
            same[c] / (total * mass[c]) if same[c] > 0 else prior.name_frequency[name_field][c]
            for c in range(NAME_CLASSES)
        )
    return out


def ablation(world: World, arm: Arm, params: ScoringParams) -> dict[str, dict[str, float]]:
    """v2 at the default threshold with each key type's matches removed, as if it were not in the spec."""
    present = sorted({kt for hits in arm.matches for types in hits.values() for kt in types})
    out: dict[str, dict[str, float]] = {}
    for removed in present:
        stripped = Arm(
            arm.name,
            [{c: t - {removed} for c, t in hits.items() if t - {removed}} for hits in arm.matches],
            [sent - {removed} for sent in arm.sent], 0.0, 0.0, {}, 0.0,
        )  # fmt: skip
        probs = probabilities(stripped, world, params)
        out[KEY_TYPES[removed].name if removed in KEY_TYPES else str(removed)] = outcome(
            world, at_threshold(probs, DEFAULT_THRESHOLD)
        ).rates()
    return out


def breakdowns(
    world: World, arm: Arm, hits_per_query: Sequence[set[str]], baseline: Sequence[set[str]]
) -> dict[str, object]:
    """v2 at the default threshold: recall per error kind and record class, false traces per relation,
    and per key type how often it matched a true pair and a wrong force."""
    sim = world.sim
    truth = sim.people()
    kind_pairs: Counter[str] = Counter()
    kind_hits: Counter[str] = Counter()
    kind_base: Counter[str] = Counter()
    class_pairs: Counter[str] = Counter()
    class_hits: Counter[str] = Counter()
    relation_n: Counter[str] = Counter()
    relation_false: Counter[str] = Counter()
    key_true: Counter[int] = Counter()
    key_false: Counter[int] = Counter()
    misses: Counter[str] = Counter()
    miss_agreed: Counter[str] = Counter()
    """Misses by the key types that did agree at the holder: "(nothing)" no key can find, the rest the
    scoring stated below the threshold."""
    realistic = isinstance(sim, RealisticSimulator)
    for q, hits, matched, base in zip(world.queries, hits_per_query, arm.matches, baseline, strict=True):
        for code, types in matched.items():
            (key_true if code in q.holders else key_false).update(types)
        if not q.holders:
            relation_n[q.relation] += 1
            relation_false[q.relation] += bool(hits)
            continue
        ids = dict(truth[q.person]) if q.person is not None else {}
        for code in q.holders:
            held_kinds = sim.held_errors(code, ids[code]) if isinstance(sim, RealisticSimulator) else ()
            kinds = set(q.sighting.corruptions) | set(held_kinds)
            for kind in kinds or {"(none)"}:
                kind_pairs[kind] += 1
                kind_hits[kind] += code in hits
                kind_base[kind] += code in base
            if code not in hits:
                misses[" + ".join(sorted(kinds)) or "(none)"] += 1
                agreed = matched.get(code, frozenset())
                miss_agreed[
                    ",".join(sorted(KEY_TYPES[t].name for t in agreed if t in KEY_TYPES)) or "(nothing)"
                ] += 1
            if realistic:
                assert isinstance(sim, RealisticSimulator)
                record_class = sim.record_class(code, ids[code])
                class_pairs[record_class] += 1
                class_hits[record_class] += code in hits
    pairs = max(1, sum(len(q.holders) for q in world.queries))
    n_queries = max(1, len(world.queries))
    return {
        "per_kind": {
            k: {"pairs": n, "recall": round(kind_hits[k] / n, 4), "baseline": round(kind_base[k] / n, 4)}
            for k, n in sorted(kind_pairs.items(), key=lambda item: kind_hits[item[0]] / item[1])
        },
        "recall_by_class": {c: round(class_hits[c] / n, 4) for c, n in sorted(class_pairs.items())},
        "false_trace_by_relation": {
            r: {"queries": n, "false_trace": round(relation_false[r] / n, 5)}
            for r, n in sorted(relation_n.items())
        },
        "per_key": {
            KEY_TYPES[kt].name if kt in KEY_TYPES else str(kt): {
                "true_pairs": round(key_true[kt] / pairs, 4),
                "wrong_force": round(key_false[kt] / n_queries, 5),
            }
            for kt in sorted(key_true.keys() | key_false.keys())
        },
        "top_misses": dict(misses.most_common(8)),
        "misses_by_agreed": dict(miss_agreed.most_common(8)),
    }  # fmt: skip


def run(
    *,
    people: int = 5000,
    absent: int = 5000,
    seed: int = 1,
    level: Level = "default",
    records: int | None = None,
    forces: Sequence[str] | None = None,
    profile: Profile = "realistic",
    names_only: bool = False,
    arms: Sequence[str] = ARMS,
    ablate: bool = False,
    fit_version: str | None = None,
    params: ScoringParams = DEFAULT,
) -> dict[str, object]:
    """Build the world, match both key sets, score, tally; the summary the JSON line prints.

    With ``fit_version`` the v2 parameters are fitted on this run first and reported in ``fitted``.
    """
    if forces is None:
        forces = DEFAULT_FORCES if profile == "classic" else None
    if records is None:
        records = DEFAULT_RECORDS if profile == "classic" else REALISTIC_RECORDS
    timings: dict[str, float] = {}
    started = time.perf_counter()
    world = build_world(
        people=people, absent=absent, seed=seed, level=level, records=records, forces=forces,
        profile=profile, names_only=names_only,
    )  # fmt: skip
    timings["simulate"] = time.perf_counter() - started
    secret = hashlib.sha256(f"bench.quality:{seed}".encode()).digest()
    summary: dict[str, object] = {
        "bench": "quality", "seed": seed, "profile": profile,
        "level": level if profile == "classic" else "realistic", "people": people, "absent": absent,
        "records": world.total_records, "forces_count": len(world.held), "names_only": names_only,
        "queries": len(world.queries), "pairs": sum(len(q.holders) for q in world.queries),
        "base_rate": round(world.base_rate(), 4), "default_threshold": DEFAULT_THRESHOLD,
    }  # fmt: skip
    started = time.perf_counter()
    baseline = baseline_matches(world)
    summary["baseline"] = outcome(world, baseline).rates()
    timings["baseline"] = time.perf_counter() - started
    if "v1" in arms:
        legacy = _legacy_v1()
        v1 = match_arm("v1", legacy.Tokeniser(secret=secret, epoch=1), world, partitioned=False)
        timings["v1"] = v1.seconds
        strengths = [{c: int(legacy.hit_strength(t)) for c, t in hits.items()} for hits in v1.matches]
        summary["v1"] = {
            "tokens_per_record": round(v1.tokens_per_record, 2),
            "index_bits_per_record": round(v1.bits_per_record, 1),
            **{
                label: outcome(
                    world, [{c for c, s in row.items() if s >= least} for row in strengths]
                ).rates()
                for label, least in V1_STRENGTHS.items()
            },
        }
        del v1, strengths
        gc.collect()
    if "v2" in arms:
        v2 = match_arm("v2", _v2_tokeniser(secret), world, partitioned=True)
        timings["v2"] = v2.seconds
        params = dataclasses.replace(params, base_rate=world.base_rate())
        if fit_version is not None:
            params = fit(world, v2, params, fit_version)
            summary["fitted"] = json.loads(params.to_json())
        started = time.perf_counter()
        probs = probabilities(v2, world, params)
        default_hits = at_threshold(probs, DEFAULT_THRESHOLD)
        summary["v2"] = {
            "params_version": params.version,
            "tokens_per_record": round(v2.tokens_per_record, 2),
            "index_bits_per_record": round(v2.bits_per_record, 1),
            "index_bits_per_record_by_type": {
                KEY_TYPES[kt].name if kt in KEY_TYPES else str(kt): round(b, 1)
                for kt, b in v2.bits_per_record_by_type.items()
            },
            "by_threshold": {f"{t:g}": outcome(world, at_threshold(probs, t)).rates() for t in THRESHOLDS},
            "reliability": reliability(world, probs),
            **breakdowns(world, v2, default_hits, baseline),
        }
        default = outcome(world, default_hits)
        flags = [row for row in reliability(world, probs) if row["flag"]]
        summary["goals"] = {
            "recall_and_false_rates": default.goal_met(),
            "calibration_within_5_points": not flags,
        }
        if ablate:
            summary["ablation"] = ablation(world, v2, params)
        timings["score"] = time.perf_counter() - started
    summary["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    return summary


def print_report(s: Mapping[str, object]) -> None:
    """Readable tables (rich), then the JSON line."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=max(120, Console().width))
    title = (
        f"Match quality, profile {s['profile']}{', names and dates only' if s['names_only'] else ''}: "
        f"{s['records']} records at {s['forces_count']} forces (seed {s['seed']}); {s['pairs']} true pairs, "
        f"{s['queries']} queries; holding forces per query {s['base_rate']}"
    )
    head = Table(title=title)
    for column in ("rule", "recall", "false-force", "false-trace"):
        head.add_column(column, justify="left" if column == "rule" else "right")

    def row(name: str, rates: object) -> None:
        assert isinstance(rates, dict)
        head.add_row(name, _pct(rates["recall"]), _pct(rates["false_force"]), _pct(rates["false_trace"]))

    row("exact name+DOB baseline", s["baseline"])
    v1, v2 = s.get("v1"), s.get("v2")
    if isinstance(v1, dict):
        for label in V1_STRENGTHS:
            row(f"v1 keys, {label} or stronger", v1[label])
    if isinstance(v2, dict):
        for threshold, rates in v2["by_threshold"].items():
            marker = " (default)" if float(threshold) == DEFAULT_THRESHOLD else ""
            row(f"v2 keys, probability >= {threshold}{marker}", rates)
    console.print(head)
    for name, arm in (("v1", v1), ("v2", v2)):
        if isinstance(arm, dict):
            console.print(
                f"{name}: {arm['tokens_per_record']} tokens/record, {arm['index_bits_per_record']} index "
                "bits/record (FPR 1e-8 a token)"
            )
    if isinstance(v2, dict):
        table = Table(title=f"v2 reliability (params {v2['params_version']}): stated probability vs observed")
        for column in ("stated", "n", "mean stated", "observed precision", "gap"):
            table.add_column(column, justify="right")
        for r in v2["reliability"]:
            table.add_row(r["decile"], str(r["n"]), f"{r['stated']:.3f}", f"{r['observed']:.3f}",
                          f"{100 * r['gap']:+.1f} pt" + (" !" if r["flag"] else ""))  # fmt: skip
        console.print(table)
        kinds = Table(title="v2 recall at the default threshold by error kind in the pair, worst first")
        for column in ("error kind", "pairs", "v2", "exact"):
            kinds.add_column(column, justify="left" if column == "error kind" else "right")
        for kind, r in v2["per_kind"].items():
            kinds.add_row(kind, str(r["pairs"]), _pct(r["recall"]), _pct(r["baseline"]))
        console.print(kinds)
        console.print(
            "recall by record class: " + "; ".join(f"{c} {_pct(v)}" for c, v in v2["recall_by_class"].items())
        )
        console.print(
            "false traces by relation: "
            + "; ".join(
                f"{r} {_pct(v['false_trace'])} of {v['queries']}"
                for r, v in v2["false_trace_by_relation"].items()
            )
        )
        console.print("most common error kinds behind a miss: " + "; ".join(
            f"{k} ({v})" for k, v in v2["top_misses"].items()))  # fmt: skip
        console.print("misses by the key types that agreed at the holder: " + "; ".join(
            f"{k} ({v})" for k, v in v2["misses_by_agreed"].items()))  # fmt: skip
    ablated = s.get("ablation")
    if isinstance(ablated, dict):
        table = Table(title=f"v2 ablation at probability >= {DEFAULT_THRESHOLD}: each key type removed")
        for column in ("removed", "recall", "false-force", "false-trace"):
            table.add_column(column, justify="left" if column == "removed" else "right")
        for name, r in ablated.items():
            table.add_row(name, _pct(r["recall"]), _pct(r["false_force"]), _pct(r["false_trace"]))
        console.print(table)
    console.print(f"goals: {s.get('goals')}; timings {s['timings_s']}")
    print(json.dumps(s, sort_keys=True), flush=True)  # the machine-readable line last, unwrapped


def _pct(value: object) -> str:
    assert isinstance(value, float | int)
    return f"{100 * value:.2f}%"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=5000, help="sightings of held people")
    parser.add_argument("--absent", type=int, default=5000, help="queries for people held nowhere")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", choices=PROFILES, help="realistic (default) or classic")
    parser.add_argument("--level", choices=LEVELS, help="the classic profile's error level (selects it)")
    parser.add_argument(
        "--records", type=int, help=f"records across all forces ({REALISTIC_RECORDS} realistic)"
    )
    parser.add_argument("--forces", help="comma-separated force codes (default: all 43; classic: four)")
    parser.add_argument(
        "--names-only", action="store_true", help="drop identifiers and postcodes (held-out data)"
    )
    parser.add_argument("--keys", default="v1,v2", help="key sets to compare: v1, v2 or v1,v2")
    parser.add_argument("--ablate", action="store_true", help="v2 recall with each key type removed")
    parser.add_argument("--fit", metavar="VERSION", help="fit the scoring parameters on this run, as VERSION")
    parser.add_argument("--write", action="store_true", help="with --fit: store them as the package default")
    args = parser.parse_args(argv)
    profile: Profile = args.profile or ("classic" if args.level else "realistic")
    if profile == "realistic" and args.level:
        parser.error("--level belongs to the classic profile; the realistic one draws each error at its rate")
    arms = tuple(a.strip() for a in args.keys.split(",") if a.strip())
    if not arms or set(arms) - set(ARMS) or (args.fit and "v2" not in arms):
        parser.error("--keys takes v1, v2 or v1,v2 (and --fit needs v2)")
    if args.write and not args.fit:
        parser.error("--write needs --fit VERSION")
    forces = tuple(f.strip() for f in args.forces.split(",") if f.strip()) if args.forces else None
    summary = run(
        people=args.people, absent=args.absent, seed=args.seed, level=args.level or "default",
        records=args.records, forces=forces, profile=profile, names_only=args.names_only, arms=arms,
        ablate=args.ablate, fit_version=args.fit,
    )  # fmt: skip
    if args.write:
        _write_params(summary)
    print_report(summary)
    return 0


def _write_params(summary: Mapping[str, object]) -> None:
    """Store the fitted parameters with the deployment base rate (the bench's own mix is not a police one)."""
    from importlib import resources

    from crossforce.scoring.params import PARAMS_FILE

    fitted = ScoringParams.from_json(json.dumps(summary["fitted"]))
    shipped = dataclasses.replace(fitted, base_rate=DEFAULT.base_rate)
    comment = (
        f"Fitted by python -m bench.quality --fit {fitted.version} --write --seed {summary['seed']} "
        f"(realistic profile, {summary['records']} records at {summary.get('forces_count', 43)} forces): "
        "m and m_none from true pairs' agreement levels, name_frequency from the forces' records, "
        "calibration by Platt scaling, shifted per pattern family; u from date and area sizes; base_rate: "
        "deployment prior "
        "(docs/quality.md)."
    )
    path = resources.files("crossforce.scoring").joinpath(PARAMS_FILE)
    with resources.as_file(path) as real:
        real.write_text(shipped.to_json(comment), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
