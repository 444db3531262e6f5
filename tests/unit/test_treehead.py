"""Signed tree heads, their encoding, the client's HeadTracker and the offline log audit."""

from __future__ import annotations

import dataclasses

import nacl.signing
import pytest

from crossforce.auditlog.merkle import EMPTY_ROOT, MerkleTree, leaf_hash
from crossforce.auditlog.treehead import (
    SIGNED_TREE_HEAD_BYTES,
    TREE_HEAD_BYTES,
    HeadTracker,
    SignedTreeHead,
    TreeHead,
    decode_signed_tree_head,
    decode_tree_head,
    encode_signed_tree_head,
    encode_tree_head,
    sign_tree_head,
    verify_tree_head,
)
from crossforce.auditlog.verify import StoredHead, verify_stored_log
from crossforce.crypto import envelope
from crossforce.errors import ValidationError, VerificationError

LOG_KEY = nacl.signing.SigningKey(bytes(range(32)))
LOG_PUBLIC = bytes(LOG_KEY.verify_key)
OTHER_KEY = nacl.signing.SigningKey(bytes(range(1, 33)))
ENTRIES = [b"event %d" % i for i in range(100)]


class Log:
    """A tiny honest log: append entries, sign heads, serve consistency proofs."""

    def __init__(self, entries: list[bytes], key: nacl.signing.SigningKey = LOG_KEY) -> None:
        self.entries = list(entries)
        self.tree = MerkleTree(leaf_hash(e) for e in entries)
        self.key = key

    def head(self, size: int, timestamp_ms: int | None = None) -> SignedTreeHead:
        ts = 1_700_000_000_000 + size if timestamp_ms is None else timestamp_ms
        return sign_tree_head(
            TreeHead(tree_size=size, timestamp_ms=ts, root_hash=self.tree.root_at(size)), self.key
        )

    def proof(self, first: int, second: int) -> list[bytes]:
        return self.tree.consistency_proof(first, second)


@pytest.fixture
def log() -> Log:
    return Log(ENTRIES)


# --- encoding -------------------------------------------------------------------------------------


def test_encoding_is_the_documented_49_bytes() -> None:
    head = TreeHead(tree_size=0x0102030405060708, timestamp_ms=0x1112131415161718, root_hash=bytes(range(32)))
    assert encode_tree_head(head) == (
        b"\x01" + bytes.fromhex("0102030405060708") + bytes.fromhex("1112131415161718") + bytes(range(32))
    )
    assert TREE_HEAD_BYTES == 49
    assert decode_tree_head(encode_tree_head(head)) == head


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty", b""),
        ("one byte short", b"\x01" + bytes(47)),
        ("one byte long", b"\x01" + bytes(49)),
        ("unknown version 0", b"\x00" + bytes(48)),
        ("unknown version 2", b"\x02" + bytes(48)),
    ],
)
def test_malformed_tree_head_bytes_are_rejected(name: str, data: bytes) -> None:
    with pytest.raises(ValidationError):
        decode_tree_head(data)


@pytest.mark.parametrize(
    "fields",
    [
        {"tree_size": -1},
        {"tree_size": 2**64},
        {"timestamp_ms": -5},
        {"tree_size": True},
        {"root_hash": bytes(31)},
        {"root_hash": "x" * 32},
    ],
)
def test_out_of_range_tree_heads_are_rejected(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"tree_size": 1, "timestamp_ms": 1, "root_hash": bytes(32)}
    with pytest.raises(ValidationError):
        TreeHead(**{**base, **fields})  # type: ignore[arg-type]


def test_root_hash_given_as_a_buffer_is_kept_as_bytes() -> None:
    head = TreeHead(tree_size=1, timestamp_ms=1, root_hash=memoryview(bytes(32)))  # type: ignore[arg-type]
    assert type(head.root_hash) is bytes
    assert head == TreeHead(tree_size=1, timestamp_ms=1, root_hash=bytes(32))


def test_signed_tree_head_round_trips(log: Log) -> None:
    sth = log.head(42)
    data = encode_signed_tree_head(sth)
    assert len(data) == SIGNED_TREE_HEAD_BYTES
    assert decode_signed_tree_head(data) == sth
    with pytest.raises(ValidationError):
        decode_signed_tree_head(data[:-1])


# --- signatures -----------------------------------------------------------------------------------


def test_signed_head_verifies(log: Log) -> None:
    verify_tree_head(log.head(10), LOG_PUBLIC)


def test_head_signed_by_another_key_is_rejected() -> None:
    with pytest.raises(VerificationError):
        verify_tree_head(Log(ENTRIES, OTHER_KEY).head(10), LOG_PUBLIC)


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 11},
        {"timestamp_ms": 1},
        {"root_hash": EMPTY_ROOT},
    ],
)
def test_altered_head_under_a_valid_signature_is_rejected(log: Log, change: dict[str, object]) -> None:
    sth = log.head(10)
    forged = SignedTreeHead(head=dataclasses.replace(sth.head, **change), signature=sth.signature)  # type: ignore[arg-type]
    with pytest.raises(VerificationError):
        verify_tree_head(forged, LOG_PUBLIC)


def test_signature_from_another_context_is_not_a_tree_head_signature(log: Log) -> None:
    head = log.head(10).head
    other = envelope.sign(envelope.INDEX_HEADER_CONTEXT, encode_tree_head(head), LOG_KEY)
    with pytest.raises(VerificationError):
        verify_tree_head(SignedTreeHead(head=head, signature=other), LOG_PUBLIC)


# --- HeadTracker ----------------------------------------------------------------------------------


def test_tracker_accepts_a_consistent_growing_sequence(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC)
    previous = 0
    for size in (0, 1, 3, 3, 8, 13, 64, 65, 100):
        sth = log.head(size)
        proof = log.proof(previous, size)
        assert tracker.accept(sth, proof) == sth
        assert tracker.last == sth
        previous = size


def test_tracker_trusts_the_first_head_only_with_an_empty_proof(log: Log) -> None:
    with pytest.raises(VerificationError):
        HeadTracker(log_public_key=LOG_PUBLIC).accept(log.head(5), [log.tree.root_at(5)])


def test_tracker_accepts_the_same_head_again(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(7))
    assert tracker.accept(log.head(7), []) == log.head(7)


def test_forked_head_of_the_same_size_is_rejected(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(10))
    fork = Log([*ENTRIES[:9], b"rewritten"])
    with pytest.raises(VerificationError, match="forked"):
        tracker.accept(fork.head(10), [])
    assert tracker.last == log.head(10)


def test_forked_history_with_its_own_honest_proof_is_rejected(log: Log) -> None:
    """A split view: the fork's proof is honest for the fork but does not start from our head."""
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(10))
    fork = Log([*ENTRIES[:4], b"rewritten", *ENTRIES[5:]])
    with pytest.raises(VerificationError):
        tracker.accept(fork.head(20), fork.proof(10, 20))
    assert tracker.last == log.head(10)


def test_head_signed_by_another_key_is_rejected_by_the_tracker() -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=Log(ENTRIES).head(5))
    imposter = Log(ENTRIES, OTHER_KEY)
    with pytest.raises(VerificationError):
        tracker.accept(imposter.head(10), imposter.proof(5, 10))


def test_rolled_back_size_is_rejected(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(20))
    with pytest.raises(VerificationError, match="rolled back"):
        tracker.accept(log.head(10), [])
    assert tracker.last == log.head(20)


def test_replayed_older_timestamp_is_rejected(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(20, timestamp_ms=5_000))
    with pytest.raises(VerificationError, match="backwards"):
        tracker.accept(log.head(20, timestamp_ms=4_999), [])


def test_missing_or_wrong_consistency_proof_is_rejected(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(10))
    with pytest.raises(VerificationError):
        tracker.accept(log.head(20), [])
    with pytest.raises(VerificationError):
        tracker.accept(log.head(20), log.proof(11, 20))
    assert tracker.last == log.head(10)


def test_tampered_stored_head_is_rejected_at_load(log: Log) -> None:
    sth = log.head(10)
    tampered = SignedTreeHead(head=dataclasses.replace(sth.head, tree_size=9), signature=sth.signature)
    with pytest.raises(VerificationError):
        HeadTracker(log_public_key=LOG_PUBLIC, last=tampered)


def test_tracker_needs_a_32_byte_key() -> None:
    with pytest.raises(ValidationError):
        HeadTracker(log_public_key=b"short")


# --- offline audit --------------------------------------------------------------------------------


def verify_log(entries: list[bytes], sth: SignedTreeHead, public_key: bytes) -> None:
    """The offline audit of a whole log (crossforce.auditlog.verify.verify_stored_log) over bare entries."""
    rows = [(i, entry, leaf_hash(entry)) for i, entry in enumerate(entries)]
    head = StoredHead(
        tree_size=sth.head.tree_size,
        timestamp_ms=sth.head.timestamp_ms,
        root=sth.head.root_hash,
        signature=sth.signature,
    )
    verify_stored_log(rows, [head], public_key)


def test_whole_log_verifies_offline(log: Log) -> None:
    verify_log(ENTRIES, log.head(100), LOG_PUBLIC)
    verify_log(ENTRIES[:37], log.head(37), LOG_PUBLIC)
    verify_log([], log.head(0), LOG_PUBLIC)


@pytest.mark.parametrize(
    ("name", "entries"),
    [
        ("entry altered", [*ENTRIES[:50], b"altered", *ENTRIES[51:]]),
        ("entry dropped", ENTRIES[:99]),
        ("entry added", [*ENTRIES, b"extra"]),
        ("entries reordered", [ENTRIES[1], ENTRIES[0], *ENTRIES[2:]]),
    ],
)
def test_tampered_log_fails_the_offline_audit(log: Log, name: str, entries: list[bytes]) -> None:
    with pytest.raises(VerificationError):
        verify_log(entries, log.head(100), LOG_PUBLIC)


# --- HeadTracker.observe: every head a client is shown ----------------------------------------------


def test_observe_names_the_proof_it_needs(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC)
    assert tracker.proof_range(log.head(9)) is None
    tracker.observe(log.head(9), [])
    assert tracker.proof_range(log.head(9)) is None
    assert tracker.proof_range(log.head(20)) == (9, 20)
    assert tracker.proof_range(log.head(4)) == (4, 9)


def test_observe_keeps_the_newer_head_when_an_older_prefix_arrives_late(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(20))
    assert tracker.observe(log.head(8), log.proof(8, 20)) == log.head(20)
    assert tracker.last == log.head(20)


def test_observe_refuses_an_older_head_that_is_not_a_prefix(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(20))
    fork = Log([*ENTRIES[:4], b"rewritten", *ENTRIES[5:]])
    with pytest.raises(VerificationError):
        tracker.observe(fork.head(8), fork.proof(8, 20))
    with pytest.raises(VerificationError):
        tracker.observe(log.head(8), [])
    assert tracker.last == log.head(20)


def test_observe_refuses_an_older_head_signed_by_another_key(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(20))
    imposter = Log(ENTRIES, OTHER_KEY)
    with pytest.raises(VerificationError):
        tracker.observe(imposter.head(8), imposter.proof(8, 20))


def test_observe_applies_the_accept_rules_to_a_newer_head(log: Log) -> None:
    tracker = HeadTracker(log_public_key=LOG_PUBLIC, last=log.head(10))
    assert tracker.observe(log.head(30), log.proof(10, 30)) == log.head(30)
    with pytest.raises(VerificationError, match="forked"):
        tracker.observe(Log([*ENTRIES[:29], b"x"]).head(30), [])
