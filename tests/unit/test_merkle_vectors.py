"""crossforce.auditlog.merkle against the golden probe files in tests/vectors/merkle/."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crossforce.auditlog.merkle import (
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from crossforce.errors import VerificationError

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "merkle"


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def _hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


ROOTS = _load("roots.json")
LEAF_HASHES = _hashes(ROOTS["leaf_hashes"])
INCLUSION = _load("inclusion.json")["probes"]
CONSISTENCY = _load("consistency.json")["probes"]


def _id(probe: dict[str, Any]) -> str:
    if probe["name"] == "honest":
        sizes = (probe.get("leaf_index"), probe.get("tree_size")) if "tree_size" in probe else None
        sizes = sizes or (probe["first"], probe["second"])
        return f"honest {sizes}"
    return str(probe["name"])


def test_leaf_hashes_and_roots() -> None:
    entries = _hashes(ROOTS["entries"])
    assert [leaf_hash(e) for e in entries] == LEAF_HASHES
    tree = MerkleTree(LEAF_HASHES)
    for size, root in enumerate(_hashes(ROOTS["roots"])):
        assert root_from_leaf_hashes(LEAF_HASHES[:size]) == root
        assert tree.root_at(size) == root


def test_probe_files_hold_both_kinds() -> None:
    for probes in (INCLUSION, CONSISTENCY):
        assert sum(p["valid"] for p in probes) > 200
        assert sum(not p["valid"] for p in probes) > 200


@pytest.mark.parametrize("probe", INCLUSION, ids=_id)
def test_inclusion_probe(probe: dict[str, Any]) -> None:
    args = (
        bytes.fromhex(probe["leaf_hash"]),
        probe["leaf_index"],
        probe["tree_size"],
        _hashes(probe["proof"]),
        bytes.fromhex(probe["root"]),
    )
    if probe["valid"]:
        verify_inclusion(*args)
    if probe["name"] == "honest":
        assert inclusion_proof(LEAF_HASHES, probe["leaf_index"], probe["tree_size"]) == args[3]
    if not probe["valid"]:
        with pytest.raises(VerificationError):
            verify_inclusion(*args)


@pytest.mark.parametrize("probe", CONSISTENCY, ids=_id)
def test_consistency_probe(probe: dict[str, Any]) -> None:
    args = (
        probe["first"],
        probe["second"],
        bytes.fromhex(probe["first_root"]),
        bytes.fromhex(probe["second_root"]),
        _hashes(probe["proof"]),
    )
    if probe["valid"]:
        verify_consistency(*args)
    if probe["name"] == "honest":
        assert consistency_proof(LEAF_HASHES, probe["first"], probe["second"]) == args[4]
    if not probe["valid"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_merkle_vectors", ROOT / "scripts" / "make_merkle_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vector_files_are_what_the_generator_writes() -> None:
    generator = _generator()
    for name, document in generator.build_vectors().items():
        assert (VECTORS / name).read_text(encoding="utf-8") == generator.render(document), (
            f"{name} is stale: run python scripts/make_merkle_vectors.py"
        )
