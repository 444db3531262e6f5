"""crossforce.index.bloom and .partitioned against the golden vectors in tests/vectors/index.json.

The vectors come from a scalar transcription of the spec in scripts/make_index_vectors.py that does not
import crossforce.index.bloom; the last test checks the file is exactly what that script writes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossforce.index import bloom as index
from crossforce.index.partitioned import PartitionedIndex

ROOT = Path(__file__).resolve().parents[2]
VECTORS: dict[str, Any] = json.loads((ROOT / "tests" / "vectors" / "index.json").read_text(encoding="utf-8"))
TOKENS = [hashlib.sha256(f"token-{i}".encode()).digest() for i in range(300)]
ABSENT = [bytes.fromhex(t) for t in VECTORS["absent"]]
REL = VECTORS["float_rel_tolerance"]


def test_format_constants() -> None:
    assert VECTORS["format_version"] == index.INDEX_FORMAT_VERSION
    assert VECTORS["block_bits"] == index.BLOCK_BITS


@pytest.mark.parametrize("case", VECTORS["geometry"], ids=lambda c: f"{c['num_blocks']}x{c['num_probes']}")
def test_block_and_probe_positions(case: dict[str, Any]) -> None:
    tokens = index.token_array([bytes.fromhex(t["token"]) for t in case["tokens"]])
    blocks = index.block_indices(tokens, case["num_blocks"])
    probes = index.probe_positions(tokens, case["num_probes"])
    masks = index.probe_masks(tokens, case["num_probes"])
    for row, expected in enumerate(case["tokens"]):
        assert int(blocks[row]) == expected["block"]
        assert probes[row].tolist() == expected["probes"]
        bits = {64 * word + bit for word in range(8) for bit in range(64) if int(masks[row, word]) >> bit & 1}
        assert bits == set(expected["probes"])


@pytest.mark.parametrize("case", VECTORS["filters"], ids=lambda c: str(c["name"]))
def test_serialised_filter(case: dict[str, Any]) -> None:
    params = index.IndexParams(num_blocks=case["num_blocks"], num_probes=case["num_probes"])
    members = TOKENS[: case["token_count"]]
    built = index.BloomIndex.build(members, params)
    data = built.to_bytes()
    assert params.size_bytes == case["size_bytes"] == len(data)
    assert built.sha256().hex() == case["sha256"] == hashlib.sha256(data).hexdigest()
    if "bytes" in case:
        assert data.hex() == case["bytes"]
    assert round(built.fill_ratio() * params.size_bits) == case["set_bits"]
    assert built.contains(ABSENT).tolist() == case["absent_contains"]
    if members:
        assert built.contains(members).all()
    assert index.BloomIndex.from_bytes(params, data) == built


@pytest.mark.parametrize("case", VECTORS["params"], ids=lambda c: f"{c['token_count']}@{c['target_fpr']:g}")
def test_parameter_choice(case: dict[str, Any]) -> None:
    params = index.choose_params(case["token_count"], case["target_fpr"])
    assert (params.num_blocks, params.num_probes) == (case["num_blocks"], case["num_probes"])
    assert index.theoretical_fpr(params, case["token_count"]) == pytest.approx(
        case["theoretical_fpr"], rel=REL
    )
    assert index.expected_fill(params, case["token_count"]) == pytest.approx(case["expected_fill"], rel=REL)


@pytest.mark.parametrize("case", VECTORS["fill"], ids=lambda c: f"{c['num_blocks']}x{c['num_probes']}")
def test_fill_model(case: dict[str, Any]) -> None:
    params = index.IndexParams(num_blocks=case["num_blocks"], num_probes=case["num_probes"])
    assert index.expected_fill(params, case["token_count"]) == pytest.approx(case["expected_fill"], rel=REL)
    assert index.fill_stddev(params, case["token_count"]) == pytest.approx(case["fill_stddev"], rel=1e-6)
    assert case["fill_sigmas"] == index.FILL_SIGMAS


@pytest.mark.parametrize("case", VECTORS["partitioned"], ids=lambda c: str(c["name"]))
def test_partitioned_index(case: dict[str, Any]) -> None:
    """Format 2: partitions in ascending key type, each sized for its distinct tokens, bytes concatenated;
    each query token tested only in its own type's partition."""
    pairs = [(kt, t) for kt, first, last in case["pairs"] for t in TOKENS[first:last]]
    built = PartitionedIndex.build(bytes(kt for kt, _ in pairs), [t for _, t in pairs], case["target_fpr"])
    declared = [
        {
            "key_type": p.key_type,
            "num_blocks": p.params.num_blocks,
            "num_probes": p.params.num_probes,
            "token_count": p.token_count,
        }
        for p in built.partitions
    ]
    assert declared == case["partitions"]
    data = built.to_bytes()
    assert len(data) == built.size_bytes == case["size_bytes"]
    assert built.sha256().hex() == case["sha256"]
    if "bytes" in case:
        assert data.hex() == case["bytes"]
    queries = case["queries"]
    found = built.contains(
        bytes(q["key_type"] for q in queries), [bytes.fromhex(q["token"]) for q in queries]
    )
    assert found.tolist() == [q["contains"] for q in queries]
    assert PartitionedIndex.from_bytes(built.partitions, data) == built


def test_vectors_file_is_what_the_reference_script_writes() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_index_vectors", ROOT / "scripts" / "make_index_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == (ROOT / "tests" / "vectors" / "index.json").read_text(encoding="utf-8")


def test_edge_tokens_pin_byte_order() -> None:
    """bytes(range(32)): h0 = 0x0706050403020100, so the block is fastrange over 0x07060504."""
    token = index.token_array(bytes(range(32)))
    assert int(index.block_indices(token, 1 << 20)[0]) == (0x07060504 * (1 << 20)) >> 32
    word0 = int.from_bytes(bytes(range(8, 16)), "little")
    assert index.probe_positions(token, 2)[0].tolist() == [word0 & 511, (word0 >> 9) & 511]
    assert np.array_equal(index.block_indices(index.token_array(b"\xff" * 32), 7), [6])
