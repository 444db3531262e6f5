"""The serving table rebuilt from storage: format-2 generations serve from their stored signed header and
bits; a format-1 generation left by a matcher from before spec v2 is not served (its tokens cannot match a
spec v2 candidate, so serving it would report the force searched when it was not)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest

from crossforce.domain import IndexHeaderFields
from crossforce.index import bloom as index
from crossforce.index.partitioned import PartitionedIndex
from crossforce.server.store import SQLiteStorage
from crossforce.server.store.rows import IndexRow
from crossforce.server.usecases.serving import IndexTable
from crossforce.wire.index_header import encode_index_header

RNG = np.random.default_rng(20)
TOKENS = RNG.integers(0, 256, size=(40, 32), dtype=np.uint8)
TYPES = np.array([16] * 20 + [26] * 20, dtype=np.uint8)


def _store(storage: SQLiteStorage, org: str, header: bytes, bits: bytes, *, num_blocks: int) -> None:
    sha = hashlib.sha256(bits).hexdigest()
    storage.write_bits(sha, bits)
    row = IndexRow(
        org=org,
        epoch=1,
        version=1,
        header=header,
        signature=b"s" * 64,
        bits_sha256=sha,
        num_blocks=num_blocks,
        num_probes=0,
        token_count=len(TOKENS),
        record_count=10,
        published_at_ms=0,
        expires_at_ms=2**62,
        log_index=0,
    )
    with storage.lock:
        storage.begin()
        storage.staged(len(storage.log_leaf_hashes())).put_index(row)
        storage.keep_staged()
        storage.commit()


def _fields(format_version: int, num_blocks: int, num_probes: int, bits: bytes) -> IndexHeaderFields:
    return IndexHeaderFields(
        format_version=format_version,
        org="kent",
        epoch=1,
        version=1,
        num_blocks=num_blocks,
        num_probes=num_probes,
        token_count=len(TOKENS),
        record_count=10,
        bits_sha256=hashlib.sha256(bits).digest(),
        created_at_ms=0,
        expires_at_ms=2**62,
    )


def test_format_2_generations_serve_and_format_1_ones_are_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        built = PartitionedIndex.build(TYPES, TOKENS)
        bits = built.to_bytes()
        header = encode_index_header(_fields(2, built.num_blocks, 0, bits), built.partitions)
        _store(storage, "kent", header, bits, num_blocks=built.num_blocks)
        old = index.BloomIndex.build(TOKENS, index.choose_params(len(TOKENS)))
        old_bits = old.to_bytes()
        old_header = encode_index_header(_fields(1, old.params.num_blocks, old.params.num_probes, old_bits))
        _store(storage, "essex", old_header, old_bits, num_blocks=old.params.num_blocks)

        with caplog.at_level(logging.WARNING, logger="crossforce.server"):
            table = IndexTable.load(storage)
        view = table.view()
        assert list(view.rows) == [("kent", 1)]
        snapshot = table.snapshot(1)
        assert snapshot is not None and snapshot.orgs == ("kent",)
        assert snapshot.index("kent") == built
        assert snapshot.check(TOKENS, TYPES).all()
        assert "essex epoch 1 version 1: index format 1" in caplog.text
    finally:
        storage.close()
