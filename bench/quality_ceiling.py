"""The best recall any scoring of what the matcher knows could reach at issue 14's false rates.

Why: whether 97% recall at false-force and false-trace <= 0.5% is a scoring problem or needs new keys.
Whatever a scoring does, it decides per hit from what the matcher sees of it: the key types that agreed at
the force, the types the candidate sent, the name-frequency classes the query carries and the force's
index size. Group the hits of a saved run (``bench.quality_snapshot``) into cells of those values; a
decision rule is then a set of admitted cells. Cells are sorted by observed precision on a fitting run
(Laplace-smoothed, so a cell of one lucky hit does not jump the queue) and admitted while both false rates
stay within the cap (a cell that would break one is skipped, later cells are still tried); the admitted
set is then measured on another run. Fitted on the run it is measured on, it is an upper bound (an
oracle that knows each cell's outcomes); fitted on another seed, it is what a scoring fitted that way
could honestly expect.

Views (``VIEWS``: how much of the information a cell keeps): from everything per force (``types+sent``,
and with what agreed at the check's other forces) down to the comparison vector alone. Fine cells are
mostly unseen in another run, so the headline view is a back-off chain (``BACKOFFS``): each hit takes
the finest cell that held 20+ hits in the fitting run. docs/quality.md ("The ceiling") has the figures.

Usage: ``python -m bench.quality_ceiling FIT_SNAPSHOT [TEST_SNAPSHOT] [--view V] [--cap 0.005]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import quality_tune
from bench.quality import DEFAULT_THRESHOLD, GOAL_FALSE_RATE, Outcome
from bench.quality_snapshot import SnapQuery, Snapshot, load
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.scoring import DEFAULT, ScoringParams, explanations, family

Cell = tuple[Hashable, ...]
CellOf = Callable[[SnapQuery, str, int], Cell]
"""(query, force code, force records) -> the cell of that hit."""


def size_band(records: int, steps_per_octave: int = 1) -> int:
    """A force's index size, coarsened to ``steps_per_octave`` bands per doubling: how likely a namesake
    is grows with it, and the 43 forces' own sizes would make a cell per force."""
    return math.floor(steps_per_octave * math.log2(max(1, records)))


def _types(types: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(types))


def view_types_sent(q: SnapQuery, code: str, records: int) -> Cell:
    return (_types(q.matches[code]), _types(q.sent), q.classes, size_band(records))


def view_types(q: SnapQuery, code: str, records: int) -> Cell:
    return (_types(q.matches[code]), q.classes, size_band(records))


def view_family(q: SnapQuery, code: str, records: int) -> Cell:
    families = tuple(sorted({family(levels) for levels in explanations(q.matches[code], q.sent)}))
    return (families, q.classes, size_band(records))


_STRONG = frozenset({1, 2, 3, 4, 16})
"""Identifier keys and name_dob: a hit on one of these elsewhere makes a weak hit here look different."""


def view_elsewhere(q: SnapQuery, code: str, records: int) -> Cell:
    """``types+sent`` and what agreed at the query's other forces (2: an identifier or name_dob, 1: any
    key, 0: nothing): the matcher sees every force's hits of one check, and a namesake's weak hit beside
    the person's strong one elsewhere is a false force a per-force score cannot tell apart."""
    others = [types for other, types in q.matches.items() if other != code and types]
    elsewhere = 2 if any(types & _STRONG for types in others) else int(bool(others))
    return (*view_types_sent(q, code, records), elsewhere)


def view_levels(q: SnapQuery, code: str, records: int) -> Cell:
    """The comparison vector scoring sees (each field's agreement level, ``none`` for offered fields no
    key vouched for), with the name classes and the size band."""
    return (*view_comparison(q, code, records), q.classes, size_band(records))


def view_comparison(q: SnapQuery, code: str, records: int) -> Cell:
    """The explanations scoring takes the best of (``levels.explanations``): a comparison vector that only
    several records together show is kept apart from the same vector shown by one."""
    return (tuple(sorted(tuple(sorted(lv.items())) for lv in explanations(q.matches[code], q.sent))),)


def view_pattern(q: SnapQuery, code: str, records: int) -> Cell:
    return (_types(q.matches[code]),)


VIEWS: Mapping[str, CellOf] = {
    "types+sent+elsewhere": view_elsewhere,
    "types+sent": view_types_sent,
    "types": view_types,
    "levels": view_levels,
    "pattern": view_pattern,
    "comparison": view_comparison,
    "family": view_family,
}
BACKOFFS: Mapping[str, tuple[str, ...]] = {
    "backoff": ("types+sent", "types", "levels", "pattern", "comparison"),
    "backoff+elsewhere": ("types+sent+elsewhere", "types+sent", "types", "levels", "pattern", "comparison"),
}
"""Chains of views, finest first: a hit takes the finest cell that held ``BACKOFF_MIN_HITS`` hits in the
fitting run, so a pattern never seen there is still decided, by what is known of patterns like it."""
BACKOFF_MIN_HITS = 20


def backoff(fit: Snapshot, chain: Sequence[str], min_hits: int = BACKOFF_MIN_HITS) -> CellOf:
    counts = [Counter(hits_by_cell_sizes(fit, VIEWS[name])) for name in chain]

    def cell_of(q: SnapQuery, code: str, records: int) -> Cell:
        for name, count in zip(chain, counts, strict=True):
            cell = VIEWS[name](q, code, records)
            if count[cell] >= min_hits:
                break
        return (name, cell)

    return cell_of


def hits_by_cell_sizes(snap: Snapshot, cell_of: CellOf) -> dict[Cell, int]:
    return {cell: len(hits) for cell, hits in hits_by_cell(snap, cell_of).items()}


def view(name: str, fit: Snapshot) -> CellOf:
    """A view by name; a back-off chain is built from the run it is fitted on."""
    return backoff(fit, BACKOFFS[name]) if name in BACKOFFS else VIEWS[name]


@dataclass(frozen=True, slots=True)
class Hit:
    query: int
    held: bool
    """The query's person is held somewhere (a wrong hit is a false force) or nowhere (a false trace)."""
    right: bool
    """The force holds the person."""


def hits_by_cell(snap: Snapshot, cell_of: CellOf) -> dict[Cell, list[Hit]]:
    cells: dict[Cell, list[Hit]] = defaultdict(list)
    for i, q in enumerate(snap.queries):
        for code in q.matches:
            cell = cell_of(q, code, snap.force_records[code])
            cells[cell].append(Hit(i, bool(q.holders), code in q.holders))
    return dict(cells)


def smoothed_precision(hits: Sequence[Hit]) -> float:
    """(right + 1) / (hits + 2): a cell seen once and right ranks below a large cell right 90% of the time."""
    return (sum(h.right for h in hits) + 1) / (len(hits) + 2)


def admit(cells: Mapping[Cell, Sequence[Hit]], snap: Snapshot, cap: float = GOAL_FALSE_RATE) -> set[Cell]:
    """Cells admitted best-precision first while false-force and false-trace both stay <= ``cap``.

    The rates are per query (a query with two wrong hits is one false trace), so each cell costs only
    the queries it makes false for the first time."""
    held = sum(1 for q in snap.queries if q.holders)
    budget = {True: math.floor(cap * held + 1e-9), False: math.floor(cap * (len(snap.queries) - held) + 1e-9)}
    spent = {True: 0, False: 0}
    flagged: set[int] = set()
    admitted: set[Cell] = set()
    ranked = sorted(cells, key=lambda c: (-smoothed_precision(cells[c]), -len(cells[c]), repr(c)))
    for cell in ranked:
        hits = cells[cell]
        if not any(h.right for h in hits):
            continue
        new = {h.query: h.held for h in hits if not h.right and h.query not in flagged}
        cost = Counter(new.values())
        if any(spent[side] + cost[side] > budget[side] for side in (True, False)):
            continue
        admitted.add(cell)
        flagged.update(new)
        for side in (True, False):
            spent[side] += cost[side]
    return admitted


def measure(snap: Snapshot, cell_of: CellOf, admitted: set[Cell]) -> dict[str, float]:
    """Recall, false-force and false-trace of reporting exactly the hits whose cell is admitted."""
    result = Outcome()
    for q in snap.queries:
        hits = {c for c in q.matches if cell_of(q, c, snap.force_records[c]) in admitted}
        result.add(q.holders, hits)
    return result.rates()


def reachable(snap: Snapshot) -> float:
    """The share of (query, holder) pairs where any key agreed: no scoring can find the rest."""
    pairs = sum(len(q.holders) for q in snap.queries)
    return sum(1 for q in snap.queries for c in q.holders if q.matches.get(c)) / max(1, pairs)


def pattern_name(types: Iterable[int]) -> str:
    return ",".join(sorted(KEY_TYPES[t].name if t in KEY_TYPES else f"key{t}" for t in types)) or "(nothing)"


def left_out(
    snap: Snapshot, cell_of: CellOf, admitted: set[Cell], top: int = 10
) -> list[tuple[str, int, int, int]]:
    """The held pairs not admitted, by the key types that agreed at the holder: (pattern, pairs missed,
    hits of that pattern in the run, of which right): the last two say what admitting it would cost."""
    missed: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for q in snap.queries:
        for code, types in q.matches.items():
            name = pattern_name(types)
            seen[name] += 1
            right[name] += code in q.holders
        for code in q.holders:
            types = q.matches.get(code, frozenset())
            if not types or cell_of(q, code, snap.force_records[code]) not in admitted:
                missed[pattern_name(types)] += 1
    return [(name, n, seen[name], right[name]) for name, n in missed.most_common(top)]


@dataclass(frozen=True)
class Ceiling:
    view: str
    cells: int
    """Distinct cells in the fitting run."""
    admitted: int
    fit: dict[str, float]
    """Rates of the admitted cells on the run they were ranked on (in sample)."""
    test: dict[str, float]
    """The same cells on the test run: what a scoring fitted this way could expect."""
    oracle: dict[str, float]
    """Cells ranked and admitted on the test run itself: no scoring of these cells does better."""
    reachable: float
    left_out: list[tuple[str, int, int, int]]


def ceiling(fit: Snapshot, test: Snapshot, name: str, cap: float = GOAL_FALSE_RATE) -> Ceiling:
    cell_of = view(name, fit)
    fitted = hits_by_cell(fit, cell_of)
    admitted = admit(fitted, fit, cap)
    own = view(name, test)
    oracle = admit(hits_by_cell(test, own), test, cap)
    return Ceiling(
        view=name,
        cells=len(fitted),
        admitted=len(admitted),
        fit=measure(fit, cell_of, admitted),
        test=measure(test, cell_of, admitted),
        oracle=measure(test, own, oracle),
        reachable=round(reachable(test), 5),
        left_out=left_out(test, cell_of, admitted),
    )


def shipped(test: Snapshot, params: ScoringParams = DEFAULT) -> dict[float, dict[str, float]]:
    """The shipped scoring on the test run per threshold, under the run's own base rate (as the bench)."""
    streamed = dataclasses.replace(params, base_rate=test.base_rate())
    probs = quality_tune.probabilities(test, streamed)
    return {t: quality_tune.rates(test, probs, t) for t in (0.3, DEFAULT_THRESHOLD, 0.7)}


def line(rates: Mapping[str, float]) -> str:
    return " / ".join(f"{100 * rates[k]:.2f}" for k in ("recall", "false_force", "false_trace"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality_ceiling", description=__doc__.split("\n")[0]
    )
    parser.add_argument("fit", type=Path, help="snapshot the cells are ranked on (seed 1)")
    parser.add_argument("test", type=Path, nargs="?", help="snapshot they are measured on (seed 2)")
    parser.add_argument("--view", choices=[*BACKOFFS, *VIEWS], action="append")
    parser.add_argument("--cap", type=float, default=GOAL_FALSE_RATE)
    parser.add_argument("--params", type=Path, help="scoring to print beside the ceiling (default: shipped)")
    args = parser.parse_args(argv)
    fit = load(args.fit)
    test = fit if args.test is None else load(args.test)
    params = DEFAULT
    if args.params is not None:
        params = ScoringParams.from_json(args.params.read_text(encoding="utf-8"))
    print(f"fit seed {fit.seed} ({fit.total_records} records), test seed {test.seed} "
          f"({test.total_records} records), cap {100 * args.cap:.2f}%; recall / FF / FT %")  # fmt: skip
    for threshold, rates in shipped(test, params).items():
        print(f"params {params.version} at p >= {threshold:g}: {line(rates)}")
    for name in args.view or [*BACKOFFS, *VIEWS]:
        r = ceiling(fit, test, name, args.cap)
        print(f"{name}: {r.cells} cells, {r.admitted} admitted; fit {line(r.fit)}; test {line(r.test)}; "
              f"oracle on test {line(r.oracle)}; any key agreed {100 * r.reachable:.2f}%")  # fmt: skip
        for pattern, n, seen, right in r.left_out:
            print(f"    missed {n:4d}: {pattern} (this pattern: {seen} hits, {right} right)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
