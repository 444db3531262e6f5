"""The matcher's side of the audit log: an in-memory Merkle tree over the stored leaves, signed heads.

Events are appended inside the storage transaction that makes the change they record; the tree and the
signed head advance only after that transaction commits, so what a client is shown is always durable.
At start-up the stored leaves are checked against the last signed head: a log that no longer matches
what the matcher signed refuses to serve.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Protocol

import nacl.signing

from crossforce import clock
from crossforce.auditlog import checkpoint, merkle, treehead, verify
from crossforce.auditlog.events import AuditEvent
from crossforce.errors import UnavailableError, ValidationError
from crossforce.server.store.protocols import AuditStore, LogReads, Transaction
from crossforce.server.store.rows import HeadRow

COMMIT_WAIT_S = 60.0
"""How long a writer waits for its batch to commit before answering UNAVAILABLE (never a hang)."""


class CommitHook(Protocol):
    """Called after every group commit (the metrics take it): ``writers`` is how many changes it carried,
    ``seconds`` the time to sign the head and commit, ``ok`` False when every writer was told UNAVAILABLE."""

    def __call__(self, *, writers: int, seconds: float, ok: bool) -> None: ...


def _no_hook(*, writers: int, seconds: float, ok: bool) -> None:
    del writers, seconds, ok


class _Batch:
    """Writers staged into one open transaction; all learn together whether it committed."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.writers = 0


class AuditLog:
    """Group commit: concurrent writers stage their changes and events into one open SQLite transaction
    (each in a savepoint, so one writer's failure undoes only its own work) and wait; a committer thread
    signs one head over everything staged, stores it and commits with a single fsync, then releases them
    all. Nothing is acknowledged before it is durable, and a busy matcher pays one fsync per batch
    instead of one per check.
    """

    def __init__(
        self, *, storage: AuditStore, key: nacl.signing.SigningKey, on_commit: CommitHook = _no_hook
    ) -> None:
        self._storage = storage
        self._on_commit = on_commit
        self._key = key
        self.public_key = bytes(key.verify_key)
        self._lock = storage.lock
        self._tree = merkle.MerkleTree(storage.log_leaf_hashes())
        self._head = self._check_against_last_head()
        self._batch: _Batch | None = None
        self._batch_now_ms = 0
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._broken: BaseException | None = None
        self._committer = threading.Thread(target=self._commit_loop, name="audit-commit", daemon=True)
        self._committer.start()

    def _check_against_last_head(self) -> treehead.SignedTreeHead:
        last = verify_stored_log(self._storage, self.public_key, tree=self._tree)
        return last if last is not None else self._sign(self._tree.size, clock.now_ms())

    def _sign(self, size: int, now_ms: int) -> treehead.SignedTreeHead:
        head = treehead.TreeHead(tree_size=size, timestamp_ms=now_ms, root_hash=self._tree.root_at(size))
        return treehead.sign_tree_head(head, self._key)

    @staticmethod
    def append(tx: Transaction, event: AuditEvent) -> int:
        """Stage ``event`` in ``tx``; returns its leaf index (final once the transaction commits)."""
        entry = event.encode()
        return tx.append_log(entry, merkle.leaf_hash(entry))

    @contextlib.contextmanager
    def transaction(self, now_ms: int) -> Iterator[Transaction]:
        """Stage a change and its events; on exit, wait until they are committed with a signed head.

        If the body raises, only this writer's staged work is undone. If the commit fails, every writer
        of the batch gets UnavailableError and the in-memory tree is rebuilt from storage, so it never
        shows a leaf that is not durable.
        """
        with self._lock:
            if self._closing:
                raise UnavailableError("the matcher is shutting down")
            if self._broken is not None:
                raise UnavailableError(
                    "the audit log cannot be written since a storage failure; restart the matcher"
                )
            if self._batch is not None and not self._storage.in_transaction():
                self._abort_batch(UnavailableError("the storage transaction was aborted"))
            if self._batch is None:
                self._storage.begin()
                self._batch = _Batch()
            batch = self._batch
            tx = self._storage.staged(self._tree.size)
            try:
                yield tx
                self._storage.keep_staged()
            except BaseException as exc:
                if self._storage.in_transaction():
                    self._storage.drop_staged()  # undo this writer's work only
                else:  # SQLite rolled back the whole transaction (e.g. disk full): fail the batch
                    self._abort_batch(exc)
                raise
            for leaf in tx.appended_leaves:
                self._tree.append(leaf)
            batch.writers += 1
            self._batch_now_ms = max(self._batch_now_ms, now_ms)
            self._wake.notify()
        if not batch.done.wait(COMMIT_WAIT_S):
            raise UnavailableError("storage did not commit in time; the change may not have been recorded")
        if batch.error is not None:
            raise UnavailableError("storage could not commit; nothing was changed") from batch.error

    def _commit_loop(self) -> None:
        with self._lock:
            while True:
                while self._batch is None and not self._closing:
                    self._wake.wait()
                if self._batch is None:
                    return
                batch, self._batch = self._batch, None
                started = time.monotonic()
                try:
                    head = self._head
                    if self._tree.size != head.head.tree_size:
                        head = self._sign(self._tree.size, max(self._batch_now_ms, head.head.timestamp_ms))
                        self._storage.staged(self._tree.size).put_head(
                            HeadRow(
                                tree_size=head.head.tree_size,
                                timestamp_ms=head.head.timestamp_ms,
                                root=head.head.root_hash,
                                signature=head.signature,
                            )
                        )
                        self._storage.keep_staged()
                    self._storage.commit()
                    self._head = head
                    self._report(batch, started, ok=True)
                except BaseException as exc:
                    batch.error = exc
                    self._report(batch, started, ok=False)
                    self._roll_back()
                finally:
                    batch.done.set()

    def _report(self, batch: _Batch, started: float, *, ok: bool) -> None:
        """Tell the hook; a failing hook never fails a commit (metrics are not worth a lost write)."""
        with contextlib.suppress(Exception):  # the commit's outcome stands whatever the hook does
            self._on_commit(writers=batch.writers, seconds=time.monotonic() - started, ok=ok)

    def _roll_back(self) -> None:
        """Drop what was staged and rebuild the tree from what is durable; if storage is gone, refuse
        writes until restart."""
        self._storage.rollback()
        try:
            self._tree = merkle.MerkleTree(self._storage.log_leaf_hashes())
        except BaseException as reload_error:
            self._broken = reload_error

    def _abort_batch(self, exc: BaseException) -> None:
        """Every writer of the open batch learns it failed; the tree drops leaves that are not durable."""
        batch, self._batch = self._batch, None
        self._roll_back()
        if batch is not None:
            batch.error = exc
            self._report(batch, time.monotonic(), ok=False)
            batch.done.set()

    def close(self) -> None:
        """Commit what is staged, then stop the committer."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._committer.join(timeout=10)

    @property
    def head(self) -> treehead.SignedTreeHead:
        return self._head

    @property
    def size(self) -> int:
        """The size of the latest signed (so durable) head; staged leaves are not yet part of the log."""
        return self._head.head.tree_size

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        self._check_range(first, second)
        with self._lock:
            return self._tree.consistency_proof(first, second)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise ValidationError(f"leaf index {index} is not in a tree of size {size}")
        self._check_range(size, size)
        with self._lock:
            return self._tree.inclusion_proof(index, size)

    def checkpoint(self, size: int) -> bytes:
        """The C2SP checkpoint (signed note) of the first ``size`` leaves, signed by the log key; Ed25519
        is deterministic, so every call for one size gives the same note, which witnesses cosign."""
        self._check_range(size, size)
        with self._lock:
            root = self._tree.root_at(size)
        origin = checkpoint.log_origin(self.public_key)
        body = checkpoint.Checkpoint(origin=origin, tree_size=size, root_hash=root)
        return checkpoint.sign_checkpoint(body, self._key)

    def _check_range(self, first: int, second: int) -> None:
        size = self.size
        if not 0 <= first <= second <= size:
            raise ValidationError(f"sizes must satisfy 0 <= first <= second <= {size} (the current log size)")

    def entries(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        return self._storage.log_entries(start, end)


VERIFY_PAGE = 10_000
"""Log rows read per storage call while verifying: bounds memory for the event bytes."""


def _stored_rows(storage: LogReads) -> Iterator[tuple[int, bytes, bytes]]:
    start = 0
    while True:
        rows = storage.log_entries(start, start + VERIFY_PAGE)
        yield from rows
        if len(rows) < VERIFY_PAGE:
            return
        start += VERIFY_PAGE


def verify_stored_log(
    storage: LogReads, public_key: bytes, *, tree: merkle.MerkleTree | None = None
) -> treehead.SignedTreeHead | None:
    """Check what storage holds against what the matcher signed, with the one pure verifier
    (``crossforce.auditlog.verify.verify_stored_log``): every stored leaf hash is the hash of its stored
    event, every signed head verifies under ``public_key``, and the stored leaves recompute exactly the
    last head's root and size. Raises VerificationError naming the first problem.

    The matcher runs this at start-up (a log that no longer matches refuses to serve); operators and
    auditors run the same verifier offline (``crossforce.server.offline.verify_data_dir``).
    """
    heads = [
        verify.StoredHead(
            tree_size=h.tree_size, timestamp_ms=h.timestamp_ms, root=h.root, signature=h.signature
        )
        for h in storage.heads()
    ]
    return verify.verify_stored_log(_stored_rows(storage), heads, public_key, tree=tree)
