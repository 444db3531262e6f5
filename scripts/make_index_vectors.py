"""Write the golden index vectors, tests/vectors/index.json (docs/spec.md, "Index format", format 2).

The vectors come from a literal, scalar transcription of the spec below (Python ints, bytearray, math,
hashlib), so they do not depend on ``crossforce.index``: tests/unit/test_spec_vectors_index.py holds the
vectorised modules to them. Format 2 ("partitioned"): the filter of each key type present, in ascending
key type, each sized by choose_params for its own distinct tokens, bytes concatenated; a query token is
tested only in its own type's filter. Tokens are SHA-256(b"token-<i>") and absent tokens
SHA-256(b"absent-<i>"), plus edge tokens (all zeros, all ones, bytes 0..31) that pin byte order and the
fastrange ends.

    python scripts/make_index_vectors.py          # rewrite the file
    python scripts/make_index_vectors.py --check  # exit 1 if the file differs from what it would write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "index.json"

BLOCK_BITS = 512
MAX_PROBES = 21
MAX_BLOCKS = 2**32 - 1
TAIL_SIGMAS, TAIL_PAD, SATURATED_LOAD = 14.0, 50.0, 65536.0
FILL_SIGMAS = 6.0
INLINE_BYTES_MAX = 1024
"""Filters up to this size carry their serialised bytes in full; larger ones only the digest."""


# --- the spec, transcribed ---------------------------------------------------------------------------


def block_of(token: bytes, num_blocks: int) -> int:
    h0 = int.from_bytes(token[0:8], "little")
    return ((h0 >> 32) * num_blocks) >> 32


def probes_of(token: bytes, num_probes: int) -> list[int]:
    words = [int.from_bytes(token[8 + 8 * j : 16 + 8 * j], "little") for j in range(3)]
    return [(words[i // 7] >> (9 * (i % 7))) & 511 for i in range(num_probes)]


def build(tokens: list[bytes], num_blocks: int, num_probes: int) -> bytearray:
    bits = bytearray(num_blocks * BLOCK_BITS // 8)
    for token in tokens:
        base = block_of(token, num_blocks) * BLOCK_BITS
        for probe in probes_of(token, num_probes):
            g = base + probe
            bits[g >> 3] |= 1 << (g & 7)
    return bits


def contains(bits: bytearray, token: bytes, num_blocks: int, num_probes: int) -> bool:
    base = block_of(token, num_blocks) * BLOCK_BITS
    return all(bits[(base + p) >> 3] >> ((base + p) & 7) & 1 for p in probes_of(token, num_probes))


def theoretical_fpr(num_blocks: int, num_probes: int, n: int) -> float:
    load = n / num_blocks
    if load <= 0:
        return 0.0
    if load >= SATURATED_LOAD:
        return 1.0
    width = TAIL_SIGMAS * math.sqrt(load) + TAIL_PAD
    log_q = math.log1p(-1 / BLOCK_BITS)
    total = 0.0
    for i in range(max(1, math.floor(load - width)), math.ceil(load + width) + 1):
        log_pmf = i * math.log(load) - load - math.lgamma(i + 1)
        log_set = math.log(-math.expm1(i * num_probes * log_q))
        total += math.exp(log_pmf + num_probes * log_set)
    return min(total, 1.0)


def best_probes(num_blocks: int, n: int) -> tuple[int, float]:
    fprs = [theoretical_fpr(num_blocks, k, n) for k in range(1, MAX_PROBES + 1)]
    best = min(fprs)
    return fprs.index(best) + 1, best


def choose_params(n: int, target: float) -> tuple[int, int]:
    if n == 0:
        return 1, 1
    lo, hi = 0, 1
    while best_probes(hi, n)[1] > target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if best_probes(mid, n)[1] <= target:
            hi = mid
        else:
            lo = mid
    return hi, best_probes(hi, n)[0]


def build_partitioned(pairs: list[tuple[int, bytes]], target: float) -> tuple[list[dict[str, int]], bytes]:
    """Format 2: (partitions as the header lists them, the index bytes) for (key type, token) pairs."""
    by_type: dict[int, set[bytes]] = {}
    for key_type, tok in pairs:
        by_type.setdefault(key_type, set()).add(tok)
    partitions, data = [], b""
    for key_type in sorted(by_type):
        members = sorted(by_type[key_type])
        num_blocks, num_probes = choose_params(len(members), target)
        data += bytes(build(members, num_blocks, num_probes))
        partitions.append(
            {
                "key_type": key_type,
                "num_blocks": num_blocks,
                "num_probes": num_probes,
                "token_count": len(members),
            }
        )
    return partitions, data


def contains_partitioned(partitions: list[dict[str, int]], data: bytes, key_type: int, tok: bytes) -> bool:
    offset = 0
    for p in partitions:
        size = p["num_blocks"] * BLOCK_BITS // 8
        if p["key_type"] == key_type:
            return contains(bytearray(data[offset : offset + size]), tok, p["num_blocks"], p["num_probes"])
        offset += size
    return False


def block_pgf(num_blocks: int, n: int, s: float) -> float:
    return math.exp(n * math.log1p((s - 1) / num_blocks))


def expected_fill(num_blocks: int, num_probes: int, n: int) -> float:
    q_k = math.exp(num_probes * math.log1p(-1 / BLOCK_BITS))
    return 1 - block_pgf(num_blocks, n, q_k)


def fill_stddev(num_blocks: int, num_probes: int, n: int) -> float:
    q_k = math.exp(num_probes * math.log1p(-1 / BLOCK_BITS))
    e_a, e_a2 = block_pgf(num_blocks, n, q_k), block_pgf(num_blocks, n, q_k * q_k)
    var_block = max(0.0, e_a2 - e_a * e_a) + max(0.0, e_a - e_a2) / BLOCK_BITS
    return math.sqrt(var_block / num_blocks)


# --- the vectors -------------------------------------------------------------------------------------


def token(label: str, i: int) -> bytes:
    return hashlib.sha256(f"{label}-{i}".encode()).digest()


EDGE_TOKENS = [bytes(32), b"\xff" * 32, bytes(range(32))]
TOKENS = [token("token", i) for i in range(300)]
ABSENT = [token("absent", i) for i in range(24)]

GEOMETRY = [(1, 21), (3, 7), (1000, 20), (1_000_003, 1), (MAX_BLOCKS, 21)]
FILTERS = [  # (name, num_blocks, num_probes, how many of TOKENS)
    ("one-block", 1, 21, 8),
    ("three-blocks", 3, 7, 40),
    ("dense", 1, 2, 300),
    ("sized-for-40", None, None, 40),
    ("large", 1_000_003, 20, 300),
    ("empty", 2, 5, 0),
]
PARAMS = [(0, 1e-8), (1, 1e-8), (40, 1e-8), (100, 1e-8), (10_000, 1e-8), (1_000_000, 1e-8), (1_000_000, 0.01)]
PARTITIONED = [  # (name, target FPR, (key type, first token, last token) runs of TOKENS)
    ("three-types", 1e-8, [(16, 0, 40), (26, 40, 60), (1, 60, 65), (16, 0, 5)]),
    ("one-token-under-two-types", 1e-8, [(16, 100, 101), (17, 100, 101)]),
    ("measurable-fpr", 0.01, [(17, 100, 300), (30, 0, 3)]),
]
"""Runs repeat tokens on purpose (a pair counts once) and reuse a token under two types (two pairs)."""
FILLS = [(1, 21, 8), (3, 7, 40), (122_540, 20, 1_000_000), (19_328, 6, 1_000_000)]


def vectors() -> dict[str, Any]:
    geometry = []
    for num_blocks, num_probes in GEOMETRY:
        geometry.append(
            {
                "num_blocks": num_blocks,
                "num_probes": num_probes,
                "tokens": [
                    {"token": t.hex(), "block": block_of(t, num_blocks), "probes": probes_of(t, num_probes)}
                    for t in EDGE_TOKENS + TOKENS[:8]
                ],
            }
        )
    filters = []
    for name, fixed_blocks, fixed_probes, count in FILTERS:
        if fixed_blocks is None or fixed_probes is None:
            num_blocks, num_probes = choose_params(count, 1e-8)
        else:
            num_blocks, num_probes = fixed_blocks, fixed_probes
        bits = build(TOKENS[:count], num_blocks, num_probes)
        entry: dict[str, Any] = {
            "name": name,
            "num_blocks": num_blocks,
            "num_probes": num_probes,
            "token_count": count,
            "size_bytes": len(bits),
            "sha256": hashlib.sha256(bits).hexdigest(),
            "set_bits": int.from_bytes(bits, "little").bit_count(),
            "absent_contains": [contains(bits, t, num_blocks, num_probes) for t in ABSENT],
        }
        if len(bits) <= INLINE_BYTES_MAX:
            entry["bytes"] = bits.hex()
        filters.append(entry)
    params = []
    for n, target in PARAMS:
        num_blocks, num_probes = choose_params(n, target)
        params.append(
            {
                "token_count": n,
                "target_fpr": target,
                "num_blocks": num_blocks,
                "num_probes": num_probes,
                "theoretical_fpr": theoretical_fpr(num_blocks, num_probes, n),
                "expected_fill": expected_fill(num_blocks, num_probes, n),
            }
        )
    fills = [
        {
            "num_blocks": b,
            "num_probes": k,
            "token_count": n,
            "expected_fill": expected_fill(b, k, n),
            "fill_stddev": fill_stddev(b, k, n),
            "fill_sigmas": FILL_SIGMAS,
        }
        for b, k, n in FILLS
    ]
    partitioned = []
    for name, target, runs in PARTITIONED:
        pairs = [(kt, t) for kt, first, last in runs for t in TOKENS[first:last]]
        partitions, data = build_partitioned(pairs, target)
        members = [(kt, TOKENS[first]) for kt, first, _ in runs]
        queries = [
            *members,
            *[(kt % 30 + 1, t) for kt, t in members],  # relabelled: another key type
            *[(kt, t) for kt in (16, 17, 99) for t in ABSENT[:4]],
        ]
        entry = {
            "name": name,
            "target_fpr": target,
            "pairs": [[kt, first, last] for kt, first, last in runs],
            "partitions": partitions,
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "queries": [
                {"key_type": kt, "token": t.hex(), "contains": contains_partitioned(partitions, data, kt, t)}
                for kt, t in queries
            ],
        }
        if len(data) <= INLINE_BYTES_MAX:
            entry["bytes"] = data.hex()
        partitioned.append(entry)
    return {
        "description": "crossforce index format 2 golden vectors; see docs/spec.md, Index format",
        "format_version": 2,
        "block_bits": BLOCK_BITS,
        "tokens": "SHA-256 of b'token-<i>', i = 0..299",
        "absent": [t.hex() for t in ABSENT],
        "geometry": geometry,
        "filters": filters,
        "params": params,
        "fill": fills,
        "partitioned_pairs": "[key type, first, last]: TOKENS[first:last] under that key type",
        "partitioned": partitioned,
        "float_rel_tolerance": 1e-9,
    }


def render() -> str:
    return json.dumps(vectors(), indent=1) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file is not what would be written"
    )
    args = parser.parse_args()
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python scripts/make_index_vectors.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
