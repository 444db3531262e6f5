"""Index format 2: one blocked Bloom filter (``bloom``) per key type present, bits concatenated.

Normative text: docs/spec.md, "Index format". Why partitions: in one shared filter a token relabelled as
another key type still matches, so a requester could present a weak key's token as a strong one (issue
15). Here a token of type t is set and tested only in partition t, so its label is part of what must
match. Invariants:

* Partitions are in strictly ascending key type, each at most once, each with at least one token; each
  is exactly a v1 filter with its own ``IndexParams`` chosen by ``choose_params`` for its own distinct
  token count at the index's target FPR (the choice is advisory: the header carries the parameters).
* The index bits are the partitions' blocks one after another, in that order; the digest is SHA-256 of
  exactly those bytes.
* A token whose type has no partition is absent.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crossforce.errors import ValidationError
from crossforce.index.bloom import BloomIndex, Tokens, token_array
from crossforce.index.params import (
    BLOCK_BYTES,
    BLOCK_WORDS,
    DEFAULT_TARGET_FPR,
    IndexParams,
    choose_params,
    theoretical_fpr,
)

MAX_KEY_TYPE = 255
"""Key types travel as one byte per token (``TokenBlock.key_types``)."""

_WORD = np.dtype("<u8")


@dataclass(frozen=True)
class Partition:
    """One key type's filter geometry and the distinct tokens of that type it holds (signed header)."""

    key_type: int
    params: IndexParams
    token_count: int

    def __post_init__(self) -> None:
        for name in ("key_type", "token_count"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValidationError("must be an integer", field=name)
        if not 1 <= self.key_type <= MAX_KEY_TYPE:
            raise ValidationError(f"must be in 1..{MAX_KEY_TYPE}", field="key_type")
        if self.token_count < 1:
            raise ValidationError("must be >= 1", field="token_count")

    @property
    def fpr(self) -> float:
        """Theoretical per-token false-positive rate of this partition at its declared count."""
        return theoretical_fpr(self.params, self.token_count)


def check_layout(partitions: Sequence[Partition]) -> None:
    """At least one partition, key types strictly ascending (so none repeats): the order the bits follow."""
    if not partitions:
        raise ValidationError("an index needs at least one partition", field="partitions")
    for before, after in itertools.pairwise(partitions):
        if after.key_type <= before.key_type:
            what = "repeats" if after.key_type == before.key_type else "is out of order"
            raise ValidationError(
                f"partition key type {after.key_type} {what} (key types must be strictly ascending)",
                field="partitions",
            )


def key_type_array(key_types: Sequence[int] | bytes | NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Key types as a (n,) uint8 array: one byte each, as they travel."""
    if isinstance(key_types, np.ndarray):
        if key_types.dtype != np.uint8 or key_types.ndim != 1:
            raise ValidationError("key types must be a (n,) uint8 array", field="key_types")
        return key_types
    if isinstance(key_types, bytes | bytearray | memoryview):
        return np.frombuffer(bytes(key_types), dtype=np.uint8)
    if any(not 0 <= t <= MAX_KEY_TYPE for t in key_types):
        raise ValidationError(f"key types must be in 0..{MAX_KEY_TYPE}", field="key_types")
    return np.asarray(key_types, dtype=np.uint8).reshape(-1)


def _pairs(
    key_types: Sequence[int] | bytes | NDArray[np.uint8], tokens: Tokens
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    types = key_type_array(key_types)
    array = token_array(tokens)
    if len(types) != len(array):
        raise ValidationError(f"{len(types)} key types for {len(array)} tokens", field="key_types")
    return types, array


def distinct_by_type(
    key_types: Sequence[int] | bytes | NDArray[np.uint8], tokens: Tokens
) -> Iterator[tuple[int, NDArray[np.uint8]]]:
    """(key type, its distinct tokens) for each type present, ascending: what each partition holds.

    One numeric sort on (type, 56 bits of the token) instead of a sort of 32-byte strings (5x faster);
    the rows whose sort keys tie (duplicates, in practice) are sorted again on every byte and compared
    in full, so the distinct counts are exact."""
    types, array = _pairs(key_types, tokens)
    if not types.size:
        return
    if int(types.min()) < 1:
        raise ValidationError("key type 0 is not a key type", field="key_types")
    key = (types.astype(np.uint64) << np.uint64(56)) | (array.view(_WORD)[:, 0] >> np.uint64(8))
    order = np.argsort(key)
    sorted_key = key[order]
    keep = np.ones(len(order), dtype=np.bool_)
    tie = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])  # sorted row tie + 1 ties with row tie
    if tie.size:
        tied = np.union1d(tie, tie + 1)
        words = array[order[tied]].view(_WORD)
        tied_key = sorted_key[tied]
        again = np.lexsort((words[:, 3], words[:, 2], words[:, 1], words[:, 0], tied_key))
        words, tied_key = words[again], tied_key[again]
        repeat = (tied_key[1:] == tied_key[:-1]) & (words[1:] == words[:-1]).all(axis=1)
        keep[tied[again[1:][repeat]]] = False
    sorted_types = (sorted_key >> np.uint64(56)).astype(np.uint8)
    starts = np.flatnonzero(np.r_[True, sorted_types[1:] != sorted_types[:-1]])
    present = sorted_types[starts]
    ends = [*starts[1:].tolist(), len(order)]
    for key_type, start, end in zip(present.tolist(), starts.tolist(), ends, strict=True):
        rows = order[start:end][keep[start:end]]
        yield int(key_type), array[rows]


class PartitionedIndex:
    """One force's format-2 index: its partitions and the read-only LE uint64 words of all their blocks."""

    __slots__ = ("_starts", "partitions", "words")

    partitions: tuple[Partition, ...]
    words: NDArray[np.uint64]

    def __init__(self, *, partitions: Sequence[Partition], words: NDArray[np.uint64]) -> None:
        check_layout(partitions)
        blocks = sum(p.params.num_blocks for p in partitions)
        if words.dtype != _WORD or words.ndim != 1 or len(words) != blocks * BLOCK_WORDS:
            raise ValidationError(f"must be {blocks * BLOCK_WORDS} LE uint64 words", field="words")
        view = np.ascontiguousarray(words).view()
        view.flags.writeable = False
        self.partitions = tuple(partitions)
        self.words = view
        self._starts = tuple(np.cumsum([0] + [p.params.num_blocks for p in partitions[:-1]]).tolist())

    @classmethod
    def build(
        cls,
        key_types: Sequence[int] | bytes | NDArray[np.uint8],
        tokens: Tokens,
        target_fpr: float = DEFAULT_TARGET_FPR,
    ) -> PartitionedIndex:
        """Insert every (key type, token) pair: duplicates count once, each type in its own partition."""
        partitions: list[Partition] = []
        parts: list[NDArray[np.uint64]] = []
        for key_type, distinct in distinct_by_type(key_types, tokens):
            params = choose_params(len(distinct), target_fpr)
            partitions.append(Partition(key_type=key_type, params=params, token_count=len(distinct)))
            parts.append(BloomIndex.build(distinct, params).words)
        if not partitions:
            raise ValidationError("no tokens: an index needs at least one", field="tokens")
        words = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return cls(partitions=partitions, words=words)

    @classmethod
    def from_bytes(cls, partitions: Sequence[Partition], data: bytes | memoryview) -> PartitionedIndex:
        """Wrap published bytes; the length must be the partitions' sum exactly.

        Zero-copy for ``bytes`` and for a read-only ``memoryview`` (the matcher receives a publish into
        one buffer and serves it as it is: issue 20, no second copy of the largest force at a
        republish); anything writable is copied first, so the index cannot change under its digest."""
        check_layout(partitions)
        size = sum(p.params.size_bytes for p in partitions)
        length = data.nbytes if isinstance(data, memoryview) else len(data)
        if length != size:
            raise ValidationError(f"is {length} bytes, its partitions need {size}", field="index")
        if isinstance(data, memoryview):
            data = data.cast("B") if data.readonly and data.c_contiguous else bytes(data)
        elif not isinstance(data, bytes):
            data = bytes(data)
        return cls(partitions=partitions, words=np.frombuffer(data, dtype=_WORD))

    @property
    def num_blocks(self) -> int:
        return len(self.words) // BLOCK_WORDS

    @property
    def size_bytes(self) -> int:
        return self.num_blocks * BLOCK_BYTES

    @property
    def token_count(self) -> int:
        return sum(p.token_count for p in self.partitions)

    @property
    def key_types(self) -> tuple[int, ...]:
        return tuple(p.key_type for p in self.partitions)

    def partition_starts(self) -> tuple[int, ...]:
        """The first block of each partition, in ``partitions`` order."""
        return self._starts

    def filters(self) -> Iterator[tuple[Partition, BloomIndex]]:
        """Each partition with its filter, a view on these words (no copy)."""
        for partition, start in zip(self.partitions, self._starts, strict=True):
            first, last = start * BLOCK_WORDS, (start + partition.params.num_blocks) * BLOCK_WORDS
            yield partition, BloomIndex(params=partition.params, words=self.words[first:last])

    def filter(self, key_type: int) -> BloomIndex | None:
        """Key type ``key_type``'s filter, or None if the index has no partition for it."""
        return next((f for p, f in self.filters() if p.key_type == key_type), None)

    def contains(
        self, key_types: Sequence[int] | bytes | NDArray[np.uint8], tokens: Tokens
    ) -> NDArray[np.bool_]:
        """Membership of each token in its own type's partition (absent partition: False). The reference
        the matcher's kernel (``snapshot.MatchSnapshot.check``) is tested against; not the hot path."""
        types, array = _pairs(key_types, tokens)
        out = np.zeros(len(array), dtype=np.bool_)
        for partition, bloom in self.filters():
            rows = np.flatnonzero(types == partition.key_type)
            if rows.size:
                out[rows] = bloom.contains(array[rows])
        return out

    def max_fpr(self) -> float:
        """The highest theoretical per-token FPR over the partitions: what a chance hit is bounded by."""
        return max(p.fpr for p in self.partitions)

    def to_bytes(self) -> bytes:
        return self.words.tobytes()

    def sha256(self) -> bytes:
        """SHA-256 of the serialised bytes: the digest the signed header commits to."""
        return hashlib.sha256(self.words.data.cast("B")).digest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PartitionedIndex):
            return NotImplemented
        return self.partitions == other.partitions and bool(np.array_equal(self.words, other.words))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        types = ",".join(str(t) for t in self.key_types)
        return f"PartitionedIndex(key_types=[{types}], num_blocks={self.num_blocks})"
