"""The matcher's kernel (``MatchSnapshot.check``) answers bit for bit what each force's own index answers.

The reference is ``PartitionedIndex.contains`` per force: each token tested only in its own key type's
partition, through the plain per-filter code (``BloomIndex.contains``). Random partitioned indexes and
candidates, including one-block partitions, odd block counts, every probe count (so several probe levels
in one check), key types a force lacks, forces sharing segments and forces alone in theirs, and
snapshots reached through a run of republishes and removals rather than one build.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from crossforce.index import bloom as index
from crossforce.index import snapshot as matching
from crossforce.index.bloom import BloomIndex, IndexParams
from crossforce.index.partitioned import Partition, PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot

KEY_TYPES = (1, 2, 16, 17, 18, 26, 30)
"""The key types the random indexes draw from (a subset, so forces differ in which they hold)."""

PartitionShape = tuple[int, int, int, int]
"""(key type, blocks, probes, tokens)."""


def assemble(
    rng: np.random.Generator, shape: list[PartitionShape]
) -> tuple[PartitionedIndex, NDArray[np.uint8], NDArray[np.uint8]]:
    """A format-2 index of exactly the given partition geometries (any geometry, so dense ones give false
    positives), and some members of each partition as (key types, tokens)."""
    partitions, words, member_types, members = [], [], [], []
    for key_type, num_blocks, num_probes, count in sorted({s[0]: s for s in shape}.values()):
        tokens = rng.integers(0, 256, size=(max(count, 1), 32), dtype=np.uint8)
        params = IndexParams(num_blocks=num_blocks, num_probes=num_probes)
        partitions.append(Partition(key_type=key_type, params=params, token_count=len(tokens)))
        words.append(BloomIndex.build(tokens, params).words)
        members.append(tokens[:7])
        member_types.append(np.full(len(tokens[:7]), key_type, dtype=np.uint8))
    built = PartitionedIndex(partitions=partitions, words=np.concatenate(words))
    return built, np.concatenate(member_types), np.concatenate(members)


def random_indexes(
    rng: np.random.Generator, shapes: list[list[PartitionShape]]
) -> tuple[dict[str, PartitionedIndex], NDArray[np.uint8], NDArray[np.uint8]]:
    indexes, all_types, all_members = {}, [], []
    for number, shape in enumerate(shapes):
        built, types, members = assemble(rng, shape)
        indexes[f"force-{number:02d}"] = built
        all_types.append(types)
        all_members.append(members)
    return indexes, np.concatenate(all_types), np.concatenate(all_members)


def reference(
    indexes: dict[str, PartitionedIndex], key_types: NDArray[np.uint8], tokens: NDArray[np.uint8]
) -> NDArray[np.bool_]:
    return np.stack([indexes[org].contains(key_types, tokens) for org in sorted(indexes)], axis=1)


def queries_for(
    rng: np.random.Generator, types: NDArray[np.uint8], members: NDArray[np.uint8], extra: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Members under their own type, the same members under random types, and random tokens."""
    relabelled = rng.choice(np.array([*KEY_TYPES, 0, 99, 255], dtype=np.uint8), size=len(members))
    noise_types = rng.choice(np.array(KEY_TYPES, dtype=np.uint8), size=extra)
    noise = rng.integers(0, 256, size=(extra, 32), dtype=np.uint8)
    return np.concatenate([types, relabelled, noise_types]), np.concatenate([members, members, noise])


PARTITION = st.tuples(
    st.sampled_from(KEY_TYPES), st.integers(1, 97), st.integers(1, index.MAX_PROBES), st.integers(0, 400)
)
SHAPES = st.lists(st.lists(PARTITION, min_size=1, max_size=5), min_size=1, max_size=7)


@settings(max_examples=60, deadline=None)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1), segment_blocks=st.integers(1, 400))
def test_kernel_matches_each_forces_partitioned_contains(
    shapes: list[list[PartitionShape]], seed: int, segment_blocks: int
) -> None:
    rng = np.random.default_rng(seed)
    indexes, types, members = random_indexes(rng, shapes)
    key_types, queries = queries_for(rng, types, members, extra=int(rng.integers(0, 300)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "SEGMENT_BYTES", segment_blocks * index.BLOCK_BYTES)
        snapshot = MatchSnapshot.build(indexes)
    found = snapshot.check(queries, key_types)
    assert np.array_equal(found, reference(indexes, key_types, queries))
    assert found[: len(members)].any(axis=1).all()  # every member is found under its own type


@settings(max_examples=30, deadline=None)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1), segment_blocks=st.integers(1, 300))
def test_republishes_and_removals_keep_the_answers_of_a_fresh_build(
    shapes: list[list[PartitionShape]], seed: int, segment_blocks: int
) -> None:
    rng = np.random.default_rng(seed)
    indexes, _, _ = random_indexes(rng, shapes)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "SEGMENT_BYTES", segment_blocks * index.BLOCK_BYTES)
        orgs = sorted(indexes)
        snapshot = MatchSnapshot.build({orgs[0]: indexes[orgs[0]]})
        for org in orgs[1:]:  # published one by one, as a matcher starting empty receives them
            snapshot = snapshot.with_index(org, indexes[org])
        for _ in range(6):  # republishes with new geometries and key types, and withdrawals
            org = orgs[int(rng.integers(0, len(orgs)))]
            if rng.random() < 0.25 and len(indexes) > 1:
                snapshot = snapshot.without(org)
                indexes.pop(org, None)
                continue
            kt = int(rng.choice(KEY_TYPES))
            fresh, _, _ = assemble(rng, [(kt, int(rng.integers(1, 97)), int(rng.integers(1, 21)), 200)])
            indexes[org] = fresh
            snapshot = snapshot.with_index(org, fresh)
    key_types = rng.choice(np.array(KEY_TYPES, dtype=np.uint8), size=257)
    queries = rng.integers(0, 256, size=(257, 32), dtype=np.uint8)
    assert snapshot.orgs == tuple(sorted(indexes))
    assert np.array_equal(snapshot.check(queries, key_types), reference(indexes, key_types, queries))
    for org, built in indexes.items():
        assert snapshot.index(org) == built


def test_one_block_partitions_and_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    shapes = [
        [(16, 1, 1, 3)],
        [(1, 1, 20, 40), (17, 3, 7, 5)],
        [(16, 101, 13, 999), (26, 2, 21, 30), (30, 5, 4, 60)],
    ]
    indexes, types, members = random_indexes(rng, shapes)
    key_types, queries = queries_for(rng, types, members, extra=1001)
    expected = reference(indexes, key_types, queries)
    for chunk_pairs in (1, 5, 4 * 1001, 8192):
        monkeypatch.setattr(matching, "CHECK_CHUNK_PAIRS", chunk_pairs)
        assert np.array_equal(MatchSnapshot.build(indexes).check(queries, key_types), expected)


def test_a_republish_shares_every_other_segment() -> None:
    """The memory lever itself: replacing one force leaves the other segments' arrays in place."""
    rng = np.random.default_rng(3)
    segment_bytes = 64 * index.BLOCK_BYTES
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "SEGMENT_BYTES", segment_bytes)
        shapes = [
            [(16, 150, 8, 500), (17, 50, 8, 100)],
            [(16, 20, 8, 50)],
            [(16, 30, 8, 50)],
            [(18, 150, 8, 400)],
        ]
        indexes, _, _ = random_indexes(rng, shapes)
        old = MatchSnapshot.build(indexes)
        fresh, _, _ = assemble(rng, [(16, 210, 8, 500)])
        new = old.with_index("force-00", fresh)
    assert old.segment_count == new.segment_count == 3
    kept = [b for b in new.segment_bits() if any(b is o for o in old.segment_bits())]
    assert len(kept) == 2  # the shared small segment and force-03's own: not copied
    assert any(np.shares_memory(b, fresh.words) for b in new.segment_bits())
