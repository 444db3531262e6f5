"""MatchSnapshot answers exactly what each force's PartitionedIndex.contains answers, tests each token only in
its own key type's partition, and swaps are immutable."""

from __future__ import annotations

import numpy as np
import pytest

from crossforce.errors import ValidationError
from crossforce.index import snapshot as matching
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot
from tests.unit.test_matching_kernel_equivalence import assemble

TYPES = np.array([1, 16, 17, 18, 26, 27, 28, 29, 30], dtype=np.uint8)


def random_tokens(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def random_types(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 1000).choice(TYPES, size=n)


Built = tuple[PartitionedIndex, np.ndarray, np.ndarray]


def forces(sizes: dict[str, int]) -> dict[str, Built]:
    """Honest indexes (crossforce's parameter choice) with their (key types, tokens)."""
    out = {}
    for seed, (org, n) in enumerate(sorted(sizes.items())):
        tokens, types = random_tokens(n, seed), random_types(n, seed)
        out[org] = (PartitionedIndex.build(types, tokens), types, tokens)
    return out


def dense_forces() -> dict[str, Built]:
    """Deliberately dense geometries (false positives occur) with different probe counts per partition."""
    rng = np.random.default_rng(11)
    shapes = {
        "met": [(16, 400, 9, 20_000), (17, 100, 13, 2000)],
        "kent": [(16, 60, 3, 5000), (26, 20, 21, 500)],
        "dyfed-powys": [(1, 17, 11, 700)],
        "tiny": [(30, 1, 21, 1)],
    }
    return {org: assemble(rng, shape) for org, shape in shapes.items()}


def expected(
    snapshot: MatchSnapshot, indexes: dict[str, Built], types: np.ndarray, tokens: np.ndarray
) -> np.ndarray:
    return np.stack([indexes[org][0].contains(types, tokens) for org in snapshot.orgs], axis=1)


SIZES = {"met": 20_000, "kent": 5000, "dyfed-powys": 700, "city-of-london": 90, "tiny": 1}


def test_agrees_with_each_index_across_forces_of_different_sizes_and_probe_counts() -> None:
    built = dense_forces()
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _, _) in built.items()})
    assert snapshot.orgs == tuple(sorted(built))
    types = np.concatenate([t[:50] for _, t, _ in built.values()] + [random_types(5000, 99)])
    queries = np.concatenate([k[:50] for _, _, k in built.values()] + [random_tokens(5000, 99)])
    members = sum(min(50, len(t)) for _, t, _ in built.values())
    found = snapshot.check(queries, types)
    assert found.shape == (len(queries), len(built))
    assert np.array_equal(found, expected(snapshot, built, types, queries))
    assert found[:members].any(axis=1).all()
    assert found[members:].any()  # the dense geometries do produce false positives to compare


def test_relabel_attack_a_token_under_another_key_type_does_not_match() -> None:
    """Issue 15: a requester holding a weak key's token cannot present it as a strong key's (or any other)."""
    built = forces({"kent": 3000, "met": 3000})
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _, _) in built.items()})
    _, types, tokens = built["kent"]
    column = snapshot.orgs.index("kent")
    assert snapshot.check(tokens, types)[:, column].all()
    for shift in range(1, len(TYPES)):
        relabelled = TYPES[(np.searchsorted(TYPES, types) + shift) % len(TYPES)]
        assert not snapshot.check(tokens, relabelled).any()  # 3000 tokens x 2 forces at FPR 1e-8
    for unknown in (0, 22, 255):
        assert not snapshot.check(tokens, np.full(len(tokens), unknown, dtype=np.uint8)).any()


def test_many_chunks_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    built = dense_forces()
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _, _) in built.items()})
    queries, types = random_tokens(777, seed=5), random_types(777, seed=5)
    whole = snapshot.check(queries, types)
    monkeypatch.setattr(matching, "CHECK_CHUNK_PAIRS", 7)
    assert np.array_equal(snapshot.check(queries, types), whole)


def test_with_index_replaces_and_leaves_the_old_snapshot_untouched() -> None:
    built = forces({"a": 1000, "b": 2000, "c": 500})
    old = MatchSnapshot.build({org: ix for org, (ix, _, _) in built.items()})
    old_b_types, old_b_tokens = built["b"][1][:20], built["b"][2][:20]
    new_b_tokens, new_b_types = random_tokens(3000, seed=42), random_types(3000, seed=42)
    new_b = PartitionedIndex.build(new_b_types, new_b_tokens)

    new = old.with_index("b", new_b)
    assert new.orgs == ("a", "b", "c")
    assert new.partitions("b") == new_b.partitions
    assert new.check(new_b_tokens[:20], new_b_types[:20])[:, 1].all()
    assert not new.check(old_b_tokens, old_b_types)[:, 1].any()
    assert old.check(old_b_tokens, old_b_types)[:, 1].all()  # the serving snapshot is unchanged
    assert not old.check(new_b_tokens[:20], new_b_types[:20])[:, 1].any()
    assert new.index("a") == built["a"][0] and new.index("c") == built["c"][0]
    assert new.index("b") == new_b


def test_with_index_adds_in_sorted_order_and_without_removes() -> None:
    built = forces({"b": 300, "d": 300})
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _, _) in built.items()})
    added = snapshot.with_index("c", PartitionedIndex.build(random_types(10, 1), random_tokens(10, 1)))
    assert added.orgs == ("b", "c", "d")
    removed = added.without("b")
    assert removed.orgs == ("c", "d")
    assert removed.check(built["d"][2][:5], built["d"][1][:5])[:, 1].all()
    assert removed.without("nobody") is removed
    assert "c" in removed and "b" not in removed and len(removed) == 2


def test_index_view_round_trips_and_fpr_is_the_worst_partition() -> None:
    built = forces(SIZES)
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _, _) in built.items()})
    for org, (ix, _, _) in built.items():
        assert snapshot.index(org) == ix
        assert snapshot.index(org).sha256() == ix.sha256()
        assert snapshot.fpr(org) == max(p.fpr for p in ix.partitions) <= 1e-8


def test_memory_is_the_sum_of_the_indexes_plus_the_per_type_tables() -> None:
    built = forces(SIZES)
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _, _) in built.items()})
    total = sum(ix.size_bytes for ix, _, _ in built.values())
    tables = len(SIZES) * matching.KEY_TYPE_SLOTS * 3 * 8
    assert total <= snapshot.nbytes <= total + tables


def test_table_is_read_only() -> None:
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _, _) in forces({"a": 10}).items()})
    with pytest.raises(ValueError):
        snapshot.segment_bits()[0][0, 0] = 0


def test_empty_cases() -> None:
    empty = MatchSnapshot.build({})
    assert empty.check(random_tokens(3, 0), random_types(3, 0)).shape == (3, 0)
    assert empty.nbytes >= 0 and empty.orgs == ()
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _, _) in forces({"a": 10, "b": 10}).items()})
    assert snapshot.check([], b"").shape == (0, 2)


def test_token_inputs_and_bad_inputs() -> None:
    built = forces({"a": 50})
    snapshot = MatchSnapshot.build({"a": built["a"][0]})
    types, tokens = built["a"][1][:4], built["a"][2][:4]
    as_bytes = [bytes(row) for row in tokens]
    assert snapshot.check(as_bytes, types.tobytes()).all()
    assert snapshot.check(b"".join(as_bytes), [int(t) for t in types]).all()
    with pytest.raises(ValidationError):
        snapshot.check([b"short"], b"\x10")
    with pytest.raises(ValidationError, match="key types"):
        snapshot.check(tokens, types[:3])
    with pytest.raises(ValidationError, match="key types"):
        snapshot.check(tokens, [16, 16, 16, 256])


def test_bad_org_codes_refused() -> None:
    ix = PartitionedIndex.build(b"\x10", random_tokens(1, 0))
    with pytest.raises(ValidationError):
        MatchSnapshot.build({"": ix})
    with pytest.raises(ValidationError):
        MatchSnapshot.build({}).with_index("", ix)
