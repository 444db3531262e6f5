"""The matcher's compiled matching kernel: ``MatchSnapshot.check``'s answers, bit for bit, without the GIL.

Why compiled: numpy's check is a chain of whole-array calls, each holding the GIL, with (tokens, forces, 8)
temporaries; in a CheckBatch it was the largest cost of the server and did not scale to a second thread
(issue 20). This kernel (numba, compiled at import and cached on disk) walks each (token, force) pair
once: one 64-byte block read (prefetched a few dozen pairs ahead: each read is a cache miss in a table far
larger than the caches), eight ORs, one compare; it releases the GIL for the whole call, so other
requests run meanwhile, and big inputs are split over the cores.

Why here and not in crossforce-core: numba (and LLVM with it) is the matcher's dependency only; forces and
officers install core and the client, which keep the numpy check (``MatchSnapshot.check``, the reference
of tests/unit/test_matchkernel_equivalence.py). Cost: importing numba adds ~110-145 MiB to the matcher's
RSS (~95 MiB of it the LLVM library's clean, shareable pages; ~35 MiB private) and ~0.2-0.5 s to its start.

Invariants (the same as ``crossforce.index.snapshot``):

* the block of a token in a partition of ``num_blocks`` blocks is fastrange ``(num_blocks * (h0 >> 32))
  >> 32`` plus the partition's first row in its segment; probe i is bits ``9*(i%7)..`` of little-endian
  word ``1 + i//7`` of the token (``bloom.probe_positions``); a force without the token's key type has
  ``num_blocks`` 0: its first row is read like any other and the answer is False;
* hits and misses do the same work: every word of the block is read and combined, no early exit;
* a token is present iff ``(word | ~mask) == ~0`` for all eight words.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import carray
from numpy.typing import NDArray

from crossforce.errors import ValidationError
from crossforce.index.bloom import Tokens, token_array
from crossforce.index.partitioned import key_type_array
from crossforce.index.snapshot import KEY_TYPE_SLOTS, CheckLayout, MatchSnapshot

PARALLEL_MIN_PAIRS: Final = 32_768
"""(token, force) pairs from which a check is split over the worker threads. Below it (a single check is
~22 tokens x 43 forces = ~950 pairs) the thread hand-offs would cost more than they save, so the caller's
thread does it all."""
WORKERS: Final = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))
"""Threads a big check is split over (the caller's own plus WORKERS - 1 from the pool): the cores this
process may use, at most 4 (the gather is memory-bound; more threads than cores only add hand-offs)."""

_SIGNATURE = types.void(
    types.Array(types.uint64, 2, "C", readonly=True),  # token words (T, 4)
    types.Array(types.uint8, 1, "C", readonly=True),  # key types (T,)
    types.intp,  # first token
    types.intp,  # token after the last
    types.Array(types.int64, 1, "C", readonly=True),  # the snapshot's plan (``_plan``)
    types.Array(types.boolean, 2, "C"),  # out (T, F)
)


SEGMENT_BYTES: Final = 0
"""The segment budget of the matcher's snapshots (``MatchSnapshot.build``): none shared. The kernel reaches
each segment through its address in the plan, so a segment costs it one loop step, not numpy's ``take``
call; with every force in a segment of its own, a republish serves the received words as they are and
copies no other force (at 1,000,000 records every force was in one shared 90 MiB segment, which each
republish copied: 2.16x the index bytes at peak)."""

CHUNK_TOKENS: Final = 32
"""Tokens whose (token, force) blocks are located before any is read: enough pairs (32 x 43) for the
prefetches to run PREFETCH_PAIRS ahead across token boundaries, few enough that the scratch stays in L1."""
PREFETCH_PAIRS: Final = 32
"""How many pairs ahead a block is prefetched. Each pair is one cache line read from a table much larger
than the caches (a DRAM miss, ~60-100 ns); issuing the next misses while this one's words are combined
keeps several in flight instead of one (1.1-1.4x over no prefetch on this shared box, 1M records)."""


def _words_at_typing(typingctx: Any, address: Any) -> Any:  # pragma: no cover - compile time
    """The uint64 words at an address (a block's first word): segments go to the kernel as addresses
    in one int64 array, since a list of arrays costs more to pass than a single check's whole work."""
    signature = types.CPointer(types.uint64)(types.int64)  # type: ignore[no-untyped-call]

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return signature, codegen


_words_at: Any = intrinsic(_words_at_typing)


def _prefetch_typing(typingctx: Any, address: Any) -> Any:  # pragma: no cover - compile time
    """A read prefetch of the cache line at an address (LLVM's ``llvm.prefetch``: a hint, never a fault,
    so it changes no answer)."""
    signature = types.void(types.int64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        pointer_type = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [pointer_type, int32, int32, int32])
        function = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, function_type, "llvm.prefetch.p0"
        )
        # read (0), high temporal locality (3), data cache (1)
        builder.call(function, [builder.inttoptr(args[0], pointer_type), int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return signature, codegen


_prefetch: Any = intrinsic(_prefetch_typing)


def _rows_kernel(  # pragma: no cover - compiled; its answers are tested against the numpy check
    words: Any, key_types: Any, start: int, stop: int, plan: Any, out: Any
) -> None:
    """Rows ``start:stop`` of the answer, CHUNK_TOKENS tokens at a time: locate every pair's block (and
    compute each token's masks), then read and combine them in order, prefetching PREFETCH_PAIRS ahead.
    Every integer is cast explicitly: numba turns mixed signed/unsigned 64-bit arithmetic into floats."""
    all_bits = np.uint64(0xFFFFFFFFFFFFFFFF)
    num_levels, num_forces, num_segments = plan[0], plan[1], plan[2]
    at = 3
    levels = plan[at : at + num_levels]
    at += num_levels
    bounds = plan[at : at + num_segments + 1]
    at += num_segments + 1
    columns = plan[at : at + num_forces]
    at += num_forces
    addresses = plan[at : at + num_segments]
    at += num_segments
    rows = plan[at : at + num_segments]
    at += num_segments
    geometry = plan[at:].reshape((-1, num_forces, 3))
    masks = np.empty((CHUNK_TOKENS, num_levels, 8), dtype=np.uint64)
    current = np.empty(8, dtype=np.uint64)
    pair_address = np.empty(CHUNK_TOKENS * num_forces, dtype=np.int64)
    pair_level = np.empty(CHUNK_TOKENS * num_forces, dtype=np.int64)
    pair_held = np.empty(CHUNK_TOKENS * num_forces, dtype=np.bool_)
    readable = plan.ctypes.data  # 64 bytes that exist (the plan is longer), read for an empty segment
    for first in range(start, stop, CHUNK_TOKENS):
        last = min(stop, first + CHUNK_TOKENS)
        pairs = 0
        for t in range(first, last):
            # The token's complemented masks, once per probe level (levels increase: each adds probes).
            current[:] = 0
            probe = 0
            for level in range(num_levels):
                while probe < levels[level]:
                    word = words[t, 1 + probe // 7]
                    bit = (word >> np.uint64(9 * (probe % 7))) & np.uint64(511)
                    current[bit >> np.uint64(6)] |= np.uint64(1) << (bit & np.uint64(63))
                    probe += 1
                for j in range(8):
                    masks[t - first, level, j] = ~current[j]
            high = words[t, 0] >> np.uint64(32)
            kind = np.intp(key_types[t])
            for s in range(num_segments):
                last_row = rows[s] - 1
                for force in range(bounds[s], bounds[s + 1]):
                    num_blocks = geometry[kind, force, 0]
                    offset = np.int64((np.uint64(num_blocks) * high) >> np.uint64(32))
                    row = min(offset + geometry[kind, force, 1], last_row)
                    if row >= 0:
                        pair_address[pairs] = addresses[s] + row * 64
                        pair_held[pairs] = num_blocks != 0
                    else:  # an empty segment: no row to read, no partition to match
                        pair_address[pairs] = readable
                        pair_held[pairs] = False
                    pair_level[pairs] = geometry[kind, force, 2]
                    pairs += 1
        for i in range(min(PREFETCH_PAIRS, pairs)):
            _prefetch(pair_address[i])
        i = 0
        for t in range(first, last):
            for force in range(num_forces):  # segments hold consecutive forces: the order located
                if i + PREFETCH_PAIRS < pairs:
                    _prefetch(pair_address[i + PREFETCH_PAIRS])
                block = carray(_words_at(pair_address[i]), (8,))
                level = pair_level[i]
                acc = all_bits
                for j in range(8):
                    acc &= block[j] | masks[t - first, level, j]
                out[t, columns[force]] = (acc == all_bits) & pair_held[i]
                i += 1


def _compile(function: Callable[..., None]) -> Any:
    """Compile at import with the explicit signature, cached on disk (next to this module, else the user's
    cache folder, or NUMBA_CACHE_DIR): a matcher's start loads it in ~0.2 s instead of compiling for
    ~1-2 s. Where no cache folder is writable (a read-only install run by a user without a home) numba
    refuses to cache; the matcher then compiles at each start rather than fail to start."""
    try:
        return njit(_SIGNATURE, nogil=True, cache=True, boundscheck=False)(function)
    except RuntimeError:
        return njit(_SIGNATURE, nogil=True, boundscheck=False)(function)


_check_rows: Any = _compile(_rows_kernel)


class _Plan:
    """A snapshot's layout as the kernel's one int64 array, and the segments it points into: the plan
    holds them so their memory outlives every kernel call that reads it.

    The array: probe levels L, forces F, segments S; then levels (L), segment bounds (S + 1), output
    columns (F), segment addresses (S), segment rows (S), geometry (KEY_TYPE_SLOTS x F x 3)."""

    __slots__ = ("array", "segments")

    def __init__(self, layout: CheckLayout) -> None:
        self.segments = tuple(np.ascontiguousarray(bits) for bits in layout.segments)
        parts = [
            np.array([len(layout.levels), layout.geometry.shape[1], len(self.segments)], dtype=np.int64),
            layout.levels,
            layout.segment_bounds,
            layout.columns,
            np.array([bits.ctypes.data for bits in self.segments], dtype=np.int64),
            np.array([len(bits) for bits in self.segments], dtype=np.int64),
            layout.geometry.reshape(-1),
        ]
        array = np.concatenate(parts).astype(np.int64, copy=False)
        array.flags.writeable = False
        self.array = array


_plans: weakref.WeakKeyDictionary[CheckLayout, _Plan] = weakref.WeakKeyDictionary()
_plans_lock = threading.Lock()
_pool = concurrent.futures.ThreadPoolExecutor(
    max_workers=max(1, WORKERS - 1), thread_name_prefix="match-kernel"
)
"""Starts no thread until a big check first splits (ThreadPoolExecutor creates its threads on submit)."""


def _plan(layout: CheckLayout) -> _Plan:
    """The layout's plan, built once per snapshot (publish)."""
    found = _plans.get(layout)
    if found is None:
        found = _Plan(layout)
        with _plans_lock:
            _plans[layout] = found
    return found


def check(
    snapshot: MatchSnapshot,
    tokens: Tokens,
    key_types: Sequence[int] | bytes | NDArray[np.uint8],
    *,
    parallel: bool = True,
) -> NDArray[np.bool_]:
    """``snapshot.check(tokens, key_types)``, compiled: (T, F) bool over ``snapshot.orgs``, the same bits.

    Big inputs (at least PARALLEL_MIN_PAIRS pairs) are split by tokens over WORKERS threads, the caller's
    one included, each writing its own rows of the answer (a share no pool thread has started when the
    caller's own is done, the caller does too); ``parallel=False`` keeps it all on the caller's
    thread (benches compare the two)."""
    array = token_array(tokens)
    kinds = np.ascontiguousarray(key_type_array(key_types))
    if len(kinds) != len(array):
        raise ValidationError(f"{len(kinds)} key types for {len(array)} tokens", field="key_types")
    layout = snapshot.layout
    num_tokens, num_forces = len(array), len(snapshot.orgs)
    out = np.zeros((num_tokens, num_forces), dtype=np.bool_)
    if num_tokens == 0 or num_forces == 0:
        return out
    words = array.view(np.uint64)
    plan = _plan(layout)  # held here: the segments the plan's addresses point into stay alive
    parts = WORKERS if parallel and num_tokens * num_forces >= PARALLEL_MIN_PAIRS else 1
    if parts == 1:
        _check_rows(words, kinds, 0, num_tokens, plan.array, out)
        return out
    edges = np.linspace(0, num_tokens, parts + 1).astype(np.intp).tolist()
    helpers = [
        _pool.submit(_check_rows, words, kinds, edges[i], edges[i + 1], plan.array, out)
        for i in range(1, parts)
    ]
    _check_rows(words, kinds, edges[0], edges[1], plan.array, out)
    for i, helper in enumerate(helpers, start=1):
        # A share the pool has not started (its threads busy with another batch's shares) is taken back
        # and done here: waiting would add the other batch's remaining work to this one's.
        if helper.cancel():
            _check_rows(words, kinds, edges[i], edges[i + 1], plan.array, out)
        else:
            helper.result()
    return out


def _warm_up() -> None:
    """Call the kernel once on a one-block dummy at import: the first call of a numba function (its
    argument typing machinery) costs ~13 ms, which belongs to the matcher's start, not to a check."""
    block = np.zeros((1, 8), dtype=np.uint64)
    geometry = np.zeros(KEY_TYPE_SLOTS * 3, dtype=np.int64)
    header = [1, 1, 1, 1, 0, 1, 0, block.ctypes.data, 1]  # L F S, levels, bounds, columns, address, rows
    plan = np.concatenate([np.array(header, dtype=np.int64), geometry])
    plan.flags.writeable = False
    token = np.zeros((1, 4), dtype=np.uint64)
    kinds = np.zeros(1, dtype=np.uint8)
    for array in (token, kinds):
        array.flags.writeable = False
    _check_rows(token, kinds, 0, 1, plan, np.zeros((1, 1), dtype=np.bool_))


_warm_up()
