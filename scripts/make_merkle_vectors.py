"""Write the golden Merkle vectors in tests/vectors/merkle/ (RFC 9162 section 2.1).

The vectors come from a literal, recursive transcription of the RFC definitions below, using only
hashlib, so they do not depend on ``crossforce.auditlog.merkle``: the tests hold that module to them. The
first 8 leaves and their roots are the Certificate Transparency reference set (transparency-dev/merkle
``proof/verify_test.go``); this script refuses to write if the transcription disagrees with them.

Each probe is labelled by a second, structural verifier below that rebuilds the roots by walking the
RFC's recursive definitions (not the bit arithmetic of RFC 9162 2.1.3.2 / 2.1.4.2 that the module uses),
so a mutation that still verifies is labelled valid rather than assumed bad. That happens: a proof
fixes the index (or old size) and the shape of the path, and some neighbouring tree sizes share that
shape, which is why a verifier must take the size and root from one signed tree head.

    python scripts/make_merkle_vectors.py          # rewrite the files
    python scripts/make_merkle_vectors.py --check  # exit 1 if the files differ from what it would write

Why one file, over 400 lines: the script is a reviewable, self-contained transcription of the RFC that
must not import the code it checks, so the two independent verifiers (the RFC's recursive definitions
and the structural walk), the probe generators and the writer cannot be shared with, or split into,
the package; one file is also what a reviewer reads side by side with RFC 9162.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "merkle"
MAX_SIZE = 20

REFERENCE_ENTRIES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
REFERENCE_ROOTS = [  # tree sizes 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
REFERENCE_INCLUSION = {  # (leaf index, tree size) -> audit path
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
REFERENCE_CONSISTENCY = {  # (first, second) -> proof
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (6, 7): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
SOME_HASH = "abacaba000000000000000000000000000000000000000000060061e00123456"
"""An arbitrary 32-byte value (transparency-dev's ``sha256SomeHash``)."""

INCLUSION_MUTATION_CASES = [(0, 8), (5, 8), (2, 3), (1, 5), (7, 13), (12, 20), (19, 20), (0, 1)]
CONSISTENCY_MUTATION_CASES = [(1, 8), (6, 8), (2, 5), (6, 7), (4, 8), (7, 20), (13, 20), (16, 19), (3, 4)]


def entries() -> list[bytes]:
    """The 8 reference entries, then deterministic extra ones up to MAX_SIZE leaves."""
    extra = [f"crossforce test leaf {i}".encode() for i in range(len(REFERENCE_ENTRIES), MAX_SIZE)]
    return [bytes.fromhex(e) for e in REFERENCE_ENTRIES] + extra


# --- RFC 9162 2.1, transcribed literally ----------------------------------------------------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over entries (2.1.1)."""
    if not d:
        return _sha(b"")
    if len(d) == 1:
        return _sha(b"\x00" + d[0])
    k = _k(len(d))
    return _sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (2.1.3.1)."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (2.1.4.1)."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (2.1.4.1); empty for m = 0, which the RFC leaves undefined (empty is a prefix)."""
    return subproof(m, d, True) if m else []


def _node(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right)


def structural_inclusion(index: int, size: int, leaf: bytes, root: bytes, nodes: list[bytes]) -> bool:
    """Rebuild the root from PATH's recursion, outermost sibling last in the proof (2.1.3.1)."""
    if not 0 <= index < size or any(len(h) != 32 for h in [leaf, root, *nodes]):
        return False
    rest = list(nodes)

    def rebuild(m: int, n: int) -> bytes:
        if n == 1:
            return leaf
        if not rest:
            raise IndexError
        k, sibling = _k(n), rest.pop()
        return _node(rebuild(m, k), sibling) if m < k else _node(sibling, rebuild(m - k, n - k))

    try:
        rebuilt = rebuild(index, size)
    except IndexError:
        return False
    return not rest and rebuilt == root


def structural_consistency(first: int, second: int, r1: bytes, r2: bytes, nodes: list[bytes]) -> bool:
    """Rebuild both roots from SUBPROOF's recursion (2.1.4.1); the trivial cases as the module has them."""
    if not 0 <= first <= second or any(len(h) != 32 for h in [r1, r2, *nodes]):
        return False
    if first == 0:
        return not nodes and r1 == _sha(b"")
    if first == second:
        return not nodes and r1 == r2
    rest = list(nodes)

    def rebuild(m: int, n: int, b: bool) -> tuple[bytes, bytes]:
        if m == n:
            if b:
                return r1, r1
            if not rest:
                raise IndexError
            h = rest.pop()
            return h, h
        if not rest:
            raise IndexError
        k, sibling = _k(n), rest.pop()
        if m <= k:
            old, new = rebuild(m, k, b)
            return old, _node(new, sibling)
        old, new = rebuild(m - k, n - k, False)
        return _node(sibling, old), _node(sibling, new)

    try:
        old, new = rebuild(first, second, True)
    except IndexError:
        return False
    return not rest and old == r1 and new == r2


# --- probes ---------------------------------------------------------------------------------------


def _hex(nodes: list[bytes]) -> list[str]:
    return [n.hex() for n in nodes]


def _node_mutations(nodes: list[bytes], extra: dict[str, bytes]) -> list[tuple[str, list[bytes]]]:
    """Named ways to damage a proof: flip bits, drop, add, swap, empty."""
    out: list[tuple[str, list[bytes]]] = []
    for i, node in enumerate(nodes):
        for byte, bit in ((0, 3), (31, 0)):
            flipped = bytearray(node)
            flipped[byte] ^= 1 << bit
            out.append(
                (f"proof[{i}] byte {byte} bit {bit} flipped", [*nodes[:i], bytes(flipped), *nodes[i + 1 :]])
            )
    if nodes:
        out += [
            ("empty proof", []),
            ("last node missing", nodes[:-1]),
            ("first node missing", nodes[1:]),
            ("first node repeated in front", [nodes[0], *nodes]),
        ]
    for i in range(len(nodes) - 1):
        swapped = [*nodes[:i], nodes[i + 1], nodes[i], *nodes[i + 2 :]]
        out.append((f"proof[{i}] and proof[{i + 1}] swapped", swapped))
    if len(nodes) > 1:
        out.append(("node inserted after proof[0]", [nodes[0], bytes.fromhex(SOME_HASH), *nodes[1:]]))
    for label, value in extra.items():
        out += [(f"{label} appended", [*nodes, value]), (f"{label} prepended", [value, *nodes])]
    out += [("empty node appended", [*nodes, b""]), ("empty node prepended", [b"", *nodes])]
    return out


def inclusion_probes(d: list[bytes]) -> list[dict[str, Any]]:
    leaf_hashes = [_sha(b"\x00" + e) for e in d]

    def probe(name: str, case: tuple[int, int, bytes, bytes, list[bytes]]) -> dict[str, Any]:
        index, size, leaf, root, nodes = case
        return {
            "name": name,
            "leaf_index": index,
            "tree_size": size,
            "leaf_hash": leaf.hex(),
            "root": root.hex(),
            "proof": _hex(nodes),
            "valid": structural_inclusion(index, size, leaf, root, nodes),
        }

    probes = []
    for size in range(1, len(d) + 1):
        for index in range(size):
            probes.append(
                probe("honest", (index, size, leaf_hashes[index], mth(d[:size]), path(index, d[:size])))
            )
    for index, size in INCLUSION_MUTATION_CASES:
        leaf, root, nodes = leaf_hashes[index], mth(d[:size]), path(index, d[:size])
        other_leaf = leaf_hashes[(index + 1) % len(d)]
        variants = [
            ("index - 1", index - 1, size, leaf, root, nodes),
            ("index + 1", index + 1, size, leaf, root, nodes),
            ("index ^ 2", index ^ 2, size, leaf, root, nodes),
            ("index = size", size, size, leaf, root, nodes),
            ("size * 2", index, size * 2, leaf, root, nodes),
            ("size // 2", index, size // 2, leaf, root, nodes),
            ("size + 1", index, size + 1, leaf, root, nodes),
            ("size - 1", index, size - 1, leaf, root, nodes),
            ("size 0", index, 0, leaf, root, nodes),
            ("another leaf", index, size, other_leaf, root, nodes),
            ("entry given instead of leaf hash", index, size, _sha(d[index]), root, nodes),
            ("empty-tree root", index, size, leaf, _sha(b""), nodes),
            ("arbitrary root", index, size, leaf, bytes.fromhex(SOME_HASH), nodes),
            ("leaf hash given as root", index, size, leaf, leaf, nodes),
        ]
        variants += [
            (name, index, size, leaf, root, bad)
            for name, bad in _node_mutations(nodes, {"root": root, "leaf hash": leaf})
        ]
        for name, *case in variants:
            probes.append(probe(f"({index}, {size}): {name}", tuple(case)))  # type: ignore[arg-type]
    return probes


def consistency_probes(d: list[bytes]) -> list[dict[str, Any]]:
    roots = [mth(d[:n]) for n in range(len(d) + 1)]

    def probe(name: str, case: tuple[int, int, bytes, bytes, list[bytes]]) -> dict[str, Any]:
        first, second, r1, r2, nodes = case
        return {
            "name": name,
            "first": first,
            "second": second,
            "first_root": r1.hex(),
            "second_root": r2.hex(),
            "proof": _hex(nodes),
            "valid": structural_consistency(first, second, r1, r2, nodes),
        }

    probes = []
    for second in range(len(d) + 1):
        for first in range(second + 1):
            probes.append(
                probe("honest", (first, second, roots[first], roots[second], proof(first, d[:second])))
            )
    some = bytes.fromhex(SOME_HASH)
    probes += [
        probe("(0, 0): proof not empty", (0, 0, roots[0], roots[0], [roots[0]])),
        probe("(0, 3): proof not empty", (0, 3, roots[0], roots[3], [roots[3]])),
        probe("(0, 3): old root not the empty-tree root", (0, 3, some, roots[3], [])),
        probe("(1, 1): different roots", (1, 1, roots[1], roots[2], [])),
        probe("(5, 5): proof not empty", (5, 5, roots[5], roots[5], [roots[5]])),
        probe("(2, 1): tree shrank", (2, 1, roots[2], roots[1], [])),
        probe("(8, 5): tree shrank", (8, 5, roots[8], roots[5], proof(5, d[:8]))),
    ]
    for first, second in CONSISTENCY_MUTATION_CASES:
        r1, r2, nodes = roots[first], roots[second], proof(first, d[:second])
        variants = [
            ("first - 1", first - 1, second, r1, r2, nodes),
            ("first + 1", first + 1, second, r1, r2, nodes),
            ("first ^ 2", first ^ 2, second, r1, r2, nodes),
            ("second * 2", first, second * 2, r1, r2, nodes),
            ("second // 2", first, second // 2, r1, r2, nodes),
            ("second + 1", first, second + 1, r1, r2, nodes),
            ("second - 1", first, second - 1, r1, r2, nodes),
            ("first = second", second, second, r1, r2, nodes),
            ("first 0", 0, second, r1, r2, nodes),
            ("arbitrary first root", first, second, some, r2, nodes),
            ("arbitrary second root", first, second, r1, some, nodes),
            ("roots swapped", first, second, r2, r1, nodes),
            ("root of a neighbour size as first root", first, second, roots[first - 1], r2, nodes),
        ]
        variants += [
            (name, first, second, r1, r2, bad)
            for name, bad in _node_mutations(nodes, {"first root": r1, "second root": r2})
        ]
        for name, *case in variants:
            probes.append(probe(f"({first}, {second}): {name}", tuple(case)))  # type: ignore[arg-type]
    return probes


def build_vectors() -> dict[str, Any]:
    """File name -> JSON document."""
    d = entries()
    leaf_hashes = [_sha(b"\x00" + e) for e in d]
    roots = [mth(d[:n]) for n in range(len(d) + 1)]
    if [r.hex() for r in roots[: len(REFERENCE_ROOTS)]] != REFERENCE_ROOTS:
        raise SystemExit("transcription disagrees with the RFC 6962 reference roots")
    for (index, size), want in REFERENCE_INCLUSION.items():
        if _hex(path(index, d[:size])) != want:
            raise SystemExit(f"transcription disagrees with the reference inclusion proof {index}, {size}")
    for (first, second), want in REFERENCE_CONSISTENCY.items():
        if _hex(proof(first, d[:second])) != want:
            raise SystemExit(
                f"transcription disagrees with the reference consistency proof {first}, {second}"
            )
    inclusion, consistency = inclusion_probes(d), consistency_probes(d)
    if not all(p["valid"] for p in inclusion + consistency if p["name"] == "honest"):
        raise SystemExit("the structural verifier rejects an honest proof")
    source = "scripts/make_merkle_vectors.py; RFC 9162 2.1; leaves 0-7 and roots 0-8 from RFC 6962 reference"
    return {
        "roots.json": {
            "description": "MTH of the first tree_size entries; roots[n] is the root of size n",
            "source": source,
            "entries": [e.hex() for e in d],
            "leaf_hashes": _hex(leaf_hashes),
            "roots": _hex(roots),
        },
        "inclusion.json": {
            "description": "inclusion probes (RFC 9162 2.1.3); valid ones must verify, others must fail",
            "source": source,
            "probes": inclusion,
        },
        "consistency.json": {
            "description": "consistency probes (RFC 9162 2.1.4); valid ones must verify, others must fail",
            "source": source,
            "probes": consistency,
        },
    }


def render(document: Any) -> str:
    return json.dumps(document, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, document in build_vectors().items():
        target = OUT_DIR / name
        text = render(document)
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale vectors: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
