"""Incremental verification (``verify_extension``, the compact frontier) and the published log key file.

An auditor keeps the last head it verified and that tree's frontier, and later verifies only the leaves
added since; every way a matcher could slip a change past that must still be caught.
"""

from __future__ import annotations

import random

import pytest

from crossforce.auditlog import merkle
from crossforce.auditlog.logkey import (
    LOG_KEY_FILE_FORMAT,
    decode_log_key_file,
    encode_log_key_file,
    log_id,
)
from crossforce.auditlog.verify import (
    VerifiedPrefix,
    extend_frontier,
    frontier_root,
    verify_extension,
)
from crossforce.errors import ValidationError, VerificationError
from tests.unit.test_auditlog_verify import ENTRIES, LOG_PUBLIC, OTHER_KEY, SIZE, Log, flip

# ---------------------------------------------------------------------------------------------- frontier


@pytest.mark.parametrize("seed", range(5))
def test_frontier_extended_in_any_chunks_gives_the_rfc_root_of_every_size(seed: int) -> None:
    rng = random.Random(seed)
    leaves = [merkle.leaf_hash(rng.randbytes(8)) for _ in range(70)]
    frontier: tuple[bytes, ...] = ()
    size = 0
    while size < len(leaves):
        step = rng.randint(0, 9)
        frontier = extend_frontier(frontier, size, leaves[size : size + step])
        size = min(len(leaves), size + step)
        assert frontier_root(frontier) == merkle.root_from_leaf_hashes(leaves[:size])
        assert len(frontier) == bin(size).count("1")


def test_frontier_that_does_not_fit_its_size_is_refused() -> None:
    leaf = merkle.leaf_hash(b"x")
    with pytest.raises(VerificationError, match="frontier"):
        extend_frontier((leaf,), 3, [leaf])  # a tree of 3 leaves is two complete subtrees (2 + 1)


# ---------------------------------------------------------------------------------------------- extension
KEPT_AT = 4


def kept(log: Log, size: int = KEPT_AT) -> VerifiedPrefix:
    return VerifiedPrefix(head=log.head(size), frontier=extend_frontier((), 0, log.leaves[:size]))


def extend(log: Log, prefix: VerifiedPrefix | None, **changes: object) -> tuple[VerifiedPrefix, list[str]]:
    start = prefix.head.head.tree_size if prefix else 0
    args: dict[str, object] = {
        "log_key": LOG_PUBLIC,
        "kept": prefix,
        "head": log.head(),
        "consistency": log.tree.consistency_proof(start, log.size) if prefix else [],
        "leaf_hashes": log.leaves[start:],
        "entries": log.entries[start:],
    }
    args.update(changes)
    return verify_extension(**args)  # type: ignore[arg-type]


@pytest.fixture
def log() -> Log:
    return Log(ENTRIES)


def test_new_leaves_extend_the_kept_frontier_to_the_signed_root(log: Log) -> None:
    new, proved = extend(log, kept(log))
    assert new.head == log.head()
    assert frontier_root(new.frontier) == log.head().head.root_hash
    assert any("consistency proof" in line for line in proved)
    assert any(f"{SIZE - KEPT_AT} fetched" in line for line in proved)


def test_first_run_from_nothing_verifies_every_leaf(log: Log) -> None:
    new, _ = extend(log, None)
    assert new.frontier == extend_frontier((), 0, log.leaves)


def test_nothing_new_verifies_with_no_leaves_fetched(log: Log) -> None:
    full = kept(log, SIZE)
    new, _ = extend(log, full, consistency=[], leaf_hashes=[], entries=[])
    assert new == full


def test_forged_consistency_proof_is_refused(log: Log) -> None:
    proof = log.tree.consistency_proof(KEPT_AT, SIZE)
    with pytest.raises(VerificationError, match="consistency proof"):
        extend(log, kept(log), consistency=[flip(proof[0], 0), *proof[1:]])


def test_history_rewritten_before_the_kept_head_is_refused(log: Log) -> None:
    """The matcher rewrote an entry the auditor had verified, re-signed the new root and built an
    honest-looking proof for its new tree: the proof does not lead to the root the auditor kept."""
    forged = Log([ENTRIES[1], *ENTRIES[1:]])
    with pytest.raises(VerificationError):
        verify_extension(
            log_key=LOG_PUBLIC,
            kept=kept(log),
            head=forged.head(),
            consistency=forged.tree.consistency_proof(KEPT_AT, SIZE),
            leaf_hashes=forged.leaves[KEPT_AT:],
            entries=forged.entries[KEPT_AT:],
        )


def test_new_leaf_swapped_is_caught_by_the_signed_root(log: Log) -> None:
    leaves = list(log.leaves[KEPT_AT:])
    leaves[-1] = flip(leaves[-1], 3)
    entries = [*log.entries[KEPT_AT:-1], b""]  # the swapped leaf's event is not shown, only its hash
    with pytest.raises(VerificationError, match="altered"):
        extend(log, kept(log), leaf_hashes=leaves, entries=entries)


def test_new_entry_that_does_not_hash_to_its_leaf_is_refused(log: Log) -> None:
    entries = list(log.entries[KEPT_AT:])
    entries[0] = flip(entries[0], 5)
    with pytest.raises(VerificationError, match=f"entry {KEPT_AT} does not hash"):
        extend(log, kept(log), entries=entries)


def test_new_entries_missing_are_refused(log: Log) -> None:
    with pytest.raises(VerificationError, match="were supplied"):
        extend(log, kept(log), leaf_hashes=log.leaves[KEPT_AT:-1], entries=log.entries[KEPT_AT:-1])


def test_log_shrunk_below_the_kept_head_is_refused(log: Log) -> None:
    with pytest.raises(VerificationError, match="shrank"):
        extend(log, kept(log, SIZE), head=log.head(KEPT_AT), consistency=[], leaf_hashes=[], entries=[])


def test_head_signed_by_another_key_is_refused(log: Log) -> None:
    with pytest.raises(VerificationError):
        extend(log, kept(log), head=log.head(key=OTHER_KEY))


def test_damaged_local_frontier_is_refused_not_extended(log: Log) -> None:
    good = kept(log)
    damaged = VerifiedPrefix(head=good.head, frontier=(flip(good.frontier[0], 0),))
    with pytest.raises(VerificationError, match="--full"):
        extend(log, damaged)


# ---------------------------------------------------------------------------------------------- key file
def test_published_log_key_file_round_trips_and_names_the_log() -> None:
    text = encode_log_key_file(LOG_PUBLIC)
    assert decode_log_key_file(text) == LOG_PUBLIC
    assert f"format: {LOG_KEY_FILE_FORMAT}" in text.decode()
    assert f"log-id: {log_id(LOG_PUBLIC)}" in text.decode()
    assert log_id(LOG_PUBLIC) == LOG_PUBLIC.hex()[:16]


GOOD = encode_log_key_file(LOG_PUBLIC).decode()
BAD_FILES = {
    "key-cut-short": GOOD.replace(LOG_PUBLIC.hex(), LOG_PUBLIC.hex()[:-2]),
    "key-mistyped": GOOD.replace(f"public-key: {LOG_PUBLIC.hex()[:4]}", "public-key: ffff"),
    "not-hex": GOOD.replace(LOG_PUBLIC.hex(), "zz" * 32),
    "no-log-id": "\n".join(line for line in GOOD.splitlines() if not line.startswith("log-id")),
    "other-format": GOOD.replace(LOG_KEY_FILE_FORMAT, "crossforce-log-key/9"),
    "other-algorithm": GOOD.replace("algorithm: ed25519", "algorithm: rsa"),
    "field-twice": GOOD + f"public-key: {LOG_PUBLIC.hex()}\n",
    "unknown-field": GOOD + "comment: hello\n",
    "a-saved-log-instead": '{"format": "crossforce-audit-log/1"}',
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_malformed_log_key_file_is_refused_naming_the_file(name: str) -> None:
    with pytest.raises(ValidationError, match=r"log-key\.pub"):
        decode_log_key_file(BAD_FILES[name].encode(), source="log-key.pub")


def test_log_key_file_that_is_not_text_is_refused() -> None:
    with pytest.raises(ValidationError, match="not UTF-8"):
        decode_log_key_file(b"\xff\xfe" + bytes(40), source="log-key.pub")


# ---------------------------------------------------------------------------------------------- csv report
def test_csv_report_cell_typed_as_a_formula_is_never_run() -> None:
    """An officer id or case reference typed as a spreadsheet formula is written as text (leading ')."""
    import csv
    import io

    from crossforce.auditlog.events import Check
    from crossforce.cli.auditcsv import CSV_COLUMNS, events_csv

    hostile = Check(
        at_ms=1_700_000_000_123,
        actor_org="dbs",
        actor_role="vetting-officer",
        check_id="c-9",
        officer_id='=HYPERLINK("http://x")',
        purpose="+purpose",
        legal_basis="@basis",
        case_reference="-1+2",
        hits=(),
        requests=("r-1", "r-2"),
    )
    header, row = list(csv.reader(io.StringIO(events_csv([(7, hostile)]))))
    cells = dict(zip(header, row, strict=True))
    assert tuple(header) == CSV_COLUMNS
    assert cells["index"] == "7" and cells["time_utc"] == "2023-11-14T22:13:20.123Z"
    assert cells["officer_id"] == '\'=HYPERLINK("http://x")'
    assert cells["purpose"] == "'+purpose" and cells["legal_basis"] == "'@basis"
    assert cells["case_reference"] == "'-1+2"
    assert cells["request_id"] == "r-1 r-2" and cells["kind"] == "check"
    assert not any(v.startswith(("=", "+", "-", "@")) for v in row)
