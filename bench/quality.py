"""Match quality of the match keys against an exact name + date-of-birth baseline, in one run.

A few simulated forces publish their records as token sets (plain Python sets: the Bloom filter's own
false positives are measured by the index benchmark, not here). We then query corrupted sightings of
people they hold and of people nobody holds, drawn from the same name and date distributions, and
report:

- recall: (sighting, holding force) pairs where that force hit, at any strength and at strength >= 2;
  a hit is what the matcher reports, hit_strength >= 1 (a corroboration-only key type matching on its
  own has strength 0 and is no hit; the "any key matched" rows count those too, for comparison);
- false-hit rate: queries that hit at least one force not holding the person (an absent person
  hitting anywhere, or a held person hitting a wrong force: a namesake);
- per key type: how often it matched on true pairs, how often it was the only key that matched, and
  how often it matched at a wrong force;
- recall per kind of corruption, so a miss can be traced to the error that caused it;
- the same recall and false-hit figures for the baseline, an exact match on the normalised full name
  (current or declared previous) and date of birth.

Usage: ``python -m bench.quality [--people N] [--absent N] [--seed S] [--level default|light|heavy]``.
The last line printed is one JSON object for scripts and CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from crossforce.encoding.matchkeys import KEY_TYPES, hit_strength
from crossforce.encoding.normalise import (
    NormalisedName,
    normalise_name,
    normalise_previous_name,
    parse_date_parts,
)
from crossforce.encoding.records import IDENTIFIER_FIELDS, Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.testkit.simulate import LEVELS, ForceSimulator, Level, Sighting, as_query

DEFAULT_FORCES = ("west-midlands", "kent", "lancashire", "north-wales")
"""Forces of different sizes; the largest holds about 20,000 records at the default total."""
DEFAULT_RECORDS = 48_000
SHARED_FRACTION = 0.05
"""Higher than the simulator default so people held by two or more forces are well represented."""
GOAL_RECALL = 0.97
GOAL_FALSE_HIT_RATE = 0.005
STRONG = 2
_IDENTIFIER_KEY_TYPES = frozenset(code for code, kt in KEY_TYPES.items() if kt.name in IDENTIFIER_FIELDS)

BaselineKey = tuple[str, str, str]


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
    pairs: int = 0
    hits: int = 0
    any_key_pairs: int = 0
    """True pairs where some key matched, hit or not (strength 0 included)."""
    strong_hits: int = 0
    name_key_hits: int = 0
    queries: int = 0
    false_queries: int = 0
    false_any_key_queries: int = 0
    false_strong_queries: int = 0
    absent_queries: int = 0
    absent_false: int = 0
    held_queries: int = 0
    held_wrong_force: int = 0

    def rates(self) -> dict[str, float]:
        return {
            "recall": self.hits / max(1, self.pairs),
            "recall_strong": self.strong_hits / max(1, self.pairs),
            "recall_any_key": self.any_key_pairs / max(1, self.pairs),
            "false_hit_rate": self.false_queries / max(1, self.queries),
            "false_hit_rate_strong": self.false_strong_queries / max(1, self.queries),
            "false_hit_rate_any_key": self.false_any_key_queries / max(1, self.queries),
            "absent_false_hit_rate": self.absent_false / max(1, self.absent_queries),
            "wrong_force_rate": self.held_wrong_force / max(1, self.held_queries),
        }


@dataclass
class Report:
    config: dict[str, object]
    keys: _Tally = field(default_factory=_Tally)
    baseline: _Tally = field(default_factory=_Tally)
    key_matched: Counter[int] = field(default_factory=Counter)
    key_only: Counter[int] = field(default_factory=Counter)
    key_false: Counter[int] = field(default_factory=Counter)
    corruption_pairs: Counter[str] = field(default_factory=Counter)
    corruption_hits: Counter[str] = field(default_factory=Counter)
    corruption_baseline_hits: Counter[str] = field(default_factory=Counter)
    single_pairs: Counter[str] = field(default_factory=Counter)
    single_hits: Counter[str] = field(default_factory=Counter)
    missed_by: Counter[str] = field(default_factory=Counter)
    """Misses counted by the sorted combination of corruptions in the sighting."""
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        keys = self.keys.rates()
        base = self.baseline.rates()
        pairs = max(1, self.keys.pairs)
        queries = max(1, self.keys.queries)
        per_key = {
            KEY_TYPES[code].name: {
                "matched": round(self.key_matched[code] / pairs, 4),
                "only": round(self.key_only[code] / pairs, 4),
                "false": round(self.key_false[code] / queries, 5),
            }
            for code in sorted(KEY_TYPES)
        }
        per_corruption = {
            name: {
                "pairs": self.corruption_pairs[name],
                "recall": round(self.corruption_hits[name] / self.corruption_pairs[name], 4),
                "baseline_recall": round(
                    self.corruption_baseline_hits[name] / self.corruption_pairs[name], 4
                ),
                "alone_pairs": self.single_pairs[name],
                "alone_recall": round(self.single_hits[name] / max(1, self.single_pairs[name]), 4),
            }
            for name in sorted(self.corruption_pairs)
        }
        return {
            "bench": "quality",
            **self.config,
            "pairs": self.keys.pairs,
            "queries": self.keys.queries,
            **{k: round(v, 5) for k, v in keys.items()},
            "recall_name_keys": round(self.keys.name_key_hits / pairs, 5),
            "baseline": {k: round(v, 5) for k, v in base.items()},
            "goal_met": keys["recall"] >= GOAL_RECALL and keys["false_hit_rate"] <= GOAL_FALSE_HIT_RATE,
            "per_key": per_key,
            "per_corruption": per_corruption,
            "top_misses": {combo: n for combo, n in self.missed_by.most_common(10)},
            "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
        }


def run(
    *,
    people: int = 5000,
    absent: int = 5000,
    seed: int = 1,
    level: Level = "default",
    records: int = DEFAULT_RECORDS,
    forces: Sequence[str] = DEFAULT_FORCES,
) -> Report:
    """Build the forces, publish, query, tally. Deterministic for a seed."""
    config: dict[str, object] = {
        "seed": seed,
        "level": level,
        "people": people,
        "absent": absent,
        "records": records,
        "forces": list(forces),
    }
    report = Report(config)
    started = time.perf_counter()
    sim = ForceSimulator(seed, records, shared_fraction=SHARED_FRACTION, forces=forces)
    held = {code: sim.records_for(code) for code in sim.forces}
    config["records"] = sum(len(r) for r in held.values())
    report.timings["simulate"] = time.perf_counter() - started

    started = time.perf_counter()
    tokeniser = Tokeniser(secret=hashlib.sha256(f"bench.quality:{seed}".encode()).digest(), epoch=1)
    published = {
        code: {tok for r in recs for _, tok in tokeniser.record_tokens(r)} for code, recs in held.items()
    }
    baseline = {code: {k for r in recs for k in baseline_keys(r)} for code, recs in held.items()}
    report.timings["publish"] = time.perf_counter() - started

    started = time.perf_counter()
    rng = random.Random(f"bench.quality:{seed}:{level}")
    truth = sim.people()
    population = sorted(truth)
    for _ in range(people):
        person = rng.choice(population)
        sighting = sim.sighting_detail(person, rng, level)
        _score(report, sighting, set(sim.holders(person)), tokeniser, published, baseline)
    for _ in range(absent):
        sighting = as_query(sim.absent_person(rng), rng, level)
        _score(report, sighting, set(), tokeniser, published, baseline)
    report.timings["query"] = time.perf_counter() - started
    return report


def _score(
    report: Report,
    sighting: Sighting,
    holders: set[str],
    tokeniser: Tokeniser,
    published: dict[str, set[bytes]],
    baseline: dict[str, set[BaselineKey]],
) -> None:
    tokens = tokeniser.record_tokens(sighting.record)
    base_keys = baseline_keys(sighting.record)
    false_any = false_strong = false_key = base_false = False
    for code, index in published.items():
        matched = {kt for kt, tok in tokens if tok in index}
        strength = hit_strength(matched)
        hit = strength >= 1  # what the matcher reports: strength 0 is no hit
        base_hit = not base_keys.isdisjoint(baseline[code])
        if code in holders:
            report.keys.pairs += 1
            report.baseline.pairs += 1
            report.keys.hits += hit
            report.keys.any_key_pairs += bool(matched)
            report.keys.strong_hits += strength >= STRONG
            report.keys.name_key_hits += hit_strength(matched - _IDENTIFIER_KEY_TYPES) >= 1
            report.baseline.hits += base_hit
            report.baseline.strong_hits += base_hit
            report.baseline.any_key_pairs += base_hit
            report.key_matched.update(matched)
            if len(matched) == 1:
                report.key_only.update(matched)
            for name in set(sighting.corruptions) or {"(none)"}:
                report.corruption_pairs[name] += 1
                report.corruption_hits[name] += hit
                report.corruption_baseline_hits[name] += base_hit
            if len(sighting.corruptions) == 1:
                report.single_pairs[sighting.corruptions[0]] += 1
                report.single_hits[sighting.corruptions[0]] += hit
            if not hit:
                report.missed_by[" + ".join(sorted(sighting.corruptions)) or "(none)"] += 1
        else:
            false_any |= hit
            false_strong |= strength >= STRONG
            false_key |= bool(matched)
            base_false |= base_hit
            report.key_false.update(matched)
    for tally, is_false, is_strong, is_key in (
        (report.keys, false_any, false_strong, false_key),
        (report.baseline, base_false, base_false, base_false),
    ):
        tally.queries += 1
        tally.false_queries += is_false
        tally.false_strong_queries += is_strong
        tally.false_any_key_queries += is_key
        if holders:
            tally.held_queries += 1
            tally.held_wrong_force += is_false
        else:
            tally.absent_queries += 1
            tally.absent_false += is_false


def print_report(report: Report) -> None:
    """A readable table (rich), then the JSON line."""
    from rich.console import Console
    from rich.table import Table

    s = report.summary()
    console = Console(highlight=False, width=max(120, Console().width))
    base = s["baseline"]
    assert isinstance(base, dict)
    head = Table(
        title=f"Match quality: {s['records']} records at {len(report.config['forces'])} forces "  # type: ignore[arg-type]
        f"(level {s['level']}, seed {s['seed']}); {s['pairs']} true pairs, {s['queries']} queries"
    )
    head.add_column("measure")
    head.add_column("match keys", justify="right")
    head.add_column("exact name+DOB", justify="right")
    for label, key in (
        ("recall (any strength)", "recall"),
        ("recall (strength >= 2)", "recall_strong"),
        ("false-hit rate (any)", "false_hit_rate"),
        ("false-hit rate (strength >= 2)", "false_hit_rate_strong"),
        ("  absent person hits a force", "absent_false_hit_rate"),
        ("  held person hits a wrong force", "wrong_force_rate"),
        ("recall (any key matched, strength 0 too)", "recall_any_key"),
        ("false rate (any key matched, strength 0 too)", "false_hit_rate_any_key"),
    ):
        head.add_row(label, _pct(s[key]), _pct(base[key]))
    head.add_row("recall by name/DOB keys alone", _pct(s["recall_name_keys"]), "")
    console.print(head)

    per_key = Table(
        title="Per key type (matched, only-match per true pair; false: matched at a wrong force, per query)"
    )
    for column in ("key type", "strength", "matched", "only key", "false"):
        per_key.add_column(column, justify="right" if column != "key type" else "left")
    per_key_rows = s["per_key"]
    assert isinstance(per_key_rows, dict)
    for _code, kt in sorted(KEY_TYPES.items()):
        row = per_key_rows[kt.name]
        per_key.add_row(
            kt.name, str(kt.strength), _pct(row["matched"]), _pct(row["only"]), _pct(row["false"])
        )
    console.print(per_key)

    per_corr = Table(title="Recall by corruption in the sighting (worst first)")
    for column in ("corruption", "pairs", "match keys", "exact", "alone: pairs", "alone: match keys"):
        per_corr.add_column(column, justify="right" if column != "corruption" else "left")
    rows = s["per_corruption"]
    assert isinstance(rows, dict)
    for name, row in sorted(rows.items(), key=lambda item: item[1]["recall"]):
        per_corr.add_row(
            name,
            str(row["pairs"]),
            _pct(row["recall"]),
            _pct(row["baseline_recall"]),
            str(row["alone_pairs"]),
            _pct(row["alone_recall"]),
        )
    console.print(per_corr)
    misses = s["top_misses"]
    assert isinstance(misses, dict)
    console.print(
        "most common corruptions behind a miss: " + "; ".join(f"{k} ({v})" for k, v in misses.items())
    )
    verdict = "met" if s["goal_met"] else "NOT met"
    console.print(
        f"goal (recall >= {GOAL_RECALL:.0%}, false-hit rate <= {GOAL_FALSE_HIT_RATE:.1%}): {verdict}; "
        f"timings {s['timings_s']}"
    )
    # The machine-readable line goes last and straight to stdout, unwrapped.
    print(json.dumps(s, sort_keys=True), flush=True)


def _pct(value: object) -> str:
    assert isinstance(value, float | int)
    return f"{100 * value:.2f}%"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=5000, help="sightings of held people")
    parser.add_argument("--absent", type=int, default=5000, help="queries for people held nowhere")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--level", choices=[lv for lv in LEVELS if lv != "none"] + ["none"], default="default"
    )
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS, help="records across all forces")
    parser.add_argument("--forces", default=",".join(DEFAULT_FORCES), help="comma-separated force codes")
    args = parser.parse_args(argv)
    report = run(
        people=args.people,
        absent=args.absent,
        seed=args.seed,
        level=args.level,
        records=args.records,
        forces=tuple(f.strip() for f in args.forces.split(",") if f.strip()),
    )
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
