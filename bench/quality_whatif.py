"""What a key the spec does not have would buy, estimated on saved runs before anyone builds it.

Why: ``bench.quality_ceiling`` shows the largest group of held people no scoring can find without false
hits is a name agreeing alone (``name_nodate``) where the held record has no date of birth: among a
million records that pattern hits about 49,000 times and is the person 62 times. A key made only by
records *without* a date ("name, no date on record": forename and surname, emitted by a held record
whose date is missing, and sent by every check) would tell those apart: it agrees for the person whenever
the held record lacks a date, and for a namesake only when the namesake's record lacks one too.

The estimate adds that key (code ``UNDATED``, printed ``key31``) to saved runs: to every true hit where
``name_nodate`` agreed and the held record has no date (error kind ``held_no_dob``), and to a false hit
where ``name_nodate`` agreed with chance ``share``, the share of held records without a date (7.5% in
docs/records.md: a quarter of intelligence records, 30% of records). That chance assumes one namesake
record per such hit; with several it is higher, so the figure for ``2 * share`` is printed beside it.
Then the ceiling is measured as before (fitted on one seed, measured on another).

Usage: ``python -m bench.quality_whatif FIT_SNAPSHOT TEST_SNAPSHOT [--share 0.075]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import quality_ceiling
from bench.quality_snapshot import Snapshot, load

NAME_NODATE = 26
UNDATED = 31
"""A code no key type uses: the hypothetical key exists only in this estimate."""
HELD_UNDATED_SHARE = 0.075
"""Held records without a date of birth (docs/records.md, ``held_no_dob``: 25% of the 30% intelligence)."""


def with_undated_key(snap: Snapshot, share: float = HELD_UNDATED_SHARE) -> Snapshot:
    """``snap`` as if every force's index carried the "name, no date on record" key.

    A namesake's record lacking a date is drawn per (seed, query, force) so that the estimate repeats."""
    queries = []
    for i, q in enumerate(snap.queries):
        matches = dict(q.matches)
        for code, types in q.matches.items():
            if NAME_NODATE not in types:
                continue
            if code in q.holders:
                agrees = "held_no_dob" in q.kinds.get(code, ())
            else:
                agrees = random.Random(f"undated:{snap.seed}:{i}:{code}").random() < share
            if agrees:
                matches[code] = types | {UNDATED}
        queries.append(dataclasses.replace(q, matches=matches, sent=q.sent | {UNDATED}))
    return dataclasses.replace(snap, queries=queries)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality_whatif", description=__doc__.split("\n")[0]
    )
    parser.add_argument("fit", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--share", type=float, default=HELD_UNDATED_SHARE)
    parser.add_argument(
        "--view", default="backoff", choices=[*quality_ceiling.BACKOFFS, *quality_ceiling.VIEWS]
    )
    args = parser.parse_args(argv)
    fit, test = load(args.fit), load(args.test)
    print(f"fit seed {fit.seed}, test seed {test.seed}, view {args.view}; recall / FF / FT %")
    for label, share in (
        ("as today", None),
        ("with name_undated", args.share),
        ("namesakes x2", 2 * args.share),
    ):
        f, t = (fit, test) if share is None else (with_undated_key(fit, share), with_undated_key(test, share))
        r = quality_ceiling.ceiling(f, t, args.view)
        extra = "" if share is None else f" (namesake record undated: {100 * share:.1f}%)"
        print(f"{label}{extra}: test {quality_ceiling.line(r.test)}; oracle on test "
              f"{quality_ceiling.line(r.oracle)}")  # fmt: skip
        for pattern, n, seen, right in r.left_out[:4]:
            print(f"    missed {n:4d}: {pattern} (this pattern: {seen} hits, {right} right)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
