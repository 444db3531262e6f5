"""The Merkle log core against RFC 9162 2.1: reference values, exhaustive proofs, tampering, scale."""

from __future__ import annotations

import hashlib
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.auditlog.merkle import (
    EMPTY_ROOT,
    HASH_BYTES,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from crossforce.errors import ValidationError, VerificationError

# The Certificate Transparency reference leaves and roots (transparency-dev/merkle proof/verify_test.go).
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
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
CT_INCLUSION = {
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
CT_CONSISTENCY = {
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
CT_LEAVES = [leaf_hash(e) for e in CT_ENTRIES]

N = 64
LEAVES = [leaf_hash(b"entry %d" % i) for i in range(200)]


# --- a literal transcription of the RFC 9162 2.1 definitions, to hold the fast code to ------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = _k(len(hashes))
    return node_hash(ref_mth(hashes[:k]), ref_mth(hashes[k:]))


def ref_path(m: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _k(len(hashes))
    if m < k:
        return [*ref_path(m, hashes[:k]), ref_mth(hashes[k:])]
    return [*ref_path(m - k, hashes[k:]), ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: list[bytes], b: bool) -> list[bytes]:
    if m == len(hashes):
        return [] if b else [ref_mth(hashes)]
    k = _k(len(hashes))
    if m <= k:
        return [*ref_subproof(m, hashes[:k], b), ref_mth(hashes[k:])]
    return [*ref_subproof(m - k, hashes[k:], False), ref_mth(hashes[:k])]


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.fixture(scope="module")
def tree64() -> MerkleTree:
    return MerkleTree(LEAVES[:N])


# --- hashing --------------------------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert root_from_leaf_hashes([]) == EMPTY_ROOT == MerkleTree().root()


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"").hex() == CT_ROOTS[1]  # SHA-256(0x00)
    left, right = CT_LEAVES[0], CT_LEAVES[1]
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    # RFC 9162 2.1.1: an interior node presented as a leaf entry hashes differently (second preimage).
    assert leaf_hash(left + right) != node_hash(left, right)


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_roots_match_the_ct_reference(size: int) -> None:
    assert root_from_leaf_hashes(CT_LEAVES[:size]).hex() == CT_ROOTS[size]
    assert MerkleTree(CT_LEAVES[:size]).root().hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size"), CT_INCLUSION)
def test_inclusion_proofs_match_the_ct_reference(index: int, size: int) -> None:
    proof = inclusion_proof(CT_LEAVES, index, size)
    assert [p.hex() for p in proof] == CT_INCLUSION[index, size]
    verify_inclusion(CT_LEAVES[index], index, size, proof, bytes.fromhex(CT_ROOTS[size]))


@pytest.mark.parametrize(("first", "second"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_ct_reference(first: int, second: int) -> None:
    proof = consistency_proof(CT_LEAVES, first, second)
    assert [p.hex() for p in proof] == CT_CONSISTENCY[first, second]
    verify_consistency(first, second, bytes.fromhex(CT_ROOTS[first]), bytes.fromhex(CT_ROOTS[second]), proof)


# --- exhaustive -----------------------------------------------------------------------------------


def test_every_inclusion_proof_up_to_64_matches_the_rfc_and_verifies(tree64: MerkleTree) -> None:
    count = 0
    for size in range(1, N + 1):
        root = tree64.root_at(size)
        assert root == ref_mth(LEAVES[:size])
        for index in range(size):
            proof = tree64.inclusion_proof(index, size)
            assert proof == ref_path(index, LEAVES[:size])
            verify_inclusion(LEAVES[index], index, size, proof, root)
            count += 1
    assert count == N * (N + 1) // 2


def test_every_consistency_proof_up_to_64_matches_the_rfc_and_verifies(tree64: MerkleTree) -> None:
    roots = [tree64.root_at(n) for n in range(N + 1)]
    for second in range(1, N + 1):
        for first in range(1, second + 1):
            proof = tree64.consistency_proof(first, second)
            assert proof == ref_subproof(first, LEAVES[:second], True)
            verify_consistency(first, second, roots[first], roots[second], proof)
        verify_consistency(0, second, EMPTY_ROOT, roots[second], [])


def test_every_single_bit_flip_in_a_sample_of_proofs_is_rejected(tree64: MerkleTree) -> None:
    rng = random.Random(6962)
    for _ in range(12):
        size = rng.randint(2, N)
        index = rng.randrange(size)
        root, proof = tree64.root_at(size), tree64.inclusion_proof(index, size)
        for i, node in enumerate(proof):
            for bit in range(HASH_BYTES * 8):
                bad = [*proof[:i], flip(node, bit), *proof[i + 1 :]]
                with pytest.raises(VerificationError):
                    verify_inclusion(LEAVES[index], index, size, bad, root)
        for bit in range(HASH_BYTES * 8):
            with pytest.raises(VerificationError):
                verify_inclusion(flip(LEAVES[index], bit), index, size, proof, root)
            with pytest.raises(VerificationError):
                verify_inclusion(LEAVES[index], index, size, proof, flip(root, bit))
    for _ in range(12):
        second = rng.randint(3, N)
        first = rng.randint(1, second - 1)
        r1, r2 = tree64.root_at(first), tree64.root_at(second)
        proof = tree64.consistency_proof(first, second)
        for i, node in enumerate(proof):
            for bit in range(HASH_BYTES * 8):
                bad = [*proof[:i], flip(node, bit), *proof[i + 1 :]]
                with pytest.raises(VerificationError):
                    verify_consistency(first, second, r1, r2, bad)
        for bit in range(HASH_BYTES * 8):
            with pytest.raises(VerificationError):
                verify_consistency(first, second, flip(r1, bit), r2, proof)
            with pytest.raises(VerificationError):
                verify_consistency(first, second, r1, flip(r2, bit), proof)


def test_inclusion_proof_replayed_at_another_index_or_height_is_rejected(tree64: MerkleTree) -> None:
    """A proof binds the leaf's index and the tree's height, not its exact size.

    Here every size of the same height shares the path's shape, so the size must come from the same
    signed head as the root (RFC 9162 2.1.3.2 takes both from one STH).
    """
    size, index = 21, 13
    root, proof = tree64.root_at(size), tree64.inclusion_proof(index, size)
    for other_size in range(0, N + 1):
        for other_index in range(-1, N + 1):
            same_height = other_size > 0 and (other_size - 1).bit_length() == (size - 1).bit_length()
            if other_index == index and same_height:
                verify_inclusion(LEAVES[index], other_index, other_size, proof, root)
                continue
            with pytest.raises(VerificationError):
                verify_inclusion(LEAVES[index], other_index, other_size, proof, root)


def test_consistency_proof_replayed_for_another_first_size_or_height_is_rejected(tree64: MerkleTree) -> None:
    first, second = 11, 37
    r1, r2 = tree64.root_at(first), tree64.root_at(second)
    proof = tree64.consistency_proof(first, second)
    for f in range(0, N + 1):
        for s in range(0, N + 1):
            same_height = s > 0 and (s - 1).bit_length() == (second - 1).bit_length()
            if f == first and same_height:
                verify_consistency(f, s, r1, r2, proof)
                continue
            with pytest.raises(VerificationError):
                verify_consistency(f, s, r1, r2, proof)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_trees_prove_and_verify(data: st.DataObject) -> None:
    entries = data.draw(st.lists(st.binary(max_size=40), min_size=1, max_size=300))
    hashes = [leaf_hash(e) for e in entries]
    second = data.draw(st.integers(1, len(hashes)))
    first = data.draw(st.integers(0, second))
    index = data.draw(st.integers(0, second - 1))
    root = root_from_leaf_hashes(hashes[:second])
    verify_inclusion(hashes[index], index, second, inclusion_proof(hashes, index, second), root)
    first_root = root_from_leaf_hashes(hashes[:first])
    verify_consistency(first, second, first_root, root, consistency_proof(hashes, first, second))


# --- named attacks and edge cases -----------------------------------------------------------------


def test_interior_node_presented_as_leaf_is_rejected(tree64: MerkleTree) -> None:
    interior = node_hash(LEAVES[0], LEAVES[1])
    proof = tree64.inclusion_proof(0, 8)[1:]  # the path above the interior node
    with pytest.raises(VerificationError):
        verify_inclusion(interior, 0, 8, proof, tree64.root_at(8))


def test_single_leaf_tree_has_empty_proof() -> None:
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    with pytest.raises(VerificationError):
        verify_inclusion(LEAVES[0], 0, 1, [LEAVES[0]], LEAVES[0])


@pytest.mark.parametrize(
    ("index", "size"),
    [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 4), (4, 4)],
)
def test_inclusion_outside_the_tree_is_rejected(index: int, size: int) -> None:
    with pytest.raises(VerificationError):
        verify_inclusion(LEAVES[0], index, size, [], EMPTY_ROOT)


@pytest.mark.parametrize(
    ("name", "leaf", "root", "proof"),
    [
        ("short leaf hash", b"x" * 31, LEAVES[0], []),
        ("short root", LEAVES[0], b"x" * 31, []),
        ("empty root", LEAVES[0], b"", []),
        ("long proof node", LEAVES[0], LEAVES[0], [b"x" * 33]),
        ("empty proof node", LEAVES[0], LEAVES[0], [b""]),
    ],
)
def test_inclusion_with_malformed_hashes_is_rejected(
    name: str, leaf: bytes, root: bytes, proof: list[bytes]
) -> None:
    with pytest.raises(VerificationError):
        verify_inclusion(leaf, 0, 1, proof, root)


@pytest.mark.parametrize(
    ("name", "first", "second", "r1", "r2", "proof"),
    [
        ("same size, different roots", 1, 1, LEAVES[0], LEAVES[1], []),
        ("same size, proof not empty", 1, 1, LEAVES[0], LEAVES[0], [LEAVES[0]]),
        ("empty tree, proof not empty", 0, 1, EMPTY_ROOT, LEAVES[0], [LEAVES[0]]),
        ("empty tree with a non-empty root", 0, 1, LEAVES[1], LEAVES[0], []),
        ("tree shrank", 2, 1, LEAVES[0], LEAVES[1], []),
        ("empty proof for growth", 1, 2, LEAVES[0], LEAVES[1], []),
        ("negative size", -1, 2, EMPTY_ROOT, LEAVES[1], []),
        ("short root", 1, 1, b"x", b"x", []),
    ],
)
def test_consistency_edge_cases_are_rejected(
    name: str, first: int, second: int, r1: bytes, r2: bytes, proof: list[bytes]
) -> None:
    with pytest.raises(VerificationError):
        verify_consistency(first, second, r1, r2, proof)


def test_trivial_consistency_cases_verify() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, LEAVES[3], [])
    verify_consistency(5, 5, LEAVES[3], LEAVES[3], [])


# --- the incremental tree -------------------------------------------------------------------------


def test_tree_agrees_with_the_reference_root_at_every_size_up_to_200() -> None:
    tree = MerkleTree()
    for i, h in enumerate(LEAVES):
        assert tree.append(h) == i
        assert tree.size == len(tree) == i + 1
        assert tree.root() == root_from_leaf_hashes(LEAVES[: i + 1])
    for size in range(len(LEAVES) + 1):
        assert tree.root_at(size) == root_from_leaf_hashes(LEAVES[:size])
    assert [tree.leaf_hash_at(i) for i in range(tree.size)] == LEAVES


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 39), runs=st.lists(st.integers(0, 40), max_size=4)
)  # at most 199 leaves: one more fits
def test_extend_builds_the_tree_that_appending_one_by_one_builds(start: int, runs: list[int]) -> None:
    """A batch's leaves go in with one ``extend``: every root, proof and later append must be those of the
    same leaves appended one at a time (runs that cross and end on every kind of subtree boundary)."""
    one, many = MerkleTree(LEAVES[:start]), MerkleTree(LEAVES[:start])
    at = start
    for run in runs:
        chunk = LEAVES[at : at + run]
        for h in chunk:
            one.append(h)
        many.extend(chunk)
        at += len(chunk)
        assert many.size == one.size == at
    assert [many.root_at(size) for size in range(at + 1)] == [one.root_at(size) for size in range(at + 1)]
    assert many.root() == root_from_leaf_hashes(LEAVES[:at])
    for index in range(at):
        assert many.inclusion_proof(index) == one.inclusion_proof(index)
    for first in range(at + 1):
        assert many.consistency_proof(first) == one.consistency_proof(first)
    assert many.append(LEAVES[at]) == one.append(LEAVES[at]) == at
    assert many.root() == one.root()


def test_tree_proofs_for_old_sizes_match_the_module_functions() -> None:
    tree = MerkleTree(LEAVES)
    rng = random.Random(9162)
    for _ in range(300):
        second = rng.randint(1, len(LEAVES))
        first = rng.randint(0, second)
        index = rng.randrange(second)
        assert tree.inclusion_proof(index, second) == inclusion_proof(LEAVES, index, second)
        assert tree.consistency_proof(first, second) == consistency_proof(LEAVES, first, second)
    assert tree.inclusion_proof(5) == tree.inclusion_proof(5, len(LEAVES))
    assert tree.consistency_proof(7) == tree.consistency_proof(7, len(LEAVES))


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.append(b"short"),
        lambda t: t.append("x" * 32),
        lambda t: t.extend([LEAVES[10], b"short"]),
        lambda t: t.root_at(11),
        lambda t: t.root_at(-1),
        lambda t: t.inclusion_proof(10),
        lambda t: t.inclusion_proof(0, 0),
        lambda t: t.inclusion_proof(-1),
        lambda t: t.inclusion_proof(0, 11),
        lambda t: t.consistency_proof(5, 11),
        lambda t: t.consistency_proof(6, 5),
        lambda t: t.leaf_hash_at(10),
        lambda t: t.leaf_hash_at(True),
    ],
)
def test_tree_rejects_malformed_requests(call: object) -> None:
    tree = MerkleTree(LEAVES[:10])
    with pytest.raises(ValidationError):
        call(tree)  # type: ignore[operator]
    assert tree.size == 10


def test_module_functions_reject_sizes_beyond_the_leaves() -> None:
    with pytest.raises(ValidationError):
        inclusion_proof(LEAVES[:3], 0, 4)
    with pytest.raises(ValidationError):
        consistency_proof(LEAVES[:3], 1, 4)
    with pytest.raises(ValidationError):
        root_from_leaf_hashes([b"short"])


def test_a_million_leaves_give_proofs_in_logarithmic_time() -> None:
    size = 1_000_003
    tree = MerkleTree(i.to_bytes(HASH_BYTES, "big") for i in range(size))
    rng = random.Random(1)
    started = time.perf_counter()
    for _ in range(200):
        second = rng.randint(2, size)
        first = rng.randint(1, second - 1)
        index = rng.randrange(second)
        root = tree.root_at(second)
        verify_inclusion(tree.leaf_hash_at(index), index, second, tree.inclusion_proof(index, second), root)
        verify_consistency(first, second, tree.root_at(first), root, tree.consistency_proof(first, second))
    # O(log^2 n) work per proof: a few milliseconds for all 200; O(n) would take minutes.
    assert time.perf_counter() - started < 5.0
