"""Index format 2 (``crossforce.index.partitioned``): a filter per key type, each sized for its own tokens."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.errors import ValidationError
from crossforce.index import bloom as index
from crossforce.index.partitioned import Partition, PartitionedIndex, check_layout, distinct_by_type

RNG = np.random.default_rng(2026)
TOKENS = RNG.integers(0, 256, size=(3000, 32), dtype=np.uint8)
TYPES = RNG.choice(np.array([1, 16, 17, 26, 30], dtype=np.uint8), size=3000, p=[0.05, 0.4, 0.3, 0.2, 0.05])


def test_one_partition_per_type_present_ascending_each_sized_for_its_own_tokens() -> None:
    built = PartitionedIndex.build(TYPES, TOKENS)
    assert built.key_types == (1, 16, 17, 26, 30)
    for partition in built.partitions:
        count = int((partition.key_type == TYPES).sum())
        assert partition.token_count == count
        assert partition.params == index.choose_params(count)
        assert partition.fpr <= index.DEFAULT_TARGET_FPR
    assert built.token_count == len(TOKENS)
    assert built.num_blocks == sum(p.params.num_blocks for p in built.partitions)
    assert len(built.to_bytes()) == built.size_bytes


def test_bits_are_each_partitions_filter_concatenated_in_key_type_order() -> None:
    built = PartitionedIndex.build(TYPES, TOKENS)
    expected = b"".join(
        index.BloomIndex.build(TOKENS[p.key_type == TYPES], p.params).to_bytes() for p in built.partitions
    )
    assert built.to_bytes() == expected
    for partition, bloom in built.filters():
        assert bloom.params == partition.params
        assert built.filter(partition.key_type) == bloom
    assert built.filter(2) is None


def test_every_member_found_under_its_own_type() -> None:
    built = PartitionedIndex.build(TYPES, TOKENS)
    assert built.contains(TYPES, TOKENS).all()


def test_relabel_attack_a_member_under_another_type_is_absent() -> None:
    """Issue 15: the same 32 bytes presented as another key type (present or not in the index) miss."""
    built = PartitionedIndex.build(TYPES, TOKENS)
    for other in (1, 2, 16, 17, 18, 26, 29, 30, 0, 255):
        relabelled = np.full(len(TOKENS), other, dtype=np.uint8)
        own = other == TYPES
        assert not built.contains(relabelled[~own], TOKENS[~own]).any()


def test_duplicate_pairs_count_once_but_one_token_under_two_types_is_two() -> None:
    token = TOKENS[:1]
    built = PartitionedIndex.build(b"\x10\x10\x11", np.concatenate([token, token, token]))
    assert [(p.key_type, p.token_count) for p in built.partitions] == [(16, 1), (17, 1)]
    assert [(kt, len(toks)) for kt, toks in distinct_by_type([16, 16, 17], np.repeat(token, 3, axis=0))] == [
        (16, 1),
        (17, 1),
    ]


@settings(max_examples=25, deadline=None)
@given(data=st.data(), n=st.integers(1, 300))
def test_build_is_a_set_function_of_the_pairs(data: st.DataObject, n: int) -> None:
    order = data.draw(st.permutations(range(n)))
    built = PartitionedIndex.build(TYPES[:n], TOKENS[:n])
    shuffled = PartitionedIndex.build(TYPES[:n][order], TOKENS[:n][order])
    assert shuffled == built and shuffled.sha256() == built.sha256()


def test_from_bytes_round_trips_and_refuses_a_wrong_length() -> None:
    built = PartitionedIndex.build(TYPES, TOKENS)
    data = built.to_bytes()
    assert PartitionedIndex.from_bytes(built.partitions, data) == built
    assert PartitionedIndex.from_bytes(built.partitions, bytearray(data)) == built
    with pytest.raises(ValidationError, match="partitions need"):
        PartitionedIndex.from_bytes(built.partitions, data[:-1])
    with pytest.raises(ValueError):
        built.words[0] = 0


def _partition(key_type: int, count: int = 1) -> Partition:
    return Partition(
        key_type=key_type, params=index.IndexParams(num_blocks=1, num_probes=3), token_count=count
    )


def test_layout_must_be_strictly_ascending_and_non_empty() -> None:
    check_layout([_partition(1), _partition(16)])
    with pytest.raises(ValidationError, match="at least one"):
        check_layout([])
    with pytest.raises(ValidationError, match="repeats"):
        check_layout([_partition(16), _partition(16)])
    with pytest.raises(ValidationError, match="out of order"):
        check_layout([_partition(17), _partition(16)])


@pytest.mark.parametrize(("key_type", "count"), [(0, 1), (256, 1), (16, 0)])
def test_bad_partition_values_refused(key_type: int, count: int) -> None:
    with pytest.raises(ValidationError):
        _partition(key_type, count)


def test_bad_inputs_refused() -> None:
    with pytest.raises(ValidationError, match="2 key types for 3 tokens"):
        PartitionedIndex.build(b"\x10\x10", TOKENS[:3])
    with pytest.raises(ValidationError, match="key type 0"):
        PartitionedIndex.build(b"\x00", TOKENS[:1])
    with pytest.raises(ValidationError, match="no tokens"):
        PartitionedIndex.build(b"", TOKENS[:0])
    with pytest.raises(ValidationError, match="key types"):
        PartitionedIndex.build([16, 300], TOKENS[:2])
    with pytest.raises(ValidationError, match="uint8"):
        PartitionedIndex.build(np.array([16], dtype=np.int64), TOKENS[:1])
    with pytest.raises(ValidationError, match="words"):
        PartitionedIndex(partitions=[_partition(16)], words=np.zeros(7, dtype="<u8"))


def test_max_fpr_is_the_worst_partition() -> None:
    built = PartitionedIndex.build(TYPES, TOKENS, target_fpr=1e-3)
    assert built.max_fpr() == max(p.fpr for p in built.partitions) <= 1e-3


def test_distinct_counts_are_exact_when_tokens_share_their_sort_key() -> None:
    """Tokens equal in their first 8 bytes tie in the sort; they are told apart by their full bytes."""
    head = bytes(8)
    a, b, c = (head + bytes([i]) * 24 for i in (1, 2, 3))
    tokens = [a, b, a, c, b, a, TOKENS[0].tobytes()]
    built = PartitionedIndex.build(b"\x10" * len(tokens), tokens)
    assert [(p.key_type, p.token_count) for p in built.partitions] == [(16, 4)]
    assert built.contains(b"\x10" * 3, [a, b, c]).all()
    found = dict(distinct_by_type(b"\x10\x10\x11\x10", [a, a, a, b]))
    assert sorted(bytes(t) for t in found[16]) == sorted([a, b]) and len(found[17]) == 1
