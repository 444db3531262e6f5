"""The audit log's Merkle tree: RFC 9162 section 2.1 hashing, proofs and their verification (pure).

Invariants:
- Leaves and interior nodes are domain-separated (0x00 / 0x01 prefixes, RFC 9162 2.1.1), so no leaf can
  pose as a subtree and no proof can be "shortened" by presenting an interior node as a leaf.
- Every hash is exactly ``HASH_BYTES`` long; a verifier treats a wrong length as a failed proof.
- Verifiers follow the RFC 9162 algorithms step by step and raise ``VerificationError`` on any failure,
  never return a boolean a caller could forget to check.
- ``MerkleTree`` keeps the hash of every complete, aligned subtree (one flat buffer per level), so roots
  of any past size and every proof cost O(log^2 n) hashing at most, whatever the size of the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from crossforce.errors import ValidationError, VerificationError

HASH_BYTES = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() (RFC 9162 2.1.1)."""

_SubtreeHash = Callable[[int, int], bytes]


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d) (RFC 9162 2.1.1)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right) (RFC 9162 2.1.1)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1) (RFC 9162 2.1.1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_BYTES:
        raise ValidationError(f"must be a {HASH_BYTES}-byte hash", field=what)


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) for the given leaf hashes (RFC 9162 2.1.1).

    Folds left to right with a stack of complete subtrees, then joins them right to left; this is the
    recursive definition evaluated bottom-up.
    """
    stack: list[tuple[bytes, int]] = []  # (subtree hash, leaf count), counts strictly decreasing
    for i, h in enumerate(leaf_hashes):
        _check_hash(h, f"leaf_hashes[{i}]")
        node, count = bytes(h), 1
        while stack and stack[-1][1] == count:
            node, count = node_hash(stack.pop()[0], node), count * 2
        stack.append((node, count))
    if not stack:
        return EMPTY_ROOT
    root = stack[-1][0]
    for left, _ in reversed(stack[:-1]):
        root = node_hash(left, root)
    return root


# --- proof construction, shared by the module functions and MerkleTree ----------------------------


def _path(index: int, lo: int, hi: int, subtree: _SubtreeHash) -> list[bytes]:
    """PATH(m, D[lo:hi]) (RFC 9162 2.1.3.1), nodes listed leaf-side first."""
    proof: list[bytes] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo += k
    proof.reverse()
    return proof


def _subproof(first: int, lo: int, hi: int, subtree: _SubtreeHash) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 2.1.4.1), ``first`` counted from ``lo``."""
    proof: list[bytes] = []
    complete = True  # the SUBPROOF flag b: D[lo:lo+first] is the whole old tree so far
    while hi - lo != first:
        k = _split(hi - lo)
        if first <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo, first, complete = lo + k, first - k, False
    if not complete:
        proof.append(subtree(lo, hi))
    proof.reverse()
    return proof


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """The audit path for leaf ``index`` in the tree of the first ``tree_size`` leaves (RFC 9162 2.1.3.1)."""
    _check_size(tree_size, len(leaf_hashes), "tree_size")
    return MerkleTree(leaf_hashes[:tree_size]).inclusion_proof(index, tree_size)


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """The consistency proof between tree sizes ``first`` and ``second`` (RFC 9162 2.1.4.1)."""
    _check_size(second, len(leaf_hashes), "second")
    return MerkleTree(leaf_hashes[:second]).consistency_proof(first, second)


def _check_size(size: int, available: int, what: str) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= available:
        raise ValidationError(f"must be between 0 and {available}", field=what)


# --- verification ---------------------------------------------------------------------------------


def _proof_hashes(proof: Sequence[bytes]) -> list[bytes]:
    nodes = list(proof)
    for node in nodes:
        if not isinstance(node, bytes | bytearray) or len(node) != HASH_BYTES:
            raise VerificationError(f"proof node is not a {HASH_BYTES}-byte hash")
    return [bytes(node) for node in nodes]


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise VerificationError unless ``proof`` shows ``leaf_hash`` at ``index`` under ``root``.

    RFC 9162 2.1.3.2, step by step.
    """
    if not (_is_count(index) and _is_count(tree_size)):
        raise VerificationError("inclusion proof: index and tree size must be non-negative integers")
    if len(leaf_hash) != HASH_BYTES or len(root) != HASH_BYTES:
        raise VerificationError(f"inclusion proof: leaf hash and root must be {HASH_BYTES} bytes")
    path = _proof_hashes(proof)
    # Step 1: the leaf must lie inside the tree.
    if index >= tree_size:
        raise VerificationError(f"inclusion proof: index {index} is not below tree size {tree_size}")
    # Steps 2-3.
    fn, sn = index, tree_size - 1
    r = bytes(leaf_hash)
    # Step 4.
    for p in path:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is tall")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    # Step 5.
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree is tall")
    if r != root:
        raise VerificationError(f"inclusion proof for index {index} does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise VerificationError unless ``proof`` shows tree ``first`` is a prefix of tree ``second``.

    RFC 9162 2.1.4.2 for 0 < first < second. The RFC leaves the trivial cases to the caller; here a
    same-size pair needs equal roots and an empty proof, and the empty tree (which must have the root
    SHA-256()) is a prefix of every tree with an empty proof.
    """
    if not (_is_count(first) and _is_count(second)):
        raise VerificationError("consistency proof: sizes must be non-negative integers")
    if len(first_root) != HASH_BYTES or len(second_root) != HASH_BYTES:
        raise VerificationError(f"consistency proof: roots must be {HASH_BYTES} bytes")
    path = _proof_hashes(proof)
    if first > second:
        raise VerificationError(f"consistency proof: tree shrank from {first} to {second}")
    if first in (0, second):
        if path:
            raise VerificationError("consistency proof must be empty for an empty or same-size tree")
        if first == 0 and first_root != EMPTY_ROOT:
            raise VerificationError("the empty tree's root must be SHA-256 of nothing")
        if first == second and first_root != second_root:
            raise VerificationError(f"two different roots for tree size {first}")
        return
    # Step 1.
    if not path:
        raise VerificationError("consistency proof is empty")
    # Step 2: a power-of-two old tree is a complete subtree, so its root is the first node.
    if first & (first - 1) == 0:
        path.insert(0, bytes(first_root))
    # Steps 3-4.
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than the tree is tall")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # Step 7.
    if sn != 0:
        raise VerificationError("consistency proof is shorter than the tree is tall")
    if fr != first_root:
        raise VerificationError(f"consistency proof does not lead to the root of tree size {first}")
    if sr != second_root:
        raise VerificationError(f"consistency proof does not lead to the root of tree size {second}")


# --- the incremental tree -------------------------------------------------------------------------


class MerkleTree:
    """An append-only tree of leaf hashes, kept in memory by the matcher.

    ``_levels[h]`` holds, back to back, the hash of every complete subtree of 2**h leaves that starts at
    a multiple of 2**h (level 0 is the leaf hashes). Any prefix of the log, and every part of a proof,
    is a join of O(log n) such subtrees, so nothing ever rehashes leaves. Memory is about 64 bytes per
    leaf. Not thread-safe: the caller serialises appends (the log has one writer).
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Add a leaf hash (not an entry: hash it with ``leaf_hash`` first); returns its index."""
        _check_hash(leaf_hash, "leaf_hash")
        index = self._size
        self._levels[0] += leaf_hash
        self._size += 1
        # Every subtree this leaf completes: one per trailing one-bit of the new size minus one.
        level, position, node = 0, index, bytes(leaf_hash)
        while position & 1:
            left = self._node(level, position - 1)
            node = node_hash(left, node)
            level, position = level + 1, position >> 1
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += node
        return index

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append many leaf hashes: the tree ``append`` would make, one level at a time. A batch's
        thousand events cost one join per level instead of a call and a loop per leaf."""
        for leaf in leaf_hashes:
            _check_hash(leaf, "leaf_hash")
        old, new = self._size, self._size + len(leaf_hashes)
        self._levels[0] += b"".join(leaf_hashes)
        self._size = new
        level = 0
        # ``_levels[h]`` holds size >> h nodes; the nodes new at level h + 1 are the parents of pairs that
        # are complete now and were not before: positions old >> (h + 1) up to new >> (h + 1).
        while (new >> (level + 1)) > (old >> (level + 1)):
            if level + 1 == len(self._levels):
                self._levels.append(bytearray())
            below = self._levels[level]
            step = 2 * HASH_BYTES
            self._levels[level + 1] += b"".join(
                hashlib.sha256(NODE_PREFIX + below[at : at + step]).digest()
                for at in range(step * (old >> (level + 1)), step * (new >> (level + 1)), step)
            )
            level += 1

    def leaf_hash_at(self, index: int) -> bytes:
        self._check_index(index, self._size)
        return self._node(0, index)

    def root(self) -> bytes:
        return self.root_at(self._size)

    def root_at(self, size: int) -> bytes:
        """MTH of the first ``size`` leaves (RFC 9162 2.1.1): the root an older tree head signed."""
        _check_size(size, self._size, "size")
        return self._subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 2.1.3.1); ``size`` defaults to the current size."""
        size = self._size if size is None else size
        _check_size(size, self._size, "size")
        self._check_index(index, size)
        return _path(index, 0, size, self._subtree)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """PROOF(first, D[second]) (RFC 9162 2.1.4.1); empty when ``first`` is 0 or equals ``second``."""
        second = self._size if second is None else second
        _check_size(second, self._size, "second")
        _check_size(first, second, "first")
        if first in (0, second):
            return []
        return _subproof(first, 0, second, self._subtree)

    def _node(self, level: int, position: int) -> bytes:
        start = position * HASH_BYTES
        return bytes(self._levels[level][start : start + HASH_BYTES])

    def _subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) where ``lo`` is a multiple of the largest power of two <= hi - lo.

        Proof recursion only ever asks for such ranges (RFC 9162 2.1.1 splits at powers of two), so the
        range is a run of complete aligned subtrees of decreasing size, joined right to left.
        """
        parts: list[bytes] = []
        while lo < hi:
            level = (hi - lo).bit_length() - 1
            if lo & ((1 << level) - 1):  # pragma: no cover - an internal misuse, never reached
                raise AssertionError(f"unaligned subtree [{lo}, {hi})")
            parts.append(self._node(level, lo >> level))
            lo += 1 << level
        root = parts[-1]
        for left in reversed(parts[:-1]):
            root = node_hash(left, root)
        return root

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            raise ValidationError(f"must be a leaf index below {size}", field="index")
