"""Index format 2 (a filter per key type) beside format 1 (one filter) and bloom-filter2, on the same records.

Records: one force of the realistic profile (crossforce.testkit.realistic). Tokens: the current
Tokeniser (spec v2 keys) and, for the bits-per-record comparison, spec v1's (crossforce.encoding.legacy_v1).
Everything at the same target FPR per token (default 1e-8, the matcher's default).

* build time of format 2 (``PartitionedIndex.build`` from (key type, token) pairs: sorting by type,
  distinct per type, a parameter choice and a filter per type) vs format 1 (``BloomIndex.build`` of the
  distinct tokens) vs bloom_filter2.BloomFilter.add per token (full run, no extrapolation);
* index bits per record: v1 keys in format 1, v2 keys in format 1, v2 keys in format 2 (what partitions
  cost: each is sized on its own and rounded up to whole blocks);
* each partition: key type, distinct tokens, blocks, probes, bits per token, theoretical FPR.

Usage: python -m bench.index_v2 [--records 200000] [--force kent] [--target-fpr 1e-8]
Prints tables, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np
from bloom_filter2 import BloomFilter

from crossforce.encoding import legacy_v1
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.index.bloom import BloomIndex, choose_params, token_array
from crossforce.index.partitioned import PartitionedIndex
from crossforce.testkit.realistic.world import RealisticSimulator


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def pairs_of(records: list[Record], tokeniser: Tokeniser | legacy_v1.Tokeniser) -> tuple[bytes, bytes]:
    """(key types, concatenated tokens) of every record, as the client's publish builds them."""
    types, tokens = bytearray(), bytearray()
    for record in records:
        for key_type, token in tokeniser.record_tokens(record):
            types.append(key_type)
            tokens += token
    return bytes(types), bytes(tokens)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--force", default="kent")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--target-fpr", type=float, default=1e-8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    records = RealisticSimulator(args.seed, args.records, forces=[args.force]).records_for(args.force)
    secret = os.urandom(32)
    types, blob = pairs_of(records, Tokeniser(secret=secret, epoch=1))
    _v1_types, v1_blob = pairs_of(records, legacy_v1.Tokeniser(secret=secret, epoch=1))
    array = token_array(blob)
    distinct = np.unique(array.view(np.dtype(("V", 32))).reshape(-1))
    distinct_array = np.frombuffer(distinct.tobytes(), dtype=np.uint8).reshape(-1, 32)
    v1_distinct = len(np.unique(token_array(v1_blob).view(np.dtype(("V", 32))).reshape(-1)))
    n_records = len(records)

    format2_s = best_of(args.runs, lambda: PartitionedIndex.build(types, array, args.target_fpr))
    format2 = PartitionedIndex.build(types, array, args.target_fpr)
    assert format2.contains(types, array).all(), "no false negatives"
    params1 = choose_params(len(distinct_array), args.target_fpr)
    format1_s = best_of(args.runs, lambda: BloomIndex.build(distinct_array, params1))
    distinct_list = [bytes(row) for row in distinct_array]
    baseline = BloomFilter(max_elements=len(distinct_list), error_rate=args.target_fpr)
    start = time.perf_counter()
    for token in distinct_list:
        baseline.add(token)
    baseline_s = time.perf_counter() - start

    v1_bits = choose_params(v1_distinct, args.target_fpr).size_bits
    rows = [
        ("v1 keys, format 1", v1_distinct, v1_bits),
        ("v2 keys, format 1", len(distinct_array), params1.size_bits),
        ("v2 keys, format 2", format2.token_count, format2.size_bytes * 8),
    ]
    print(
        f"{n_records:,} records of {args.force} (realistic profile), target FPR {args.target_fpr:g} per token"
    )
    print(f"{'':20} {'tokens':>11} {'tok/record':>11} {'bits/record':>12} {'bits/token':>11}")
    for name, count, bits in rows:
        per_record = f"{count / n_records:>11.2f} {bits / n_records:>12.1f}"
        print(f"{name:20} {count:>11,} {per_record} {bits / count:>11.2f}")
    print()
    n = len(distinct_array)
    print(f"build of the same {n:,} distinct v2 tokens ({len(types):,} pairs for format 2):")
    print(f"{'':24} {'build s':>9} {'Mtok/s':>8}")
    for name, seconds in (
        ("format 2 (partitioned)", format2_s),
        ("format 1 (one filter)", format1_s),
        ("bloom-filter2", baseline_s),
    ):
        print(f"{name:24} {seconds:>9.3f} {n / seconds / 1e6:>8.2f}")
    ratio = format2_s / format1_s
    print(
        f"format 2 vs bloom-filter2: {baseline_s / format2_s:.0f}x faster; format 2 / format 1: {ratio:.2f}"
    )
    print()
    print(f"{'key type':>8} {'tokens':>10} {'blocks':>9} {'probes':>6} {'bits/token':>10} {'FPR':>10}")
    for p in format2.partitions:
        bits_per_token = p.params.size_bits / p.token_count
        print(
            f"{p.key_type:>8} {p.token_count:>10,} {p.params.num_blocks:>9,} {p.params.num_probes:>6} "
            f"{bits_per_token:>10.2f} {p.fpr:>10.2e}"
        )
    print(
        json.dumps(
            {
                "bench": "index_v2",
                "records": n_records,
                "target_fpr": args.target_fpr,
                "pairs": len(types),
                "distinct_tokens_v2": n,
                "distinct_tokens_v1": v1_distinct,
                "bits_per_record_v1_keys_format1": v1_bits / n_records,
                "bits_per_record_v2_keys_format1": params1.size_bits / n_records,
                "bits_per_record_v2_keys_format2": format2.size_bytes * 8 / n_records,
                "partitions": len(format2.partitions),
                "format2_build_s": format2_s,
                "format1_build_s": format1_s,
                "bloom_filter2_build_s": baseline_s,
                "speedup_format2_vs_bloom_filter2": baseline_s / format2_s,
            }
        )
    )


if __name__ == "__main__":
    main()
