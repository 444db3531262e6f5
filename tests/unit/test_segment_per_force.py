"""A republish copies no other force's bits (issue 20: matcher memory at peak, small forces).

The matcher's snapshots give every force a segment of its own (``matchkernel.SEGMENT_BYTES`` is 0): its
compiled kernel reads segments by address, so one per force costs it nothing, and a republish serves the
received words as they are. Before, forces smaller than 128 MiB shared segments, and republishing any of
them copied the whole shared segment: at 1,000,000 records (one 90 MiB segment for all 43 forces) a
republish of the largest force peaked at 2.16x the index bytes.

Driven in process through the publish stream (``IndexServicer._publish``, by
``crossforce.testkit.publishstream``) against a Matcher on SQLite, as tests/unit/
test_publish_receive_memory.py does for one force; tracemalloc (numpy reports its arrays to it) gives
the allocation peak above the level before the republish.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from crossforce.index.snapshot import SEGMENT_BYTES, MatchSnapshot
from crossforce.server import matchkernel
from crossforce.testkit.publishstream import PublishStreamMatcher, seeded_index, seeded_tokens

ORGS = ("avon", "kent", "suffolk", "surrey", "wiltshire")
TOKENS = 400_000
"""Per force: ~3 MiB of index, so all five would have shared one segment before."""
RECORDS = TOKENS // 8
CHUNK = 256 << 10


@pytest.fixture
def network(tmp_path: Path) -> Iterator[PublishStreamMatcher]:
    """One matcher, five forces registered and publishing through the Index servicer."""
    net = PublishStreamMatcher(tmp_path, chunk_bytes=CHUNK)
    for org in ORGS:
        net.register(org)
    for number, org in enumerate(ORGS):
        net.publish(org, net.chunks(org, seeded_index(number, TOKENS), version=1, record_count=RECORDS))
    yield net
    net.close()


def _owner(words: np.ndarray) -> object:
    """The object whose memory an array view finally rests on (identity across snapshots)."""
    owner: object = words
    while isinstance(owner, np.ndarray) and owner.base is not None:
        owner = owner.base
    return owner


def test_republishing_a_small_force_copies_no_other_force(network: PublishStreamMatcher) -> None:
    before_segments = {id(_owner(bits)) for bits in network.served().segment_bits()}
    fresh = seeded_index(99, TOKENS)
    chunks = list(network.chunks("kent", fresh, version=2, record_count=RECORDS))  # the stream as it arrives
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


def test_every_force_has_a_segment_of_its_own_after_a_restart(network: PublishStreamMatcher) -> None:
    expected = {org: network.served().index(org) for org in ORGS}
    network.restart()  # IndexTable.load: built from storage
    served = network.served()
    assert served.segment_count == len(ORGS)
    assert {org: served.index(org) for org in ORGS} == expected


def test_a_snapshot_keeps_its_segment_budget_through_publishes_and_withdrawals() -> None:
    indexes = {org: seeded_index(number, TOKENS) for number, org in enumerate(ORGS[:3])}
    own = MatchSnapshot.build(indexes, segment_bytes=matchkernel.SEGMENT_BYTES)
    shared = MatchSnapshot.build(indexes)
    assert (own.segment_count, shared.segment_count) == (3, 1)
    assert all(bloom.size_bytes < SEGMENT_BYTES for bloom in indexes.values())
    grown = own.with_index(ORGS[3], seeded_index(3, TOKENS)).with_index(ORGS[0], seeded_index(4, TOKENS))
    assert grown.segment_count == 4
    assert grown.without(ORGS[1]).segment_count == 3
    # The same answers either way, for tokens ORGS[2] holds (its index's first 50).
    types, tokens = seeded_tokens(2, TOKENS)
    types, tokens = types[:50], tokens[:50]
    assert np.array_equal(own.check(tokens, types), shared.check(tokens, types))
    assert np.array_equal(matchkernel.check(own, tokens, types), shared.check(tokens, types))
    assert own.check(tokens, types)[:, own.orgs.index(ORGS[2])].all()
