"""MatchSnapshot answers exactly what each force's BloomIndex.contains answers, and swaps are immutable."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.errors import ValidationError
from crossforce.index import bloom as index
from crossforce.index import snapshot as matching
from crossforce.index.bloom import BloomIndex, IndexParams
from crossforce.index.snapshot import MatchSnapshot


def random_tokens(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def forces(
    sizes: dict[str, int], *, probes: dict[str, int] | None = None
) -> dict[str, tuple[BloomIndex, np.ndarray]]:
    """Indexes of different sizes (and, if asked, deliberately dense geometries so false positives occur)."""
    out = {}
    for seed, (org, n) in enumerate(sorted(sizes.items())):
        tokens = random_tokens(n, seed)
        if probes and org in probes:
            params = IndexParams(num_blocks=max(1, n // 40), num_probes=probes[org])
        else:
            params = index.choose_params(n)
        out[org] = (BloomIndex.build(tokens, params), tokens)
    return out


def expected(snapshot: MatchSnapshot, indexes: dict[str, BloomIndex], tokens: np.ndarray) -> np.ndarray:
    return np.stack([indexes[org].contains(tokens) for org in snapshot.orgs], axis=1)


SIZES = {"met": 20_000, "kent": 5000, "dyfed-powys": 700, "city-of-london": 90, "tiny": 1}
DENSE = {"kent": 3, "dyfed-powys": 11, "tiny": 21}


def test_agrees_with_each_index_across_forces_of_different_sizes_and_probe_counts() -> None:
    built = forces(SIZES, probes=DENSE)
    indexes = {org: ix for org, (ix, _) in built.items()}
    snapshot = MatchSnapshot.build(indexes)
    assert snapshot.orgs == tuple(sorted(SIZES))
    members = np.concatenate([tokens[:50] for _, tokens in built.values()])
    queries = np.concatenate([members, random_tokens(5000, seed=99)])
    found = snapshot.check(queries)
    assert found.shape == (len(queries), len(SIZES))
    assert np.array_equal(found, expected(snapshot, indexes, queries))
    assert found[: len(members)].any(axis=1).all()
    assert found[len(members) :].any()  # the dense geometries do produce false positives to compare


def test_many_chunks_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    built = forces(SIZES, probes=DENSE)
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _) in built.items()})
    queries = random_tokens(777, seed=5)
    whole = snapshot.check(queries)
    monkeypatch.setattr(matching, "CHECK_CHUNK_PAIRS", 7)
    assert np.array_equal(snapshot.check(queries), whole)


@settings(max_examples=30, deadline=None)
@given(
    shapes=st.lists(
        st.tuples(st.integers(1, 300), st.integers(1, index.MAX_PROBES), st.integers(0, 400)),
        min_size=1,
        max_size=6,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_agrees_with_contains_property(shapes: list[tuple[int, int, int]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    indexes = {}
    members = []
    for number, (num_blocks, num_probes, count) in enumerate(shapes):
        tokens = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
        indexes[f"force-{number}"] = BloomIndex.build(
            tokens, IndexParams(num_blocks=num_blocks, num_probes=num_probes)
        )
        members.append(tokens[:10])
    snapshot = MatchSnapshot.build(indexes)
    queries = np.concatenate([*members, rng.integers(0, 256, size=(50, 32), dtype=np.uint8)])
    assert np.array_equal(snapshot.check(queries), expected(snapshot, indexes, queries))


def test_with_index_replaces_and_leaves_the_old_snapshot_untouched() -> None:
    built = forces({"a": 1000, "b": 2000, "c": 500})
    indexes = {org: ix for org, (ix, _) in built.items()}
    old = MatchSnapshot.build(indexes)
    old_b_tokens = built["b"][1][:20]
    new_b_tokens = random_tokens(3000, seed=42)
    new_b = BloomIndex.build(new_b_tokens, index.choose_params(3000))

    new = old.with_index("b", new_b)
    assert new.orgs == ("a", "b", "c")
    assert new.params("b") == new_b.params
    assert new.check(new_b_tokens[:20])[:, 1].all()
    assert not new.check(old_b_tokens)[:, 1].any()
    assert old.check(old_b_tokens)[:, 1].all()  # the serving snapshot is unchanged
    assert not old.check(new_b_tokens[:20])[:, 1].any()
    assert new.index("a") == indexes["a"] and new.index("c") == indexes["c"]
    assert new.index("b") == new_b


def test_with_index_adds_in_sorted_order_and_without_removes() -> None:
    built = forces({"b": 300, "d": 300})
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _) in built.items()})
    added = snapshot.with_index("c", BloomIndex.build(random_tokens(10, 1), index.choose_params(10)))
    assert added.orgs == ("b", "c", "d")
    removed = added.without("b")
    assert removed.orgs == ("c", "d")
    assert removed.check(built["d"][1][:5])[:, 1].all()
    assert removed.without("nobody") is removed
    assert "c" in removed and "b" not in removed and len(removed) == 2


def test_index_view_round_trips() -> None:
    built = forces(SIZES)
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _) in built.items()})
    for org, (ix, _) in built.items():
        assert snapshot.index(org) == ix
        assert snapshot.index(org).sha256() == ix.sha256()


def test_memory_is_the_sum_of_the_indexes() -> None:
    built = forces(SIZES)
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _) in built.items()})
    total = sum(ix.params.size_bytes for ix, _ in built.values())
    assert total <= snapshot.nbytes <= total + 1024


def test_table_is_read_only() -> None:
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _) in forces({"a": 10}).items()})
    with pytest.raises(ValueError):
        snapshot.segment_bits()[0][0, 0] = 0


def test_empty_cases() -> None:
    empty = MatchSnapshot.build({})
    assert empty.check(random_tokens(3, 0)).shape == (3, 0)
    assert empty.nbytes >= 0 and empty.orgs == ()
    snapshot = MatchSnapshot.build({org: ix for org, (ix, _) in forces({"a": 10, "b": 10}).items()})
    assert snapshot.check([]).shape == (0, 2)


def test_token_inputs_and_bad_tokens() -> None:
    built = forces({"a": 50})
    snapshot = MatchSnapshot.build({"a": built["a"][0]})
    as_bytes = [bytes(row) for row in built["a"][1][:4]]
    assert snapshot.check(as_bytes).all()
    assert snapshot.check(b"".join(as_bytes)).all()
    with pytest.raises(ValidationError):
        snapshot.check([b"short"])


def test_bad_org_codes_refused() -> None:
    ix = BloomIndex.build([], IndexParams(num_blocks=1, num_probes=1))
    with pytest.raises(ValidationError):
        MatchSnapshot.build({"": ix})
    with pytest.raises(ValidationError):
        MatchSnapshot.build({}).with_index("", ix)
