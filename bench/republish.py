"""Peak memory and time of a republish of the largest force, against the bytes of every index held.

The matcher keeps every force's index in one MatchSnapshot per epoch; a publish builds the next snapshot
while the old one keeps serving. What that costs in memory is the issue-20 goal "matcher memory <= 1.3x
index bytes at peak during a republish of the largest force". Measured with tracemalloc (numpy reports
its array allocations to it), from the moment the new index's bytes arrive (as ``IndexTable`` receives
them: ``PartitionedIndex.from_bytes``; format 2, tokens of every v2 key type) until the new snapshot has
replaced the old one; the old snapshot and the received bytes count throughout. Also times single
checks against the snapshot before and after, to show a republish does not change the check cost.

Usage: python -m bench.republish [--total-records 10000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
import tracemalloc

import numpy as np
from numpy.typing import NDArray

from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.forces import sizes_for_total
from crossforce.index.bloom import DEFAULT_TARGET_FPR
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot

TYPES = np.array(sorted(KEY_TYPES), dtype=np.uint8)


def random_tokens(rng: np.random.Generator, n: int) -> NDArray[np.uint8]:
    words = rng.integers(0, 2**64 - 1, size=n * 4, dtype=np.uint64, endpoint=True)
    return words.view(np.uint8).reshape(n, 32)


def random_index(rng: np.random.Generator, n: int) -> PartitionedIndex:
    return PartitionedIndex.build(rng.choice(TYPES, size=n), random_tokens(rng, n), DEFAULT_TARGET_FPR)


def median_check_us(snapshot: MatchSnapshot, rng: np.random.Generator, checks: int) -> float:
    queries = random_tokens(rng, checks * 16).reshape(checks, 16, 32)
    types = rng.choice(TYPES, size=(checks, 16))
    times = []
    for query, kinds in zip(queries, types, strict=True):
        start = time.perf_counter_ns()
        snapshot.check(query, kinds)
        times.append(time.perf_counter_ns() - start)
    return float(np.median(times)) / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-records", type=int, default=10_000_000)
    parser.add_argument("--tokens-per-record", type=int, default=12)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    sizes = sizes_for_total(args.total_records)
    largest = max(sizes, key=lambda code: (sizes[code], code))
    snapshot: MatchSnapshot | None = None
    for code in sorted(sizes):  # published one by one, as a matcher starting empty receives them
        bloom = random_index(rng, sizes[code] * args.tokens_per_record)
        snapshot = (
            MatchSnapshot.build({code: bloom}) if snapshot is None else snapshot.with_index(code, bloom)
        )
    assert snapshot is not None
    gc.collect()
    index_bytes = sum(p.params.size_bytes for code in snapshot.orgs for p in snapshot.partitions(code))
    fresh = random_index(rng, sizes[largest] * args.tokens_per_record)
    partitions, payload = fresh.partitions, fresh.to_bytes()
    del fresh
    before_us = median_check_us(snapshot, rng, args.checks)

    held = snapshot.nbytes + len(payload)  # allocated before tracing starts: added by hand
    tracemalloc.start()
    start = time.perf_counter()
    bloom = PartitionedIndex.from_bytes(partitions, payload)
    snapshot = snapshot.with_index(largest, bloom)
    del bloom
    swap_s = time.perf_counter() - start
    gc.collect()
    _, peak_traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = peak_traced + held
    after_us = median_check_us(snapshot, rng, args.checks)

    result = {
        "bench": "republish",
        "total_records": args.total_records,
        "forces": len(snapshot),
        "largest": largest,
        "largest_bytes": len(payload),
        "index_bytes": index_bytes,
        "peak_bytes": peak,
        "peak_ratio": peak / index_bytes,
        "republish_s": swap_s,
        "check_us_before": before_us,
        "check_us_after": after_us,
        "load_average": os.getloadavg()[0],
    }
    mib = 2**20
    print(
        f"{len(snapshot)} forces, {index_bytes / mib:,.1f} MiB of indexes; republish {largest} "
        f"({len(payload) / mib:,.1f} MiB): {swap_s * 1e3:,.0f} ms, peak {peak / mib:,.1f} MiB = "
        f"{peak / index_bytes:.2f}x index bytes (goal <= 1.3x); check {before_us:.1f} µs before, "
        f"{after_us:.1f} µs after; load {result['load_average']:.2f}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
