"""The store seams: the SQLite backend keeps a change and its audit entry in one transaction, a data
folder's log can be read back read-only as plain values for the offline verifier, and a folder written
by an older schema version is upgraded when it is opened (one from a newer matcher is refused)."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from crossforce.errors import AlreadyExistsError, PreconditionError, UnavailableError
from crossforce.server.store import (
    HeadRow,
    OrgRow,
    RequestRow,
    SQLiteStorage,
    Storage,
    open_stored_log,
    schema,
)
from crossforce.server.store.sqlite import DB_FILE

ORG = OrgRow(
    org="kent",
    display_name="Kent",
    signing_key=b"\x01" * 32,
    box_key=b"\x02" * 32,
    key_version=1,
    registered_at_ms=1,
    log_index=0,
)


def _request(request_id: str, *, state: int, deadline_ms: int) -> RequestRow:
    return RequestRow(
        request_id=request_id,
        check_id="c",
        requester_org="dbs",
        holder_org="kent",
        purpose="p",
        legal_basis="l",
        case_reference="r",
        officer_id="o",
        key_types=(1, 2),
        strength=2,
        tokens=b"",
        state=state,
        created_at_ms=0,
        deadline_ms=deadline_ms,
        updated_at_ms=0,
        log_index=0,
    )


def _commit(storage: SQLiteStorage, *rows: RequestRow, entries: int = 0) -> None:
    with storage.lock:
        storage.begin()
        tx = storage.staged(len(storage.log_leaf_hashes()))
        for i in range(entries):
            tx.append_log(b"entry-%d" % i, bytes([i]) * 32)
        for row in rows:
            tx.insert_request(row)
        tx.put_org(ORG)
        tx.put_head(HeadRow(tree_size=entries, timestamp_ms=7, root=b"r" * 32, signature=b"s" * 64))
        storage.keep_staged()
        storage.commit()


def test_sqlite_is_a_storage(tmp_path: Path) -> None:
    storage: Storage = SQLiteStorage(tmp_path)  # mypy checks the protocol; this checks it runs
    assert storage.orgs() == [] and storage.healthy()
    storage.close()


def test_change_and_its_log_entry_commit_together_or_not_at_all(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    _commit(storage, _request("r1", state=1, deadline_ms=5), entries=1)
    with storage.lock:
        storage.begin()
        tx = storage.staged(1)
        tx.append_log(b"second", b"\x09" * 32)
        with pytest.raises(AlreadyExistsError):
            tx.insert_request(_request("r1", state=1, deadline_ms=5))
        storage.drop_staged()
        storage.commit()
    assert storage.log_entries(0, 10) == [(0, b"entry-0", b"\x00" * 32)]
    assert storage.orgs() == [ORG]
    storage.close()


def test_requests_due_before_filters_by_state_and_deadline(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    _commit(
        storage,
        _request("late-open", state=1, deadline_ms=10),
        _request("later-confirmed", state=2, deadline_ms=20),
        _request("late-but-final", state=6, deadline_ms=5),
        _request("not-yet", state=1, deadline_ms=100),
    )
    due = storage.requests_due_before(50, (1, 2))
    assert [r.request_id for r in due] == ["late-open", "later-confirmed"]
    assert storage.requests_due_before(50, ()) == []
    storage.close()


def test_stored_log_reads_back_as_plain_values(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    _commit(storage, entries=3)
    storage.close()
    with open_stored_log(tmp_path) as log:
        assert list(log.entries()) == [(i, b"entry-%d" % i, bytes([i]) * 32) for i in range(3)]
        assert list(log.heads()) == [(3, 7, b"r" * 32, b"s" * 64)]


def test_stored_log_is_opened_read_only(tmp_path: Path) -> None:
    SQLiteStorage(tmp_path).close()
    with open_stored_log(tmp_path) as log:
        conn = log._conn  # the one place a test looks inside: the connection must refuse writes
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("INSERT INTO meta VALUES ('x', 'y')")


def test_a_folder_without_a_matcher_database_is_not_a_new_empty_log(tmp_path: Path) -> None:
    with pytest.raises(UnavailableError), open_stored_log(tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ schema versions
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE orgs (
    org TEXT PRIMARY KEY, display_name TEXT NOT NULL, signing_key BLOB NOT NULL, box_key BLOB NOT NULL,
    key_version INTEGER NOT NULL, registered_at_ms INTEGER NOT NULL, log_index INTEGER NOT NULL);
CREATE TABLE indexes (
    org TEXT NOT NULL, epoch INTEGER NOT NULL, version INTEGER NOT NULL, header BLOB NOT NULL,
    signature BLOB NOT NULL, bits_sha256 TEXT NOT NULL, num_blocks INTEGER NOT NULL,
    num_probes INTEGER NOT NULL, token_count INTEGER NOT NULL, record_count INTEGER NOT NULL,
    published_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL, log_index INTEGER NOT NULL,
    PRIMARY KEY (org, epoch));
CREATE TABLE requests (
    request_id TEXT PRIMARY KEY, check_id TEXT NOT NULL, requester_org TEXT NOT NULL,
    holder_org TEXT NOT NULL, purpose TEXT NOT NULL, legal_basis TEXT NOT NULL,
    case_reference TEXT NOT NULL, officer_id TEXT NOT NULL, key_types TEXT NOT NULL,
    strength INTEGER NOT NULL, tokens BLOB NOT NULL, state INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL, deadline_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
    refusal_reason INTEGER NOT NULL DEFAULT 0, sealed BLOB, sealed_sha256 BLOB,
    log_index INTEGER NOT NULL);
CREATE INDEX requests_holder ON requests (holder_org, state);
CREATE INDEX requests_requester ON requests (requester_org, state);
CREATE TABLE log (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, leaf_hash BLOB NOT NULL);
CREATE TABLE heads (
    tree_size INTEGER PRIMARY KEY, timestamp_ms INTEGER NOT NULL, root BLOB NOT NULL,
    signature BLOB NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO requests VALUES ('old', 'c', 'dbs', 'kent', 'p', 'l', 'r', 'o', '1,2', 2, x'', 1, 0, 99, 0,
    0, NULL, NULL, 3);
"""
"""A data folder as schema version 1 wrote it (before requests recorded the indexes they matched)."""


def _v1_folder(path: Path) -> None:
    conn = sqlite3.connect(path / DB_FILE)
    conn.executescript(V1_SCHEMA)
    conn.close()


def test_a_version_1_folder_is_upgraded_when_opened(tmp_path: Path) -> None:
    _v1_folder(tmp_path)
    storage = SQLiteStorage(tmp_path)
    assert storage.schema_version == schema.SCHEMA_VERSION == 6
    old = storage.request("old")
    assert old is not None and old.matched_indexes == ()  # the matcher did not record them then
    assert (old.deadline_ms, old.key_types, old.log_index) == (99, (1, 2), 3)
    new = dataclasses.replace(_request("new", state=1, deadline_ms=5), matched_indexes=((1, 7), (2, 9)))
    _commit(storage, new)
    assert storage.request("new") == new
    storage.close()
    reopened = SQLiteStorage(tmp_path)  # a second open finds nothing to upgrade
    assert reopened.schema_version == 6 and reopened.request("new") == new
    reopened.close()


def test_a_new_folder_starts_at_the_current_version_and_keeps_matched_indexes(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    assert storage.schema_version == schema.SCHEMA_VERSION
    row = dataclasses.replace(_request("r", state=1, deadline_ms=5), matched_indexes=((3, 1),))
    _commit(storage, row)
    assert storage.request("r") == row
    storage.close()


def test_a_folder_from_a_newer_matcher_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    SQLiteStorage(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_FILE)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(PreconditionError, match="schema version 99, written by a newer matcher"):
        SQLiteStorage(tmp_path)
    conn = sqlite3.connect(tmp_path / DB_FILE)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("99",)
    conn.close()
    # The same refusal again, not "in use by another matcher": the failed open let go of the folder.
    with pytest.raises(PreconditionError, match="newer matcher"):
        SQLiteStorage(tmp_path)


@pytest.mark.parametrize("refs", [(), ((1, 2),), ((1, 1796036380728), (2, 5))])
def test_matched_indexes_text_round_trips(refs: tuple[tuple[int, int], ...]) -> None:
    assert schema.decode_matched(schema.encode_matched(refs)) == refs
