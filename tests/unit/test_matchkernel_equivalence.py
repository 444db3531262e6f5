"""The matcher's compiled kernel (``crossforce.server.matchkernel.check``) answers bit for bit what core's
numpy ``MatchSnapshot.check`` answers, and what each force's own index answers.

Two references in every test: the numpy check the kernel replaces on the matcher (kept in core, where
forces and the benches still use it) and ``PartitionedIndex.contains`` per force (the plain per-filter
code). Random indexes as in test_matching_kernel_equivalence: one-block partitions, odd block counts,
every probe count 1..21 (several probe levels in one check), key types a force lacks and key types no
force has, forces sharing segments and alone in theirs (tiny SEGMENT_BYTES: many segments), snapshots
reached through republishes and removals; and inputs of 0, 1 and many tokens, serial and split over the
worker threads, from several threads at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from crossforce.errors import ValidationError
from crossforce.index import bloom as index
from crossforce.index import snapshot as matching
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot
from crossforce.server import matchkernel
from tests.unit.test_matching_kernel_equivalence import (
    KEY_TYPES,
    SHAPES,
    PartitionShape,
    assemble,
    queries_for,
    random_indexes,
    reference,
)


def agree(
    snapshot: MatchSnapshot,
    indexes: dict[str, PartitionedIndex],
    key_types: NDArray[np.uint8],
    queries: NDArray[np.uint8],
) -> NDArray[np.bool_]:
    """Assert the kernel, serial and split, gives the numpy check's and the per-force answers exactly."""
    expected = snapshot.check(queries, key_types)
    assert np.array_equal(expected, reference(indexes, key_types, queries))
    serial = matchkernel.check(snapshot, queries, key_types, parallel=False)
    split = matchkernel.check(snapshot, queries, key_types)
    for found in (serial, split):
        assert found.dtype == np.bool_ and found.shape == expected.shape
        assert np.array_equal(found, expected)
    return serial


@settings(max_examples=60, deadline=None)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1), segment_blocks=st.integers(1, 400))
def test_kernel_matches_numpy_check_on_random_indexes(
    shapes: list[list[PartitionShape]], seed: int, segment_blocks: int
) -> None:
    rng = np.random.default_rng(seed)
    indexes, types, members = random_indexes(rng, shapes)
    key_types, queries = queries_for(rng, types, members, extra=int(rng.integers(0, 300)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "SEGMENT_BYTES", segment_blocks * index.BLOCK_BYTES)
        snapshot = MatchSnapshot.build(indexes)
        patch.setattr(matchkernel, "PARALLEL_MIN_PAIRS", int(rng.integers(1, 2000)))
        found = agree(snapshot, indexes, key_types, queries)
    assert found[: len(members)].any(axis=1).all()  # every member is found under its own type


@settings(max_examples=25, deadline=None)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1), segment_blocks=st.integers(1, 300))
def test_kernel_after_republishes_and_removals(
    shapes: list[list[PartitionShape]], seed: int, segment_blocks: int
) -> None:
    """Snapshots built publish by publish hold forces out of sorted order across segments (a column map)."""
    rng = np.random.default_rng(seed)
    indexes, _, _ = random_indexes(rng, shapes)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "SEGMENT_BYTES", segment_blocks * index.BLOCK_BYTES)
        orgs = sorted(indexes)
        snapshot = MatchSnapshot.build({orgs[-1]: indexes[orgs[-1]]})
        for org in reversed(orgs[:-1]):
            snapshot = snapshot.with_index(org, indexes[org])
        for _ in range(6):
            org = orgs[int(rng.integers(0, len(orgs)))]
            if rng.random() < 0.25 and len(indexes) > 1:
                snapshot = snapshot.without(org)
                indexes.pop(org, None)
                continue
            kt = int(rng.choice(KEY_TYPES))
            fresh, _, _ = assemble(rng, [(kt, int(rng.integers(1, 97)), int(rng.integers(1, 22)), 200)])
            indexes[org] = fresh
            snapshot = snapshot.with_index(org, fresh)
        patch.setattr(matchkernel, "PARALLEL_MIN_PAIRS", 64)
        key_types = rng.choice(np.array([*KEY_TYPES, 0, 255], dtype=np.uint8), size=257)
        queries = rng.integers(0, 256, size=(257, 32), dtype=np.uint8)
        agree(snapshot, indexes, key_types, queries)


def test_every_probe_count_in_one_snapshot_and_tiny_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """21 probe levels at once, one-block and odd-sized partitions, one block per segment at most."""
    rng = np.random.default_rng(11)
    shapes = [
        [(KEY_TYPES[probes % len(KEY_TYPES)], 1 + (probes * 7) % 13, probes, 20 + probes)]
        for probes in range(1, index.MAX_PROBES + 1)
    ]
    shapes[0].append((30, 1, 21, 50))  # a dense one-block partition: false positives must agree too
    indexes, types, members = random_indexes(rng, shapes)
    key_types, queries = queries_for(rng, types, members, extra=500)
    monkeypatch.setattr(matching, "SEGMENT_BYTES", index.BLOCK_BYTES)
    snapshot = MatchSnapshot.build(indexes)
    assert snapshot.segment_count == len(indexes)
    assert len(snapshot.layout.levels) == index.MAX_PROBES
    agree(snapshot, indexes, key_types, queries)


def test_zero_one_and_many_tokens_and_a_large_batch_split_over_threads() -> None:
    rng = np.random.default_rng(5)
    shapes = [
        [(16, 1 + 2 * i, 1 + i % 21, 60), (17, 97, 8, 300)] if i % 3 else [(18, 50, 9, 100)]
        for i in range(43)
    ]
    indexes, types, members = random_indexes(rng, shapes)
    snapshot = MatchSnapshot.build(indexes)
    none = matchkernel.check(snapshot, b"", b"")
    assert none.shape == (0, 43) and none.dtype == np.bool_
    assert np.array_equal(matchkernel.check(snapshot, [], []), snapshot.check([], []))
    one = matchkernel.check(snapshot, members[0].tobytes(), bytes([int(types[0])]))
    assert np.array_equal(one, snapshot.check(members[:1], types[:1])) and one.any()
    key_types, queries = queries_for(rng, types, members, extra=4000)
    assert len(queries) * len(indexes) >= matchkernel.PARALLEL_MIN_PAIRS  # the split path, for real
    agree(snapshot, indexes, key_types, queries)


def test_empty_snapshot_and_wrong_inputs() -> None:
    empty = MatchSnapshot.build({})
    queries = np.zeros((3, 32), dtype=np.uint8)
    assert matchkernel.check(empty, queries, b"\x10\x10\x10").shape == (3, 0)
    rng = np.random.default_rng(1)
    indexes, _, _ = random_indexes(rng, [[(16, 5, 4, 20)]])
    snapshot = MatchSnapshot.build(indexes)
    with pytest.raises(ValidationError):
        matchkernel.check(snapshot, queries, b"\x10\x10")
    with pytest.raises(ValidationError):
        matchkernel.check(snapshot, b"\x00" * 31, b"\x10")


def test_concurrent_callers_get_their_own_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel runs without the GIL on many threads at once, each split over the pool as well."""
    monkeypatch.setattr(matchkernel, "PARALLEL_MIN_PAIRS", 100)
    rng = np.random.default_rng(9)
    indexes, types, members = random_indexes(rng, [[(16, 40, 7, 200), (17, 3, 21, 30)]] * 5)
    snapshot = MatchSnapshot.build(indexes)
    inputs = [queries_for(rng, types, members, extra=300) for _ in range(6)]
    expected = [snapshot.check(q, k) for k, q in inputs]
    failures: list[int] = []

    def caller(number: int) -> None:
        key_types, queries = inputs[number]
        for _ in range(20):
            if not np.array_equal(matchkernel.check(snapshot, queries, key_types), expected[number]):
                failures.append(number)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def test_a_split_check_does_not_wait_for_a_pool_thread_busy_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A share of a split check that the pool has not started (every pool thread busy, as with another
    batch's shares) is taken back by the caller, which answers alone; it used to wait for the pool thread
    to come free and do the share."""
    monkeypatch.setattr(matchkernel, "PARALLEL_MIN_PAIRS", 100)
    monkeypatch.setattr(matchkernel, "WORKERS", 2)
    rng = np.random.default_rng(13)
    indexes, types, members = random_indexes(rng, [[(16, 40, 7, 200), (17, 3, 21, 30)]] * 3)
    snapshot = MatchSnapshot.build(indexes)
    key_types, queries = queries_for(rng, types, members, extra=300)
    expected = snapshot.check(queries, key_types)
    release = threading.Event()
    blockers = [matchkernel._pool.submit(release.wait, 60) for _ in range(matchkernel._pool._max_workers)]
    answers: list[NDArray[np.bool_]] = []
    caller = threading.Thread(target=lambda: answers.append(matchkernel.check(snapshot, queries, key_types)))
    try:
        caller.start()
        caller.join(timeout=20)
        assert not caller.is_alive(), "the check waited for a pool thread that was busy elsewhere"
    finally:
        release.set()
        for blocker in blockers:
            blocker.result(timeout=60)
        caller.join(timeout=60)
    assert len(answers) == 1 and np.array_equal(answers[0], expected)


def test_the_matcher_starts_where_no_cache_folder_is_writable() -> None:
    """numba refuses to cache without a writable folder; the kernel then compiles at import instead of
    failing the matcher's start (simulated with a cache locator that never applies)."""
    script = (
        "import numpy as np\n"
        "from crossforce.server import matchkernel\n"
        "from crossforce.index.partitioned import PartitionedIndex\n"
        "from crossforce.index.snapshot import MatchSnapshot\n"
        "tokens = np.arange(64, dtype=np.uint8).reshape(2, 32)\n"
        "snapshot = MatchSnapshot.build({'a': PartitionedIndex.build(b'\\x10\\x10', tokens)})\n"
        "assert matchkernel.check(snapshot, tokens, b'\\x10\\x10').all()\n"
        "print(type(matchkernel._check_rows._cache).__name__)\n"
    )
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "_ZipCacheLocator"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "NullCache"
