"""Save one quality run's v2 matches so scoring changes can be tried in seconds, not a rebuilt world.

Why: ``bench.quality`` spends minutes simulating forces and matching tokens, and seconds scoring. What
scoring needs from a run is small: per query, the forces holding the person, the candidate's name classes,
which key types agreed at which force and which it sent, and for the miss breakdown the error kinds and
record class of each true pair. ``save`` writes that (a pickle of plain values, never a name or date) and
``load`` reads it back as ``Snapshot``; ``bench.quality_tune`` rescores it.

Usage: ``python -m bench.quality_snapshot --records 100000 --seed 1 --out /tmp/q-100k-s1.pkl``.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.quality import _v2_tokeniser, build_world, match_arm
from crossforce.testkit.realistic import RealisticSimulator


@dataclass(frozen=True)
class SnapQuery:
    holders: frozenset[str]
    classes: tuple[int, int]
    relation: str
    matches: dict[str, frozenset[int]]
    sent: frozenset[int]
    kinds: dict[str, tuple[str, ...]]
    """Holding force -> error kinds in the (sighting, held record) pair."""
    record_class: dict[str, str]


@dataclass(frozen=True)
class Snapshot:
    seed: int
    records: int
    force_records: dict[str, int]
    queries: list[SnapQuery]

    @property
    def total_records(self) -> int:
        return sum(self.force_records.values())

    def base_rate(self) -> float:
        return sum(len(q.holders) for q in self.queries) / max(1, len(self.queries))


def take(*, records: int, seed: int, people: int = 5000, absent: int = 5000) -> Snapshot:
    world = build_world(
        people=people, absent=absent, seed=seed, level="default", records=records, forces=None,
        profile="realistic", names_only=False,
    )  # fmt: skip
    secret = hashlib.sha256(f"bench.quality:{seed}".encode()).digest()
    arm = match_arm("v2", _v2_tokeniser(secret), world, partitioned=True)
    sim = world.sim
    assert isinstance(sim, RealisticSimulator)
    truth = sim.people()
    out: list[SnapQuery] = []
    for q, hits, sent in zip(world.queries, arm.matches, arm.sent, strict=True):
        ids = dict(truth[q.person]) if q.person is not None else {}
        kinds = {
            code: tuple(sorted(set(q.sighting.corruptions) | set(sim.held_errors(code, ids[code]))))
            for code in q.holders
        }
        classes: dict[str, str] = {code: sim.record_class(code, ids[code]) for code in q.holders}
        out.append(SnapQuery(q.holders, q.classes, q.relation, dict(hits), sent, kinds, classes))
    return Snapshot(seed, world.total_records, dict(world.force_records), out)


def save(snapshot: Snapshot, path: Path) -> None:
    path.write_bytes(pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL))


def load(path: Path) -> Snapshot:
    snapshot = pickle.loads(path.read_bytes())  # our own file, written by ``save``
    assert isinstance(snapshot, Snapshot)
    return snapshot


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality_snapshot", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from bench import quality_snapshot as named  # noqa: PLW0406 - pickled classes must not be ``__main__``'s

    started = time.perf_counter()
    snapshot = named.take(records=args.records, seed=args.seed)
    named.save(snapshot, args.out)
    print(f"{args.out}: {len(snapshot.queries)} queries, {snapshot.total_records} records, "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
