"""The segmented matching kernel answers bit for bit what the single-table kernel it replaced answered.

``reference_check`` is the kernel as it stood before issue 20 (one contiguous table of complemented
bits, one gather), kept here verbatim in substance so any later change to ``MatchSnapshot.check`` is
compared with the answers clients have been getting. Random indexes and candidates, including one-block
filters, odd block counts, every probe count, forces sharing segments and forces alone in theirs, and
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
from crossforce.index.bloom import BLOCK_WORDS, BloomIndex, IndexParams
from crossforce.index.snapshot import MatchSnapshot

_U32 = np.uint64(32)
_ALL = np.uint64(0x0101010101010101)


def reference_check(indexes: dict[str, BloomIndex], tokens: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """The pre-issue-20 kernel: every force's complemented blocks in one table, orgs sorted."""
    orgs = sorted(indexes)
    params = [indexes[o].params for o in orgs]
    holes = np.concatenate([np.invert(indexes[o].words.reshape(-1, BLOCK_WORDS)) for o in orgs])
    blocks = [p.num_blocks for p in params]
    num_blocks = np.array(blocks, dtype=np.uint64)[:, None]
    offsets = np.concatenate(([0], np.cumsum(blocks[:-1], dtype=np.int64))).astype(np.int64)[:, None]
    levels = tuple(sorted({p.num_probes for p in params}))
    level_of = np.array([levels.index(p.num_probes) for p in params], dtype=np.intp)
    masks = index.probe_masks_levels(tokens, levels)
    high = tokens.view("<u8")[:, 0] >> _U32
    rows = ((num_blocks * high[None, :]) >> _U32).view(np.int64) + offsets
    missing = np.take(holes, rows, axis=0)
    np.bitwise_and(missing, masks.transpose(1, 0, 2)[level_of], out=missing)
    clear = np.equal(missing, 0)
    return np.asarray((clear.view(np.uint64)[:, :, 0] == _ALL).T)


def random_indexes(
    rng: np.random.Generator, shapes: list[tuple[int, int, int]]
) -> tuple[dict[str, BloomIndex], NDArray[np.uint8]]:
    """Indexes of the given (blocks, probes, tokens) shapes, and some of each one's members."""
    indexes = {}
    members = []
    for number, (num_blocks, num_probes, count) in enumerate(shapes):
        tokens = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
        params = IndexParams(num_blocks=num_blocks, num_probes=num_probes)
        indexes[f"force-{number:02d}"] = BloomIndex.build(tokens, params)
        members.append(tokens[:7])
    return indexes, np.concatenate(members)


def queries_for(rng: np.random.Generator, members: NDArray[np.uint8], extra: int) -> NDArray[np.uint8]:
    return np.concatenate([members, rng.integers(0, 256, size=(extra, 32), dtype=np.uint8)])


SHAPES = st.lists(
    st.tuples(st.integers(1, 97), st.integers(1, index.MAX_PROBES), st.integers(0, 600)),
    min_size=1,
    max_size=9,
)


@settings(max_examples=60, deadline=None)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1), segment_blocks=st.integers(1, 200))
def test_segmented_kernel_matches_the_single_table_kernel(
    shapes: list[tuple[int, int, int]], seed: int, segment_blocks: int
) -> None:
    rng = np.random.default_rng(seed)
    indexes, members = random_indexes(rng, shapes)
    queries = queries_for(rng, members, extra=int(rng.integers(0, 300)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "SEGMENT_BYTES", segment_blocks * index.BLOCK_BYTES)
        snapshot = MatchSnapshot.build(indexes)
    assert np.array_equal(snapshot.check(queries), reference_check(indexes, queries))


@settings(max_examples=30, deadline=None)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1), segment_blocks=st.integers(1, 120))
def test_republishes_and_removals_keep_the_answers_of_a_fresh_build(
    shapes: list[tuple[int, int, int]], seed: int, segment_blocks: int
) -> None:
    rng = np.random.default_rng(seed)
    indexes, _ = random_indexes(rng, shapes)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "SEGMENT_BYTES", segment_blocks * index.BLOCK_BYTES)
        orgs = sorted(indexes)
        snapshot = MatchSnapshot.build({orgs[0]: indexes[orgs[0]]})
        for org in orgs[1:]:  # published one by one, as a matcher starting empty receives them
            snapshot = snapshot.with_index(org, indexes[org])
        for _ in range(6):  # republishes with new geometries, and withdrawals
            org = orgs[int(rng.integers(0, len(orgs)))]
            if rng.random() < 0.25 and len(indexes) > 1:
                snapshot = snapshot.without(org)
                indexes.pop(org, None)
                continue
            fresh, _ = random_indexes(rng, [(int(rng.integers(1, 97)), int(rng.integers(1, 21)), 200)])
            indexes[org] = fresh["force-00"]
            snapshot = snapshot.with_index(org, indexes[org])
    queries = rng.integers(0, 256, size=(257, 32), dtype=np.uint8)
    assert snapshot.orgs == tuple(sorted(indexes))
    assert np.array_equal(snapshot.check(queries), reference_check(indexes, queries))
    for org, bloom in indexes.items():
        assert snapshot.index(org) == bloom


def test_one_block_filters_and_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    indexes, members = random_indexes(rng, [(1, 1, 3), (1, 20, 40), (3, 7, 5), (101, 13, 999)])
    queries = queries_for(rng, members, extra=1001)
    expected = reference_check(indexes, queries)
    for chunk_pairs in (1, 5, 4 * 1001, 8192):
        monkeypatch.setattr(matching, "CHECK_CHUNK_PAIRS", chunk_pairs)
        assert np.array_equal(MatchSnapshot.build(indexes).check(queries), expected)


def test_a_republish_shares_every_other_segment() -> None:
    """The memory lever itself: replacing one force leaves the other segments' arrays in place."""
    rng = np.random.default_rng(3)
    segment_bytes = 64 * index.BLOCK_BYTES
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "SEGMENT_BYTES", segment_bytes)
        indexes, _ = random_indexes(rng, [(200, 8, 500), (20, 8, 50), (30, 8, 50), (150, 8, 400)])
        old = MatchSnapshot.build(indexes)
        fresh, _ = random_indexes(rng, [(210, 8, 500)])
        new = old.with_index("force-00", fresh["force-00"])
    assert old.segment_count == new.segment_count == 3
    kept = [b for b in new.segment_bits() if any(b is o for o in old.segment_bits())]
    assert len(kept) == 2  # the shared small segment and force-03's own: not copied
    assert any(np.shares_memory(b, fresh["force-00"].words) for b in new.segment_bits())
