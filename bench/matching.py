"""Matcher check cost against 1, 8 and 43 forces at real sizes, batch throughput and snapshot memory.

Every force gets a format-2 index (a partition per key type) of random tokens (``--tokens-per-record`` per
record, each of a key type drawn from the v2 key table, sizes split like the real forces by
crossforce.forces.sizes_for_total) at DEFAULT_TARGET_FPR; each query token carries a key type too and
is tested only in that partition. Figures:

* per-check server time for one candidate of ``--tokens`` tokens (median and p99 over many checks, each
  with fresh tokens, so caches are as cold as in service): 1 force (the largest), the 8 largest, all 43;
  goal: 43 forces within 3x of 1 force;
* the same for all-hit and all-miss candidates against 43 forces (they must cost the same);
* batch throughput: candidates/s for batches of ``--batch`` candidates against 43 forces, one calling
  thread (goal >= 50,000/s; the compiled kernel splits a big batch over the cores itself), the kernel
  kept on the calling thread, and two threads checking two batches at once;
* every figure for the matcher's compiled kernel (``crossforce.server.matchkernel``, what the server
  runs) and, in the same run, for core's numpy ``MatchSnapshot.check`` (the baseline, suffix ``_numpy``);
* memory: snapshot bytes / sum of index bytes (goal <= 2), and the cost of swapping one force's index in
  (bench.republish measures the peak memory of that swap).

Usage: python -m bench.matching [--total-records 1000000]   (default: the full 10,000,000)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.forces import sizes_for_total
from crossforce.index.bloom import DEFAULT_TARGET_FPR
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot
from crossforce.server import matchkernel

TYPES = np.array(sorted(KEY_TYPES), dtype=np.uint8)


def random_tokens(rng: np.random.Generator, n: int) -> NDArray[np.uint8]:
    words = rng.integers(0, 2**64 - 1, size=n * 4, dtype=np.uint64, endpoint=True)
    return words.view(np.uint8).reshape(n, 32)


def random_types(rng: np.random.Generator, shape: int | tuple[int, ...]) -> NDArray[np.uint8]:
    return rng.choice(TYPES, size=shape)


Checker = Callable[[MatchSnapshot, NDArray[np.uint8], NDArray[np.uint8]], NDArray[np.bool_]]
"""One way to answer a check: the numpy one in core or the matcher's compiled kernel."""


def kernel_serial(
    snapshot: MatchSnapshot, tokens: NDArray[np.uint8], types: NDArray[np.uint8]
) -> NDArray[np.bool_]:
    return matchkernel.check(snapshot, tokens, types, parallel=False)


CHECKERS: dict[str, Checker] = {"kernel": matchkernel.check, "numpy": MatchSnapshot.check}
"""The server's kernel first (the figures without a suffix), then the numpy baseline."""


def time_checks(
    snapshot: MatchSnapshot,
    queries: NDArray[np.uint8],
    types: NDArray[np.uint8],
    checker: Checker = matchkernel.check,
) -> tuple[float, float]:
    """Median and p99 microseconds of one checker over queries (C, T, 32) of types (C, T), after a
    short warm-up."""
    for query, kinds in zip(queries[:50], types[:50], strict=True):
        checker(snapshot, query, kinds)
    times = []
    for query, kinds in zip(queries, types, strict=True):
        start = time.perf_counter_ns()
        checker(snapshot, query, kinds)
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return statistics.median(times) / 1e3, times[int(0.99 * (len(times) - 1))] / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-records", type=int, default=10_000_000)
    parser.add_argument("--tokens-per-record", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=16, help="tokens per candidate")
    parser.add_argument("--checks", type=int, default=3000, help="single checks timed per configuration")
    parser.add_argument("--batch", type=int, default=1000, help="candidates per batch")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    sizes = sizes_for_total(args.total_records)
    order = sorted(sizes, key=lambda code: (-sizes[code], code))
    indexes: dict[str, PartitionedIndex] = {}
    members: dict[str, tuple[NDArray[np.uint8], NDArray[np.uint8]]] = {}
    total_tokens = 0
    build_start = time.perf_counter()
    for code in order:
        count = sizes[code] * args.tokens_per_record
        tokens, types = random_tokens(rng, count), random_types(rng, count)
        indexes[code] = PartitionedIndex.build(types, tokens, DEFAULT_TARGET_FPR)
        keep = args.checks * args.tokens // 8 + 1
        members[code] = (types[:keep].copy(), tokens[:keep].copy())
        total_tokens += count
        del tokens
    build_s = time.perf_counter() - build_start
    index_bytes = sum(ix.size_bytes for ix in indexes.values())
    probes = sorted({p.params.num_probes for ix in indexes.values() for p in ix.partitions})

    snapshots = {n: MatchSnapshot.build({code: indexes[code] for code in order[:n]}) for n in (1, 8, 43)}
    full = snapshots[43]
    memory_ratio = full.nbytes / index_bytes

    swap_start = time.perf_counter()
    swapped = full.with_index(order[0], indexes[order[0]])
    swap_s = time.perf_counter() - swap_start
    del swapped
    indexes.clear()  # the snapshots hold their own copies; the matcher need not keep the index objects

    shape = (args.checks, args.tokens)
    per_check: dict[str, dict[int, tuple[float, float]]] = {name: {} for name in CHECKERS}
    for n, snapshot in snapshots.items():
        queries = random_tokens(rng, args.checks * args.tokens).reshape(*shape, 32)
        kinds = random_types(rng, shape)
        for name, checker in CHECKERS.items():  # the same queries for both, one after the other
            per_check[name][n] = time_checks(snapshot, queries, kinds, checker)

    # All-hit: every token is a distinct member of one of the 8 largest forces (no repeats, so no warmer
    # caches than the all-miss run).
    hit_types = np.concatenate([members[code][0] for code in order[:8]])
    hit_pool = np.concatenate([members[code][1] for code in order[:8]])
    pick = rng.permutation(len(hit_pool))[: args.checks * args.tokens]
    hit_queries, hit_kinds = hit_pool[pick].reshape(*shape, 32), hit_types[pick].reshape(shape)
    assert full.check(hit_queries[0], hit_kinds[0]).any(axis=1).all(), "member tokens must be found"
    miss_queries = random_tokens(rng, args.checks * args.tokens).reshape(*shape, 32)
    miss_kinds = random_types(rng, shape)
    hit_us = {name: time_checks(full, hit_queries, hit_kinds, c)[0] for name, c in CHECKERS.items()}
    miss_us = {name: time_checks(full, miss_queries, miss_kinds, c)[0] for name, c in CHECKERS.items()}

    batch_tokens = args.batch * args.tokens
    batches = [
        (random_tokens(rng, batch_tokens), random_types(rng, batch_tokens)) for _ in range(args.batches)
    ]

    def one_thread(checker: Checker) -> tuple[float, float]:
        """Candidates/s over the batches from one calling thread: median batch, best batch (the least
        disturbed by other load on a shared box)."""
        checker(full, *batches[0])
        batch_times = []
        for batch in batches:
            start = time.perf_counter()
            checker(full, *batch)
            batch_times.append(time.perf_counter() - start)
        return args.batch / statistics.median(batch_times), args.batch / min(batch_times)

    def two_threads(checker: Checker) -> float:
        def worker(chunk: list[tuple[NDArray[np.uint8], NDArray[np.uint8]]]) -> None:
            for batch in chunk:
                checker(full, *batch)

        threads = [threading.Thread(target=worker, args=(batches[i::2],)) for i in range(2)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return args.batch * len(batches) / (time.perf_counter() - start)

    batch_1 = {name: one_thread(c) for name, c in CHECKERS.items()}
    batch_serial = one_thread(kernel_serial)
    batch_2 = {name: two_threads(c) for name, c in CHECKERS.items()}
    full_answers = {name: c(full, *batches[0]) for name, c in CHECKERS.items()}
    assert np.array_equal(full_answers["kernel"], full_answers["numpy"]), "kernel and numpy must agree"

    print(f"records {args.total_records:,}  tokens {total_tokens:,}  forces {len(order)}  probes {probes}")
    print(
        f"index bytes {index_bytes / 2**20:,.1f} MiB  bits/token {index_bytes * 8 / total_tokens:.2f}  "
        f"built in {build_s:.1f} s"
    )
    print()
    print(
        f"{'forces':>8} {'kernel µs/check':>16} {'p99 µs':>10} {'numpy µs/check':>15} {'p99 µs':>10} "
        f"{'ratio':>6}"
    )
    for n in snapshots:
        (k50, k99), (n50, n99) = per_check["kernel"][n], per_check["numpy"][n]
        print(f"{n:>8} {k50:>16.1f} {k99:>10.1f} {n50:>15.1f} {n99:>10.1f} {n50 / k50:>5.2f}x")
    print(f"kernel 43 vs 1 force: {per_check['kernel'][43][0] / per_check['kernel'][1][0]:.2f}x")
    print()
    for name in CHECKERS:
        print(f"{name}: 43 forces, all-hit candidates {hit_us[name]:.1f} µs, all-miss {miss_us[name]:.1f} µs")
    print(f"batch {args.batch} x {args.tokens} tokens, 43 forces (candidates/s, median batch / best batch):")
    for name in CHECKERS:
        print(f"  {name:>6}, one calling thread: {batch_1[name][0]:,.0f} / {batch_1[name][1]:,.0f}")
    print(f"  kernel kept on the calling thread: {batch_serial[0]:,.0f} / {batch_serial[1]:,.0f}")
    for name in CHECKERS:
        print(f"  {name:>6}, two batches at once on two threads: {batch_2[name]:,.0f}")
    print(f"snapshot {full.nbytes / 2**20:,.1f} MiB = {memory_ratio:.3f} x sum of index bytes")
    print(f"with_index (replace the largest force): {swap_s * 1e3:.0f} ms")
    print(f"segments (tables a publish may copy one of): {getattr(full, 'segment_count', 1)}")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} (2 cores; other work skews figures)")
    result = {
        "bench": "matching",
        "total_records": args.total_records,
        "total_tokens": total_tokens,
        "index_bytes": index_bytes,
        "bits_per_token": index_bytes * 8 / total_tokens,
        "probes": probes,
        "tokens_per_candidate": args.tokens,
        "check_us_median": {str(n): round(v[0], 2) for n, v in per_check["kernel"].items()},
        "check_us_p99": {str(n): round(v[1], 2) for n, v in per_check["kernel"].items()},
        "ratio_43_vs_1": per_check["kernel"][43][0] / per_check["kernel"][1][0],
        "hit_us": hit_us["kernel"],
        "miss_us": miss_us["kernel"],
        "batch_candidates_per_s_1_thread": batch_1["kernel"][0],
        "batch_candidates_per_s_1_thread_best": batch_1["kernel"][1],
        "batch_candidates_per_s_2_threads": batch_2["kernel"],
        "batch_candidates_per_s_kernel_serial": batch_serial[0],
        "check_us_median_numpy": {str(n): round(v[0], 2) for n, v in per_check["numpy"].items()},
        "check_us_p99_numpy": {str(n): round(v[1], 2) for n, v in per_check["numpy"].items()},
        "hit_us_numpy": hit_us["numpy"],
        "miss_us_numpy": miss_us["numpy"],
        "batch_candidates_per_s_1_thread_numpy": batch_1["numpy"][0],
        "batch_candidates_per_s_2_threads_numpy": batch_2["numpy"],
        "kernel_workers": matchkernel.WORKERS,
        "snapshot_bytes": full.nbytes,
        "memory_ratio": memory_ratio,
        "with_index_s": swap_s,
        "segments": getattr(full, "segment_count", 1),
        "build_s": build_s,
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
