"""A consistent copy of a data folder's database while a matcher writes to it, and what a copy holds.

Why SQLite's online backup API and not a file copy: the matcher commits in WAL mode, so the database
file alone misses every commit not yet checkpointed, and copying the file and its WAL one after the
other can pair a file from one moment with a log from another. ``Connection.backup`` copies every page
inside one read transaction of a separate read-only connection: it sees exactly the committed state at
one instant (a group commit is wholly in or wholly out, with the signed tree head that closes it) and,
being a reader under WAL, it never blocks the matcher's writer.

Why the index files follow the database: bits are written before the row that points at them commits,
and removed only after a newer row for the same index has committed (``store.sqlite``), so every file a
snapshot's rows name existed when the snapshot was taken; ``index_files`` says which to copy.

This module only reads the live folder; it never takes the folder lock (the running matcher holds it).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from crossforce.errors import NotFoundError, UnavailableError, VerificationError
from crossforce.privatefiles import create_private_file
from crossforce.server.store.folderlock import LOCK_FILE
from crossforce.server.store.sqlite import BITS_DIR, DB_FILE

DB_SIDE_FILES = tuple(f"{DB_FILE}{suffix}" for suffix in ("-wal", "-shm", "-journal"))
"""SQLite's own companions of the live database: their content is inside the snapshot already."""


@dataclass(frozen=True, kw_only=True)
class DatabaseFacts:
    """What a database copy says about itself: enough to check a restore and to name the backup."""

    schema_version: int
    tree_size: int
    """Size of the newest signed tree head (0 for a log that has none yet)."""
    root: bytes
    """Root of that head (empty for a log that has none yet)."""
    index_files: frozenset[str]
    """``indexes/<sha256>.bin`` for every stored index row: the bits the snapshot needs."""


def is_transient(relative: Path) -> bool:
    """True for what a running matcher keeps beside its data but a copy must not carry: the folder lock
    (a restored folder takes its own), SQLite's WAL and shared memory, health probes and temporary files
    an interrupted atomic write left."""
    name = relative.name
    if relative.parent == Path(".") and name in (LOCK_FILE, *DB_SIDE_FILES):
        return True
    return name.startswith(".health-") or (name.startswith(".") and name.endswith(".tmp"))


def is_database(relative: Path) -> bool:
    return relative == Path(DB_FILE)


def is_index_file(relative: Path) -> bool:
    return relative.parent == Path(BITS_DIR) and relative.suffix == ".bin"


def database_path(data_dir: Path) -> Path:
    return data_dir / DB_FILE


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    if not path.is_file():
        raise NotFoundError(f"no matcher database in {path.parent} (expected {path.name})")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UnavailableError(f"cannot open {path} read-only: {exc}") from exc
    try:
        yield conn
    finally:
        conn.close()


def snapshot_database(data_dir: Path, dest: Path) -> DatabaseFacts:
    """Copy ``data_dir``'s database, as committed at one instant, into the new file ``dest``.

    The copy is a self-contained file (rollback journal mode: no WAL beside it) that passed SQLite's
    integrity check; the facts are read from the copy, so they describe exactly what was saved.
    """
    with _read_only(database_path(data_dir)) as source:
        create_private_file(dest)  # 0600 before a byte of the copy lands (and its journal takes its mode)
        target = sqlite3.connect(dest)
        try:
            source.backup(target)  # all pages in one step: one read transaction, one instant
            target.execute("PRAGMA journal_mode=DELETE")  # fold the copy's WAL into the file
        except sqlite3.Error as exc:
            raise UnavailableError(f"cannot copy the matcher database: {exc}") from exc
        finally:
            target.close()
    return database_facts(dest)


def database_facts(path: Path) -> DatabaseFacts:
    """Check a database copy (SQLite's integrity check) and read what it holds; VerificationError if it
    is damaged or not a matcher database."""
    with _read_only(path) as conn:
        try:
            (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise VerificationError(f"{path.name} failed SQLite's integrity check: {verdict}")
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            head = conn.execute(
                "SELECT tree_size, root FROM heads ORDER BY tree_size DESC LIMIT 1"
            ).fetchone()
            bits = conn.execute("SELECT bits_sha256 FROM indexes").fetchall()
        except sqlite3.DatabaseError as exc:
            raise VerificationError(f"{path.name} is not a readable matcher database: {exc}") from exc
    return DatabaseFacts(
        schema_version=int(version[0]) if version else 0,
        tree_size=int(head[0]) if head else 0,
        root=bytes(head[1]) if head else b"",
        index_files=frozenset(f"{BITS_DIR}/{sha}.bin" for (sha,) in bits),
    )
