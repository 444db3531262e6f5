"""The index format: no false negatives, exact round trips, parameter choice and the fill-ratio defence."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.errors import TooLargeError, ValidationError
from crossforce.index import bloom as index
from crossforce.index.bloom import BloomIndex, IndexParams
from crossforce.limits import Limits

token_st = st.binary(min_size=32, max_size=32)
params_st = st.builds(
    IndexParams, num_blocks=st.integers(1, 3000), num_probes=st.integers(1, index.MAX_PROBES)
)


def random_tokens(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


# --- parameters and tokens -----------------------------------------------------------------------------

BAD_PARAMS = {
    "zero blocks": {"num_blocks": 0, "num_probes": 7},
    "negative blocks": {"num_blocks": -1, "num_probes": 7},
    "2**32 blocks (fastrange overflow)": {"num_blocks": 2**32, "num_probes": 7},
    "zero probes": {"num_blocks": 1, "num_probes": 0},
    "22 probes (beyond token bytes)": {"num_blocks": 1, "num_probes": 22},
    "bool blocks": {"num_blocks": True, "num_probes": 7},
    "float probes": {"num_blocks": 1, "num_probes": 7.0},
}


@pytest.mark.parametrize("kwargs", BAD_PARAMS.values(), ids=BAD_PARAMS.keys())
def test_bad_params_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        IndexParams(**kwargs)  # type: ignore[arg-type]


def test_params_sizes() -> None:
    params = IndexParams(num_blocks=3, num_probes=7)
    assert (params.size_bytes, params.size_bits) == (192, 1536)
    IndexParams(num_blocks=index.MAX_BLOCKS, num_probes=index.MAX_PROBES)  # the extremes are legal


BAD_TOKENS = {
    "31-byte string": b"x" * 31,
    "65 bytes concatenated": b"x" * 65,
    "one short token in a list": [b"x" * 32, b"y" * 31],
    "one long token in a list": [b"x" * 33, b"y" * 31],
    "str tokens": ["x" * 32],
    "int8 array": np.zeros((2, 32), dtype=np.int8),
    "wrong width array": np.zeros((2, 16), dtype=np.uint8),
    "flat array": np.zeros(64, dtype=np.uint8),
}


@pytest.mark.parametrize("tokens", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_malformed_tokens_refused(tokens: object) -> None:
    with pytest.raises(ValidationError):
        index.token_array(tokens)  # type: ignore[arg-type]


def test_token_inputs_agree() -> None:
    tokens = [os.urandom(32) for _ in range(5)]
    as_list = index.token_array(tokens)
    assert as_list.shape == (5, 32)
    assert np.array_equal(as_list, index.token_array(b"".join(tokens)))
    assert np.array_equal(as_list, index.token_array(np.array(as_list)))
    assert index.token_array([]).shape == (0, 32)


def test_probe_masks_levels_are_prefixes() -> None:
    tokens = random_tokens(100)
    levels = index.probe_masks_levels(tokens, (3, 9, 21))
    for slot, k in enumerate((3, 9, 21)):
        assert np.array_equal(levels[:, slot, :], index.probe_masks(tokens, k))
    for bad in ((), (9, 3), (3, 3), (0,), (22,)):
        with pytest.raises(ValidationError):
            index.probe_masks_levels(tokens, bad)


def test_probe_masks_span_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = random_tokens(1000)
    expected = index.probe_masks(tokens, 20)
    monkeypatch.setattr(index, "MASK_CHUNK_TOKENS", 7)
    assert np.array_equal(index.probe_masks(tokens, 20), expected)


# --- building and serialising -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(tokens=st.lists(token_st, max_size=200), params=params_st)
def test_inserted_tokens_are_always_found(tokens: list[bytes], params: IndexParams) -> None:
    built = BloomIndex.build(tokens, params)
    assert built.contains(tokens).all()


@settings(max_examples=60, deadline=None)
@given(tokens=st.lists(token_st, max_size=100), params=params_st)
def test_bytes_round_trip(tokens: list[bytes], params: IndexParams) -> None:
    built = BloomIndex.build(tokens, params)
    data = built.to_bytes()
    assert len(data) == params.size_bytes
    again = BloomIndex.from_bytes(params, data)
    assert again == built
    assert again.to_bytes() == data
    assert again.sha256() == built.sha256()


@settings(max_examples=40, deadline=None)
@given(tokens=st.lists(token_st, min_size=1, max_size=60), params=params_st, data=st.data())
def test_build_is_a_set_function(tokens: list[bytes], params: IndexParams, data: st.DataObject) -> None:
    """Order and repetition do not change a single bit (no lost updates, nothing order-dependent)."""
    shuffled = data.draw(st.permutations(tokens))
    repeated = shuffled + data.draw(st.lists(st.sampled_from(tokens), max_size=20))
    assert BloomIndex.build(repeated, params) == BloomIndex.build(tokens, params)


def test_banded_chunked_build_matches_single_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = random_tokens(5000, seed=1)
    params = IndexParams(num_blocks=997, num_probes=13)
    expected = BloomIndex.build(tokens, params)
    monkeypatch.setattr(index, "BUILD_SCRATCH_BYTES", 100 * index.BLOCK_BITS)  # 10 bands
    monkeypatch.setattr(index, "BUILD_CHUNK_TOKENS", 333)
    assert BloomIndex.build(tokens, params) == expected
    assert BloomIndex.build(tokens, params).contains(tokens).all()


def test_from_bytes_wrong_length_refused() -> None:
    params = IndexParams(num_blocks=2, num_probes=3)
    for data in (b"", bytes(127), bytes(129)):
        with pytest.raises(ValidationError):
            BloomIndex.from_bytes(params, data)


def test_from_bytearray_is_copied_and_words_are_read_only() -> None:
    params = IndexParams(num_blocks=1, num_probes=3)
    buffer = bytearray(64)
    loaded = BloomIndex.from_bytes(params, buffer)  # type: ignore[arg-type]
    buffer[0] = 0xFF
    assert loaded.to_bytes() == bytes(64)
    with pytest.raises(ValueError):
        loaded.words[0] = 1


def test_words_shape_checked() -> None:
    params = IndexParams(num_blocks=2, num_probes=3)
    with pytest.raises(ValidationError):
        BloomIndex(params=params, words=np.zeros(15, dtype=np.uint64))
    with pytest.raises(ValidationError):
        BloomIndex(params=params, words=np.zeros(16, dtype=np.int64))


def test_serialised_bit_order() -> None:
    """Global bit g sits in byte g >> 3 at bit g & 7, i.e. word g >> 6 at bit g & 63 (little-endian)."""
    token = bytes(8) + (5 | (70 << 9)).to_bytes(8, "little") + bytes(16)  # block 0, probes 5 and 70
    built = BloomIndex.build([token], IndexParams(num_blocks=1, num_probes=2))
    data = built.to_bytes()
    assert data[0] == 1 << 5 and data[70 >> 3] == 1 << (70 & 7)
    assert sum(bin(b).count("1") for b in data) == 2
    assert int(built.words[1]) == 1 << (70 - 64)


def test_measured_fpr_matches_theory() -> None:
    n = 20_000
    params = index.choose_params(n, 0.01)
    built = BloomIndex.build(random_tokens(n, seed=2), params)
    rate = float(built.contains(random_tokens(200_000, seed=3)).mean())
    assert rate == pytest.approx(index.theoretical_fpr(params, n), rel=0.15)


def test_fill_ratio_matches_expected_fill() -> None:
    n = 200_000
    params = index.choose_params(n)
    built = BloomIndex.build(random_tokens(n, seed=4), params)
    expected = index.expected_fill(params, n)
    assert abs(built.fill_ratio() - expected) < 4 * index.fill_stddev(params, n)


# --- parameter choice ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 100, 5000, 250_000])
@pytest.mark.parametrize("target", [1e-2, 1e-5, index.DEFAULT_TARGET_FPR])
def test_choose_params_is_smallest_meeting_target(n: int, target: float) -> None:
    params = index.choose_params(n, target)
    assert index.theoretical_fpr(params, n) <= target
    fprs = [
        index.theoretical_fpr(IndexParams(num_blocks=params.num_blocks, num_probes=k), n)
        for k in range(1, 22)
    ]
    assert params.num_probes == 1 + fprs.index(min(fprs))
    if params.num_blocks > 1:
        smaller = params.num_blocks - 1
        assert all(
            index.theoretical_fpr(IndexParams(num_blocks=smaller, num_probes=k), n) > target
            for k in range(1, 22)
        )


def test_default_target_gives_well_under_one_false_hit_in_10000_queries() -> None:
    tests_per_query = 43 * 32
    assert index.DEFAULT_TARGET_FPR * tests_per_query * 10_000 < 0.25


def test_choose_params_bad_input() -> None:
    for count in (-1, 1.5, True):
        with pytest.raises(ValidationError):
            index.choose_params(count)  # type: ignore[arg-type]
    for target in (0.0, 1.0, -0.1, math.nan):
        with pytest.raises(ValidationError):
            index.choose_params(10, target)
    with pytest.raises(TooLargeError):
        index.choose_params(10**15, 1e-12)
    assert index.choose_params(0) == IndexParams(num_blocks=1, num_probes=1)


def test_theoretical_fpr_limits() -> None:
    params = IndexParams(num_blocks=10, num_probes=7)
    assert index.theoretical_fpr(params, 0) == 0.0
    assert index.theoretical_fpr(params, 10**9) == 1.0  # saturated: no sum needed
    rates = [index.theoretical_fpr(params, n) for n in (10, 100, 1000, 10_000)]
    assert rates == sorted(rates) and 0 < rates[0] < rates[-1] <= 1


# --- refusing saturated and mis-sized filters (docs/threat-model.md: hit on everyone) -----------------

LIMITS = Limits()


def test_saturated_all_ones_filter_refused() -> None:
    params = index.choose_params(1000)
    saturated = BloomIndex.from_bytes(params, b"\xff" * params.size_bytes)
    assert saturated.fill_ratio() == 1.0
    with pytest.raises(ValidationError, match="fill ratio"):
        index.check_fill(saturated, 1000, limits=LIMITS)
    assert index.implied_fpr(params, 1.0) == 1.0


def test_filter_with_far_more_tokens_than_declared_refused() -> None:
    params = index.choose_params(10_000)
    stuffed = BloomIndex.build(random_tokens(30_000, seed=5), params)
    with pytest.raises(ValidationError, match="fill ratio"):
        index.check_fill(stuffed, 10_000, limits=LIMITS)


def test_under_declared_count_caught_by_implied_fpr_even_with_loose_slack() -> None:
    """Even if the slack let the fill through, the fill alone implies an FPR over the ceiling."""
    params = index.choose_params(10_000)
    stuffed = BloomIndex.build(random_tokens(60_000, seed=6), params)
    loose = Limits(fill_ratio_slack=0.9)
    with pytest.raises(ValidationError, match="implies an FPR"):
        index.check_fill(stuffed, 10_000, limits=loose)


@pytest.mark.parametrize("n", [1, 3, 40, 1000, 100_000])
def test_honest_filters_pass_the_fill_check(n: int) -> None:
    params = index.choose_params(n)
    for seed in range(5):
        honest = BloomIndex.build(random_tokens(n, seed=seed), params)
        index.check_fill(honest, n, limits=LIMITS)
        assert index.fill_is_consistent(params, n, honest.fill_ratio(), slack=LIMITS.fill_ratio_slack)


def test_honest_filter_implied_fpr_near_theory() -> None:
    n = 100_000
    params = index.choose_params(n)
    honest = BloomIndex.build(random_tokens(n, seed=7), params)
    assert index.implied_fpr(params, honest.fill_ratio()) == pytest.approx(index.DEFAULT_TARGET_FPR, rel=0.2)


def test_check_declared() -> None:
    index.check_declared(index.choose_params(5000), 5000, limits=LIMITS)
    with pytest.raises(ValidationError, match="theoretical FPR"):
        index.check_declared(IndexParams(num_blocks=10, num_probes=7), 5000, limits=LIMITS)
    with pytest.raises(ValidationError):
        index.check_declared(IndexParams(num_blocks=10**6, num_probes=21), 10, limits=Limits(max_probes=20))
    with pytest.raises(TooLargeError):
        index.check_declared(
            IndexParams(num_blocks=10**6, num_probes=20), 10, limits=Limits(max_index_bytes=10**6)
        )
