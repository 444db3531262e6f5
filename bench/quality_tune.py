"""Rescore a saved quality run (``bench.quality_snapshot``) with other scoring parameters, in seconds.

Why: trying a calibration or an m/u change against ``bench.quality`` costs minutes a try; against a
snapshot it costs a second, so the figures of docs/quality.md can be tuned on one seed and checked on
another without rebuilding either world. Prints recall, false-force and false-trace per threshold, the
reliability table and where the misses at the default threshold are (error kinds, record class, which
key types agreed at the holder).

Usage: ``python -m bench.quality_tune SNAPSHOT [--params FILE] [--fit VERSION --out FILE]``; with
``--fit`` the calibration is refitted on this snapshot first (fit on seed 1, report on seed 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.quality import (
    DEFAULT_THRESHOLD,
    GOAL_CALIBRATION_GAP,
    GOAL_DECILE_MIN,
    THRESHOLDS,
    Outcome,
    calibration_hits,
    curves_from_hits,
)
from bench.quality_snapshot import Snapshot, load
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.index.params import DEFAULT_TARGET_FPR
from crossforce.scoring import DEFAULT, ScoringParams, score

Probabilities = list[dict[str, float]]


def probabilities(snap: Snapshot, params: ScoringParams) -> Probabilities:
    total = snap.total_records
    return [
        {
            code: score(
                types, forename_class=q.classes[0], surname_class=q.classes[1],
                force_records=snap.force_records[code], total_records=total, fpr=DEFAULT_TARGET_FPR,
                params=params, sent_types=q.sent,
            ).probability
            for code, types in q.matches.items()
        }
        for q in snap.queries
    ]  # fmt: skip


def rates(snap: Snapshot, probs: Probabilities, threshold: float) -> dict[str, float]:
    result = Outcome()
    for q, row in zip(snap.queries, probs, strict=True):
        result.add(q.holders, {c for c, p in row.items() if p >= threshold})
    return result.rates()


def reliability(snap: Snapshot, probs: Probabilities) -> list[tuple[str, int, float, float, bool]]:
    n, stated, right = [0] * 10, [0.0] * 10, [0] * 10
    for q, row in zip(snap.queries, probs, strict=True):
        for code, p in row.items():
            d = min(9, int(p * 10))
            n[d] += 1
            stated[d] += p
            right[d] += code in q.holders
    return [
        (f"{d / 10:.1f}-{(d + 1) / 10:.1f}", n[d], stated[d] / n[d], right[d] / n[d],
         n[d] >= GOAL_DECILE_MIN and abs(right[d] / n[d] - stated[d] / n[d]) > GOAL_CALIBRATION_GAP)
        for d in range(10) if n[d]
    ]  # fmt: skip


def misses(snap: Snapshot, probs: Probabilities, threshold: float) -> dict[str, Counter[str]]:
    """Where the held people not found at ``threshold`` are: by what agreed at the holder, by error kind
    and by record class."""
    agreed: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    for q, row in zip(snap.queries, probs, strict=True):
        for code in q.holders:
            if row.get(code, 0.0) >= threshold:
                continue
            types = q.matches.get(code, frozenset())
            p = row.get(code)
            names = ",".join(sorted(KEY_TYPES[t].name for t in types if t in KEY_TYPES)) or "(nothing)"
            agreed[f"{names} p={p:.2f}" if p is not None else names] += 1
            kinds.update(q.kinds.get(code, ()) or ("(none)",))
            classes[q.record_class.get(code, "?")] += 1
    return {"agreed": agreed, "kinds": kinds, "classes": classes}


def report(snap: Snapshot, params: ScoringParams) -> None:
    """As ``bench.quality`` does, the prior's scale is the stream's own (about half its queries are held)."""
    params = dataclasses.replace(params, base_rate=snap.base_rate())
    probs = probabilities(snap, params)
    print(f"seed {snap.seed}, {snap.total_records} records, params {params.version}")
    for t in THRESHOLDS:
        r = rates(snap, probs, t)
        mark = " (default)" if t == DEFAULT_THRESHOLD else ""
        print(f"  p >= {t:<4g}{mark:10} recall {100 * r['recall']:.2f}%  false-force "
              f"{100 * r['false_force']:.2f}%  false-trace {100 * r['false_trace']:.2f}%")  # fmt: skip
    for decile, n, stated, observed, flag in reliability(snap, probs):
        print(f"  {decile} n {n:6d} stated {stated:.3f} observed {observed:.3f} "
              f"gap {100 * (observed - stated):+.1f}{' !' if flag else ''}")  # fmt: skip
    where = misses(snap, probs, DEFAULT_THRESHOLD)
    for name, counter in where.items():
        print(f"  misses by {name}: " + "; ".join(f"{k} ({v})" for k, v in counter.most_common(12)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality_tune", description=__doc__.split("\n")[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--params", type=Path, help="a parameter file (default: the shipped one)")
    parser.add_argument(
        "--fit", metavar="SNAPSHOT", type=Path, action="append", help="refit the curves on these runs first"
    )
    parser.add_argument("--version", default="tuned", help="with --fit: the new parameters' version")
    parser.add_argument("--out", type=Path, help="with --fit: write the parameters here")
    args = parser.parse_args(argv)
    params = DEFAULT
    if args.params is not None:
        params = ScoringParams.from_json(args.params.read_text(encoding="utf-8"))
    if args.fit:
        params = refit([load(path) for path in args.fit], params, args.version)
        print(f"fitted: global {params.calibration}; {len(params.family_calibration)} families")
        if args.out is not None:
            args.out.write_text(params.to_json(f"bench.quality_tune --fit {args.fit}"), encoding="utf-8")
    report(load(args.snapshot), params)
    return 0


def refit(snaps: Sequence[Snapshot], params: ScoringParams, version: str) -> ScoringParams:
    """The curves refitted on the hits of every run in ``snaps`` together, each scored under its own
    base rate and force sizes (so one curve serves every scale), returned with ``params``' base rate."""
    hits = []
    for snap in snaps:
        checks = [(q.classes, q.matches, q.sent, q.holders) for q in snap.queries]
        streamed = dataclasses.replace(params, base_rate=snap.base_rate(), family_calibration={})
        hits += calibration_hits(checks, streamed, snap.force_records)
    fitted = curves_from_hits(hits, params)
    return dataclasses.replace(fitted, version=version)


if __name__ == "__main__":
    sys.exit(main())
