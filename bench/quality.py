"""Match quality of the match keys on simulated forces, beside an exact name + date-of-birth baseline.

Simulated forces publish their records as token sets (plain Python sets: the Bloom filter's own false
positives are measured by the index benchmark, not here), through the same door as the client
(``validate_record``: placeholders emptied) and the same tokeniser and ``hit_strength`` as the matcher.
We then query sightings of people they hold and of people held nowhere, and report, each by strength
label (weak = any hit, medium = strength >= 2, strong = 3; strength 0, a corroboration-only key alone,
is no hit):

- recall: (query, holding force) pairs where that force hit;
- false-force rate: queries for held people that hit a force not holding them (a namesake);
- false-trace rate: queries for people held nowhere that hit any force;
- the exact name+DOB baseline (normalised full name, current or previous, and date of birth);
- tokens and Bloom-index bits per record (``choose_params`` at the default FPR, per force);
- per key type: matched, only-match and false-match rates; recall per error kind in the pair, so a
  miss can be traced to the error that caused it; for the realistic profile also recall per record
  class and false traces by how the person is related to someone held.

Profiles (``crossforce.testkit.simulate.PROFILES``): ``realistic`` (default): 43 forces at their
relative sizes (police-force-area population, ``core/crossforce/data/forces.csv``), each (query, held
record) pair with errors drawn per kind at the rates of docs/records.md; ``classic``: four forces, errors
by ``--level`` in the query only (giving ``--level`` selects it).

Usage: ``python -m bench.quality [--records N] [--people N] [--absent N] [--seed S] [--profile P]
[--level L] [--names-only]``. Quick default: 100,000 records, under a minute. ``--records 1000000`` for
the national-scale figures (~3.5 CPU minutes, 4.3 GB); 10,000,000 would need ~45 GB, more than a 24 GB
machine: documented, not run.
``--names-only`` drops identifiers and postcodes from both sides first, as in issue 14's held-out data
(names, dates of birth and sex only). The last line printed is one JSON object for scripts and CI.

This module is over 400 lines because the scoring and its printed tables are one report: every figure
the tables print is computed in the same pass, and splitting would separate a number from its label.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from crossforce.domain.enums import strength_label
from crossforce.encoding.matchkeys import KEY_TYPES, hit_strength
from crossforce.encoding.normalise import (
    NormalisedName,
    normalise_name,
    normalise_previous_name,
    parse_date_parts,
)
from crossforce.encoding.recordrules import validate_record
from crossforce.encoding.records import IDENTIFIER_FIELDS, Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.index.params import choose_params
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
"""The classic profile's forces: different sizes; the largest holds about 20,000 records."""
DEFAULT_RECORDS = 48_000
"""The classic profile's default total."""
REALISTIC_RECORDS = 100_000
SHARED_FRACTION = 0.05
"""Higher than the simulator default so people held by two or more forces are well represented."""
GOAL_RECALL = 0.97
GOAL_FALSE_HIT_RATE = 0.005
STRONG = 2
"""Strength of the classic "strong" rows (kept for the JSON keys scripts read)."""
STRENGTHS = (1, 2, 3)
_IDENTIFIER_KEY_TYPES = frozenset(code for code, kt in KEY_TYPES.items() if kt.name in IDENTIFIER_FIELDS)

BaselineKey = tuple[str, str, str]
Rates = dict[str, float | dict[str, float]]


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


@dataclass
class _Tally:
    """Counts for one matcher (the keys or the baseline); ``*_at[s]``: at strength >= s."""

    pairs: int = 0
    hits_at: Counter[int] = field(default_factory=Counter)
    any_key_pairs: int = 0
    """True pairs where some key matched, hit or not (strength 0 included)."""
    name_key_hits: int = 0
    queries: int = 0
    false_at: Counter[int] = field(default_factory=Counter)
    false_any_key_queries: int = 0
    absent_queries: int = 0
    absent_false_at: Counter[int] = field(default_factory=Counter)
    held_queries: int = 0
    held_wrong_at: Counter[int] = field(default_factory=Counter)

    def rates(self) -> Rates:
        pairs, queries = max(1, self.pairs), max(1, self.queries)
        absent, held = max(1, self.absent_queries), max(1, self.held_queries)
        return {
            "recall": self.hits_at[1] / pairs,
            "recall_strong": self.hits_at[STRONG] / pairs,
            "recall_any_key": self.any_key_pairs / pairs,
            "false_hit_rate": self.false_at[1] / queries,
            "false_hit_rate_strong": self.false_at[STRONG] / queries,
            "false_hit_rate_any_key": self.false_any_key_queries / queries,
            "absent_false_hit_rate": self.absent_false_at[1] / absent,
            "wrong_force_rate": self.held_wrong_at[1] / held,
            "recall_by_strength": {strength_label(s): self.hits_at[s] / pairs for s in STRENGTHS},
            "false_force_rate": {strength_label(s): self.held_wrong_at[s] / held for s in STRENGTHS},
            "false_trace_rate": {strength_label(s): self.absent_false_at[s] / absent for s in STRENGTHS},
        }


@dataclass
class Report:
    config: dict[str, object]
    keys: _Tally = field(default_factory=_Tally)
    baseline: _Tally = field(default_factory=_Tally)
    key_matched: Counter[int] = field(default_factory=Counter)
    key_only: Counter[int] = field(default_factory=Counter)
    key_false: Counter[int] = field(default_factory=Counter)
    kind_pairs: Counter[str] = field(default_factory=Counter)
    kind_hits: Counter[str] = field(default_factory=Counter)
    kind_baseline_hits: Counter[str] = field(default_factory=Counter)
    single_pairs: Counter[str] = field(default_factory=Counter)
    single_hits: Counter[str] = field(default_factory=Counter)
    missed_by: Counter[str] = field(default_factory=Counter)
    """Misses counted by the sorted combination of error kinds in the pair."""
    class_pairs: Counter[str] = field(default_factory=Counter)
    class_hits: Counter[str] = field(default_factory=Counter)
    relation_queries: Counter[str] = field(default_factory=Counter)
    relation_false: Counter[str] = field(default_factory=Counter)
    sizes: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        keys, base = self.keys.rates(), self.baseline.rates()
        pairs, queries = max(1, self.keys.pairs), max(1, self.keys.queries)
        per_key = {
            KEY_TYPES[code].name: {
                "matched": round(self.key_matched[code] / pairs, 4),
                "only": round(self.key_only[code] / pairs, 4),
                "false": round(self.key_false[code] / queries, 5),
            }
            for code in sorted(KEY_TYPES)
        }
        per_kind = {
            name: {
                "pairs": n,
                "recall": round(self.kind_hits[name] / n, 4),
                "baseline_recall": round(self.kind_baseline_hits[name] / n, 4),
                "alone_pairs": self.single_pairs[name],
                "alone_recall": round(self.single_hits[name] / max(1, self.single_pairs[name]), 4),
            }
            for name, n in sorted(self.kind_pairs.items())
        }
        return {
            "bench": "quality",
            **self.config,
            "pairs": self.keys.pairs,
            "queries": self.keys.queries,
            **_rounded(keys),
            "recall_name_keys": round(self.keys.name_key_hits / pairs, 5),
            "baseline": _rounded(base),
            "goal_met": self.keys.hits_at[1] / pairs >= GOAL_RECALL
            and self.keys.false_at[1] / queries <= GOAL_FALSE_HIT_RATE,
            **{k: round(v, 2) for k, v in self.sizes.items()},
            "per_key": per_key,
            "per_corruption": per_kind,
            "recall_by_class": {
                c: round(self.class_hits[c] / n, 4) for c, n in sorted(self.class_pairs.items())
            },
            "false_trace_by_relation": {
                r: {"queries": n, "false_trace": round(self.relation_false[r] / n, 5)}
                for r, n in sorted(self.relation_queries.items())
            },
            "top_misses": {combo: n for combo, n in self.missed_by.most_common(10)},
            "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
        }


def _rounded(rates: Rates) -> Rates:
    return {
        k: {s: round(x, 5) for s, x in v.items()} if isinstance(v, dict) else round(v, 5)
        for k, v in rates.items()
    }


def _names_and_dates(record: Record) -> Record:
    """What issue 14's held-out data holds: names, date of birth and sex; no identifier, no postcode."""
    blank = dict.fromkeys((*IDENTIFIER_FIELDS, "postcode"), "")
    return validate_record(dataclasses.replace(record, **blank))  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Query:
    sighting: Sighting
    holders: set[str]
    person: int | None
    relation: str


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
) -> Report:
    """Build the forces, publish, query, tally. Deterministic for a seed."""
    if forces is None:
        forces = DEFAULT_FORCES if profile == "classic" else None
    if records is None:
        records = DEFAULT_RECORDS if profile == "classic" else REALISTIC_RECORDS
    config: dict[str, object] = {
        "seed": seed,
        "profile": profile,
        "level": level if profile == "classic" else "realistic",
        "people": people,
        "absent": absent,
        "records": records,
        "forces": list(forces) if forces is not None else "all 43",
        "names_only": names_only,
    }
    report = Report(config)
    started = time.perf_counter()
    sim = make_simulator(seed, records, profile=profile, shared_fraction=SHARED_FRACTION, forces=forces)
    door = _names_and_dates if names_only else validate_record
    held = {code: [door(r) for r in sim.records_for(code)] for code in sim.forces}
    config["records"] = sum(len(r) for r in held.values())
    config["forces_count"] = len(sim.forces)
    report.timings["simulate"] = time.perf_counter() - started

    started = time.perf_counter()
    tokeniser = Tokeniser(secret=hashlib.sha256(f"bench.quality:{seed}".encode()).digest(), epoch=1)
    published: dict[str, set[bytes]] = {}
    token_count = 0
    for code, recs in held.items():
        tokens = [tok for r in recs for _, tok in tokeniser.record_tokens(r)]
        token_count += len(tokens)
        published[code] = set(tokens)
    baseline = {code: {k for r in recs for k in baseline_keys(r)} for code, recs in held.items()}
    total = max(1, int(config["records"]))  # type: ignore[call-overload]
    report.sizes["tokens_per_record"] = token_count / total
    report.sizes["index_bits_per_record"] = (
        sum(choose_params(len(s)).size_bits for s in published.values()) / total
    )
    report.timings["publish"] = time.perf_counter() - started

    started = time.perf_counter()
    held_kinds = sim.held_errors if isinstance(sim, RealisticSimulator) else (lambda code, rid: ())
    score = _scorer(report, tokeniser, published, baseline, sim, held_kinds, door)
    for query in _queries(sim, seed, level, people, absent):
        score(query)
    report.timings["query"] = time.perf_counter() - started
    return report


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
        out.append(_Query(sighting, set(sim.holders(person)), person, ""))
    for _ in range(absent):
        if isinstance(sim, RealisticSimulator):
            pid = sim.absent_id(rng)
            out.append(_Query(sim.sighting_detail(pid, rng), set(), None, sim.relation(pid)))
        else:
            out.append(_Query(as_query(sim.absent_person(rng), rng, level), set(), None, "unrelated"))
    return out


def _scorer(
    report: Report,
    tokeniser: Tokeniser,
    published: dict[str, set[bytes]],
    baseline: dict[str, set[BaselineKey]],
    sim: ForceSimulator | RealisticSimulator,
    held_kinds: Callable[[str, str], tuple[str, ...]],
    door: Callable[[Record], Record],
) -> Callable[[_Query], None]:
    truth = sim.people()

    def score(query: _Query) -> None:
        record = door(query.sighting.record)
        tokens = tokeniser.record_tokens(record)
        base_keys = baseline_keys(record)
        false_at: set[int] = set()
        base_false = false_key = False
        held_ids = dict(truth[query.person]) if query.person is not None else {}
        for code, index in published.items():
            matched = {kt for kt, tok in tokens if tok in index}
            strength = hit_strength(matched)
            base_hit = not base_keys.isdisjoint(baseline[code])
            if code not in query.holders:
                false_at.update(s for s in STRENGTHS if strength >= s)
                false_key |= bool(matched)
                base_false |= base_hit
                report.key_false.update(matched)
                continue
            keys, base = report.keys, report.baseline
            keys.pairs += 1
            base.pairs += 1
            keys.hits_at.update(s for s in STRENGTHS if strength >= s)
            base.hits_at.update(STRENGTHS if base_hit else ())
            keys.any_key_pairs += bool(matched)
            base.any_key_pairs += base_hit
            keys.name_key_hits += hit_strength(matched - _IDENTIFIER_KEY_TYPES) >= 1
            report.key_matched.update(matched)
            if len(matched) == 1:
                report.key_only.update(matched)
            _tally_kinds(
                report, (*query.sighting.corruptions, *held_kinds(code, held_ids[code])), strength, base_hit
            )
            if isinstance(sim, RealisticSimulator):
                report.class_pairs[sim.record_class(code, held_ids[code])] += 1
                report.class_hits[sim.record_class(code, held_ids[code])] += strength >= 1
        for tally, false, any_key in (
            (report.keys, false_at, false_key),
            (report.baseline, set(STRENGTHS) if base_false else set(), base_false),
        ):
            tally.queries += 1
            tally.false_at.update(false)
            tally.false_any_key_queries += any_key
            if query.holders:
                tally.held_queries += 1
                tally.held_wrong_at.update(false)
            else:
                tally.absent_queries += 1
                tally.absent_false_at.update(false)
        if not query.holders:
            report.relation_queries[query.relation] += 1
            report.relation_false[query.relation] += 1 in false_at

    return score


def _tally_kinds(report: Report, kinds: tuple[str, ...], strength: int, base_hit: bool) -> None:
    hit = strength >= 1
    for name in set(kinds) or {"(none)"}:
        report.kind_pairs[name] += 1
        report.kind_hits[name] += hit
        report.kind_baseline_hits[name] += base_hit
    if len(set(kinds)) == 1:
        report.single_pairs[kinds[0]] += 1
        report.single_hits[kinds[0]] += hit
    if not hit:
        report.missed_by[" + ".join(sorted(set(kinds))) or "(none)"] += 1


def print_report(report: Report) -> None:
    """Readable tables (rich), then the JSON line."""
    from rich.console import Console
    from rich.table import Table

    s = report.summary()
    console = Console(highlight=False, width=max(120, Console().width))
    base = s["baseline"]
    assert isinstance(base, dict)
    head = Table(
        title=f"Match quality, profile {s['profile']}{', names and dates only' if s['names_only'] else ''}: "
        f"{s['records']} records at {s['forces_count']} forces (seed {s['seed']}"
        f"{', level ' + str(s['level']) if s['profile'] == 'classic' else ''}); {s['pairs']} true pairs, "
        f"{s['queries']} queries"
    )
    for column in ("measure", "match keys", "exact name+DOB"):
        head.add_column(column, justify="left" if column == "measure" else "right")
    for label, key in (
        ("recall (held people found at the right force)", "recall_by_strength"),
        ("false-force rate (held people hitting another force)", "false_force_rate"),
        ("false-trace rate (people held nowhere hitting any force)", "false_trace_rate"),
    ):
        rows, base_rows = s[key], base[key]
        assert isinstance(rows, dict)
        for name in rows:
            head.add_row(f"{label}, {name}" + (" or stronger" if name != "strong" else ""),
                         _pct(rows[name]), _pct(base_rows[name]))  # fmt: skip
    head.add_row("recall by name/DOB keys alone, weak or stronger", _pct(s["recall_name_keys"]), "")
    head.add_row(
        "recall, any key matched (strength 0 too)", _pct(s["recall_any_key"]), _pct(base["recall_any_key"])
    )
    head.add_row("tokens per record", f"{s['tokens_per_record']:.2f}", "")
    head.add_row("index bits per record (FPR 1e-8 a token)", f"{s['index_bits_per_record']:.0f}", "")
    console.print(head)

    per_key = Table(
        title="Per key type (matched, only-match per true pair; false: matched at a wrong force, per query)"
    )
    for column in ("key type", "strength", "matched", "only key", "false"):
        per_key.add_column(column, justify="right" if column != "key type" else "left")
    rows = s["per_key"]
    assert isinstance(rows, dict)
    for _code, kt in sorted(KEY_TYPES.items()):
        row = rows[kt.name]
        per_key.add_row(
            kt.name, str(kt.strength), _pct(row["matched"]), _pct(row["only"]), _pct(row["false"])
        )
    console.print(per_key)

    per_kind = Table(title="Recall (weak or stronger) by error kind in the pair, worst first")
    for column in ("error kind", "pairs", "match keys", "exact", "alone: pairs", "alone: match keys"):
        per_kind.add_column(column, justify="right" if column != "error kind" else "left")
    rows = s["per_corruption"]
    assert isinstance(rows, dict)
    for name, row in sorted(rows.items(), key=lambda item: item[1]["recall"]):
        per_kind.add_row(name, str(row["pairs"]), _pct(row["recall"]), _pct(row["baseline_recall"]),
                         str(row["alone_pairs"]), _pct(row["alone_recall"]))  # fmt: skip
    console.print(per_kind)
    by_class, by_relation = s["recall_by_class"], s["false_trace_by_relation"]
    assert isinstance(by_class, dict) and isinstance(by_relation, dict)
    if by_class:
        console.print("recall by record class: " + "; ".join(f"{c} {_pct(v)}" for c, v in by_class.items()))
        console.print("false traces by relation to someone held: " + "; ".join(
            f"{r} {_pct(v['false_trace'])} of {v['queries']}" for r, v in by_relation.items()))  # fmt: skip
    misses = s["top_misses"]
    assert isinstance(misses, dict)
    console.print(
        "most common error kinds behind a miss: " + "; ".join(f"{k} ({v})" for k, v in misses.items())
    )
    verdict = "met" if s["goal_met"] else "NOT met"
    console.print(
        f"goal (recall >= {GOAL_RECALL:.0%}, false-hit rate <= {GOAL_FALSE_HIT_RATE:.1%}): {verdict}; "
        f"timings {s['timings_s']}"
    )
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
    args = parser.parse_args(argv)
    profile: Profile = args.profile or ("classic" if args.level else "realistic")
    if profile == "realistic" and args.level:
        parser.error("--level belongs to the classic profile; the realistic one draws each error at its rate")
    forces = tuple(f.strip() for f in args.forces.split(",") if f.strip()) if args.forces else None
    report = run(
        people=args.people,
        absent=args.absent,
        seed=args.seed,
        level=args.level or "default",
        records=args.records,
        forces=forces,
        profile=profile,
        names_only=args.names_only,
    )
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
