"""Several matchers on one storage: the audit log follows what the others append (issue 17).

Two ``AuditLog`` objects over two SQLite connections to one folder stand for two matchers on one
database: SQLite's ``BEGIN IMMEDIATE`` is then the one sequence both take, as PostgreSQL's row lock is.
The folder lock (one matcher per SQLite folder) is lifted for these tests only, and the storage says it
is shared; the PostgreSQL runs of the same rules are tests/integration/test_replicas.py.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import AuditEvent, Check
from crossforce.errors import UnavailableError, VerificationError
from crossforce.server import audit as audit_module
from crossforce.server.audit import AuditLog, verify_stored_log
from crossforce.server.settings import ServerSettings
from crossforce.server.store import sqlite as sqlite_module
from crossforce.server.store.rows import HeadRow, IdempotentRow
from crossforce.server.store.sqlite import SQLiteStorage
from crossforce.server.usecases.idempotency import KEEP_ANSWERS_MS
from crossforce.server.usecases.retention import Retention


class SharedSQLite(SQLiteStorage):
    """One connection of several to one SQLite folder, as a matcher's connection to a shared database."""

    @property
    def shared(self) -> bool:
        return True


class Flaky:
    """A storage whose writes fail while ``down`` (a lost database), counting every ``begin`` tried."""

    def __init__(self, inner: SQLiteStorage) -> None:
        self._inner = inner
        self.down = False
        self.begins = 0
        self.commit_lands_then_fails = False

    def begin(self) -> int:
        self.begins += 1
        if self.down:
            raise UnavailableError("storage is unavailable; retry shortly")
        return self._inner.begin()

    def commit(self) -> None:
        self._inner.commit()
        if self.commit_lands_then_fails:  # the connection dropped after COMMIT reached the database
            raise UnavailableError("lost the connection while committing")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sqlite_module, "lock_data_folder", lambda _d: os.open(os.devnull, os.O_RDONLY))
    return tmp_path


@pytest.fixture
def key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


@pytest.fixture
def pair(folder: Path, key: nacl.signing.SigningKey) -> Iterator[tuple[AuditLog, AuditLog, SharedSQLite]]:
    one, two = SharedSQLite(folder), SharedSQLite(folder)
    first, second = AuditLog(storage=one, key=key), AuditLog(storage=two, key=key)
    try:
        yield first, second, two
    finally:
        for log, storage in ((first, one), (second, two)):
            log.close()
            storage.close()


def _check(n: int, org: str = "dbs") -> Check:
    return Check(
        at_ms=1_700_000_000_000 + n,
        actor_org=org,
        actor_role="vetting-officer",
        check_id=f"c{n}",
        officer_id="DBS-1",
        purpose="school-staff-vetting",
        legal_basis="Police Act 1997 s113B",
        case_reference=f"APP-{n}",
        hits=(),
        requests=(),
    )


def _write(log: AuditLog, *events: AuditEvent) -> list[int]:
    with log.transaction(1_700_000_000_000) as tx:
        return [log.append(tx, e) for e in events]


def _told(log: AuditLog) -> list[tuple[int, AuditEvent]]:
    seen: list[tuple[int, AuditEvent]] = []
    log.follow(lambda idx, event: seen.append((idx, event)))
    return seen


def test_catch_up_adopts_the_other_matchers_head_and_tells_followers(
    pair: tuple[AuditLog, AuditLog, SharedSQLite],
) -> None:
    first, second, _ = pair
    seen = _told(second)
    _write(first, _check(0), _check(1))
    _write(first, _check(2))
    assert second.size == 0
    second.catch_up()
    assert second.size == 3
    assert second.head == first.head  # adopted, not signed again: the same signature bytes
    assert [(i, e.check_id) for i, e in seen if isinstance(e, Check)] == [(0, "c0"), (1, "c1"), (2, "c2")]
    assert second.inclusion_proof(1, 3) == first.inclusion_proof(1, 3)
    second.catch_up()
    assert len(seen) == 3  # nothing is told twice


def test_a_write_first_catches_up_then_appends_after_the_others(
    pair: tuple[AuditLog, AuditLog, SharedSQLite],
) -> None:
    first, second, storage = pair
    seen = _told(second)
    _write(first, _check(0))
    order: list[str] = []
    with second.transaction(1) as tx:
        order.append(f"body saw {len(seen)} followed")
        index = second.append(tx, _check(1, org="kent"))
    assert order == ["body saw 1 followed"]
    assert index == 1
    assert second.size == 2
    _write(first, _check(2))  # and the first learns of the second's entry the same way
    assert first.size == 3
    assert verify_stored_log(storage, second.public_key) is not None


def test_one_history_with_every_head_signed_once(pair: tuple[AuditLog, AuditLog, SharedSQLite]) -> None:
    first, second, storage = pair
    heads: dict[int, bytes] = {}
    for n in range(12):
        log = first if n % 3 else second
        _write(log, _check(n))
        signed = log.head
        assert heads.setdefault(signed.head.tree_size, signed.signature) == signed.signature
    stored = {h.tree_size: h.signature for h in storage.heads()}
    assert stored == heads  # every stored head is the one its committer signed, one per size
    assert list(stored) == sorted(stored) and len(stored) == 12
    assert verify_stored_log(storage, first.public_key) is not None


def test_head_signed_by_another_key_is_refused_and_nothing_adopted(
    folder: Path, pair: tuple[AuditLog, AuditLog, SharedSQLite]
) -> None:
    first, second, storage = pair
    _write(first, _check(0))
    second.catch_up()
    before = second.head
    rogue = SharedSQLite(folder)  # a writer holding another key appends an entry and signs its head
    try:
        size = rogue.begin()
        entry = _check(1).encode()
        leaf = merkle.leaf_hash(entry)
        rogue.staged(size).append_log(entry, leaf)
        root = merkle.MerkleTree([*storage.log_leaf_hashes(), leaf]).root()
        forged = treehead.sign_tree_head(
            treehead.TreeHead(tree_size=size + 1, timestamp_ms=1, root_hash=root),
            nacl.signing.SigningKey.generate(),
        )
        rogue.staged(size + 1).put_head(
            HeadRow(tree_size=size + 1, timestamp_ms=1, root=root, signature=forged.signature)
        )
        rogue.keep_staged()
        rogue.commit()
    finally:
        rogue.close()
    with pytest.raises(VerificationError):
        second.catch_up()
    assert second.head == before and second.size == 1
    with pytest.raises(UnavailableError):
        _write(second, _check(2))
    assert len(storage.log_leaf_hashes()) == 2  # the refused write added nothing


def test_other_matchers_entry_that_does_not_hash_to_its_leaf_is_refused(
    pair: tuple[AuditLog, AuditLog, SharedSQLite], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, storage = pair
    _write(first, _check(0))
    real = storage.log_entries

    def altered(start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        return [(i, entry + b"x", leaf) for i, entry, leaf in real(start, end)]

    monkeypatch.setattr(storage, "log_entries", altered)
    with pytest.raises(VerificationError):
        second.catch_up()
    assert second.size == 0
    with pytest.raises(UnavailableError):
        _write(second, _check(1))


def test_a_log_that_shrank_is_refused(folder: Path, key: nacl.signing.SigningKey) -> None:
    storage = SharedSQLite(folder)
    flaky = Flaky(storage)
    log = AuditLog(storage=flaky, key=key)
    try:
        _write(log, _check(0), _check(1))
        flaky.begin = lambda: (storage.begin(), 1)[1]  # type: ignore[method-assign]
        with pytest.raises(UnavailableError, match="follow the stored audit log"):
            _write(log, _check(2))
        assert log.size == 2
        assert len(storage.log_leaf_hashes()) == 2
    finally:
        log.close()
        storage.close()


def test_failing_follower_leaves_the_tree_as_it_was_and_is_retried(
    pair: tuple[AuditLog, AuditLog, SharedSQLite],
) -> None:
    first, second, _ = pair
    calls: list[int] = []

    def follower(idx: int, _event: AuditEvent) -> None:
        calls.append(idx)
        if len(calls) == 1:
            raise UnavailableError("could not read the row")

    second.follow(follower)
    _write(first, _check(0))
    with pytest.raises(UnavailableError):
        second.catch_up()
    assert second.size == 0
    second.catch_up()
    assert second.size == 1
    assert calls == [0, 0]


def test_lost_storage_refuses_writers_at_once_and_recovers_by_itself(
    folder: Path, key: nacl.signing.SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_module, "RETRY_STORAGE_S", 0.3)
    storage = SharedSQLite(folder)
    flaky = Flaky(storage)
    log = AuditLog(storage=flaky, key=key)
    try:
        _write(log, _check(0))
        flaky.down = True
        with pytest.raises(UnavailableError):
            _write(log, _check(1))
        tried = flaky.begins
        started = time.monotonic()
        with pytest.raises(UnavailableError):
            _write(log, _check(2))
        assert flaky.begins == tried  # refused without touching storage again
        assert time.monotonic() - started < 0.1
        time.sleep(0.35)
        with pytest.raises(UnavailableError):  # one probe a retry period; still down
            _write(log, _check(3))
        flaky.down = False
        time.sleep(0.35)
        _write(log, _check(4))
        assert log.size == 2
        assert verify_stored_log(storage, log.public_key) is not None
    finally:
        log.close()
        storage.close()


def test_commit_that_landed_though_it_failed_is_learnt_from_storage_not_signed_again(
    folder: Path, key: nacl.signing.SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_module, "RETRY_STORAGE_S", 0.0)
    storage = SharedSQLite(folder)
    flaky = Flaky(storage)
    log = AuditLog(storage=flaky, key=key)
    seen = _told(log)
    try:
        flaky.commit_lands_then_fails = True
        with pytest.raises(UnavailableError):
            _write(log, _check(0))
        assert log.size == 0  # not acknowledged
        flaky.commit_lands_then_fails = False
        stored_head = storage.head_at(1)
        assert stored_head is not None
        _write(log, _check(1))
        assert log.size == 2
        assert storage.head_at(1) == stored_head  # the landed size kept its one head
        assert [i for i, _e in seen] == [0]  # its entry is followed like any other matcher's
        assert verify_stored_log(storage, log.public_key) is not None
    finally:
        log.close()
        storage.close()


def test_storage_that_is_not_shared_starts_no_follower(tmp_path: Path, key: nacl.signing.SigningKey) -> None:
    storage = SQLiteStorage(tmp_path)
    log = AuditLog(storage=storage, key=key)
    try:
        log.start_following()
        assert log._following is None
    finally:
        log.close()
        storage.close()


def test_follower_thread_catches_up_without_any_write(
    pair: tuple[AuditLog, AuditLog, SharedSQLite], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_module, "FOLLOW_POLL_S", 0.05)
    first, second, _ = pair
    second.start_following()
    _write(first, _check(0))
    deadline = time.monotonic() + 5
    while second.size < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert second.head == first.head


def test_two_matchers_purging_at_once_drop_each_kept_answer_once(
    pair: tuple[AuditLog, AuditLog, SharedSQLite],
) -> None:
    """Every matcher runs the retention purge; run together they drop the expired answers between them,
    each once, and keep the fresh ones."""
    first, second, storage = pair
    now = 1_800_000_000_000
    with first.transaction(now) as tx:
        for n in range(7 + 2):
            created = now - KEEP_ANSWERS_MS - 1 if n < 7 else now - 1000
            tx.put_idempotent(
                IdempotentRow(
                    org="dbs",
                    key=f"k{n}",
                    request_sha256=b"\0" * 32,
                    response=b"r",
                    log_index=0,
                    created_at_ms=created,
                )
            )
    results: list[int] = []

    def purge(log: AuditLog, store: SQLiteStorage) -> None:
        retention = Retention(
            store=store, audit=log, settings=ServerSettings(), clock=lambda: now, write_lock=threading.RLock()
        )
        results.append(retention.purge().answers_forgotten)

    threads = [
        threading.Thread(target=purge, args=(log, store))
        for log, store in ((first, storage), (second, storage))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(results) == 7
    assert [storage.idempotent("dbs", f"k{n}") is not None for n in range(9)] == [False] * 7 + [True] * 2
