"""The audit log's commit path (issue 20): a lone writer commits its own batch in its own thread, so a
single check waits for one fsync and no thread hand-off; writers that arrive together still share one
commit through the committer thread; a failed commit, inline or not, tells its writers UNAVAILABLE and
leaves the tree at the durable size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest

from crossforce.auditlog.events import Check
from crossforce.errors import UnavailableError
from crossforce.server import audit as audit_module
from crossforce.server.audit import AuditLog, verify_stored_log
from crossforce.server.store.sqlite import SQLiteStorage


@dataclass(frozen=True)
class Commit:
    """One call of the commit hook, and which thread made it."""

    thread: str
    writers: int
    ok: bool


class Hook:
    """A CommitHook that records every call with the calling thread's name."""

    def __init__(self) -> None:
        self.calls: list[Commit] = []
        self._lock = threading.Lock()

    def __call__(self, *, writers: int, seconds: float, ok: bool) -> None:
        del seconds
        with self._lock:
            self.calls.append(Commit(threading.current_thread().name, writers, ok))


class SlowOrFailingSQLite(SQLiteStorage):
    """SQLite whose commit can be slowed (so writers pile up behind it) or fail before it lands."""

    commit_delay_s = 0.0
    fail_commits = False

    def commit(self) -> None:
        if self.fail_commits:
            raise UnavailableError("lost the disk while committing")
        time.sleep(self.commit_delay_s)
        super().commit()


def _check(i: int) -> Check:
    return Check(
        at_ms=i,
        actor_org="kent",
        actor_role="vetting-officer",
        check_id=f"c{i}",
        officer_id="o",
        purpose="p",
        legal_basis="l",
        case_reference="r",
        hits=(),
        requests=(),
    )


def _write(log: AuditLog, i: int) -> None:
    with log.transaction(i) as tx:
        log.append(tx, _check(i))


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SlowOrFailingSQLite]:
    store = SlowOrFailingSQLite(tmp_path)
    yield store
    store.close()


def test_lone_writer_commits_inline_in_its_own_thread(storage: SlowOrFailingSQLite) -> None:
    hook = Hook()
    log = AuditLog(storage=storage, key=nacl.signing.SigningKey.generate(), on_commit=hook)
    try:
        for i in range(3):
            _write(log, i)
            # Durable and signed when ``transaction`` returns, committed by this thread, not handed off.
            assert log.size == i + 1
            assert hook.calls[-1] == Commit(threading.current_thread().name, 1, True)
        assert len(hook.calls) == 3
        assert verify_stored_log(storage, log.public_key) is not None
    finally:
        log.close()


def test_writers_in_flight_together_still_share_commits(storage: SlowOrFailingSQLite) -> None:
    """While one commit holds the lock, the writers queued behind it form the next batch and the
    committer thread commits it once for all of them, as before the inline path existed."""
    storage.commit_delay_s = 0.03
    hook = Hook()
    log = AuditLog(storage=storage, key=nacl.signing.SigningKey.generate(), on_commit=hook)
    writers = 12
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            start.wait(timeout=10)
            _write(log, i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,), name=f"writer-{i}") for i in range(writers)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
            assert not t.is_alive(), f"{t.name} still waiting for its commit"
        assert not errors
        assert log.size == writers
        assert all(c.ok for c in hook.calls)
        assert sum(c.writers for c in hook.calls) == writers
        assert len(hook.calls) < writers  # at least one fsync carried several writers
        assert any(c.thread == "audit-commit" and c.writers > 1 for c in hook.calls)
        assert verify_stored_log(storage, log.public_key) is not None
    finally:
        log.close()


def test_failed_inline_commit_is_unavailable_and_the_tree_stays_durable(
    storage: SlowOrFailingSQLite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_module, "RETRY_STORAGE_S", 0.0)
    hook = Hook()
    log = AuditLog(storage=storage, key=nacl.signing.SigningKey.generate(), on_commit=hook)
    try:
        _write(log, 0)
        head = log.head
        storage.fail_commits = True
        with pytest.raises(UnavailableError, match="lost the disk"):
            _write(log, 1)
        assert hook.calls[-1] == Commit(threading.current_thread().name, 1, False)
        # Nothing beyond the durable size is shown or proven: the tree dropped the failed leaf.
        assert log.head == head and log.size == 1
        assert log._tree.size == 1
        assert len(storage.log_leaf_hashes()) == 1
        storage.fail_commits = False
        _write(log, 2)
        assert log.size == 2
        assert log.inclusion_proof(1, 2) is not None
        assert verify_stored_log(storage, log.public_key) is not None
    finally:
        log.close()


def test_writer_that_is_not_alone_leaves_its_batch_to_the_committer(storage: SlowOrFailingSQLite) -> None:
    """A writer that sees another writer in flight does not commit inline: that writer would otherwise
    pay a second fsync instead of joining the batch."""
    hook = Hook()
    log = AuditLog(storage=storage, key=nacl.signing.SigningKey.generate(), on_commit=hook)
    inside = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with log.transaction(1) as tx:
                inside.set()
                release.wait(timeout=10)
                log.append(tx, _check(1))
        except BaseException as exc:
            errors.append(exc)

    try:
        log._in_flight += 1  # stands for another writer in flight (queued for the lock, say)
        writer = threading.Thread(target=slow_writer, name="writer-1")
        writer.start()
        assert inside.wait(timeout=10)
        release.set()
        writer.join(timeout=10)
        assert not writer.is_alive()
        assert not errors
        assert log.size == 1
        assert [(c.thread, c.writers) for c in hook.calls] == [("audit-commit", 1)]
    finally:
        log._in_flight -= 1
        log.close()
