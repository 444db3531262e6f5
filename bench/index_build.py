"""Index build speed against bloom-filter2, and measured false-positive rate against theory.

Same run, same 1,000,000 random 32-byte tokens, same target FPR (0.01, so the FPR is measurable):

* build time: crossforce.index.bloom (from a list of bytes, the way bloom-filter2 takes them, and from an
  (n, 32) array) vs bloom_filter2.BloomFilter(max_elements, error_rate).add for every token (full run,
  no extrapolation); goal: ours >= 25x faster;
* FPR of our filter over 1,000,000 absent tokens beside theoretical_fpr (goal: within 2x), plus a second
  point at a low target (default 1e-5, ~14 probes) over more queries, where the model's approximation
  (Jensen: E[fill**k] > E[fill]**k) is largest; bloom-filter2's FPR on a sample, for context.

Usage: python -m bench.index_build [--tokens 1000000] [--target-fpr 0.01]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

from bloom_filter2 import BloomFilter

from crossforce.index.bloom import BloomIndex, choose_params, theoretical_fpr, token_array


def best_of(runs: int, action: object) -> float:
    assert callable(action)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval for a binomial proportion."""
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), centre + half


def measured_fpr(index: BloomIndex, queries: int, chunk: int = 1 << 20) -> tuple[int, int]:
    hits = 0
    for start in range(0, queries, chunk):
        n = min(chunk, queries - start)
        hits += int(index.contains(token_array(os.urandom(32 * n))).sum())
    return hits, queries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--target-fpr", type=float, default=0.01)
    parser.add_argument("--absent", type=int, default=1_000_000, help="absent tokens for the FPR measurement")
    parser.add_argument("--low-target-fpr", type=float, default=1e-5)
    parser.add_argument("--low-target-queries", type=int, default=20_000_000)
    parser.add_argument("--baseline-fpr-sample", type=int, default=100_000)
    args = parser.parse_args()

    blob = os.urandom(32 * args.tokens)
    token_list = [blob[i : i + 32] for i in range(0, len(blob), 32)]
    array = token_array(blob)
    params = choose_params(args.tokens, args.target_fpr)

    ours_list_s = best_of(3, lambda: BloomIndex.build(token_list, params))
    ours_array_s = best_of(3, lambda: BloomIndex.build(array, params))
    ours = BloomIndex.build(token_list, params)
    assert ours.contains(array).all(), "no false negatives"

    baseline = BloomFilter(max_elements=args.tokens, error_rate=args.target_fpr)
    start = time.perf_counter()
    for token in token_list:
        baseline.add(token)
    baseline_s = time.perf_counter() - start

    hits, queries = measured_fpr(ours, args.absent)
    fpr = hits / queries
    theory = theoretical_fpr(params, args.tokens)
    low, high = wilson(hits, queries)

    low_params = choose_params(args.tokens, args.low_target_fpr)
    low_index = BloomIndex.build(array, low_params)
    low_hits, low_queries = measured_fpr(low_index, args.low_target_queries)
    low_theory = theoretical_fpr(low_params, args.tokens)
    low_lo, low_hi = wilson(low_hits, low_queries)

    sample = [os.urandom(32) for _ in range(args.baseline_fpr_sample)]
    baseline_fpr = sum(token in baseline for token in sample) / len(sample)

    speedup = baseline_s / ours_list_s
    print(f"{args.tokens:,} tokens, target FPR {args.target_fpr:g}")
    print(f"{'':24} {'build s':>9} {'Mtok/s':>8} {'bits/token':>11} {'probes':>7}")
    print(
        f"{'crossforce (list)':24} {ours_list_s:>9.3f} {args.tokens / ours_list_s / 1e6:>8.2f} "
        f"{params.size_bits / args.tokens:>11.2f} {params.num_probes:>7}"
    )
    print(f"{'crossforce (array)':24} {ours_array_s:>9.3f} {args.tokens / ours_array_s / 1e6:>8.2f}")
    print(
        f"{'bloom-filter2':24} {baseline_s:>9.3f} {args.tokens / baseline_s / 1e6:>8.2f} "
        f"{baseline.num_bits_m / args.tokens:>11.2f} {baseline.num_probes_k:>7}"
    )
    print(f"speedup (list input): {speedup:.0f}x   (array input: {baseline_s / ours_array_s:.0f}x)")
    print()
    print(
        f"{'target':>8} {'probes':>6} {'queries':>11} {'false +':>8} {'measured':>10} "
        f"{'95% CI':>22} {'theory':>10}"
    )
    for target, p, h, q, lo_ci, hi_ci, th in (
        (args.target_fpr, params, hits, queries, low, high, theory),
        (args.low_target_fpr, low_params, low_hits, low_queries, low_lo, low_hi, low_theory),
    ):
        print(
            f"{target:>8g} {p.num_probes:>6} {q:>11,} {h:>8,} {h / q:>10.3e} "
            f"[{lo_ci:.3e}, {hi_ci:.3e}] {th:>10.3e}  ratio {h / q / th:.2f}"
        )
    print(f"bloom-filter2 FPR on {len(sample):,} absent tokens: {baseline_fpr:.4f}")
    print(
        json.dumps(
            {
                "bench": "index_build",
                "tokens": args.tokens,
                "target_fpr": args.target_fpr,
                "ours_build_s_list": ours_list_s,
                "ours_build_s_array": ours_array_s,
                "bloom_filter2_build_s": baseline_s,
                "speedup": speedup,
                "speedup_array": baseline_s / ours_array_s,
                "bits_per_token": params.size_bits / args.tokens,
                "num_probes": params.num_probes,
                "fpr_measured": fpr,
                "fpr_theory": theory,
                "fpr_ratio": fpr / theory,
                "low_target_fpr": args.low_target_fpr,
                "low_fpr_measured": low_hits / low_queries,
                "low_fpr_theory": low_theory,
                "low_fpr_ratio": low_hits / low_queries / low_theory,
                "bloom_filter2_fpr_sample": baseline_fpr,
            }
        )
    )


if __name__ == "__main__":
    main()
