"""Whole-log verification over plain values: each test is named after the attack or failure it catches.

Every log here is real: typed events encoded to their canonical bytes, RFC 9162 leaf hashes, a Merkle tree,
and tree heads signed with Ed25519 log keys. Bytes go in; what was proved, or an exception, comes out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import nacl.signing
import pytest

from crossforce.auditlog.events import (
    AuditEvent,
    Check,
    DisclosureTransition,
    EpochChange,
    PublishAccepted,
    QuotaDenied,
    Registration,
)
from crossforce.auditlog.merkle import EMPTY_ROOT, MerkleTree, leaf_hash
from crossforce.auditlog.treehead import SignedTreeHead, TreeHead, sign_tree_head, verify_tree_head
from crossforce.auditlog.verify import (
    LOG_FILE_FORMAT,
    LogSnapshot,
    StoredHead,
    filter_events,
    verify_snapshot,
    verify_stored_log,
)
from crossforce.errors import CrossforceError, ValidationError, VerificationError

LOG_KEY = nacl.signing.SigningKey(bytes(range(32)))
LOG_PUBLIC = bytes(LOG_KEY.verify_key)
OTHER_KEY = nacl.signing.SigningKey(bytes(range(1, 33)))
OTHER_PUBLIC = bytes(OTHER_KEY.verify_key)
T0 = 1_700_000_000_000
CASE = "VET/2024/0042"


def _events() -> list[AuditEvent]:
    """Nine events (not a power of two, so the tree has an unbalanced right edge) of most kinds."""
    return [
        Registration(
            at_ms=T0,
            actor_org="matcher",
            actor_role="admin",
            org="kent",
            signing_key=bytes(range(32)),
            box_key=bytes(range(32, 64)),
            key_version=1,
        ),
        Registration(
            at_ms=T0 + 1000,
            actor_org="matcher",
            actor_role="admin",
            org="humberside",
            signing_key=bytes(range(64, 96)),
            box_key=bytes(range(96, 128)),
            key_version=1,
        ),
        PublishAccepted(
            at_ms=T0 + 2000,
            actor_org="kent",
            actor_role="force-system",
            org="kent",
            epoch=1,
            version=1,
            record_count=5,
            token_count=40,
            bits_sha256=hashlib.sha256(b"bits").digest(),
            expires_at_ms=T0 + 86_400_000,
        ),
        Check(
            at_ms=T0 + 3000,
            actor_org="humberside",
            actor_role="vetting-officer",
            check_id="c-1",
            officer_id="HB1234",
            purpose="pre-employment vetting",
            legal_basis="DPA 2018 s.35",
            case_reference=CASE,
            hits=("kent",),
            requests=("r-1",),
        ),
        DisclosureTransition(
            at_ms=T0 + 4000,
            actor_org="humberside",
            actor_role="vetting-officer",
            request_id="r-1",
            holder_org="kent",
            requester_org="humberside",
            state_from="",
            state_to="OPEN",
            officer_id="HB1234",
        ),
        DisclosureTransition(
            at_ms=T0 + 5000,
            actor_org="kent",
            actor_role="disclosure-officer",
            request_id="r-1",
            holder_org="kent",
            requester_org="humberside",
            state_from="OPEN",
            state_to="APPROVED",
            officer_id="KT7",
            payload_sha256=hashlib.sha256(b"sealed").digest(),
        ),
        QuotaDenied(
            at_ms=T0 + 6000,
            actor_org="humberside",
            actor_role="vetting-officer",
            officer_id="HB9",
            purpose="intelligence",
            limit="daily checks per officer",
        ),
        Check(
            at_ms=T0 + 7000,
            actor_org="kent",
            actor_role="vetting-officer",
            check_id="c-2",
            officer_id="KT1",
            purpose="intelligence",
            legal_basis="DPA 2018 s.31",
            case_reference="OP/1",
            hits=(),
            requests=(),
        ),
        EpochChange(
            at_ms=T0 + 8000, actor_org="matcher", actor_role="admin", retired_through=0, current_epoch=1
        ),
    ]


class Log:
    """An honest log: its entries' canonical bytes, their leaf hashes, a tree, and heads signed on demand."""

    def __init__(self, entries: list[bytes], key: nacl.signing.SigningKey = LOG_KEY) -> None:
        self.entries = list(entries)
        self.leaves = [leaf_hash(e) for e in self.entries]
        self.tree = MerkleTree(self.leaves)
        self.key = key

    @property
    def size(self) -> int:
        return len(self.entries)

    def head(self, size: int | None = None, *, key: nacl.signing.SigningKey | None = None) -> SignedTreeHead:
        size = self.size if size is None else size
        root = self.tree.root_at(size)
        return sign_tree_head(
            TreeHead(tree_size=size, timestamp_ms=T0 + 10_000 + size, root_hash=root), key or self.key
        )

    def rows(self) -> list[tuple[int, bytes, bytes]]:
        """``(index, leaf_hash, entry)``, as ``LogSnapshot.collect`` takes them."""
        return [(i, h, e) for i, (h, e) in enumerate(zip(self.leaves, self.entries, strict=True))]

    def snapshot(self, *, previous: SignedTreeHead | None = None) -> LogSnapshot:
        return LogSnapshot.collect(
            head=self.head(), log_key=LOG_PUBLIC, entries=self.rows(), previous=previous
        )

    def stored_rows(self) -> list[tuple[int, bytes, bytes]]:
        """``(index, entry, leaf_hash)``, as ``verify_stored_log`` takes them (note the other order)."""
        return [(i, e, h) for i, (h, e) in enumerate(zip(self.leaves, self.entries, strict=True))]

    def stored_heads(self, sizes: tuple[int, ...] = (1, 4, 9)) -> list[StoredHead]:
        return [stored(self.head(n)) for n in sizes]


def stored(sth: SignedTreeHead) -> StoredHead:
    return StoredHead(
        tree_size=sth.head.tree_size,
        timestamp_ms=sth.head.timestamp_ms,
        root=sth.head.root_hash,
        signature=sth.signature,
    )


def flip(data: bytes, byte: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[byte] ^= 1 << bit
    return bytes(out)


ENTRIES = [e.encode() for e in _events()]
SIZE = len(ENTRIES)


@pytest.fixture
def log() -> Log:
    return Log(ENTRIES)


def test_the_fixture_log_is_nine_distinct_canonical_events(log: Log) -> None:
    assert log.size == SIZE == 9
    assert len(set(log.entries)) == SIZE
    verify_tree_head(log.head(), LOG_PUBLIC)


# --- verify_snapshot: the honest log --------------------------------------------------------------


def test_honest_log_verifies_and_says_what_it_proved(log: Log) -> None:
    proved = verify_snapshot(log.snapshot(), LOG_PUBLIC)
    assert proved == [
        f"tree head for 9 entries is signed by log key {LOG_PUBLIC.hex()[:16]}...",
        "9 readable events hash to their leaves and decode canonically",
        "root recomputed from all 9 leaf hashes equals the signed root",
    ]


def test_honest_log_that_grew_since_the_kept_head_proves_it_is_append_only(log: Log) -> None:
    proved = verify_snapshot(log.snapshot(previous=log.head(4)), LOG_PUBLIC)
    assert len(proved) == 4
    assert proved[-1] == "the first 4 leaves still hash to the head kept earlier (append-only since then)"


@pytest.mark.parametrize("kept", [0, 1, 8, 9])
def test_kept_head_at_the_edges_is_a_prefix_of_an_honest_log(log: Log, kept: int) -> None:
    proved = verify_snapshot(log.snapshot(previous=log.head(kept)), LOG_PUBLIC)
    assert proved[-1].startswith(f"the first {kept} leaves still hash")


def test_empty_log_under_a_signed_empty_head_verifies() -> None:
    empty = Log([])
    assert empty.head().head.root_hash == EMPTY_ROOT
    proved = verify_snapshot(empty.snapshot(), LOG_PUBLIC)
    assert proved[1:] == [
        "0 readable events hash to their leaves and decode canonically",
        "root recomputed from all 0 leaf hashes equals the signed root",
    ]


def test_redacted_entries_still_verify_by_leaf_hash_and_only_readable_ones_are_counted(log: Log) -> None:
    snap = log.snapshot()
    for i in (0, 5):
        snap.entries[i] = b""
    proved = verify_snapshot(snap, LOG_PUBLIC)
    assert proved[1] == "7 readable events hash to their leaves and decode canonically"
    assert [i for i, _e in snap.events()] == [1, 2, 3, 4, 6, 7, 8]


# --- verify_snapshot: tampered entries ------------------------------------------------------------


@pytest.mark.parametrize("index", range(SIZE))
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_flipped_bit_in_any_entry_is_caught_by_its_leaf_hash(log: Log, index: int, where: str) -> None:
    snap = log.snapshot()
    entry = snap.entries[index]
    byte = {"first": 0, "middle": len(entry) // 2, "last": len(entry) - 1}[where]
    snap.entries[index] = flip(entry, byte, bit=3)
    with pytest.raises(VerificationError, match=f"entry {index} does not hash to its leaf"):
        verify_snapshot(snap, LOG_PUBLIC)


@pytest.mark.parametrize("index", range(SIZE))
def test_altered_entry_with_a_recomputed_leaf_hash_is_caught_by_the_signed_root(log: Log, index: int) -> None:
    snap = log.snapshot()
    forged = dataclasses.replace(_events()[index], at_ms=T0 + 999_999)
    snap.entries[index] = forged.encode()
    snap.leaf_hashes[index] = leaf_hash(snap.entries[index])
    with pytest.raises(VerificationError, match="do not hash to the signed root"):
        verify_snapshot(snap, LOG_PUBLIC)


@pytest.mark.parametrize("index", range(SIZE))
def test_flipped_bit_in_a_redacted_leaf_hash_is_caught_by_the_signed_root(log: Log, index: int) -> None:
    snap = log.snapshot()
    snap.entries[index] = b""
    snap.leaf_hashes[index] = flip(snap.leaf_hashes[index], 31, bit=7)
    with pytest.raises(VerificationError, match="do not hash to the signed root"):
        verify_snapshot(snap, LOG_PUBLIC)


def test_entry_that_hashes_to_its_leaf_but_is_not_an_event_is_refused() -> None:
    # A log whose signer put a non-event into it: hashes and signature are all consistent.
    bogus = Log([*ENTRIES[:3], b"not an audit event", *ENTRIES[3:]])
    with pytest.raises(CrossforceError):
        verify_snapshot(bogus.snapshot(), LOG_PUBLIC)


# --- verify_snapshot and collect: dropped, reordered, truncated -----------------------------------


@pytest.mark.parametrize("index", range(SIZE))
def test_dropped_entry_is_caught_by_the_head_size(log: Log, index: int) -> None:
    rows = [(i, h, e) for i, (_j, h, e) in enumerate(r for r in log.rows() if r[0] != index)]
    snap = LogSnapshot.collect(head=log.head(), log_key=LOG_PUBLIC, entries=rows)
    with pytest.raises(VerificationError, match="the head covers 9 entries but 8 were supplied"):
        verify_snapshot(snap, LOG_PUBLIC)


@pytest.mark.parametrize("index", range(SIZE))
def test_dropped_entry_with_a_duplicate_in_its_place_is_caught_by_the_signed_root(
    log: Log, index: int
) -> None:
    snap = log.snapshot()
    other = (index + 1) % SIZE
    snap.entries[index], snap.leaf_hashes[index] = snap.entries[other], snap.leaf_hashes[other]
    with pytest.raises(VerificationError, match="do not hash to the signed root"):
        verify_snapshot(snap, LOG_PUBLIC)


@pytest.mark.parametrize("index", range(SIZE))
def test_gap_in_the_rows_the_matcher_returned_is_refused_when_collecting(log: Log, index: int) -> None:
    rows = [r for r in log.rows() if r[0] != index]
    if index == SIZE - 1:  # dropping the last row leaves no gap: the head size catches it instead
        snap = LogSnapshot.collect(head=log.head(), log_key=LOG_PUBLIC, entries=rows)
        with pytest.raises(VerificationError, match="but 8 were supplied"):
            verify_snapshot(snap, LOG_PUBLIC)
        return
    with pytest.raises(VerificationError, match=f"returned entry {index + 1} where {index} was expected"):
        LogSnapshot.collect(head=log.head(), log_key=LOG_PUBLIC, entries=rows)


def test_rows_returned_out_of_order_are_refused_when_collecting(log: Log) -> None:
    rows = log.rows()
    rows[2], rows[5] = rows[5], rows[2]
    with pytest.raises(VerificationError, match="returned entry 5 where 2 was expected"):
        LogSnapshot.collect(head=log.head(), log_key=LOG_PUBLIC, entries=rows)


@pytest.mark.parametrize(("a", "b"), [(0, 1), (2, 5), (7, 8), (0, 8)])
def test_reordered_entries_renumbered_to_look_in_order_are_caught_by_the_signed_root(
    log: Log, a: int, b: int
) -> None:
    order = list(range(SIZE))
    order[a], order[b] = order[b], order[a]
    rows = [(i, log.leaves[j], log.entries[j]) for i, j in enumerate(order)]
    snap = LogSnapshot.collect(head=log.head(), log_key=LOG_PUBLIC, entries=rows)
    with pytest.raises(VerificationError, match="do not hash to the signed root"):
        verify_snapshot(snap, LOG_PUBLIC)


@pytest.mark.parametrize("kept", [0, 1, 5, 8])
def test_truncated_log_under_the_full_head_is_caught_by_the_head_size(log: Log, kept: int) -> None:
    snap = LogSnapshot.collect(head=log.head(), log_key=LOG_PUBLIC, entries=log.rows()[:kept])
    with pytest.raises(VerificationError, match=f"the head covers 9 entries but {kept} were supplied"):
        verify_snapshot(snap, LOG_PUBLIC)


def test_log_rolled_back_to_an_older_honest_head_is_caught_against_the_kept_head(log: Log) -> None:
    old = Log(ENTRIES[:5])
    assert verify_snapshot(old.snapshot(), LOG_PUBLIC)  # on its own, the old log is genuine
    with pytest.raises(VerificationError, match="the log shrank from 9 to 5 entries since last kept"):
        verify_snapshot(old.snapshot(previous=log.head()), LOG_PUBLIC)


# --- verify_snapshot: heads and keys --------------------------------------------------------------


def test_head_signed_by_another_key_is_refused(log: Log) -> None:
    snap = log.snapshot()
    snap.head = log.head(key=OTHER_KEY)
    with pytest.raises(VerificationError, match="bad signature"):
        verify_snapshot(snap, LOG_PUBLIC)


def test_log_claiming_another_key_than_the_one_pinned_is_refused(log: Log) -> None:
    snap = log.snapshot()
    snap.head, snap.log_key = log.head(key=OTHER_KEY), OTHER_PUBLIC
    assert verify_snapshot(snap, OTHER_PUBLIC)  # self-consistent under its own key
    with pytest.raises(VerificationError, match="different log key than the one you trust"):
        verify_snapshot(snap, LOG_PUBLIC)


@pytest.mark.parametrize("field", ["tree_size", "timestamp_ms", "root_hash"])
def test_head_altered_after_signing_is_refused(log: Log, field: str) -> None:
    snap = log.snapshot()
    head = snap.head.head
    changed = {
        "tree_size": head.tree_size + 1,
        "timestamp_ms": head.timestamp_ms + 1,
        "root_hash": flip(head.root_hash, 0),
    }[field]
    snap.head = SignedTreeHead(
        head=dataclasses.replace(head, **{field: changed}), signature=snap.head.signature
    )
    with pytest.raises(VerificationError, match="bad signature"):
        verify_snapshot(snap, LOG_PUBLIC)


@pytest.mark.parametrize("byte", [0, 31, 63])
def test_flipped_bit_in_the_head_signature_is_refused(log: Log, byte: int) -> None:
    snap = log.snapshot()
    snap.head = SignedTreeHead(head=snap.head.head, signature=flip(snap.head.signature, byte))
    with pytest.raises(VerificationError, match="bad signature"):
        verify_snapshot(snap, LOG_PUBLIC)


def test_signed_head_whose_root_does_not_match_the_leaves_is_refused(log: Log) -> None:
    # The signer itself vouched for a root that these leaves do not produce (a split view).
    other = Log([*ENTRIES[:8], _events()[0].encode()])
    snap = log.snapshot()
    snap.head = other.head()
    verify_tree_head(snap.head, LOG_PUBLIC)
    with pytest.raises(VerificationError, match="the leaves do not hash to the signed root"):
        verify_snapshot(snap, LOG_PUBLIC)


@pytest.mark.parametrize("kept", [1, 4, 5, 9])
def test_rewritten_history_is_caught_against_the_kept_head(log: Log, kept: int) -> None:
    # The matcher once showed us a log whose first entry differs, then rewrote it and re-signed.
    forged = [dataclasses.replace(_events()[0], key_version=2).encode(), *ENTRIES[1:]]
    earlier = Log(forged).head(kept)
    verify_tree_head(earlier, LOG_PUBLIC)
    with pytest.raises(
        VerificationError, match=f"the first {kept} entries no longer match the head you kept"
    ):
        verify_snapshot(log.snapshot(previous=earlier), LOG_PUBLIC)


def test_history_rewritten_only_after_the_kept_head_is_not_a_rewrite_of_it(log: Log) -> None:
    forked = Log([*ENTRIES[:4], *ENTRIES[5:], ENTRIES[4]])
    proved = verify_snapshot(forked.snapshot(previous=log.head(4)), LOG_PUBLIC)
    assert proved[-1].startswith("the first 4 leaves still hash")
    with pytest.raises(VerificationError, match="the first 5 entries no longer match"):
        verify_snapshot(forked.snapshot(previous=log.head(5)), LOG_PUBLIC)


# --- to_json / from_json --------------------------------------------------------------------------


def test_saved_snapshot_round_trips_and_still_verifies(log: Log) -> None:
    snap = log.snapshot()
    snap.entries[3] = b""  # a redacted entry is saved as such
    text = snap.to_json()
    doc = json.loads(text)
    assert doc["format"] == LOG_FILE_FORMAT
    assert [r["index"] for r in doc["entries"]] == list(range(SIZE))
    back = LogSnapshot.from_json(text.encode())
    assert back.head == snap.head
    assert back.log_key == snap.log_key == LOG_PUBLIC
    assert back.leaf_hashes == snap.leaf_hashes
    assert back.entries == snap.entries
    assert back.to_json() == text
    assert verify_snapshot(back, LOG_PUBLIC) == verify_snapshot(snap, LOG_PUBLIC)


def test_saved_empty_log_round_trips() -> None:
    snap = Log([]).snapshot()
    back = LogSnapshot.from_json(snap.to_json().encode())
    assert (back.head, back.leaf_hashes, back.entries) == (snap.head, [], [])
    assert verify_snapshot(back, LOG_PUBLIC)


@pytest.mark.parametrize("index", [0, 4, 8])
def test_saved_file_edited_on_disk_parses_but_does_not_verify(log: Log, index: int) -> None:
    doc = json.loads(log.snapshot().to_json())
    entry = bytes.fromhex(doc["entries"][index]["entry"])
    doc["entries"][index]["entry"] = flip(entry, len(entry) // 2).hex()
    edited = LogSnapshot.from_json(json.dumps(doc).encode())
    with pytest.raises(VerificationError, match=f"entry {index} does not hash to its leaf"):
        verify_snapshot(edited, LOG_PUBLIC)


def test_saved_file_with_the_key_swapped_for_the_attackers_is_refused_against_the_pinned_key(
    log: Log,
) -> None:
    snap = log.snapshot()
    snap.head, snap.log_key = log.head(key=OTHER_KEY), OTHER_PUBLIC
    back = LogSnapshot.from_json(snap.to_json().encode())
    with pytest.raises(VerificationError, match="different log key"):
        verify_snapshot(back, LOG_PUBLIC)


def _saved(**changes: object) -> bytes:
    doc = json.loads(Log(ENTRIES[:3]).snapshot().to_json())
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is KeyError:
            del node[leaf]
        else:
            node[leaf] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("empty file", b""),
        ("not JSON", b"crossforce audit log"),
        ("not UTF-8", b"\xff\xfe\x00"),
        ("a JSON list", b"[]"),
        ("a JSON number", b"42"),
        ("JSON null", b"null"),
        ("no format", _saved(format=KeyError)),
        ("another format", _saved(format="crossforce-audit-log/2")),
        ("no tree head", _saved(tree_head=KeyError)),
        ("tree head is a list", _saved(tree_head=[])),
        ("no signature", _saved(tree_head__signature=KeyError)),
        ("signature not hex", _saved(tree_head__signature="zz")),
        ("signature is a number", _saved(tree_head__signature=7)),
        ("tree size not a number", _saved(tree_head__tree_size="three")),
        ("negative tree size", _saved(tree_head__tree_size=-1)),
        ("tree size beyond 64 bits", _saved(tree_head__tree_size=2**64)),
        ("root hash too short", _saved(tree_head__root_hash="00" * 31)),
        ("no entries", _saved(entries=KeyError)),
        ("entries is a number", _saved(entries=3)),
        ("entries is a mapping", _saved(entries={"0": {}})),
        ("entry row is a string", _saved(entries=["00"])),
        ("entries numbered from 1", _saved(entries__0__index=3)),
        ("entry without a leaf hash", _saved(entries__1__leaf_hash=KeyError)),
        ("entry bytes not hex", _saved(entries__2__entry="0g")),
        ("no log key", _saved(log_key=KeyError)),
        ("log key odd hex", _saved(log_key="abc")),
    ],
)
def test_saved_file_that_is_not_a_log_is_a_validation_error(name: str, text: bytes) -> None:
    with pytest.raises(ValidationError):
        LogSnapshot.from_json(text)


def test_the_malformed_file_cases_are_otherwise_valid() -> None:
    # Guards the table above: the unedited document parses, so each row fails for its own edit.
    assert LogSnapshot.from_json(_saved()).leaf_hashes == Log(ENTRIES[:3]).leaves


def test_saved_file_of_deeply_nested_json_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        LogSnapshot.from_json(b"[" * 100_000)


def test_saved_file_with_an_infinite_tree_size_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        LogSnapshot.from_json(_saved(tree_head__tree_size=float("inf")))


# --- verify_stored_log ----------------------------------------------------------------------------


def test_honest_stored_log_returns_its_last_signed_head(log: Log) -> None:
    assert verify_stored_log(log.stored_rows(), log.stored_heads(), LOG_PUBLIC) == log.head()


def test_honest_stored_log_checked_against_the_callers_tree_returns_its_last_head(log: Log) -> None:
    tree = MerkleTree(log.leaves)
    assert verify_stored_log(log.stored_rows(), log.stored_heads(), LOG_PUBLIC, tree=tree) == log.head()


def test_empty_stored_log_with_no_head_returns_none() -> None:
    assert verify_stored_log([], [], LOG_PUBLIC) is None


def test_empty_stored_log_with_a_signed_empty_head_returns_it() -> None:
    empty = Log([])
    assert verify_stored_log([], [stored(empty.head())], LOG_PUBLIC) == empty.head()


@pytest.mark.parametrize("index", range(SIZE))
def test_flipped_bit_in_any_stored_event_is_caught_by_its_stored_leaf_hash(log: Log, index: int) -> None:
    rows = log.stored_rows()
    i, entry, leaf = rows[index]
    rows[index] = (i, flip(entry, len(entry) // 2, bit=5), leaf)
    with pytest.raises(VerificationError, match=f"audit log event {index} does not hash to its stored leaf"):
        verify_stored_log(rows, log.stored_heads(), LOG_PUBLIC)


@pytest.mark.parametrize("index", range(SIZE))
def test_flipped_bit_in_any_stored_leaf_hash_is_caught(log: Log, index: int) -> None:
    rows = log.stored_rows()
    i, entry, leaf = rows[index]
    rows[index] = (i, entry, flip(leaf, 0))
    with pytest.raises(VerificationError, match=f"audit log event {index} does not hash"):
        verify_stored_log(rows, log.stored_heads(), LOG_PUBLIC)


@pytest.mark.parametrize("index", range(SIZE))
def test_stored_event_rewritten_with_its_leaf_hash_is_caught_by_a_signed_head(log: Log, index: int) -> None:
    rows = log.stored_rows()
    forged = dataclasses.replace(_events()[index], actor_role="someone-else").encode()
    rows[index] = (index, forged, leaf_hash(forged))
    with pytest.raises(VerificationError, match="the database has been altered or truncated"):
        verify_stored_log(rows, log.stored_heads(), LOG_PUBLIC)


@pytest.mark.parametrize("index", range(SIZE - 1))
def test_deleted_stored_row_is_caught_as_missing(log: Log, index: int) -> None:
    rows = [r for r in log.stored_rows() if r[0] != index]
    with pytest.raises(VerificationError, match=f"audit log row {index} is missing"):
        verify_stored_log(rows, log.stored_heads(), LOG_PUBLIC)


def test_reordered_stored_rows_are_caught(log: Log) -> None:
    rows = log.stored_rows()
    rows[3], rows[4] = rows[4], rows[3]
    with pytest.raises(VerificationError, match="audit log row 3 is missing"):
        verify_stored_log(rows, log.stored_heads(), LOG_PUBLIC)


def test_stored_rows_swapped_and_renumbered_are_caught_by_a_signed_head(log: Log) -> None:
    rows = log.stored_rows()
    (_, e3, h3), (_, e4, h4) = rows[3], rows[4]
    rows[3], rows[4] = (3, e4, h4), (4, e3, h3)
    with pytest.raises(VerificationError, match="altered or truncated"):
        verify_stored_log(rows, log.stored_heads(), LOG_PUBLIC)


@pytest.mark.parametrize("kept", [0, 1, 4, 8])
def test_truncated_stored_log_is_caught_by_the_last_signed_head(log: Log, kept: int) -> None:
    with pytest.raises(VerificationError, match="altered or truncated"):
        verify_stored_log(log.stored_rows()[:kept], log.stored_heads(), LOG_PUBLIC)


def test_stored_events_with_no_signed_head_are_refused(log: Log) -> None:
    with pytest.raises(VerificationError, match="9 audit events are stored but no signed tree head"):
        verify_stored_log(log.stored_rows(), [], LOG_PUBLIC)


def test_stored_events_appended_after_the_last_signed_head_are_refused(log: Log) -> None:
    with pytest.raises(VerificationError, match="2 stored audit events are not covered"):
        verify_stored_log(log.stored_rows(), log.stored_heads((1, 4, 7)), LOG_PUBLIC)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_stored_head_signed_by_another_key_is_refused(log: Log, which: int) -> None:
    heads = log.stored_heads()
    heads[which] = stored(log.head(heads[which].tree_size, key=OTHER_KEY))
    with pytest.raises(VerificationError, match="bad signature"):
        verify_stored_log(log.stored_rows(), heads, LOG_PUBLIC)


@pytest.mark.parametrize("field", ["tree_size", "timestamp_ms", "root", "signature"])
def test_stored_head_altered_after_signing_is_refused(log: Log, field: str) -> None:
    heads = log.stored_heads()
    row = heads[1]
    changed = {
        "tree_size": row.tree_size + 1,
        "timestamp_ms": row.timestamp_ms - 1,
        "root": flip(row.root, 17),
        "signature": flip(row.signature, 40),
    }[field]
    heads[1] = dataclasses.replace(row, **{field: changed})
    with pytest.raises(VerificationError, match="bad signature"):
        verify_stored_log(log.stored_rows(), heads, LOG_PUBLIC)


@pytest.mark.parametrize(
    ("field", "value"),
    [("root", b"\x00" * 31), ("tree_size", -1), ("timestamp_ms", 2**64), ("signature", b"\x00" * 63)],
)
def test_malformed_stored_head_is_a_verification_error(log: Log, field: str, value: object) -> None:
    heads = log.stored_heads()
    heads[0] = dataclasses.replace(heads[0], **{field: value})
    with pytest.raises(VerificationError):
        verify_stored_log(log.stored_rows(), heads, LOG_PUBLIC)


def test_signed_head_for_a_root_the_stored_leaves_do_not_give_is_refused(log: Log) -> None:
    other = Log([*ENTRIES[:3], ENTRIES[8], *ENTRIES[4:8], ENTRIES[3]])
    heads = [*log.stored_heads((1, 4)), stored(other.head(9))]
    with pytest.raises(VerificationError, match="signed tree head of size 9"):
        verify_stored_log(log.stored_rows(), heads, LOG_PUBLIC)


def test_signed_head_larger_than_the_stored_log_is_refused(log: Log) -> None:
    longer = Log([*ENTRIES, ENTRIES[0]])
    heads = [*log.stored_heads(), stored(longer.head())]
    with pytest.raises(VerificationError, match=r"stored audit log \(9 events\) does not match .* size 10"):
        verify_stored_log(log.stored_rows(), heads, LOG_PUBLIC)


@pytest.mark.parametrize(
    "leaves",
    [
        pytest.param(lambda ls: ls[:-1], id="tree one leaf short"),
        pytest.param(lambda ls: [*ls, ls[0]], id="tree one leaf long"),
        pytest.param(lambda ls: [*ls[:-1], flip(ls[-1], 3)], id="tree with another last leaf"),
    ],
)
def test_in_memory_tree_that_does_not_match_the_stored_leaves_is_refused(log: Log, leaves: object) -> None:
    tree = MerkleTree(leaves(log.leaves))  # type: ignore[operator]
    with pytest.raises(VerificationError, match="the in-memory tree does not match the stored leaves"):
        verify_stored_log(log.stored_rows(), log.stored_heads(), LOG_PUBLIC, tree=tree)


def test_stored_row_rewritten_under_a_tree_from_the_original_leaves_is_refused(log: Log) -> None:
    rows = log.stored_rows()
    forged = dataclasses.replace(_events()[0], key_version=2).encode()
    rows[0] = (0, forged, leaf_hash(forged))
    with pytest.raises(VerificationError):
        verify_stored_log(rows, log.stored_heads(), LOG_PUBLIC, tree=MerkleTree(log.leaves))


# --- filter_events --------------------------------------------------------------------------------


@pytest.fixture
def events(log: Log) -> list[tuple[int, AuditEvent]]:
    snap = log.snapshot()
    verify_snapshot(snap, LOG_PUBLIC)
    return snap.events()


def _indexes(found: list[tuple[int, AuditEvent]]) -> list[int]:
    return [i for i, _e in found]


def test_verified_snapshot_decodes_to_the_events_that_were_written(
    events: list[tuple[int, AuditEvent]],
) -> None:
    assert events == list(enumerate(_events()))


def test_no_filter_returns_every_event(events: list[tuple[int, AuditEvent]]) -> None:
    assert filter_events(events) == events


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"org": "kent"}, [0, 2, 4, 5, 7]),
        ({"org": "humberside"}, [1, 3, 4, 5, 6]),
        ({"org": "matcher"}, [0, 1, 8]),
        ({"org": "dyfed-powys"}, []),
        ({"officer": "HB1234"}, [3, 4]),
        ({"officer": "KT7"}, [5]),
        ({"officer": "nobody"}, []),
        ({"purpose": "intelligence"}, [6, 7]),
        ({"purpose": "pre-employment vetting"}, [3]),
        ({"case_ref": CASE}, [3, 4, 5]),
        ({"case_ref": "OP/1"}, [7]),
        ({"case_ref": "NO/SUCH/CASE"}, []),
        ({"request_id": "r-1"}, [3, 4, 5]),
        ({"request_id": "r-2"}, []),
        ({"since_ms": T0 + 5000}, [5, 6, 7, 8]),
        ({"until_ms": T0 + 2000}, [0, 1, 2]),
        ({"since_ms": T0 + 3000, "until_ms": T0 + 3000}, [3]),
        ({"since_ms": T0 + 3001, "until_ms": T0 + 3999}, []),
        ({"org": "kent", "case_ref": CASE}, [4, 5]),
        ({"org": "humberside", "purpose": "intelligence"}, [6]),
        ({"officer": "HB1234", "request_id": "r-1", "since_ms": T0 + 3500}, [4]),
    ],
)
def test_filter_returns_only_the_matching_events(
    events: list[tuple[int, AuditEvent]], query: dict[str, object], expected: list[int]
) -> None:
    assert _indexes(filter_events(events, **query)) == expected  # type: ignore[arg-type]


def test_check_naming_a_force_as_a_hit_is_not_shown_to_that_force(
    events: list[tuple[int, AuditEvent]],
) -> None:
    check = events[3][1]
    assert isinstance(check, Check) and check.hits == ("kent",)
    assert 3 not in _indexes(filter_events(events, org="kent"))


def test_case_filter_does_not_pull_in_requests_of_other_cases(log: Log) -> None:
    extra = DisclosureTransition(
        at_ms=T0 + 9000,
        actor_org="kent",
        actor_role="vetting-officer",
        request_id="r-9",
        holder_org="humberside",
        requester_org="kent",
        state_from="",
        state_to="OPEN",
    )
    snap = Log([*ENTRIES, extra.encode()]).snapshot()
    verify_snapshot(snap, LOG_PUBLIC)
    assert _indexes(filter_events(snap.events(), case_ref=CASE)) == [3, 4, 5]
    assert _indexes(filter_events(snap.events(), request_id="r-9")) == [9]


def test_filter_keeps_the_log_indexes_of_a_redacted_view(log: Log) -> None:
    snap = log.snapshot()
    snap.entries[4] = b""
    verify_snapshot(snap, LOG_PUBLIC)
    assert _indexes(filter_events(snap.events(), request_id="r-1")) == [3, 5]
