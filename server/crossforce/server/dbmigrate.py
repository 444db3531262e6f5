"""Move a pilot's SQLite data folder into an empty PostgreSQL database with its audit log intact.

``crossforce db migrate-from-sqlite`` calls ``migrate_from_sqlite``. Invariants:

- The pilot's matcher is stopped: the folder lock is held for the whole copy, so nothing is appended
  to the source meanwhile, and the source is read through a read-only connection (it is never changed).
- All or nothing: every table and every index's bits are copied in one PostgreSQL transaction that
  also holds the log's sequence (``audit_head``), so no matcher can append to a half-copied log, and a
  failure anywhere leaves the target empty.
- The target must be upgraded (``crossforce db upgrade``) and empty; anything else is refused.
- Proof before commit: the copied log is verified, inside the transaction, with the same verifier the
  matcher runs at start-up, under the public half of the folder's log signing key, and must end at
  exactly the signed size and root the source's log ends at; every index's bits must hash to their name.
- The log signing key stays a file. It is never written to the database (whoever steals a database
  dump must not be able to sign heads); the operator copies it into each matcher's ``--data`` folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import psycopg

from crossforce.auditlog import verify
from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.errors import NotFoundError, PreconditionError, UnavailableError, VerificationError
from crossforce.fsutil import read_limited
from crossforce.server.app import LOG_KEY_FILE
from crossforce.server.offline import verify_data_dir
from crossforce.server.store import pgschema, schema
from crossforce.server.store.folderlock import lock_data_folder
from crossforce.server.store.sqlite import BITS_DIR, DB_FILE

VERIFY_PAGE = 10_000
"""Log rows read back per query while verifying the copy."""
SQLITE_ONLY_META = frozenset({"schema_version"})
"""Meta rows that describe the SQLite file itself, not the matcher's state: the target has its own."""


@dataclass(frozen=True, kw_only=True)
class MigrationReport:
    """What was copied, and the log both databases now hold (write the size and root down)."""

    source: Path
    target: str
    """The DSN without its password."""
    tree_size: int
    root: bytes
    log_key: bytes
    """The public half of the log signing key the copy verified under (empty for a log never written)."""
    log_key_file: Path
    """Where the signing key stays: copy it into every matcher's ``--data`` folder."""
    rows: dict[str, int]
    """Rows copied per table."""
    index_bits: int
    bits_bytes: int
    seconds: float


def migrate_from_sqlite(data_dir: Path, dsn: str) -> MigrationReport:
    """Copy the stopped matcher's folder ``data_dir`` into the empty, upgraded database ``dsn``."""
    started = time.monotonic()
    if not (data_dir / DB_FILE).is_file():
        raise NotFoundError(f"no matcher database in {data_dir} (expected {DB_FILE})")
    lock = lock_data_folder(data_dir)  # PreconditionError while the pilot's matcher still runs
    try:
        with _read_only(data_dir / DB_FILE) as source:
            found = _sqlite_version(source)
            if found != schema.SCHEMA_VERSION:
                raise PreconditionError(
                    f"{data_dir} holds SQLite schema version {found}, not {schema.SCHEMA_VERSION}: start "
                    f"this version's matcher on it once (`crossforce serve --data {data_dir}`), stop it, "
                    "then migrate"
                )
            log_key = _log_public_key(data_dir, source)
            expected = verify_data_dir(data_dir, log_key) if log_key else None
            with pgschema.connect(dsn) as target:
                try:
                    rows, bits, size = _copy(data_dir, source, target, dsn, log_key, expected)
                except psycopg.Error as exc:
                    raise UnavailableError(
                        f"cannot copy into {pgschema.safe_dsn(dsn)}: {pgschema.describe_error(exc, dsn)}; "
                        "nothing was changed"
                    ) from None
    finally:
        os.close(lock)
    return MigrationReport(
        source=data_dir,
        target=pgschema.safe_dsn(dsn),
        tree_size=expected.head.tree_size if expected else 0,
        root=expected.head.root_hash if expected else b"",
        log_key=log_key,
        log_key_file=data_dir / LOG_KEY_FILE,
        rows=rows,
        index_bits=bits,
        bits_bytes=size,
        seconds=time.monotonic() - started,
    )


def _copy(
    data_dir: Path,
    source: sqlite3.Connection,
    target: psycopg.Connection[Any],
    dsn: str,
    log_key: bytes,
    expected: SignedTreeHead | None,
) -> tuple[dict[str, int], int, int]:
    pgschema.require_current(target, dsn)
    with target.transaction():
        target.execute("SELECT size FROM audit_head WHERE id = 1 FOR UPDATE")  # no matcher appends meanwhile
        _require_empty(target, dsn)
        rows = {table.name: _copy_table(source, target, table) for table in pgschema.ROW_TABLES}
        bits, size = _copy_bits(data_dir, source, target)
        log_size = rows[pgschema.LOG.name]
        if log_size:
            target.execute("UPDATE audit_head SET size = %s WHERE id = 1", (log_size,))
        _check_copied_log(target, log_key, expected, log_size)
    return rows, bits, size


def _require_empty(target: psycopg.Connection[Any], dsn: str) -> None:
    holding = []
    for table in (*pgschema.ROW_TABLES, pgschema.INDEX_BITS):
        where = " WHERE key <> 'schema_version'" if table is pgschema.META else ""
        row = target.execute(f"SELECT EXISTS (SELECT 1 FROM {table.name}{where})").fetchone()
        if row is not None and row[0]:
            holding.append(table.name)
    size = target.execute("SELECT size FROM audit_head WHERE id = 1").fetchone()
    if holding or (size is not None and size[0]):
        raise PreconditionError(
            f"the database {pgschema.safe_dsn(dsn)} is not empty (it holds {', '.join(holding) or 'a log'}): "
            "migrate into a new database, created empty and upgraded with `crossforce db upgrade`"
        )


def _copy_table(source: sqlite3.Connection, target: psycopg.Connection[Any], table: pgschema.Table) -> int:
    order = f" ORDER BY {', '.join(table.key)}"
    copied = 0
    with target.cursor() as cur, cur.copy(f"COPY {table.name} ({table.column_list}) FROM STDIN") as copy:
        for row in source.execute(f"SELECT {table.column_list} FROM {table.name}{order}"):
            if table is pgschema.META and row[0] in SQLITE_ONLY_META:
                continue
            copy.write_row(row)
            copied += 1
    return copied


def _copy_bits(
    data_dir: Path, source: sqlite3.Connection, target: psycopg.Connection[Any]
) -> tuple[int, int]:
    """Every index row's bits, each checked against its name; returns (how many, bytes)."""
    count = total = 0
    for (sha,) in source.execute("SELECT DISTINCT bits_sha256 FROM indexes ORDER BY bits_sha256"):
        path = data_dir / BITS_DIR / f"{sha}.bin"
        try:
            bits = path.read_bytes()
        except FileNotFoundError:
            raise VerificationError(
                f"{path} is missing, but an index row names it: the folder is damaged"
            ) from None
        if hashlib.sha256(bits).hexdigest() != sha:
            raise VerificationError(f"{path} does not hash to its name: the folder is damaged")
        target.execute(
            f"INSERT INTO index_bits (sha256, bits, created_at_ms) VALUES (%s, %b, {pgschema.NOW_MS})",
            (sha, bits),
        )
        count += 1
        total += len(bits)
    return count, total


def _check_copied_log(
    target: psycopg.Connection[Any], log_key: bytes, expected: SignedTreeHead | None, log_size: int
) -> None:
    """The copy, read back inside the transaction, verifies to exactly the source's signed size and root."""
    if expected is None:
        if log_size:
            raise VerificationError("the source log has entries but no log key to verify them with")
        return
    heads = [
        verify.StoredHead(tree_size=int(s), timestamp_ms=int(t), root=bytes(r), signature=bytes(g))
        for s, t, r, g in target.execute(
            "SELECT tree_size, timestamp_ms, root, signature FROM heads ORDER BY tree_size"
        ).fetchall()
    ]
    copied = verify.verify_stored_log(_entries(target), heads, log_key)
    if copied is None or (copied.head.tree_size, copied.head.root_hash) != (
        expected.head.tree_size,
        expected.head.root_hash,
    ):
        raise VerificationError("the copied audit log does not end at the source's signed size and root")


def _entries(target: psycopg.Connection[Any]) -> Iterator[tuple[int, bytes, bytes]]:
    after = -1
    while True:
        rows = target.execute(
            "SELECT idx, entry, leaf_hash FROM log WHERE idx > %s ORDER BY idx LIMIT %s", (after, VERIFY_PAGE)
        ).fetchall()
        for idx, entry, leaf in rows:
            yield int(idx), bytes(entry), bytes(leaf)
        if len(rows) < VERIFY_PAGE:
            return
        after = int(rows[-1][0])


def _sqlite_version(source: sqlite3.Connection) -> int:
    try:
        row = source.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error as exc:
        raise VerificationError(f"not a readable matcher database: {exc}") from exc
    return int(row[0]) if row else 0


def _log_public_key(data_dir: Path, source: sqlite3.Connection) -> bytes:
    path = data_dir / LOG_KEY_FILE
    if not path.is_file():
        (entries,) = source.execute("SELECT COUNT(*) FROM log").fetchone()
        if entries:
            raise PreconditionError(
                f"{data_dir} holds a log of {entries} entries but no {LOG_KEY_FILE}: without the key the "
                "copy cannot be verified, and no matcher could extend the log"
            )
        return b""
    try:
        return bytes(nacl.signing.SigningKey(read_limited(path, 64)).verify_key)
    except (ValueError, TypeError) as exc:
        raise VerificationError(f"{path} is not an Ed25519 signing key") from exc


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UnavailableError(f"cannot open {path} read-only: {exc}") from exc
    try:
        yield conn
    finally:
        conn.close()
