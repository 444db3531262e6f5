"""Peak memory and time of a republish of the largest force, against the bytes of every index held.

The matcher keeps every force's index in one MatchSnapshot per epoch; a publish builds the next snapshot
while the old one keeps serving. What that costs in memory is the issue-20 goal "matcher memory <= 1.3x
index bytes at peak during a republish of the largest force". Measured with tracemalloc (numpy reports
its array allocations to it), from the moment the new index's bytes arrive (as ``IndexTable`` receives
them: ``PartitionedIndex.from_bytes``; format 2, tokens of every v2 key type) until the new snapshot has
replaced the old one; the old snapshot and the received bytes count throughout. The snapshot is built as
the matcher builds its own (``matchkernel.SEGMENT_BYTES``: every force in a segment of its own). Also
times single checks (the matcher's compiled kernel) against the snapshot before and after, to show a
republish does not change the check cost.

``--stream`` also measures the whole receive: a Matcher on SQLite (in a temporary folder) that has every
force's index published through the publish stream (``IndexServicer._publish``, 1 MiB chunks as the
client sends them) accepts a republish of the largest force the same way. Reported: the allocation peak
(tracemalloc) above the level before it plus the index bytes the matcher serves, and the process RSS
(sampled every 2 ms from /proc/self/statm) at its peak above the RSS before it, each over the index
bytes: the issue-20 goal as the stream handler, not only the snapshot, sees it.

Usage: python -m bench.republish [--total-records 10000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.forces import sizes_for_total
from crossforce.index.bloom import DEFAULT_TARGET_FPR
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot
from crossforce.server import matchkernel

CHUNK_BYTES = 1 << 20
"""What the client sends per publish message (``crossforce.client.publishing.CHUNK_BYTES``)."""
RSS_SAMPLE_S = 0.002

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
        matchkernel.check(snapshot, query, kinds)
        times.append(time.perf_counter_ns() - start)
    return float(np.median(times)) / 1e3


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """The highest RSS seen while the block runs, sampled by a thread (stops when the block ends)."""

    def __enter__(self) -> RssPeak:
        self.before = rss_bytes()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_S):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, rss_bytes())


def stream_republish(
    sizes: dict[str, int], largest: str, indexes: dict[str, PartitionedIndex], fresh: PartitionedIndex
) -> dict[str, float]:
    """Every force published through the stream, then the largest republished the same way: peaks."""
    from crossforce.testkit.publishstream import PublishStreamMatcher

    def bits(bloom: PartitionedIndex) -> memoryview:
        """The index's own words, so that making the stream copies none (the client's bits excluded)."""
        return bloom.words.data.cast("B")

    index_bytes = sum(bloom.size_bytes for bloom in indexes.values())
    with tempfile.TemporaryDirectory(prefix="republish-") as folder:
        stream = PublishStreamMatcher(Path(folder), chunk_bytes=CHUNK_BYTES)
        for code in sorted(indexes):
            stream.register(code)
            bloom = indexes[code]
            stream.publish(
                code, stream.chunks(code, bloom, version=1, record_count=sizes[code], bits=bits(bloom))
            )
        # The stream as the client sends it: one chunk made at a time.
        chunks = stream.chunks(largest, fresh, version=2, record_count=sizes[largest], bits=bits(fresh))
        gc.collect()
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        start = time.perf_counter()
        with RssPeak() as rss:
            stream.publish(largest, chunks)
        took = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        stream.close()
    return {
        "stream_republish_s": took,
        "stream_alloc_peak_bytes": peak - before + index_bytes,
        "stream_alloc_peak_ratio": (peak - before + index_bytes) / index_bytes,
        "stream_alloc_extra_over_largest": (peak - before) / fresh.size_bytes,
        "stream_rss_before_bytes": rss.before,
        "stream_rss_extra_bytes": rss.peak - rss.before,
        "stream_rss_extra_over_largest": (rss.peak - rss.before) / fresh.size_bytes,
        "stream_rss_peak_ratio": (rss.peak - rss.before + index_bytes) / index_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-records", type=int, default=10_000_000)
    parser.add_argument("--tokens-per-record", type=int, default=12)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--stream", action="store_true", help="also measure the publish stream's receive")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    sizes = sizes_for_total(args.total_records)
    largest = max(sizes, key=lambda code: (sizes[code], code))
    snapshot: MatchSnapshot | None = None
    indexes: dict[str, PartitionedIndex] = {}
    for code in sorted(sizes):  # published one by one, as a matcher starting empty receives them
        bloom = random_index(rng, sizes[code] * args.tokens_per_record)
        if args.stream:
            indexes[code] = bloom
        snapshot = (
            MatchSnapshot.build({code: bloom}, segment_bytes=matchkernel.SEGMENT_BYTES)
            if snapshot is None
            else snapshot.with_index(code, bloom)
        )
    assert snapshot is not None
    gc.collect()
    index_bytes = sum(p.params.size_bytes for code in snapshot.orgs for p in snapshot.partitions(code))
    fresh = random_index(rng, sizes[largest] * args.tokens_per_record)
    partitions, payload = fresh.partitions, fresh.to_bytes()
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
    streamed: dict[str, float] = {}
    if args.stream:
        del snapshot, payload
        gc.collect()
        streamed = stream_republish(sizes, largest, indexes, fresh)
        payload_bytes = fresh.size_bytes
    else:
        payload_bytes = len(payload)
    del fresh

    result = {
        "bench": "republish",
        "total_records": args.total_records,
        "forces": len(sizes),
        "largest": largest,
        "largest_bytes": payload_bytes,
        "index_bytes": index_bytes,
        "peak_bytes": peak,
        "peak_ratio": peak / index_bytes,
        "republish_s": swap_s,
        "check_us_before": before_us,
        "check_us_after": after_us,
        "load_average": os.getloadavg()[0],
        **streamed,
    }
    mib = 2**20
    print(
        f"{len(sizes)} forces, {index_bytes / mib:,.1f} MiB of indexes; republish {largest} "
        f"({payload_bytes / mib:,.1f} MiB): {swap_s * 1e3:,.0f} ms, peak {peak / mib:,.1f} MiB = "
        f"{peak / index_bytes:.2f}x index bytes (goal <= 1.3x); check {before_us:.1f} µs before, "
        f"{after_us:.1f} µs after; load {result['load_average']:.2f}"
    )
    if streamed:
        print(
            f"through the publish stream: {streamed['stream_republish_s'] * 1e3:,.0f} ms; allocations "
            f"+{streamed['stream_alloc_extra_over_largest']:.2f}x the force at peak = "
            f"{streamed['stream_alloc_peak_ratio']:.2f}x index bytes; RSS "
            f"+{streamed['stream_rss_extra_bytes'] / mib:,.1f} MiB at peak "
            f"(+{streamed['stream_rss_extra_over_largest']:.2f}x the force) = "
            f"{streamed['stream_rss_peak_ratio']:.2f}x index bytes"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
