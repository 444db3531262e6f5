"""Check query tokens against every force's index in one vectorised pass (pure numpy, no I/O).

Invariants:

* A MatchSnapshot is immutable. A publish builds a new snapshot (``with_index``) and the matcher swaps the
  reference atomically, so a check in flight always sees one consistent set of indexes.
* All forces' blocks live in one contiguous (total_blocks, 8) uint64 table, force after force; a force is an
  offset and a block count. A check computes each token's probe masks once (they depend only on the
  token and the probe count), then, for every (token, force) pair at once, the fastrange block, one
  64-byte gather and one AND. No Python loop runs over forces, so the cost grows with the number of
  forces only through memory reads, one cache line per (token, force).
* Hits and misses do exactly the same work: no early exit, no branch on the data.
* The table stores the complement of the filter bits ("holes"): a token is present iff its mask has no bit
  in a hole, which saves one pass over the gathered words on every check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
from numpy.typing import NDArray

from crossforce.errors import ValidationError
from crossforce.index.bloom import (
    BLOCK_WORDS,
    BloomIndex,
    IndexParams,
    Tokens,
    probe_masks_levels,
    token_array,
)

CHECK_CHUNK_PAIRS: Final = 8192
"""(token, force) pairs per inner step: 8192 gathered blocks = 512 KiB, which stays in L2 between the
gather and the AND, while keeping numpy's per-call overhead small next to the work."""

_U32 = np.uint64(32)
_WORD = np.dtype("<u8")
_ALL_WORDS_CLEAR = np.uint64(0x0101010101010101)
"""Eight bool bytes, all True, read as one uint64 (the same in either byte order)."""


class MatchSnapshot:
    """The indexes of every force at one moment, laid out for checks that do not loop over forces."""

    __slots__ = ("_holes", "_level_of", "_levels", "_num_blocks", "_offsets", "_params", "orgs")

    orgs: tuple[str, ...]
    _params: tuple[IndexParams, ...]
    _holes: NDArray[np.uint64]
    _offsets: NDArray[np.int64]
    _num_blocks: NDArray[np.uint64]
    _levels: tuple[int, ...]
    _level_of: NDArray[np.intp]

    def __init__(self, *, orgs: tuple[str, ...], params: tuple[IndexParams, ...], holes: NDArray[np.uint64]):
        """Private: use build / with_index / without. ``holes`` is the complemented table, already owned."""
        blocks = [p.num_blocks for p in params]
        if len(orgs) != len(params) or holes.shape != (sum(blocks), BLOCK_WORDS):
            raise ValidationError("table does not match the parameters", field="indexes")
        holes.flags.writeable = False
        self.orgs = orgs
        self._params = params
        self._holes = holes
        self._num_blocks = np.array(blocks, dtype=np.uint64)
        self._offsets = np.concatenate(([0], np.cumsum(blocks[:-1], dtype=np.int64))).astype(np.int64)
        self._levels = tuple(sorted({p.num_probes for p in params}))
        self._level_of = np.array([self._levels.index(p.num_probes) for p in params], dtype=np.intp)

    @classmethod
    def build(cls, indexes: Mapping[str, BloomIndex]) -> MatchSnapshot:
        """Copy every index into one table (orgs sorted); the BloomIndex objects can then be freed."""
        orgs = tuple(sorted(indexes))
        for org in orgs:
            if not isinstance(org, str) or not org:
                raise ValidationError("organisation codes must be non-empty strings", field="org")
        return cls._assemble([(org, indexes[org].params, indexes[org].words, False) for org in orgs])

    @classmethod
    def _assemble(cls, parts: list[tuple[str, IndexParams, NDArray[np.uint64], bool]]) -> MatchSnapshot:
        """Concatenate per-force words into a new table; ``inverted`` marks parts that are holes already."""
        total = sum(params.num_blocks for _, params, _, _ in parts)
        holes = np.empty((total, BLOCK_WORDS), dtype=_WORD)
        row = 0
        for _, params, words, inverted in parts:
            target = holes[row : row + params.num_blocks]
            source = words.reshape(-1, BLOCK_WORDS)
            if inverted:
                target[...] = source
            else:
                np.invert(source, out=target)
            row += params.num_blocks
        return cls(orgs=tuple(p[0] for p in parts), params=tuple(p[1] for p in parts), holes=holes)

    def _parts(self) -> list[tuple[str, IndexParams, NDArray[np.uint64], bool]]:
        return [
            (org, params, self._holes[int(off) : int(off) + params.num_blocks], True)
            for org, params, off in zip(self.orgs, self._params, self._offsets, strict=True)
        ]

    def with_index(self, org: str, index: BloomIndex) -> MatchSnapshot:
        """A new snapshot with ``org``'s index added or replaced. Copies the whole table (O(total bytes)):
        publishes are rare and the old snapshot keeps serving until the caller swaps the new one in."""
        if not isinstance(org, str) or not org:
            raise ValidationError("organisation codes must be non-empty strings", field="org")
        parts = [part for part in self._parts() if part[0] != org]
        parts.append((org, index.params, index.words, False))
        parts.sort(key=lambda part: part[0])
        return self._assemble(parts)

    def without(self, org: str) -> MatchSnapshot:
        """A new snapshot without ``org`` (expired, withdrawn); idempotent, so racing expiries are safe."""
        if org not in self.orgs:
            return self
        return self._assemble([part for part in self._parts() if part[0] != org])

    def index(self, org: str) -> BloomIndex:
        """A copy of ``org``'s index as published (for re-checks and tests; not on the hot path)."""
        position = self.orgs.index(org)
        params = self._params[position]
        start = int(self._offsets[position])
        words = np.invert(self._holes[start : start + params.num_blocks]).reshape(-1)
        return BloomIndex(params=params, words=words)

    def params(self, org: str) -> IndexParams:
        return self._params[self.orgs.index(org)]

    def __contains__(self, org: object) -> bool:
        return org in self.orgs

    def __len__(self) -> int:
        return len(self.orgs)

    @property
    def nbytes(self) -> int:
        """Memory held by the snapshot's arrays (the table dominates)."""
        arrays = (self._holes, self._offsets, self._num_blocks, self._level_of)
        return sum(int(array.nbytes) for array in arrays)

    def check(self, tokens: Tokens) -> NDArray[np.bool_]:
        """(T, F) bool: token t is (possibly) present in force ``orgs[f]``. Same work for hits and misses."""
        array = token_array(tokens)
        num_tokens, num_forces = len(array), len(self.orgs)
        out = np.zeros((num_tokens, num_forces), dtype=np.bool_)
        if num_tokens == 0 or num_forces == 0:
            return out
        masks = probe_masks_levels(array, self._levels)  # (T, L, 8): once per token, not per force
        high = array.view(_WORD)[:, 0] >> _U32
        num_blocks = self._num_blocks[:, None]
        offsets = self._offsets[:, None]
        step = max(1, CHECK_CHUNK_PAIRS // num_forces)
        single_level = len(self._levels) == 1
        for start in range(0, num_tokens, step):
            stop = min(num_tokens, start + step)
            # Force-major (F, c) so the AND below runs over long contiguous rows, not 8-word ones.
            rows = (num_blocks * high[None, start:stop]) >> _U32  # fastrange, < 2**32
            block_rows = rows.view(np.int64)
            block_rows += offsets
            missing = np.take(self._holes, block_rows, axis=0)  # (F, c, 8): the one gather
            if single_level:
                chunk_masks = masks[start:stop, 0, :][None, :, :]
            else:
                chunk_masks = masks[start:stop].transpose(1, 0, 2)[self._level_of]
            np.bitwise_and(missing, chunk_masks, out=missing)
            # One byte per word (True: no probe falls in a hole); a block's 8 bytes read as one uint64
            # are 0x0101010101010101 iff all are True. Two contiguous passes instead of seven strided ORs.
            clear = np.equal(missing, 0)
            out[start:stop, :] = (clear.view(np.uint64)[:, :, 0] == _ALL_WORDS_CLEAR).T
        return out
