"""The audit log as this profile last verified it, kept on disk so the next run fetches only what is new.

One SQLite file per role in the profile (``verified-log-<role>.sqlite3``, 0600: a role reads its own set
of events, so two roles never share one copy). It holds every verified leaf hash with the event bytes the
role could read, and one checkpoint row: the log key, the last head verified leaf by leaf, and that
tree's compact frontier (``crossforce.auditlog.verify.VerifiedPrefix``).

Invariants:

- Only what ``verify_extension`` (or ``verify_snapshot``) proved is ever written, and leaves and checkpoint
  change in one transaction: a run that fails or is killed leaves the previous verified copy whole.
- The number of leaves stored always equals the checkpoint head's size; a file where it does not is
  refused (re-verify with ``--full``), never extended.
- Reports read events from here, so an auditor no longer downloads the whole log for every report.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from crossforce.auditlog import treehead
from crossforce.auditlog.merkle import HASH_BYTES
from crossforce.auditlog.verify import LogSnapshot, VerifiedPrefix
from crossforce.errors import PreconditionError, ValidationError, VerificationError
from crossforce.fsutil import PRIVATE_FILE_MODE

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of this file's layout."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS leaves (
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL,
    entry BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoint (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    log_key BLOB NOT NULL,
    head BLOB NOT NULL,
    frontier BLOB NOT NULL
);
"""


def verified_log_path(profile_dir: Path, role: str) -> Path:
    """Where a profile keeps the log one of its roles verified."""
    return Path(profile_dir) / f"verified-log-{role}.sqlite3"


class VerifiedLog:
    """A profile's verified copy of the audit log (one role's view)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            # Create it 0600 before SQLite writes a byte (the umask cannot widen it).
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._conn.execute("PRAGMA busy_timeout=30000")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise ValidationError(
                    f"{self.path} has layout {version}; this SDK reads layout {SCHEMA_VERSION}: upgrade it"
                )
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValidationError(f"{self.path} is not a verified audit log copy ({exc})") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> VerifiedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def checkpoint(self, log_key: bytes) -> VerifiedPrefix | None:
        """The last verified head and frontier, or None before the first run.

        Refused (VerificationError) if it was verified under another log key, or if the stored leaves do
        not number exactly the head's size (a damaged copy: re-verify with ``--full``).
        """
        row = self._conn.execute("SELECT log_key, head, frontier FROM checkpoint WHERE one = 1").fetchone()
        if row is None:
            return None
        stored_key, head_bytes, frontier_bytes = (bytes(v) for v in row)
        if stored_key != log_key:
            raise VerificationError(
                f"{self.path} was verified under another log key than the one this profile pinned"
            )
        try:
            head = treehead.decode_signed_tree_head(head_bytes)
        except ValidationError as exc:
            raise VerificationError(
                f"{self.path} holds a damaged head ({exc}): re-verify with --full"
            ) from None
        if len(frontier_bytes) % HASH_BYTES:
            raise VerificationError(f"{self.path} holds a damaged frontier: re-verify with --full")
        (count,) = self._conn.execute("SELECT COUNT(*) FROM leaves").fetchone()
        if count != head.head.tree_size:
            raise VerificationError(
                f"{self.path} holds {count} leaves for a head of {head.head.tree_size}: re-verify with --full"
            )
        frontier = tuple(
            frontier_bytes[i : i + HASH_BYTES] for i in range(0, len(frontier_bytes), HASH_BYTES)
        )
        return VerifiedPrefix(head=head, frontier=frontier)

    def rows(self, start: int = 0) -> Iterator[tuple[int, bytes, bytes]]:
        """Every verified ``(index, leaf_hash, entry)`` from ``start`` in order (entry empty where not
        readable)."""
        query = "SELECT idx, leaf_hash, entry FROM leaves WHERE idx >= ? ORDER BY idx"
        for idx, leaf, entry in self._conn.execute(query, (start,)):
            yield int(idx), bytes(leaf), bytes(entry)

    def snapshot(self, log_key: bytes) -> LogSnapshot:
        """The whole verified log as a ``LogSnapshot`` (for ``--save`` and reports)."""
        kept = self.checkpoint(log_key)
        if kept is None:
            raise ValidationError("nothing verified yet: run `crossforce audit verify --profile ...` first")
        return LogSnapshot.collect(head=kept.head, log_key=log_key, entries=self.rows())

    # ------------------------------------------------------------------ writing
    def extend(
        self,
        *,
        log_key: bytes,
        kept: VerifiedPrefix,
        start: int,
        leaf_hashes: Sequence[bytes],
        entries: Sequence[bytes],
        replace: bool = False,
    ) -> None:
        """Add what was just verified (leaves from ``start``) and the new checkpoint, in one transaction.

        ``replace`` drops everything kept first (``--full``, where ``start`` is 0).
        """
        with self._transaction():
            if replace:
                self._conn.execute("DELETE FROM leaves")
            (count,) = self._conn.execute("SELECT COUNT(*) FROM leaves").fetchone()
            if count != start:
                raise PreconditionError(
                    f"another run updated {self.path} while this one verified ({count} leaves kept, "
                    f"{start} expected): run the command again"
                )
            self._conn.executemany(
                "INSERT INTO leaves (idx, leaf_hash, entry) VALUES (?, ?, ?)",
                (
                    (start + i, leaf, entry)
                    for i, (leaf, entry) in enumerate(zip(leaf_hashes, entries, strict=True))
                ),
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO checkpoint (one, log_key, head, frontier) VALUES (1, ?, ?, ?)",
                (log_key, treehead.encode_signed_tree_head(kept.head), b"".join(kept.frontier)),
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")  # one writer at a time: a second run waits for the first
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
