"""A republish copies no other force's bits (issue 20: matcher memory at peak, small forces).

The matcher's snapshots give every force a segment of its own (``matchkernel.SEGMENT_BYTES`` is 0): its
compiled kernel reads segments by address, so one per force costs it nothing, and a republish serves the
received words as they are. Before, forces smaller than 128 MiB shared segments, and republishing any of
them copied the whole shared segment: at 1,000,000 records (one 90 MiB segment for all 43 forces) a
republish of the largest force peaked at 2.16x the index bytes.

Driven in process through the publish stream (``IndexServicer._publish``) against a Matcher on SQLite, as
tests/unit/test_publish_receive_memory.py does for one force; tracemalloc (numpy reports its arrays to
it) gives the allocation peak above the level before the republish.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.signing
import numpy as np
import pytest

from crossforce.crypto import orgkeys
from crossforce.crypto.pki import Identity
from crossforce.encoding.keytypes import KEY_TYPES
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import SEGMENT_BYTES, MatchSnapshot
from crossforce.server import matchkernel
from crossforce.server.audit import AuditLog
from crossforce.server.matcher import Matcher
from crossforce.server.servicers.index import IndexServicer
from crossforce.server.servicers.streams import StreamSlots
from crossforce.server.settings import ServerSettings
from crossforce.server.store import SQLiteStorage
from crossforce.testkit.indexheaders import signed_index_header
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire import index as wire

ORGS = ("avon", "kent", "suffolk", "surrey", "wiltshire")
TOKENS = 400_000
"""Per force: ~3 MiB of index, so all five would have shared one segment before."""
CHUNK = 256 << 10


class _Context:
    def is_active(self) -> bool:
        return True


def _who(org: str) -> Identity:
    return Identity(
        org=org, role="force-system", fingerprint=org, not_after=datetime.now(UTC) + timedelta(days=1)
    )


def _index(seed: int) -> PartitionedIndex:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 256, size=(TOKENS, 32), dtype=np.uint8)
    types = np.array(sorted(KEY_TYPES), dtype=np.uint8)[rng.integers(0, len(KEY_TYPES), size=TOKENS)]
    return PartitionedIndex.build(types, tokens)


class _Network:
    """One matcher, five forces registered and publishing through the Index servicer."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.log_key = nacl.signing.SigningKey.generate()
        self.matcher = self._open()
        self.keys = {org: orgkeys.OrgKeys.generate(org) for org in ORGS}
        for org, keys in self.keys.items():
            self.matcher.register(
                _who(org),
                org=org,
                signing_key=keys.signing_public,
                box_key=keys.box_public,
                proof=orgkeys.sign_registration(keys),
                display_name=org,
            )
        self.servicer = IndexServicer(self.matcher, slots=StreamSlots("publish", 2))

    def _open(self) -> Matcher:
        storage = SQLiteStorage(self.data)
        audit = AuditLog(storage=storage, key=self.log_key)
        return Matcher(storage=storage, settings=ServerSettings(), audit=audit)

    def chunks(self, org: str, bloom: PartitionedIndex, version: int) -> Iterator[pb.PublishChunk]:
        signed = signed_index_header(
            org, bloom, self.keys[org].signing, version=version, record_count=TOKENS // 8
        )
        return wire.publish_chunks(signed.header, signed.signature, bloom.to_bytes(), chunk_bytes=CHUNK)

    def publish(self, org: str, chunks: Iterator[pb.PublishChunk]) -> None:
        self.servicer._publish(_who(org), chunks, _Context())  # type: ignore[arg-type]

    def served(self) -> MatchSnapshot:
        snapshot = self.matcher.publishing._table.snapshot(1)
        assert snapshot is not None
        return snapshot


@pytest.fixture
def network(tmp_path: Path) -> Iterator[_Network]:
    net = _Network(tmp_path)
    for number, org in enumerate(ORGS):
        net.publish(org, net.chunks(org, _index(number), 1))
    yield net
    net.matcher.close()


def _owner(words: np.ndarray) -> object:
    """The object whose memory an array view finally rests on (identity across snapshots)."""
    owner: object = words
    while isinstance(owner, np.ndarray) and owner.base is not None:
        owner = owner.base
    return owner


def test_republishing_a_small_force_copies_no_other_force(network: _Network) -> None:
    before_segments = {id(_owner(bits)) for bits in network.served().segment_bits()}
    fresh = _index(99)
    chunks = list(network.chunks("kent", fresh, 2))  # the stream as it arrives
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        network.publish("kent", iter(chunks))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    served = network.served()
    assert served.index("kent") == fresh
    extra = peak - before
    # The new index once, plus the chunks in flight (protobuf hands each chunk's bits over as a copy).
    assert extra <= 1.1 * fresh.size_bytes + 2 * CHUNK, (
        f"republishing kent ({fresh.size_bytes / 2**20:.1f} MiB) allocated {extra / fresh.size_bytes:.2f}x "
        f"its index: the other forces' bits were copied"
    )
    kept = {id(_owner(bits)) for bits in served.segment_bits()} & before_segments
    assert len(kept) == len(ORGS) - 1, "every other force's bits are served from the same memory as before"


def test_every_force_has_a_segment_of_its_own_after_a_restart(network: _Network) -> None:
    expected = {org: network.served().index(org) for org in ORGS}
    network.matcher.close()
    network.matcher = network._open()  # IndexTable.load: built from storage
    served = network.served()
    assert served.segment_count == len(ORGS)
    assert {org: served.index(org) for org in ORGS} == expected


def test_a_snapshot_keeps_its_segment_budget_through_publishes_and_withdrawals() -> None:
    indexes = {org: _index(number) for number, org in enumerate(ORGS[:3])}
    own = MatchSnapshot.build(indexes, segment_bytes=matchkernel.SEGMENT_BYTES)
    shared = MatchSnapshot.build(indexes)
    assert (own.segment_count, shared.segment_count) == (3, 1)
    assert all(bloom.size_bytes < SEGMENT_BYTES for bloom in indexes.values())
    grown = own.with_index(ORGS[3], _index(3)).with_index(ORGS[0], _index(4))
    assert grown.segment_count == 4
    assert grown.without(ORGS[1]).segment_count == 3
    # The same answers either way, for tokens ORGS[2] holds (its index's first 50, drawn as _index does).
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 256, size=(TOKENS, 32), dtype=np.uint8)[:50]
    types = np.array(sorted(KEY_TYPES), dtype=np.uint8)[rng.integers(0, len(KEY_TYPES), size=TOKENS)][:50]
    assert np.array_equal(own.check(tokens, types), shared.check(tokens, types))
    assert np.array_equal(matchkernel.check(own, tokens, types), shared.check(tokens, types))
    assert own.check(tokens, types)[:, own.orgs.index(ORGS[2])].all()
