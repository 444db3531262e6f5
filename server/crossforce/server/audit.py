"""The matcher's side of the audit log: an in-memory Merkle tree over the stored leaves, signed heads.

Events are appended inside the storage transaction that makes the change they record; the tree and the
signed head advance only after that transaction commits, so what a client is shown is always durable.
At start-up the stored leaves are checked against the last signed head: a log that no longer matches
what the matcher signed refuses to serve.

Several matchers may share one storage (PostgreSQL, issue 17). The log is then their one history:
``begin`` takes the storage's sequence and says how long the committed log is, and whatever other
matchers appended is read, checked against its leaf hashes and the head they signed, added to the tree
and handed to the followers (``follow``) before this matcher stages anything of its own. A background
thread does the same between writes, so a matcher that writes nothing still serves current heads.

It runs over 400 lines: the group commit, the catch-up with other matchers and the proofs all read and
change one in-memory tree under one lock, and split apart they would share its invariants across modules.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Protocol

import nacl.signing

from crossforce import clock
from crossforce.auditlog import checkpoint, merkle, treehead, verify
from crossforce.auditlog.events import AuditEvent, parse_event
from crossforce.errors import UnavailableError, ValidationError, VerificationError
from crossforce.server.store.protocols import AuditStore, LogReads, Transaction
from crossforce.server.store.rows import HeadRow

log = logging.getLogger("crossforce.server")

COMMIT_WAIT_S = 60.0
"""How long a writer waits for its batch to commit before answering UNAVAILABLE (never a hang)."""
RETRY_STORAGE_S = 1.0
"""After a storage failure, how often a writer may try storage again; the others are told UNAVAILABLE
at once meanwhile, so a lost database costs each caller no wait and the database no stampede."""
STORAGE_DOWN = "storage is unavailable; the matcher retries it by itself, retry shortly"
FOLLOW_WAIT_S = 1.0
"""How long a follower that could not read the shared log waits before it tries again."""
FOLLOW_POLL_S = 0.2
"""The longest a matcher on shared storage goes without looking for other matchers' appends (a NOTIFY
wakes it sooner). Short, so a lost notification costs little and ``close`` never waits long for it."""

Follower = Callable[[int, AuditEvent], None]
"""Told ``(log index, event)`` of every entry another matcher appended, in log order, before this
matcher stages a write after it. Must be idempotent (an entry may be told again after a failed attempt)
and must not take the matcher's write lock (it runs under the audit log's lock)."""

Row = tuple[int, bytes, bytes]
"""``(index, entry, leaf_hash)`` as storage returns it."""


class LogStore(AuditStore, Protocol):
    """What the audit log needs of storage: the log itself, and whether other matchers write to it too."""

    @property
    def shared(self) -> bool: ...


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
    """Group commit: concurrent writers stage their changes and events into one open storage transaction
    (each in a savepoint, so one writer's failure undoes only its own work) and wait; a committer thread
    signs one head over everything staged, stores it and commits with a single fsync, then releases them
    all. Nothing is acknowledged before it is durable, and a busy matcher pays one fsync per batch
    instead of one per check. A head is signed once per size, by the matcher that committed that size.

    A writer that is alone (no other writer inside ``transaction``: none queued to stage, none in its
    batch, none of the last batch still on its way out) commits its batch itself, in its own thread:
    there is nobody to share the fsync with, and handing the batch to the committer and being woken
    again would only add two thread switches to its wait.
    """

    def __init__(
        self, *, storage: LogStore, key: nacl.signing.SigningKey, on_commit: CommitHook = _no_hook
    ) -> None:
        self._storage = storage
        self._on_commit = on_commit
        self._key = key
        self.public_key = bytes(key.verify_key)
        self._lock = storage.lock
        self._tree, self._head = self._load()
        self._committed = self._tree.size
        """Leaves known durable: the tree beyond it holds only what the open batch staged."""
        self._followers: list[Follower] = []
        self._batch: _Batch | None = None
        self._batch_now_ms = 0
        self._in_flight = 0
        """Writers inside ``transaction``, from before they take the lock until they return: a writer
        deciding whether it is alone sees those queued for the lock behind it and those of a batch just
        committed that are about to come back (a closed loop of callers), and leaves its batch for them."""
        self._in_flight_lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._closed = threading.Event()
        self._failure: BaseException | None = None
        """The last storage failure, until a transaction opens again."""
        self._retry_at = 0.0
        self._following: threading.Thread | None = None
        self._committer = threading.Thread(target=self._commit_loop, name="audit-commit", daemon=True)
        self._committer.start()

    def _load(self) -> tuple[merkle.MerkleTree, treehead.SignedTreeHead]:
        """The tree of the committed log, checked against its last signed head. The size is read first and
        nothing beyond it is used, so appends by other matchers meanwhile cannot make the check fail."""
        size = self._storage.log_size()
        tree = merkle.MerkleTree(self._storage.log_leaf_hashes()[:size])
        last = verify_stored_log(_LogPrefix(self._storage, size), self.public_key, tree=tree)
        if last is not None:
            return tree, last
        # The empty log's head is never stored. Matchers sharing storage each sign it, so they sign it at
        # time 0: the same bytes from every one (Ed25519 is deterministic), and no client that asks two
        # of them sees one size signed twice or a timestamp go backwards.
        at_ms = 0 if self._storage.shared else clock.now_ms()
        head = treehead.TreeHead(tree_size=size, timestamp_ms=at_ms, root_hash=tree.root_at(size))
        return tree, treehead.sign_tree_head(head, self._key)

    def _sign(self, size: int, now_ms: int) -> treehead.SignedTreeHead:
        head = treehead.TreeHead(tree_size=size, timestamp_ms=now_ms, root_hash=self._tree.root_at(size))
        return treehead.sign_tree_head(head, self._key)

    @staticmethod
    def append(tx: Transaction, event: AuditEvent) -> int:
        """Stage ``event`` in ``tx``; returns its leaf index (final once the transaction commits)."""
        return AuditLog.append_encoded(tx, event.encode())

    @staticmethod
    def append_encoded(tx: Transaction, entry: bytes) -> int:
        """Stage an event already encoded by its canonical encoder (``AuditEvent.encode``, or a batch's
        ``usecases.checkevents``, which gives the same bytes); returns its leaf index."""
        return tx.append_log(entry, merkle.leaf_hash(entry))

    @staticmethod
    def append_encoded_many(tx: Transaction, entries: Sequence[bytes]) -> range:
        """``append_encoded`` for each entry in order, staged with one statement: a batch's candidates
        that opened nothing. The log is unchanged (one event, one leaf each); only the staging is shared."""
        return tx.append_logs(entries, [merkle.leaf_hash(entry) for entry in entries])

    # ------------------------------------------------------------------ following other matchers
    def follow(self, follower: Follower) -> None:
        """Tell ``follower`` every entry other matchers append from now on (see ``Follower``)."""
        with self._lock:
            self._followers.append(follower)

    def start_following(self) -> None:
        """On shared storage, catch up in the background whenever storage says the log may have grown
        (and at least every ``FOLLOW_POLL_S``). Call once the followers are registered: entries caught
        up before that would reach none of them."""
        if not self._storage.shared or self._following is not None:
            return
        self._following = threading.Thread(target=self._follow_loop, name="audit-follow", daemon=True)
        self._following.start()

    def _follow_loop(self) -> None:
        failing = False
        while not self._closed.is_set():
            self._storage.wait_for_log_change(FOLLOW_POLL_S)
            if self._closed.is_set():
                return
            try:
                self.catch_up()
            except Exception as exc:  # storage gone or a bad entry: keep serving what is verified
                if not failing:
                    log.warning("cannot follow the shared audit log (%s); retrying", type(exc).__name__)
                failing = True
                self._closed.wait(FOLLOW_WAIT_S)
                continue
            if failing:
                log.info("following the shared audit log again at size %d", self.size)
            failing = False

    def catch_up(self) -> None:
        """Add what other matchers committed to the tree, adopt their head and tell the followers, without
        opening a write transaction. Does nothing while a batch is open: its ``begin`` caught up already."""
        with self._lock:
            if self._batch is not None or self._closing:
                return
            start = self._tree.size
        size = self._storage.log_size()
        if size <= start:
            return  # nothing new (a log that shrank is refused by the next write's ``begin``)
        rows = self._read_rows(start, size)
        head = self._storage.head_at(size)
        with self._lock:
            if self._batch is None and self._tree.size == start:
                self._adopt(start, rows, head)

    def catch_up_to(self, size: int) -> None:
        """Catch up first when a caller names a size beyond this matcher's head (one another matcher
        signed): without it, a client that got a head from one replica could not get its proofs here."""
        if size > self.size and self._storage.shared:
            with contextlib.suppress(UnavailableError, VerificationError):
                self.catch_up()

    def _catch_up_in_transaction(self, size: int) -> None:
        """The entries ``[tree size, size)`` that others committed before ``begin`` took the sequence."""
        start = self._tree.size
        if size < start:
            raise VerificationError(
                f"the stored audit log holds {size} entries but this matcher has seen {start}: the "
                "database lost committed entries (restored from an older backup?); refusing to write"
            )
        if size > start:
            self._adopt(start, self._read_rows(start, size), self._storage.head_at(size))

    def _read_rows(self, start: int, end: int) -> list[Row]:
        rows: list[Row] = []
        while start + len(rows) < end:
            page = self._storage.log_entries(start + len(rows), min(end, start + len(rows) + VERIFY_PAGE))
            if not page:
                break
            rows.extend(page)
        return rows

    def _adopt(self, start: int, rows: Sequence[Row], head: HeadRow | None) -> None:
        """Check ``rows`` (entries ``start`` on), add their leaves, adopt ``head`` if it covers them and
        verifies, then tell the followers. On any failure the tree and head are as before."""
        for expected, (idx, entry, leaf) in enumerate(rows, start):
            if idx != expected:
                raise VerificationError(f"audit log entry {expected} is missing from storage")
            if merkle.leaf_hash(entry) != leaf:
                raise VerificationError(f"audit log entry {idx} does not hash to its stored leaf hash")
        before = self._head
        try:
            for _idx, _entry, leaf in rows:
                self._tree.append(leaf)
            adopted = self._verified(head) if head is not None and head.tree_size == self._tree.size else None
            self._committed = self._tree.size
            self._tell_followers(rows)
            # Shown last: a head is never served before the state it records is loaded, and never taken
            # back because a follower failed after it was shown.
            if adopted is not None:
                self._head = adopted
        except BaseException:
            self._tree = _prefix(self._tree, start)
            self._committed, self._head = start, before
            raise

    def _verified(self, row: HeadRow) -> treehead.SignedTreeHead:
        """Another matcher's head, once it verifies under the shared log key over this tree's root."""
        signed = treehead.SignedTreeHead(
            head=treehead.TreeHead(
                tree_size=row.tree_size, timestamp_ms=row.timestamp_ms, root_hash=row.root
            ),
            signature=row.signature,
        )
        treehead.verify_tree_head(signed, self.public_key)
        if self._tree.root_at(row.tree_size) != row.root:
            raise VerificationError(
                f"the stored head of size {row.tree_size} does not match the stored leaves"
            )
        return signed

    def _tell_followers(self, rows: Sequence[Row]) -> None:
        for idx, entry, _leaf in rows:
            try:
                event = parse_event(entry)
            except ValidationError:
                log.warning("audit log entry %d is not an event this matcher knows; not followed", idx)
                continue
            for follower in self._followers:
                follower(idx, event)

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def transaction(self, now_ms: int) -> Iterator[Transaction]:
        """Stage a change and its events; on exit, wait until they are committed with a signed head.

        If the body raises, only this writer's staged work is undone. If the commit fails, every writer
        of the batch gets UnavailableError and the tree drops what the batch staged, so it never shows a
        leaf that is not durable. After a storage failure writers get UnavailableError at once; once a
        second the next one tries storage again, and the first that succeeds ends the outage.
        """
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            with self._lock:
                batch = yield from self._stage(now_ms)
                if self._in_flight == 1 and batch.writers == 1 and self._batch is batch:
                    # Nobody to share the fsync with: commit here, with no hand-off to the committer.
                    self._batch = None
                    self._commit(batch)
                else:
                    self._wake.notify()
            if not batch.done.wait(COMMIT_WAIT_S):
                raise UnavailableError(
                    "storage did not commit in time; the change may not have been recorded"
                )
            if batch.error is not None:
                # The store's own words when it has them: a lost connection during COMMIT means the change
                # may or may not have been recorded, which is not "nothing was changed".
                said = str(batch.error) if isinstance(batch.error, UnavailableError) else ""
                raise UnavailableError(
                    said or "storage could not commit; nothing was changed"
                ) from batch.error
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1

    def _stage(self, now_ms: int) -> Generator[Transaction, None, _Batch]:
        """Open or join the batch and stage the caller's work into it (caller holds the lock): yields the
        transaction to the ``with`` body, returns the batch it joined."""
        if self._closing:
            raise UnavailableError("the matcher is shutting down")
        if self._failure is not None and time.monotonic() < self._retry_at:
            raise UnavailableError(STORAGE_DOWN)  # the next writer after ``_retry_at`` tries again
        if self._batch is not None and not self._storage.in_transaction():
            self._abort_batch(UnavailableError("the storage transaction was aborted"))
        if self._batch is None:
            self._open_batch()
        batch = self._batch
        if batch is None:  # ``_open_batch`` sets it or raises; this only satisfies the type checker
            raise UnavailableError("the storage transaction was not opened")
        tx = self._storage.staged(self._tree.size)
        try:
            yield tx
            self._storage.keep_staged()
        except BaseException as exc:
            if not self._storage.in_transaction():  # the engine rolled back everything (disk full...)
                self._abort_batch(exc)
            elif batch.writers == 0:
                # Nobody else staged into this batch: end it now. Left open, it would hold the log's
                # sequence (on PostgreSQL the row lock every matcher appends through) until the next
                # writer came, stalling every other matcher's writes and this one's follower.
                self._batch = None
                self._storage.rollback()
            else:
                self._storage.drop_staged()  # undo this writer's work only
            raise
        self._tree.extend(tx.appended_leaves)
        batch.writers += 1
        self._batch_now_ms = max(self._batch_now_ms, now_ms)
        return batch

    def _open_batch(self) -> None:
        """Take the storage's sequence and catch up with what other matchers committed (caller holds the
        lock). A failure here is a storage failure: the writer is told UNAVAILABLE."""
        try:
            size = self._storage.begin()
        except BaseException as exc:
            self._failed(exc)
            if isinstance(exc, UnavailableError):
                raise
            raise UnavailableError("storage is unavailable; retry shortly") from exc
        try:
            self._catch_up_in_transaction(size)
        except BaseException as exc:
            self._storage.rollback()
            self._failed(exc)
            raise UnavailableError("cannot follow the stored audit log; retry shortly") from exc
        if self._failure is not None:
            log.info("storage is back: writing to the audit log again at size %d", self._tree.size)
        self._failure = None
        self._batch = _Batch()

    def _failed(self, exc: BaseException) -> None:
        if self._failure is None:
            log.warning("audit log storage failed (%s); refusing writes until it is back", type(exc).__name__)
        self._failure = exc
        self._retry_at = time.monotonic() + RETRY_STORAGE_S

    def _commit_loop(self) -> None:
        with self._lock:
            while True:
                while self._batch is None and not self._closing:
                    self._wake.wait()
                if self._batch is None:
                    return
                batch, self._batch = self._batch, None
                self._commit(batch)

    def _commit(self, batch: _Batch) -> None:
        """Sign a head over everything staged, store it and commit (one fsync), then release the batch's
        writers (caller holds the lock and has taken ``batch`` out of ``self._batch``). The committer
        thread and a lone writer run this same code, so both keep the same guarantees."""
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
            self._committed = self._tree.size
            self._report(batch, started, ok=True)
        except BaseException as exc:
            batch.error = exc
            self._report(batch, started, ok=False)
            self._roll_back(exc)
        finally:
            batch.done.set()

    def _report(self, batch: _Batch, started: float, *, ok: bool) -> None:
        """Tell the hook; a failing hook never fails a commit (metrics are not worth a lost write)."""
        with contextlib.suppress(Exception):  # the commit's outcome stands whatever the hook does
            self._on_commit(writers=batch.writers, seconds=time.monotonic() - started, ok=ok)

    def _roll_back(self, cause: BaseException) -> None:
        """Drop what was staged: storage rolls back, the tree forgets the batch's leaves. Whether a commit
        that failed in flight landed after all is learnt from storage by the next ``begin``."""
        with contextlib.suppress(Exception):  # a lost connection has rolled back already
            self._storage.rollback()
        if self._tree.size != self._committed:
            self._tree = _prefix(self._tree, self._committed)
        self._failed(cause)

    def _abort_batch(self, exc: BaseException) -> None:
        """Every writer of the open batch learns it failed; the tree drops leaves that are not durable."""
        batch, self._batch = self._batch, None
        self._roll_back(exc)
        if batch is not None:
            batch.error = exc
            self._report(batch, time.monotonic(), ok=False)
            batch.done.set()

    def close(self) -> None:
        """Commit what is staged, then stop the committer and the follower."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._closed.set()
        self._committer.join(timeout=10)
        if self._following is not None:
            self._following.join(timeout=10)

    # ------------------------------------------------------------------ reading
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
        self.catch_up_to(second)
        size = self.size
        if not 0 <= first <= second <= size:
            raise ValidationError(f"sizes must satisfy 0 <= first <= second <= {size} (the current log size)")

    def entries(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        return self._storage.log_entries(start, end)


def _prefix(tree: merkle.MerkleTree, size: int) -> merkle.MerkleTree:
    """A tree of the first ``size`` leaves of ``tree`` (the tree only grows, so this rebuilds it)."""
    return merkle.MerkleTree(tree.leaf_hash_at(i) for i in range(size))


class _LogPrefix:
    """The first ``size`` entries of a log and the heads over them: what was committed when ``size`` was
    read, whatever other matchers append while it is verified."""

    def __init__(self, storage: LogReads, size: int) -> None:
        self._storage = storage
        self._size = size

    def log_entries(self, start: int, end: int) -> list[Row]:
        return self._storage.log_entries(start, min(end, self._size)) if start < self._size else []

    def heads(self) -> list[HeadRow]:
        return [h for h in self._storage.heads() if h.tree_size <= self._size]


VERIFY_PAGE = 10_000
"""Log rows read per storage call while verifying or catching up: bounds memory for the event bytes."""


def _stored_rows(storage: LogReads) -> Iterator[Row]:
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
