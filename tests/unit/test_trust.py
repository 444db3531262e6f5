"""The client's trust rules (bytes in, exceptions out) and its file-locked store (no lost update)."""

from __future__ import annotations

import json
import multiprocessing
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from crossforce.auditlog.events import Event, EventKind, encode_event
from crossforce.auditlog.merkle import MerkleTree, leaf_hash
from crossforce.auditlog.treehead import SignedTreeHead, TreeHead, encode_signed_tree_head, sign_tree_head
from crossforce.client import trust
from crossforce.client.trust import Pin, TrustState
from crossforce.client.truststore import TrustStore
from crossforce.domain import InclusionProof, LogEntry
from crossforce.errors import PreconditionError, ValidationError, VerificationError

LOG_KEY = nacl.signing.SigningKey(bytes(range(32)))
LOG_PUBLIC = bytes(LOG_KEY.verify_key)
OTHER_KEY = nacl.signing.SigningKey(bytes(range(1, 33)))
KENT = Pin(signing_key=b"\x01" * 32, box_key=b"\x02" * 32, key_version=1)
KENT_ROTATED = Pin(signing_key=b"\x03" * 32, box_key=b"\x04" * 32, key_version=2)
T0 = 1_700_000_000_000


def key_event(org: str, pin: Pin, kind: EventKind = EventKind.REGISTRATION) -> bytes:
    return encode_event(
        Event(
            kind=kind,
            at_ms=T0,
            actor_org=org,
            actor_role="force-system",
            fields={
                "org": org,
                "signing_key": pin.signing_key.hex(),
                "box_key": pin.box_key.hex(),
                "key_version": str(pin.key_version),
            },
        )
    )


class Log:
    """A tiny honest log over given entries: signed heads, consistency and inclusion proofs."""

    def __init__(self, entries: list[bytes], key: nacl.signing.SigningKey = LOG_KEY) -> None:
        self.entries = entries
        self.tree = MerkleTree(leaf_hash(e) for e in entries)
        self.key = key

    def head(self, size: int) -> SignedTreeHead:
        return sign_tree_head(
            TreeHead(tree_size=size, timestamp_ms=T0 + size, root_hash=self.tree.root_at(size)), self.key
        )

    def proof(self, rng: tuple[int, int] | None) -> list[bytes]:
        return self.tree.consistency_proof(*rng) if rng else []


FILLER = [
    encode_event(
        Event(
            kind=EventKind.EPOCH_CHANGE, at_ms=T0 + i, actor_org="matcher", actor_role="operator", fields={}
        )
    )
    for i in range(20)
]
ENTRIES = [
    *FILLER[:5],
    key_event("kent", KENT),
    *FILLER[5:12],
    key_event("kent", KENT_ROTATED, EventKind.KEY_CHANGE),
    *FILLER[12:],
]
KENT_LEAF = 5


@pytest.fixture
def log() -> Log:
    return Log(list(ENTRIES))


def observed(state: TrustState, log: Log, size: int) -> TrustState:
    new = log.head(size)
    return trust.observe_head(state, new, log.proof(trust.head_proof_range(state, new)))


PINNED = TrustState(log_key=LOG_PUBLIC)


# --- log key --------------------------------------------------------------------------------------


def test_log_key_is_pinned_on_first_sight_and_kept() -> None:
    state = trust.pin_log_key(TrustState(), LOG_PUBLIC)
    assert state.log_key == LOG_PUBLIC
    assert trust.pin_log_key(state, LOG_PUBLIC) is state


def test_swapped_log_key_is_refused() -> None:
    with pytest.raises(VerificationError, match="different log key"):
        trust.pin_log_key(PINNED, bytes(OTHER_KEY.verify_key))


def test_short_log_key_is_refused() -> None:
    with pytest.raises(VerificationError):
        trust.pin_log_key(TrustState(), b"short")


def test_head_before_a_pinned_log_key_is_refused(log: Log) -> None:
    with pytest.raises(VerificationError, match="no log key"):
        trust.observe_head(TrustState(), log.head(3), [])


# --- heads ----------------------------------------------------------------------------------------


def test_growing_heads_are_kept_through_the_tracker(log: Log) -> None:
    state = PINNED
    for size in (1, 4, 4, 9, 20):
        state = observed(state, log, size)
        assert state.head == log.head(size)


def test_first_head_needs_no_proof(log: Log) -> None:
    assert trust.head_proof_range(PINNED, log.head(7)) is None


def test_late_smaller_head_is_checked_as_a_prefix_and_the_newer_kept(log: Log) -> None:
    state = observed(observed(PINNED, log, 4), log, 12)
    assert trust.head_proof_range(state, log.head(8)) == (8, 12)
    assert observed(state, log, 8) is state


def test_rolled_back_head_without_a_prefix_proof_is_refused(log: Log) -> None:
    state = observed(PINNED, log, 12)
    with pytest.raises(VerificationError):
        trust.observe_head(state, log.head(8), [])


def test_forked_head_is_refused_and_the_state_is_unchanged(log: Log) -> None:
    state = observed(PINNED, log, 10)
    fork = Log([*ENTRIES[:3], b"rewritten", *ENTRIES[4:]])
    new = fork.head(15)
    with pytest.raises(VerificationError):
        trust.observe_head(state, new, fork.proof(trust.head_proof_range(state, new)))
    assert state.head == log.head(10)


def test_head_signed_by_another_key_is_refused(log: Log) -> None:
    imposter = Log(list(ENTRIES), OTHER_KEY)
    with pytest.raises(VerificationError):
        trust.observe_head(PINNED, imposter.head(5), [])


# --- index versions -------------------------------------------------------------------------------


def test_index_versions_only_grow() -> None:
    state = trust.next_index_version(TrustState(), 3, now_ms=100)
    assert state.index_versions[3] == 100
    state = trust.next_index_version(state, 3, now_ms=50)
    assert state.index_versions[3] == 101
    assert trust.next_index_version(state, 3, now_ms=50, asked=7).index_versions[3] == 7


# --- encoding and migration -----------------------------------------------------------------------


def test_state_round_trips(log: Log) -> None:
    state = replace(observed(PINNED, log, 10), pins={"kent": KENT})
    state = trust.next_index_version(state, 4, now_ms=99)
    assert trust.decode_state(trust.encode_state(state)) == state
    assert json.loads(trust.encode_state(state))["format_version"] == trust.TRUST_FORMAT_VERSION


def test_legacy_unversioned_state_is_migrated(log: Log) -> None:
    legacy = {
        "log_key": LOG_PUBLIC.hex(),
        "tree_head": encode_signed_tree_head(log.head(10)).hex(),
        "pins": {
            "kent": {"signing_key": KENT.signing_key.hex(), "box_key": KENT.box_key.hex(), "key_version": 1}
        },
        "versions": {"3": 1234},
    }
    state = trust.decode_state(json.dumps(legacy).encode())
    assert state == TrustState(
        log_key=LOG_PUBLIC, head=log.head(10), pins={"kent": KENT}, index_versions={3: 1234}
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("not json", b"{"),
        ("not an object", b"[]"),
        ("future format", b'{"format_version": 3}'),
        ("unknown field", b'{"format_version": 2, "trust_everyone": true}'),
        ("bad hex key", b'{"format_version": 2, "log_key": "zz"}'),
        ("short log key", b'{"format_version": 2, "log_key": "00"}'),
        ("head without a key", b'{"format_version": 2, "tree_head": "' + b"00" * 113 + b'"}'),
        ("negative version", b'{"format_version": 2, "index_versions": {"1": -1}}'),
        ("pin missing a key", b'{"format_version": 2, "pins": {"kent": {"box_key": "00"}}}'),
    ],
)
def test_malformed_state_is_refused(name: str, data: bytes) -> None:
    with pytest.raises(ValidationError):
        trust.decode_state(data)


# --- the store ------------------------------------------------------------------------------------


def test_store_writes_only_changes_and_not_on_error(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "state.json")
    with store.transaction() as txn:
        pass
    assert not store.path.exists()
    with pytest.raises(VerificationError), store.transaction() as txn:
        txn.state = trust.pin_log_key(txn.state, LOG_PUBLIC)
        raise VerificationError("boom")
    assert store.load() == TrustState()
    with store.transaction() as txn:
        txn.state = trust.pin_log_key(txn.state, LOG_PUBLIC)
    assert store.load().log_key == LOG_PUBLIC
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_nested_transactions_are_refused_not_deadlocked(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "state.json")
    with store.transaction(), pytest.raises(PreconditionError), store.transaction():
        pass
    with store.transaction(), pytest.raises(PreconditionError), TrustStore(store.path).transaction():
        pass  # another store object on the same file is the same lock
    with store.transaction():
        pass  # and a refused nesting leaves the lock usable


def _bump_many(path: str, epoch: int, rounds: int, start: Any) -> None:
    store = TrustStore(Path(path))
    start.wait()  # both processes begin together, so their read-modify-writes interleave
    for _ in range(rounds):
        with store.transaction() as txn:
            txn.state = trust.next_index_version(txn.state, epoch, now_ms=0)


def test_two_processes_on_one_profile_never_lose_an_update(tmp_path: Path) -> None:
    """Each increment is a read-modify-write; without the lock, interleaved writers lose increments
    (measured: about a third of 200 are lost when the same loop reads and writes without it)."""
    rounds = 100
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    path = str(tmp_path / "state.json")
    workers = [ctx.Process(target=_bump_many, args=(path, 1, rounds, start)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    assert TrustStore(tmp_path / "state.json").load().index_versions[1] == 2 * rounds


def test_a_profile_written_by_an_earlier_sdk_loads_and_is_upgraded_on_the_next_change(
    tmp_path: Path, log: Log
) -> None:
    legacy = {
        "log_key": LOG_PUBLIC.hex(),
        "tree_head": encode_signed_tree_head(log.head(3)).hex(),
        "versions": {"1": 5},
    }
    store = TrustStore(tmp_path / "state.json")
    store.path.write_text(json.dumps(legacy), encoding="utf-8")
    assert store.load() == TrustState(log_key=LOG_PUBLIC, head=log.head(3), index_versions={1: 5})
    with store.transaction() as txn:
        txn.state = observed(txn.state, log, 9)
    assert json.loads(store.raw())["format_version"] == trust.TRUST_FORMAT_VERSION
    assert store.load() == TrustState(log_key=LOG_PUBLIC, head=log.head(9), index_versions={1: 5})


# --- inclusion and hostile state files --------------------------------------------------------------


def _inclusion(log: Log, leaf: int, size: int) -> tuple[list[LogEntry], InclusionProof]:
    entries = [LogEntry(index=leaf, leaf_hash=leaf_hash(log.entries[leaf]), entry=log.entries[leaf])]
    proof = InclusionProof(
        leaf_index=leaf, tree_size=size, hashes=tuple(log.tree.inclusion_proof(leaf, size)), entry=b""
    )
    return entries, proof


def test_inclusion_of_a_logged_event_verifies(log: Log) -> None:
    entries, proof = _inclusion(log, KENT_LEAF, len(ENTRIES))
    trust.verify_inclusion(log.head(len(ENTRIES)), KENT_LEAF, entries, proof)
    readable = InclusionProof(proof.leaf_index, proof.tree_size, proof.hashes, entry=ENTRIES[KENT_LEAF])
    trust.verify_inclusion(log.head(len(ENTRIES)), KENT_LEAF, entries, readable)


@pytest.mark.parametrize("answer", ["empty", "another-index"])
def test_inclusion_without_the_asked_entry_is_refused_not_an_index_error(log: Log, answer: str) -> None:
    entries, proof = _inclusion(log, KENT_LEAF, len(ENTRIES))
    given = [] if answer == "empty" else [LogEntry(KENT_LEAF + 1, entries[0].leaf_hash, b"")]
    with pytest.raises(VerificationError, match="did not return log entry"):
        trust.verify_inclusion(log.head(len(ENTRIES)), KENT_LEAF, given, proof)


def test_inclusion_of_an_event_that_is_not_its_leaf_is_refused(log: Log) -> None:
    entries, proof = _inclusion(log, KENT_LEAF, len(ENTRIES))
    swapped = InclusionProof(proof.leaf_index, proof.tree_size, proof.hashes, entry=ENTRIES[0])
    with pytest.raises(VerificationError, match="does not hash to its leaf"):
        trust.verify_inclusion(log.head(len(ENTRIES)), KENT_LEAF, entries, swapped)


def test_inclusion_under_another_head_is_refused(log: Log) -> None:
    entries, proof = _inclusion(log, KENT_LEAF, len(ENTRIES))
    with pytest.raises(VerificationError):
        trust.verify_inclusion(log.head(len(ENTRIES) - 1), KENT_LEAF, entries, proof)


def test_deeply_nested_state_is_refused_as_malformed_not_a_recursion_error() -> None:
    depth = sys.getrecursionlimit() * 10
    with pytest.raises(ValidationError, match="not valid JSON"):
        trust.decode_state(b"[" * depth + b"]" * depth)
