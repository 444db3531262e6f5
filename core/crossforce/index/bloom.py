"""A blocked Bloom filter whose bits are a documented function of each token alone: one partition of
index format 2 (``crossforce.index.partitioned`` holds one per key type), and the whole of format 1.

Normative text: docs/spec.md, "Index format"; golden vectors: tests/vectors/index.json. Invariants:

* A token is 32 uniformly random-looking bytes (an HMAC-SHA256 output), so its own bytes are the hash
  values: no second hash function, nothing for two implementations to disagree on.
* The filter is ``num_blocks`` blocks of 512 bits (one 64-byte cache line). Bytes 0..7 of the token, read
  as a little-endian uint64 ``h0``, pick the block by fastrange: ``((h0 >> 32) * num_blocks) >> 32``, so
  any block count works and memory stays close to optimal.
* Bytes 8..31 are three little-endian uint64 words; probe ``i`` (``0 <= i < num_probes <= 21``) is bits
  ``[9*(i % 7), 9*(i % 7) + 9)`` of word ``i // 7``: a bit 0..511 inside the block (duplicates allowed).
* Global bit ``g = block * 512 + probe`` lives in byte ``g >> 3`` at bit ``g & 7`` (LSB first), so the bytes
  read as little-endian uint64 words hold it in word ``g >> 6`` at bit ``g & 63``.
* The digest of an index is SHA-256 of exactly those bytes.

Parameter choice and the fill-ratio checks are in ``crossforce.index.params``, re-exported here so
that ``bloom`` is the one import for the format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from crossforce.errors import ValidationError
from crossforce.index.params import (
    BLOCK_BITS,
    BLOCK_BYTES,
    BLOCK_WORDS,
    BUILD_CHUNK_TOKENS,
    BUILD_SCRATCH_BYTES,
    DEFAULT_TARGET_FPR,
    FILL_SIGMAS,
    FPR_TAIL_PAD,
    FPR_TAIL_SIGMAS,
    INDEX_FORMAT_VERSION,
    MASK_CHUNK_TOKENS,
    MAX_BLOCKS,
    MAX_PROBES,
    PROBE_BITS,
    PROBES_PER_WORD,
    SATURATED_LOAD,
    TOKEN_BYTES,
    IndexParams,
    check_declared,
    check_fill,
    choose_params,
    expected_fill,
    fill_ceiling,
    fill_is_consistent,
    fill_stddev,
    implied_fpr,
    theoretical_fpr,
)

__all__ = [
    "BLOCK_BITS",
    "BLOCK_BYTES",
    "BLOCK_WORDS",
    "BUILD_CHUNK_TOKENS",
    "BUILD_SCRATCH_BYTES",
    "DEFAULT_TARGET_FPR",
    "FILL_SIGMAS",
    "FPR_TAIL_PAD",
    "FPR_TAIL_SIGMAS",
    "INDEX_FORMAT_VERSION",
    "MASK_CHUNK_TOKENS",
    "MAX_BLOCKS",
    "MAX_PROBES",
    "PROBES_PER_WORD",
    "PROBE_BITS",
    "SATURATED_LOAD",
    "TOKEN_BYTES",
    "BloomIndex",
    "IndexParams",
    "Tokens",
    "block_indices",
    "check_declared",
    "check_fill",
    "choose_params",
    "expected_fill",
    "fill_ceiling",
    "fill_is_consistent",
    "fill_stddev",
    "implied_fpr",
    "probe_masks",
    "probe_masks_levels",
    "probe_positions",
    "theoretical_fpr",
    "token_array",
]

_WORD = np.dtype("<u8")
_U32 = np.uint64(32)
_PROBE_MASK = np.int64(BLOCK_BITS - 1)
_PROBE_SHIFTS = tuple(PROBE_BITS * s for s in range(PROBES_PER_WORD))

Tokens = Sequence[bytes] | bytes | NDArray[np.uint8]
"""Tokens as a list of 32-byte strings, one concatenated byte string, or an (n, 32) uint8 array."""


# --- token geometry ----------------------------------------------------------------------------------


def token_array(tokens: Tokens) -> NDArray[np.uint8]:
    """Validate tokens and return them as a C-contiguous (n, 32) uint8 array (no copy for a good array)."""
    if isinstance(tokens, np.ndarray):
        if tokens.dtype != np.uint8 or tokens.ndim != 2 or tokens.shape[1] != TOKEN_BYTES:
            raise ValidationError(f"token array must be (n, {TOKEN_BYTES}) uint8", field="tokens")
        return np.ascontiguousarray(tokens)
    if isinstance(tokens, bytes | bytearray | memoryview):
        data = bytes(tokens)
        if len(data) % TOKEN_BYTES:
            raise ValidationError(f"length must be a multiple of {TOKEN_BYTES}", field="tokens")
    else:
        try:
            data = b"".join(tokens)
        except TypeError as exc:
            raise ValidationError("tokens must be bytes", field="tokens") from exc
        # Every length >= 32 and the total exactly 32 * n means every length is 32 (one pass in C).
        if tokens and (len(data) != TOKEN_BYTES * len(tokens) or min(map(len, tokens)) != TOKEN_BYTES):
            position = next(i for i, token in enumerate(tokens) if len(token) != TOKEN_BYTES)
            raise ValidationError(f"token {position} is not {TOKEN_BYTES} bytes", field="tokens")
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, TOKEN_BYTES)


def _token_words(tokens: NDArray[np.uint8]) -> NDArray[np.uint64]:
    return tokens.view(_WORD)


def block_indices(tokens: NDArray[np.uint8], num_blocks: int) -> NDArray[np.int64]:
    """Block of each token: fastrange ``((h0 >> 32) * num_blocks) >> 32``, h0 = LE uint64 of bytes 0..7."""
    if not 1 <= num_blocks <= MAX_BLOCKS:
        raise ValidationError(f"must be in 1..{MAX_BLOCKS}", field="num_blocks")
    high = _token_words(tokens)[:, 0] >> _U32
    return ((high * np.uint64(num_blocks)) >> _U32).view(np.int64)


def probe_positions(tokens: NDArray[np.uint8], num_probes: int) -> NDArray[np.int64]:
    """(n, num_probes) in-block bit positions 0..511: probe i = bits 9*(i%7).. of LE word i//7 of bytes 8..31.

    Signed int64 shifts are safe: sign extension only reaches bits above the 9 that are kept.
    """
    if not 1 <= num_probes <= MAX_PROBES:
        raise ValidationError(f"must be in 1..{MAX_PROBES}", field="num_probes")
    words = _token_words(tokens)[:, 1:4].view(np.int64)
    shifts = np.array(_PROBE_SHIFTS, dtype=np.int64)
    probes = (words[:, :, None] >> shifts) & _PROBE_MASK
    return probes.reshape(len(tokens), MAX_PROBES)[:, :num_probes]


def probe_masks_levels(tokens: NDArray[np.uint8], levels: Sequence[int]) -> NDArray[np.uint64]:
    """(n, len(levels), 8) in-block masks of the first ``level`` probes, for each level, in one pass.

    Sets one scratch byte per probe bit (stores are idempotent, so duplicate probes need no care), packs
    the bytes LSB-first at each level, which gives the 8 little-endian words of the block directly.
    """
    if not levels or any(not 1 <= k <= MAX_PROBES for k in levels) or list(levels) != sorted(set(levels)):
        raise ValidationError(f"levels must be increasing, in 1..{MAX_PROBES}", field="num_probes")
    n = len(tokens)
    out = np.empty((n, len(levels), BLOCK_WORDS), dtype=_WORD)
    chunk = min(n, MASK_CHUNK_TOKENS)
    scratch = np.zeros((chunk, BLOCK_BITS), dtype=np.uint8)
    for start in range(0, n, MASK_CHUNK_TOKENS):
        part = tokens[start : start + chunk]
        rows = len(part)
        view = scratch[:rows]
        view.fill(0)
        probes = probe_positions(part, levels[-1])
        row_index = np.arange(rows)[:, None]
        done = 0
        for slot, k in enumerate(levels):
            view[row_index, probes[:, done:k]] = 1
            done = k
            packed = np.packbits(view, axis=1, bitorder="little")
            out[start : start + rows, slot, :] = packed.view(_WORD)
    return out


def probe_masks(tokens: NDArray[np.uint8], num_probes: int) -> NDArray[np.uint64]:
    """(n, 8) uint64 in-block masks: word j bit b set iff some probe equals 64*j + b. Force-independent."""
    return probe_masks_levels(tokens, (num_probes,))[:, 0, :]


_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(words: NDArray[np.uint64]) -> int:
    """Set bits, in chunks so the temporaries stay small; np.bitwise_count needs numpy >= 2."""
    total = 0
    step = 1 << 20
    for start in range(0, len(words), step):
        part = words[start : start + step]
        if hasattr(np, "bitwise_count"):
            total += int(np.bitwise_count(part).sum(dtype=np.int64))
        else:  # pragma: no cover - numpy 1.26
            total += int(_BYTE_POPCOUNT[part.view(np.uint8)].sum(dtype=np.int64))
    return total


# --- the filter --------------------------------------------------------------------------------------


class BloomIndex:
    """One force's filter: parameters plus read-only little-endian uint64 words (num_blocks * 8)."""

    __slots__ = ("params", "words")

    params: IndexParams
    words: NDArray[np.uint64]

    def __init__(self, *, params: IndexParams, words: NDArray[np.uint64]) -> None:
        if words.dtype != _WORD or words.ndim != 1 or len(words) != params.num_blocks * BLOCK_WORDS:
            raise ValidationError(f"must be {params.num_blocks * BLOCK_WORDS} LE uint64 words", field="words")
        view = np.ascontiguousarray(words).view()
        view.flags.writeable = False
        self.params = params
        self.words = view

    @classmethod
    def build(cls, tokens: Tokens, params: IndexParams) -> BloomIndex:
        """Insert every token. Memory is bounded by BUILD_SCRATCH_BYTES and BUILD_CHUNK_TOKENS, whatever n."""
        array = token_array(tokens)
        num_blocks = params.num_blocks
        band_blocks = max(1, BUILD_SCRATCH_BYTES // BLOCK_BITS)
        words = np.empty(num_blocks * BLOCK_WORDS, dtype=_WORD)
        scratch = np.empty(min(num_blocks, band_blocks) * BLOCK_BITS, dtype=np.uint8)
        for band_start in range(0, num_blocks, band_blocks):
            band_end = min(num_blocks, band_start + band_blocks)
            bits = scratch[: (band_end - band_start) * BLOCK_BITS]
            bits.fill(0)
            for start in range(0, len(array), BUILD_CHUNK_TOKENS):
                chunk = array[start : start + BUILD_CHUNK_TOKENS]
                blocks = block_indices(chunk, num_blocks)
                if band_start > 0 or band_end < num_blocks:
                    keep = (blocks >= band_start) & (blocks < band_end)
                    chunk, blocks = chunk[keep], blocks[keep]
                base = (blocks - band_start) * BLOCK_BITS
                probe_words = _token_words(chunk)[:, 1:4].view(np.int64)
                for i in range(params.num_probes):
                    word = probe_words[:, i // PROBES_PER_WORD]
                    bits[base + ((word >> _PROBE_SHIFTS[i % PROBES_PER_WORD]) & _PROBE_MASK)] = 1
            packed = np.packbits(bits, bitorder="little").view(_WORD)
            words[band_start * BLOCK_WORDS : band_end * BLOCK_WORDS] = packed
        return cls(params=params, words=words)

    @classmethod
    def from_bytes(cls, params: IndexParams, data: bytes) -> BloomIndex:
        """Wrap published bytes (zero-copy for ``bytes``); the length must match the parameters exactly."""
        if len(data) != params.size_bytes:
            raise ValidationError(f"is {len(data)} bytes, parameters need {params.size_bytes}", field="index")
        if not isinstance(data, bytes):
            data = bytes(data)
        return cls(params=params, words=np.frombuffer(data, dtype=_WORD))

    def to_bytes(self) -> bytes:
        return self.words.tobytes()

    def contains(self, tokens: Tokens) -> NDArray[np.bool_]:
        """Membership for each token (false positives at theoretical_fpr, never false negatives)."""
        array = token_array(tokens)
        out = np.empty(len(array), dtype=np.bool_)
        table = self.words.reshape(-1, BLOCK_WORDS)
        for start in range(0, len(array), BUILD_CHUNK_TOKENS):
            chunk = array[start : start + BUILD_CHUNK_TOKENS]
            masks = probe_masks(chunk, self.params.num_probes)
            found = table[block_indices(chunk, self.params.num_blocks)]
            out[start : start + len(chunk)] = ((found & masks) == masks).all(axis=1)
        return out

    def fill_ratio(self) -> float:
        """Fraction of bits set: compared with expected_fill to catch saturated filters."""
        return _popcount(self.words) / self.params.size_bits

    def sha256(self) -> bytes:
        """SHA-256 of the serialised bytes: the digest the signed header commits to."""
        return hashlib.sha256(self.words.data.cast("B")).digest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BloomIndex):
            return NotImplemented
        return self.params == other.params and bool(np.array_equal(self.words, other.words))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BloomIndex(num_blocks={self.params.num_blocks}, num_probes={self.params.num_probes})"
