"""The store seams: the SQLite backend keeps a change and its audit entry in one transaction, and a data
folder's log can be read back read-only as plain values for the offline verifier."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crossforce.errors import AlreadyExistsError, UnavailableError
from crossforce.server.store import HeadRow, OrgRow, RequestRow, SQLiteStorage, Storage, open_stored_log

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
