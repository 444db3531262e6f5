"""A republish holds the new index once, not two or three times (issue 20: matcher memory at peak).

The publish stream (``IndexServicer._publish``) is driven in process against a Matcher on SQLite
(``crossforce.testkit.publishstream``): the chunks are received into one buffer allocated at the size
the signed header declares, verified, and served as they are (the matcher gives every force a segment
of its own: tests/unit/test_segment_per_force.py). tracemalloc (numpy reports its arrays to it) gives
the allocation peak above the level before the republish. Before this change the bits were grown in a
``bytearray`` and copied to ``bytes`` while it was still alive: a peak of about twice the index.
Refusals (short, oversized, bad digest, cancelled) still refuse and leave the previous version serving.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossforce.errors import UnavailableError, ValidationError
from crossforce.index.partitioned import PartitionedIndex
from crossforce.server.servicers import index as index_servicer
from crossforce.testkit.publishstream import PublishStreamMatcher, seeded_index
from crossforce.v2 import crossforce_pb2 as pb

ORG = "kent"
TOKENS = 600_000
CHUNK = 256 << 10


def _index(seed: int) -> PartitionedIndex:
    return seeded_index(seed, TOKENS)


def _chunks(
    force: PublishStreamMatcher, bloom: PartitionedIndex, version: int, *, bits: bytes | None = None
) -> Iterator[pb.PublishChunk]:
    return force.chunks(ORG, bloom, version=version, record_count=TOKENS // 8, bits=bits)


def _serving_version(force: PublishStreamMatcher) -> int | None:
    row = force.matcher.publishing._table.row(ORG, 1)
    return row.version if row else None


@pytest.fixture
def force(tmp_path: Path) -> Iterator[PublishStreamMatcher]:
    """A matcher on which one force, ``ORG``, is registered (and has published nothing yet)."""
    force = PublishStreamMatcher(tmp_path, chunk_bytes=CHUNK)
    force.register(ORG)
    yield force
    force.close()


def test_a_republish_holds_the_new_index_once(force: PublishStreamMatcher) -> None:
    first, second = _index(1), _index(2)
    assert second.size_bytes >= 4 << 20
    force.publish(ORG, _chunks(force, first, 1))
    chunks = list(_chunks(force, second, 2))  # the stream as it arrives (gRPC holds a chunk at a time)
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        force.publish(ORG, iter(chunks))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _serving_version(force) == 2
    extra = peak - before
    assert extra <= 1.2 * second.size_bytes, f"republish peak {extra / second.size_bytes:.2f}x the index"


def test_the_served_bits_are_the_received_buffer_and_read_only(force: PublishStreamMatcher) -> None:
    bloom = _index(3)
    force.publish(ORG, _chunks(force, bloom, 1))
    served = force.served()
    (segment,) = served.segment_bits()
    with pytest.raises(ValueError):
        segment[0, 0] = 1
    owner = segment
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    # The words served are the buffer the chunks were received into (no copy), made read-only.
    assert isinstance(owner.base, memoryview) and owner.base.readonly
    assert isinstance(owner.base.obj, np.ndarray) and not owner.base.obj.flags.writeable
    assert served.index(ORG) == bloom


@pytest.mark.parametrize("case", ["short", "long", "digest", "cancelled"])
def test_a_refused_republish_leaves_the_previous_version_serving(
    force: PublishStreamMatcher, case: str
) -> None:
    first, second = _index(4), _index(5)
    force.publish(ORG, _chunks(force, first, 1))
    payload = second.to_bytes()
    bits = {
        "short": payload[:-64],
        "long": payload + bytes(64),
        "digest": bytes([payload[0] ^ 1]) + payload[1:],
        "cancelled": payload,
    }[case]
    with pytest.raises(ValidationError):
        force.publish(ORG, _chunks(force, second, 2, bits=bits), active=case != "cancelled")
    assert _serving_version(force) == 1
    assert force.served().index(ORG) == first


def test_no_memory_for_the_receive_buffer_is_unavailable_and_the_previous_version_serves(
    force: PublishStreamMatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that does not overcommit may refuse the buffer at the declared size: the publisher is told
    UNAVAILABLE with what to do (not an internal error), and nothing changes."""
    first, second = _index(6), _index(7)
    force.publish(ORG, _chunks(force, first, 1))
    real_empty = np.empty

    def no_memory_at_the_declared_size(shape: Any, *args: Any, **kwargs: Any) -> Any:
        if shape == second.size_bytes:
            raise MemoryError
        return real_empty(shape, *args, **kwargs)

    monkeypatch.setattr(index_servicer.np, "empty", no_memory_at_the_declared_size)
    with pytest.raises(UnavailableError, match="retry later"):
        force.publish(ORG, _chunks(force, second, 2))
    assert _serving_version(force) == 1


def test_from_bytes_adopts_a_read_only_buffer_and_copies_a_writable_one() -> None:
    """The stream hands ``from_bytes`` a read-only view of its buffer: served as it is. A writable one
    could change under the verified digest, so it is copied (as a ``bytearray`` always was)."""
    bloom = _index(6)
    frozen = np.frombuffer(bloom.to_bytes(), dtype="<u8").copy()
    frozen.flags.writeable = False
    adopted = PartitionedIndex.from_bytes(bloom.partitions, frozen.data.cast("B"))
    assert np.shares_memory(adopted.words, frozen)
    writable = frozen.copy()
    copied = PartitionedIndex.from_bytes(bloom.partitions, writable.data.cast("B"))
    assert not np.shares_memory(copied.words, writable)
    writable[0] ^= 1
    assert copied == bloom == adopted
    with pytest.raises(ValidationError):
        PartitionedIndex.from_bytes(bloom.partitions, frozen.data.cast("B")[:-8])
