"""Check query tokens against every force's index in one vectorised pass (pure numpy, no I/O).

Invariants:

* A MatchSnapshot is immutable. A publish builds a new snapshot (``with_index``) and the matcher swaps the
  reference atomically, so a check in flight always sees one consistent set of indexes.
* Each force's index is format 2 (``partitioned``): its partitions' blocks, one table per force. Forces'
  tables live in a few read-only segments, each a (blocks, 8) uint64 table of one or more forces (a force
  is a segment and an offset in it). A force at least ``segment_bytes`` big has a segment of its own that
  *is* its published words (no copy); smaller forces share segments of up to ``segment_bytes``. Snapshots
  share segments, so a publish copies at most the one segment holding the force, never the others (issue
  20). The budget is the snapshot's own (``build``): SEGMENT_BYTES suits this numpy check, which pays a
  call per segment; the matcher's compiled kernel reads segments by address and passes 0 (every force
  its own segment: a republish copies nothing).
* A token of key type t is tested only in partition t of each force (issue 15: a relabelled token cannot
  match). Per (key type, force) the snapshot holds, computed once per publish, one row of a small table:
  the partition's block count, its first row in the segment and its probe level, gathered for all forces
  in one step per token. A force without partition t has block count 0: its first row is read like any
  other (the same work) and the answer is False.
* A check computes each token's probe masks once per probe level (they depend only on the token), then,
  for every (token, force) pair at once, the fastrange block in its partition, one 64-byte gather (one
  ``take`` per segment, into one buffer) and one OR and compare over all of them. No Python loop runs over
  forces or tokens, so the cost grows with the number of forces only through memory reads, one cache line
  per (token, force), and with the number of segments by one call each.
* Hits and misses do exactly the same work: no early exit, no branch on the data.
* A token is present iff every word of its block has every bit of its mask set: (bits | ~mask) == ~0.
* ``layout`` holds the same tables as plain read-only arrays for the matcher's compiled kernel
  (``crossforce.server.matchkernel``, which must answer exactly as ``check``): core needs only numpy.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from crossforce.errors import ValidationError
from crossforce.index.bloom import BLOCK_BYTES, BLOCK_WORDS, Tokens, probe_masks_levels, token_array
from crossforce.index.partitioned import (
    MAX_KEY_TYPE,
    Partition,
    PartitionedIndex,
    key_type_array,
)

CHECK_CHUNK_PAIRS: Final = 8192
"""(token, force) pairs per inner step: 8192 gathered blocks = 512 KiB, which stays in L2 between the
gather and the AND, while keeping numpy's per-call overhead small next to the work."""
SEGMENT_BYTES: Final = 128 * 2**20
"""The default budget (``build``): most bytes of forces that share one segment. A publish copies its
force's segment, so this bounds the copy (and the memory it adds) for every force smaller than it; each
segment costs this check one ``take`` call (~1.7 µs): at 10,000,000 records (898 MiB) 8 segments add
~13 µs to a ~48 µs check (64 MiB: 16 segments, +25 µs). The largest forces (the Met, 133 MiB at 10 M
records) have a segment of their own."""
KEY_TYPE_SLOTS: Final = MAX_KEY_TYPE + 1
"""Columns of the per-(force, key type) tables: one per possible key-type byte."""

_U32 = np.uint64(32)
_WORD = np.dtype("<u8")
_ALL_BITS = np.uint64(2**64 - 1)
_ALL_WORDS_SET = np.uint64(0x0101010101010101)
"""Eight bool bytes, all True, read as one uint64 (the same in either byte order)."""

_NUM_BLOCKS, _FIRST_ROW, _LEVEL = range(3)
_COLUMNS = 3
"""The columns of the per-(key type, force) geometry table."""

Part = tuple[str, tuple[Partition, ...], NDArray[np.uint64]]
"""A force as a segment holds it: organisation, partitions, (blocks, 8) words."""


@functools.lru_cache(maxsize=4096)
def _max_fpr(partitions: tuple[Partition, ...]) -> float:
    return max(p.fpr for p in partitions)


class _Segment:
    """One read-only table of one or more forces' blocks, shared by every snapshot that holds them."""

    __slots__ = ("bits", "layouts", "offsets", "orgs")

    def __init__(self, parts: Sequence[Part]) -> None:
        """A single part is kept as it is (no copy); several are copied into one new table."""
        if len(parts) == 1:
            bits = parts[0][2]
        else:
            bits = np.empty((sum(len(words) for _, _, words in parts), BLOCK_WORDS), dtype=_WORD)
            row = 0
            for _, _, words in parts:
                bits[row : row + len(words)] = words
                row += len(words)
        bits = bits.view()
        bits.flags.writeable = False
        self.bits: NDArray[np.uint64] = bits
        self.orgs = tuple(org for org, _, _ in parts)
        self.layouts = tuple(layout for _, layout, _ in parts)
        self.offsets: NDArray[np.int64] = np.cumsum([0] + [len(w) for _, _, w in parts[:-1]], dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return int(self.bits.nbytes)

    def parts(self) -> list[Part]:
        ends = [*self.offsets[1:].tolist(), len(self.bits)]
        return [
            (org, layout, self.bits[start:end])
            for org, layout, start, end in zip(
                self.orgs, self.layouts, self.offsets.tolist(), ends, strict=True
            )
        ]


def _size(part: Part) -> int:
    return len(part[2]) * BLOCK_BYTES


def _pack(parts: Sequence[Part], budget: int) -> list[_Segment]:
    """Group parts into segments: a big force alone, small ones together up to ``budget`` bytes each."""
    segments: list[_Segment] = []
    shared: list[Part] = []
    shared_bytes = 0
    for part in parts:
        size = _size(part)
        if size >= budget:
            segments.append(_Segment([part]))
            continue
        if shared and shared_bytes + size > budget:
            segments.append(_Segment(shared))
            shared, shared_bytes = [], 0
        shared.append(part)
        shared_bytes += size
    if shared:
        segments.append(_Segment(shared))
    return segments


def _read_only(array: NDArray[np.int64]) -> NDArray[np.int64]:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class CheckLayout:
    """Everything ``MatchSnapshot.check`` reads besides the tokens, as plain read-only arrays, so that a
    compiled kernel outside crossforce-core (the matcher's ``crossforce.server.matchkernel``) can give the
    same answers without core depending on a compiler. Built once per publish; forces are in internal
    (segment) order.

    * ``levels``: the distinct probe counts, increasing (a token's masks are computed once per level);
    * ``geometry``: (KEY_TYPE_SLOTS, forces, 3) int64, per key-type byte and force: partition blocks
      (0: the force has no such partition, never a match), first row in its segment, level index;
    * ``segment_bounds``: (segments + 1,) the internal forces of segment s are ``bounds[s]:bounds[s+1]``;
    * ``columns``: (forces,) the output column (position in ``MatchSnapshot.orgs``) of each force;
    * ``segments``: the (blocks, 8) uint64 tables themselves.
    """

    levels: NDArray[np.int64]
    geometry: NDArray[np.int64]
    segment_bounds: NDArray[np.int64]
    columns: NDArray[np.int64]
    segments: tuple[NDArray[np.uint64], ...]


def _part(org: str, index: PartitionedIndex) -> Part:
    if not isinstance(org, str) or not org:
        raise ValidationError("organisation codes must be non-empty strings", field="org")
    return (org, index.partitions, index.words.reshape(-1, BLOCK_WORDS))


class MatchSnapshot:
    """The indexes of every force at one moment, laid out for checks that do not loop over forces."""

    __slots__ = (
        "_cols",
        "_gathers",
        "_geometry",
        "_layouts",
        "_levels",
        "_segment_bytes",
        "_segments",
        "_where",
        "layout",
        "orgs",
    )

    orgs: tuple[str, ...]
    layout: CheckLayout

    def __init__(self, segments: Sequence[_Segment], segment_bytes: int) -> None:
        """Private: use build / with_index / without. Everything a check needs besides the segments'
        bits is computed here, once per publish, not once per check."""
        self._segment_bytes = segment_bytes
        internal = [org for segment in segments for org in segment.orgs]
        layouts = [layout for segment in segments for layout in segment.layouts]
        starts = [int(start) for segment in segments for start in segment.offsets]
        if len(set(internal)) != len(internal):
            raise ValidationError("an organisation is in two segments", field="indexes")
        self._segments = tuple(segments)
        self.orgs = tuple(sorted(internal))
        position = {org: i for i, org in enumerate(self.orgs)}
        self._layouts = dict(zip(internal, layouts, strict=True))
        self._where = {
            org: (segment, int(start))
            for segment in segments
            for org, start in zip(segment.orgs, segment.offsets, strict=True)
        }
        self._levels = tuple(sorted({p.params.num_probes for layout in layouts for p in layout}))
        # Per key-type byte, a (3, forces) row over the internal (segment-order) forces: partition blocks
        # for fastrange (0: no partition), first row in the segment (the force's own first row when there
        # is none), probe level. One gather by the tokens' types gives (tokens, 3, forces).
        geometry = np.zeros((KEY_TYPE_SLOTS, _COLUMNS, len(internal)), dtype=np.int64)
        geometry[:, _FIRST_ROW, :] = np.array(starts, dtype=np.int64)[None, :]
        for force, (layout, start) in enumerate(zip(layouts, starts, strict=True)):
            row = start
            for partition in layout:
                level = self._levels.index(partition.params.num_probes)
                geometry[partition.key_type, :, force] = (partition.params.num_blocks, row, level)
                row += partition.params.num_blocks
        self._geometry: NDArray[np.int64] = geometry
        cols = np.array([position[org] for org in internal], dtype=np.intp)
        # None when segments already hold the forces in sorted order (``build``): a plain slice store.
        self._cols: NDArray[np.intp] | None = None if internal == list(self.orgs) else cols
        bounds = np.cumsum([0] + [len(s.orgs) for s in segments])
        self._gathers = tuple(
            (s.bits, int(a), int(b)) for s, a, b in zip(segments, bounds[:-1], bounds[1:], strict=True)
        )
        self.layout = CheckLayout(
            levels=_read_only(np.array(self._levels, dtype=np.int64)),
            geometry=_read_only(np.ascontiguousarray(geometry.transpose(0, 2, 1))),
            segment_bounds=_read_only(np.asarray(bounds, dtype=np.int64)),
            columns=_read_only(cols.astype(np.int64)),
            segments=tuple(s.bits for s in segments),
        )

    @classmethod
    def build(
        cls, indexes: Mapping[str, PartitionedIndex], *, segment_bytes: int | None = None
    ) -> MatchSnapshot:
        """Hold every index (orgs sorted); big ones are referenced as they are, small ones copied together
        into segments of up to ``segment_bytes`` (default SEGMENT_BYTES; 0: none shares, none is copied).
        Snapshots made from this one by ``with_index`` and ``without`` keep its budget."""
        budget = SEGMENT_BYTES if segment_bytes is None else segment_bytes
        return cls(_pack([_part(org, indexes[org]) for org in sorted(indexes)], budget), budget)

    def with_index(self, org: str, index: PartitionedIndex) -> MatchSnapshot:
        """A new snapshot with ``org``'s index added or replaced. Copies at most one segment (the one that
        held ``org``, or the small one it joins); the old snapshot keeps serving until the caller swaps."""
        new = _part(org, index)
        size = _size(new)
        budget = self._segment_bytes
        segments = list(self._segments)
        home = self._where.get(org)
        if home is not None:
            segments.remove(home[0])
            rest = [part for part in home[0].parts() if part[0] != org]
            if rest and sum(_size(p) for p in rest) + size <= budget:
                return MatchSnapshot([*segments, _Segment([*rest, new])], budget)
            if rest:
                segments.append(_Segment(rest))
        if size < budget:
            room = [s for s in segments if s.nbytes + size <= budget]
            if room:
                target = min(room, key=lambda s: s.nbytes)
                segments.remove(target)
                return MatchSnapshot([*segments, _Segment([*target.parts(), new])], budget)
        return MatchSnapshot([*segments, _Segment([new])], budget)

    def without(self, org: str) -> MatchSnapshot:
        """A new snapshot without ``org`` (expired, withdrawn); idempotent, so racing expiries are safe."""
        home = self._where.get(org)
        if home is None:
            return self
        segments = [s for s in self._segments if s is not home[0]]
        rest = [part for part in home[0].parts() if part[0] != org]
        return MatchSnapshot([*segments, _Segment(rest)] if rest else segments, self._segment_bytes)

    def index(self, org: str) -> PartitionedIndex:
        """A copy of ``org``'s index as published (for re-checks and tests; not on the hot path)."""
        segment, start = self._where[org]
        layout = self._layouts[org]
        blocks = sum(p.params.num_blocks for p in layout)
        words = segment.bits[start : start + blocks].reshape(-1).copy()
        return PartitionedIndex(partitions=layout, words=words)

    def partitions(self, org: str) -> tuple[Partition, ...]:
        return self._layouts[org]

    def fpr(self, org: str) -> float:
        """``org``'s highest partition FPR: the chance a token it does not hold matches anyway (scoring)."""
        return _max_fpr(self._layouts[org])

    def __contains__(self, org: object) -> bool:
        return org in self._layouts

    def __len__(self) -> int:
        return len(self.orgs)

    @property
    def nbytes(self) -> int:
        """Memory held by the snapshot's arrays (the segments dominate; shared ones count in full)."""
        return sum(s.nbytes for s in self._segments) + int(self._geometry.nbytes)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def segment_bits(self) -> tuple[NDArray[np.uint64], ...]:
        """The read-only tables (for tests and benches: which ones a publish shared or replaced)."""
        return tuple(s.bits for s in self._segments)

    def check(
        self, tokens: Tokens, key_types: Sequence[int] | bytes | NDArray[np.uint8]
    ) -> NDArray[np.bool_]:
        """(T, F) bool: token t is (possibly) present in partition ``key_types[t]`` of force ``orgs[f]``.

        Same work for hits and misses, and for a force with or without that partition."""
        array = token_array(tokens)
        types = key_type_array(key_types)
        if len(types) != len(array):
            raise ValidationError(f"{len(types)} key types for {len(array)} tokens", field="key_types")
        num_tokens, num_forces = len(array), len(self.orgs)
        out = np.zeros((num_tokens, num_forces), dtype=np.bool_)
        if num_tokens == 0 or num_forces == 0:
            return out
        # (T, L, 8) complemented masks, once per token and probe level, not per force: a word passes iff
        # OR-ing the complement of its mask into it sets every bit, so the compare is against a constant.
        masks = np.invert(probe_masks_levels(array, self._levels))
        high = array.view(_WORD)[:, 0] >> _U32
        step = max(1, CHECK_CHUNK_PAIRS // num_forces)
        single_level = len(self._levels) == 1
        for start in range(0, num_tokens, step):
            stop = min(num_tokens, start + step)
            # One gather of every force's geometry for each token (c, 3, F), read force-major as (F, c)
            # so the OR below runs over long contiguous rows, not 8-word ones.
            geometry = self._geometry[types[start:stop]]
            num_blocks = geometry[:, _NUM_BLOCKS, :].T
            rows = (num_blocks.view(np.uint64) * high[None, start:stop]) >> _U32  # fastrange, < 2**32
            block_rows = rows.view(np.int64)
            block_rows += geometry[:, _FIRST_ROW, :].T
            words = np.empty((num_forces, stop - start, BLOCK_WORDS), dtype=_WORD)
            for bits, first, last in self._gathers:  # the one gather, one call per segment
                np.take(bits, block_rows[first:last], axis=0, out=words[first:last], mode="clip")
            if single_level:
                np.bitwise_or(words, masks[start:stop, 0, :][None, :, :], out=words)
            else:
                tokens_index = np.arange(stop - start)[None, :]
                chunk_masks = masks[start:stop][tokens_index, geometry[:, _LEVEL, :].T]
                np.bitwise_or(words, chunk_masks, out=words)
            # One byte per word (True: every probe bit set); a block's 8 bytes read as one uint64 are
            # 0x0101010101010101 iff all are True. Two contiguous passes instead of seven strided ANDs.
            present = np.equal(words, _ALL_BITS).view(np.uint64)[:, :, 0] == _ALL_WORDS_SET
            present &= num_blocks != 0  # no partition of this type at that force
            if self._cols is None:
                out[start:stop] = present.T
            else:
                out[start:stop, self._cols] = present.T
        return out
