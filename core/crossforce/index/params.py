"""Index parameters: a filter's geometry, its false-positive rate, and the fill-ratio checks.

Normative text: docs/spec.md, "Index format". Here because the client uses these functions to size its
filter and the matcher uses the same ones to refuse a saturated or mis-sized filter (docs/threat-model.md:
a force publishes an all-ones filter to hit on everyone).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray

from crossforce.errors import TooLargeError, ValidationError
from crossforce.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from crossforce.index.bloom import BloomIndex

INDEX_FORMAT_VERSION: Final = 2
"""Format 2: a partition per key type (``crossforce.index.partitioned``); format 1 was one filter."""
FORMAT_1: Final = 1
"""The spec v1 format, refused since spec v2: its single filter let a token match under any label."""
BLOCK_BITS: Final = 512
BLOCK_BYTES: Final = BLOCK_BITS // 8
BLOCK_WORDS: Final = BLOCK_BITS // 64
TOKEN_BYTES: Final = 32
PROBE_BITS: Final = 9
"""log2(BLOCK_BITS): one probe addresses one bit of a block."""
PROBES_PER_WORD: Final = 64 // PROBE_BITS
MAX_PROBES: Final = 3 * PROBES_PER_WORD
"""Three 64-bit words (token bytes 8..31) of seven 9-bit probes each."""
MAX_BLOCKS: Final = 2**32 - 1
"""fastrange over the top 32 bits of h0 needs num_blocks < 2**32."""

DEFAULT_TARGET_FPR: Final = 1e-8
"""Per-token false-positive rate each partition of a force's index is sized for.

A query carries up to ~32 tokens (key types x declared names) and is checked against 43 filters: about
1,400 token-filter tests, so at 1e-8 the expected number of false hits is ~1.4e-5 per query, one in about
70,000 queries: "well under one in 10,000" (docs/architecture.md, "Scale") with a 7x margin for larger
queries.
"""

FPR_TAIL_SIGMAS: Final = 14.0
FPR_TAIL_PAD: Final = 50.0
"""theoretical_fpr sums block loads i in [lambda - W, lambda + W], W = 14*sqrt(lambda) + 50; the Poisson mass
left out is below exp(-75) < 1e-32 (Chernoff), an absolute error no decision here can see."""
SATURATED_LOAD: Final = 65536.0
"""At >= 65536 tokens per block every bit is set to double precision: the FPR is 1.0, no sum needed."""

FILL_SIGMAS: Final = 6.0
"""Honest filters exceed their expected fill by this many (upper-bound) standard deviations essentially
never; it only matters for tiny filters, where Limits.fill_ratio_slack alone would be too tight."""

BUILD_SCRATCH_BYTES: Final = 256 * 1024 * 1024
"""Build writes one byte per filter bit (idempotent stores: no lost updates, no sort), then packs the
bytes to bits. Filters larger than this scratch / 8 are built in bands of blocks."""
BUILD_CHUNK_TOKENS: Final = 1 << 20
MASK_CHUNK_TOKENS: Final = 1 << 14
"""probe_masks packs a (chunk, 512) byte scratch, 8 MiB at most (L3-resident), reused across chunks."""

_LOG_Q = math.log1p(-1.0 / BLOCK_BITS)
"""log(1 - 1/512): the chance one probe misses a given bit, in log space."""


@dataclass(frozen=True)
class IndexParams:
    """The geometry of one filter; travels in the signed index header."""

    num_blocks: int
    num_probes: int

    def __post_init__(self) -> None:
        for name in ("num_blocks", "num_probes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValidationError("must be an integer", field=name)
        if not 1 <= self.num_blocks <= MAX_BLOCKS:
            raise ValidationError(f"must be in 1..{MAX_BLOCKS}", field="num_blocks")
        if not 1 <= self.num_probes <= MAX_PROBES:
            raise ValidationError(f"must be in 1..{MAX_PROBES}", field="num_probes")

    @property
    def size_bytes(self) -> int:
        return self.num_blocks * BLOCK_BYTES

    @property
    def size_bits(self) -> int:
        return self.num_blocks * BLOCK_BITS


# --- parameters --------------------------------------------------------------------------------------


def _check_count(token_count: int) -> None:
    if not isinstance(token_count, int) or isinstance(token_count, bool) or token_count < 0:
        raise ValidationError("must be a non-negative integer", field="token_count")


def _fpr_all_probes(load: float) -> NDArray[np.float64]:
    """FPR for every probe count 1..21 at ``load`` tokens per block (see theoretical_fpr)."""
    ks = np.arange(1, MAX_PROBES + 1, dtype=np.float64)
    if load <= 0.0:
        return np.zeros(MAX_PROBES)
    if load >= SATURATED_LOAD:
        return np.ones(MAX_PROBES)
    width = FPR_TAIL_SIGMAS * math.sqrt(load) + FPR_TAIL_PAD
    lo = max(1, math.floor(load - width))
    hi = math.ceil(load + width)
    i = np.arange(lo, hi + 1, dtype=np.float64)
    # log Poisson(i; load), by a running sum from lgamma at the window start (numpy has no lgamma).
    steps = math.log(load) - np.log(i[1:])
    log_pmf = np.empty_like(i)
    log_pmf[0] = lo * math.log(load) - load - math.lgamma(lo + 1)
    log_pmf[1:] = log_pmf[0] + np.cumsum(steps)
    # Fraction of a block's bits set by i tokens of k probes: 1 - q**(i*k) = -expm1(i*k*log q).
    log_set = np.log(-np.expm1(np.outer(ks, i) * _LOG_Q))
    terms = np.exp(log_pmf[None, :] + ks[:, None] * log_set)
    fpr: NDArray[np.float64] = terms.sum(axis=1)
    return np.minimum(fpr, 1.0)


def theoretical_fpr(params: IndexParams, token_count: int) -> float:
    """Per-token false-positive rate of a filter holding ``token_count`` distinct random tokens.

    The standard blocked-Bloom model (Putze, Sanders, Singler 2007): a block's load is Poisson with mean
    lambda = n / num_blocks, and a block of load i answers a random absent token yes with probability
    (1 - (1 - 1/512)**(i*k))**k. FPR = sum_i Poisson(i; lambda) * (1 - (1 - 1/512)**(i*k))**k, summed in
    log space over a window that leaves out < 1e-32 of the Poisson mass (FPR_TAIL_SIGMAS).
    """
    _check_count(token_count)
    return float(_fpr_all_probes(token_count / params.num_blocks)[params.num_probes - 1])


def _best_probes(num_blocks: int, token_count: int) -> tuple[int, float]:
    fprs = _fpr_all_probes(token_count / num_blocks)
    k = int(np.argmin(fprs))  # first minimum: ties go to fewer probes
    return k + 1, float(fprs[k])


def choose_params(token_count: int, target_fpr: float = DEFAULT_TARGET_FPR) -> IndexParams:
    """The smallest filter whose theoretical FPR, at its best probe count, is at most ``target_fpr``.

    Deterministic: a bracket around a first guess (the blocks per token of a large filter at this target,
    times the count), widened geometrically, then a binary search over num_blocks (the best FPR falls as
    blocks are added), then the probe count 1..21 with the lowest FPR, ties to fewer probes. The guess
    only saves evaluations (format 2 chooses once per key type): the answer is the smallest count that
    meets the target whatever the guess. Advisory: the chosen parameters travel in the header, so other
    implementations need not reproduce this search.
    """
    _check_count(token_count)
    if not isinstance(target_fpr, float | int) or not 0.0 < target_fpr < 1.0:
        raise ValidationError("must be in (0, 1)", field="target_fpr")
    if token_count == 0:
        return IndexParams(num_blocks=1, num_probes=1)
    guess = max(1, min(MAX_BLOCKS, round(token_count * _blocks_per_token(float(target_fpr)))))
    lo, hi = _bracket(token_count, float(target_fpr), guess)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _best_probes(mid, token_count)[1] <= target_fpr:
            hi = mid
        else:
            lo = mid
    return IndexParams(num_blocks=hi, num_probes=_best_probes(hi, token_count)[0])


def _bracket(token_count: int, target_fpr: float, guess: int) -> tuple[int, int]:
    """(lo, hi) with hi meeting the target and lo not (0 blocks never does), widened from ``guess``."""
    step = max(1, guess // 64)
    if _best_probes(guess, token_count)[1] <= target_fpr:
        hi = guess
        while hi > 1 and _best_probes(max(1, hi - step), token_count)[1] <= target_fpr:
            hi, step = max(1, hi - step), step * 2
        return (max(0, hi - step) if hi > 1 else 0), hi
    lo = guess
    while True:
        hi = lo + step
        if hi > MAX_BLOCKS:
            if lo >= MAX_BLOCKS or _best_probes(MAX_BLOCKS, token_count)[1] > target_fpr:
                raise TooLargeError("token count needs more than 2**32 blocks at this FPR")
            return lo, MAX_BLOCKS
        if _best_probes(hi, token_count)[1] <= target_fpr:
            return lo, hi
        lo, step = hi, step * 2


@functools.lru_cache(maxsize=64)
def _blocks_per_token(target_fpr: float) -> float:
    """Blocks per token of the smallest filter for 2**16 tokens at ``target_fpr``: the first guess."""
    count = 1 << 16
    lo, hi = 0, 1
    while _best_probes(hi, count)[1] > target_fpr:
        lo, hi = hi, hi * 2
        if lo > MAX_BLOCKS:
            raise TooLargeError("token count needs more than 2**32 blocks at this FPR")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _best_probes(mid, count)[1] <= target_fpr else (mid, hi)
    return hi / count


def _block_pgf(params: IndexParams, token_count: int, s: float) -> float:
    """E[s**X] for one block's load X ~ Binomial(n, 1/num_blocks): (1 - (1 - s)/num_blocks)**n."""
    return math.exp(token_count * math.log1p((s - 1.0) / params.num_blocks))


def expected_fill(params: IndexParams, token_count: int) -> float:
    """Expected fraction of bits set by ``token_count`` distinct random tokens (exact, no Poisson step).

    A bit of a block with load X stays clear with probability q**(k*X), q = 1 - 1/512, and X is
    Binomial(n, 1/num_blocks), whose generating function gives E[q**(k*X)] = (1 - (1 - q**k)/B)**n.
    So fill = 1 - (1 - (1 - q**k)/B)**n, computed as -expm1(n * log1p(expm1(k*log q) / B)); for large B it
    tends to the Poisson form 1 - exp(lambda * (q**k - 1)).
    """
    _check_count(token_count)
    return -math.expm1(token_count * math.log1p(math.expm1(params.num_probes * _LOG_Q) / params.num_blocks))


def fill_stddev(params: IndexParams, token_count: int) -> float:
    """An upper bound on the standard deviation of the fill ratio around expected_fill.

    With a = q**(k*X) for a block of load X: Var(block fill) = Var(a) + E[Var | X] <= Var(a) + E[a(1-a)]/512
    (occupancy variance is below binomial). Block loads are negatively associated, so the fill ratio
    (the mean over blocks) has variance at most Var(block fill) / num_blocks.
    """
    _check_count(token_count)
    qk = math.exp(params.num_probes * _LOG_Q)
    e_a = _block_pgf(params, token_count, qk)
    e_a2 = _block_pgf(params, token_count, qk * qk)
    var_block = max(0.0, e_a2 - e_a * e_a) + max(0.0, e_a - e_a2) / BLOCK_BITS
    return math.sqrt(var_block / params.num_blocks)


def fill_ceiling(params: IndexParams, token_count: int, slack: float) -> float:
    """Highest fill ratio an honest filter of ``token_count`` tokens can show: expected + slack + 6 sigma."""
    return min(
        1.0, expected_fill(params, token_count) + slack + FILL_SIGMAS * fill_stddev(params, token_count)
    )


def fill_is_consistent(params: IndexParams, token_count: int, fill: float, *, slack: float) -> bool:
    """False when ``fill`` is more than an honest filter with ``token_count`` tokens could show."""
    return fill <= fill_ceiling(params, token_count, slack)


def check_declared(params: IndexParams, token_count: int, *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a published header's parameters before any bits are read.

    Probe count within limits, size within max_index_bytes, and the theoretical FPR at the declared
    count within max_filter_fpr, so a force cannot publish a filter too small for what it holds.
    """
    _check_count(token_count)
    if not limits.min_probes <= params.num_probes <= limits.max_probes:
        raise ValidationError(f"must be in {limits.min_probes}..{limits.max_probes}", field="num_probes")
    if params.size_bytes > limits.max_index_bytes:
        raise TooLargeError(f"index of {params.size_bytes} bytes exceeds {limits.max_index_bytes}")
    fpr = theoretical_fpr(params, token_count)
    if fpr > limits.max_filter_fpr:
        raise ValidationError(
            f"theoretical FPR {fpr:.3g} at the declared count exceeds {limits.max_filter_fpr:.3g}",
            field="params",
        )


def implied_fpr(params: IndexParams, fill: float) -> float:
    """The theoretical FPR of a filter whose fill ratio is ``fill``, whatever count was declared.

    Inverts expected_fill for the token count n that explains the fill (n = log(1 - fill) /
    log1p(expm1(k*log q) / B)) and evaluates theoretical_fpr's sum at that load. A full filter gives 1.0.
    """
    if not 0.0 <= fill <= 1.0:
        raise ValidationError("must be in [0, 1]", field="fill")
    if fill >= 1.0:
        return 1.0
    per_token = math.log1p(math.expm1(params.num_probes * _LOG_Q) / params.num_blocks)
    count = math.log1p(-fill) / per_token
    return float(_fpr_all_probes(count / params.num_blocks)[params.num_probes - 1])


def check_fill(index: BloomIndex, token_count: int, *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a filter with more bits set than ``token_count`` tokens could set (saturated, under-declared),
    or whose fill alone implies an FPR above max_filter_fpr (so the bound holds whatever was declared)."""
    fill = index.fill_ratio()
    ceiling = fill_ceiling(index.params, token_count, limits.fill_ratio_slack)
    if fill > ceiling:
        raise ValidationError(
            f"fill ratio {fill:.4f} exceeds {ceiling:.4f}, the most {token_count} tokens can set",
            field="index",
        )
    fpr = implied_fpr(index.params, fill)
    if fpr > limits.max_filter_fpr:
        raise ValidationError(
            f"fill ratio {fill:.4f} implies an FPR of {fpr:.3g}, above {limits.max_filter_fpr:.3g}",
            field="index",
        )
