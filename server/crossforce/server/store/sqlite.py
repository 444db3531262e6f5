"""The embedded store: SQLite in a data folder (WAL, synchronous=FULL), implementing every protocol of
``store.protocols``.

Every write that the server acknowledges commits with WAL and synchronous=FULL, and the audit event that
records a change is appended in the same transaction as the change (docs/architecture.md, audit). Index
bits live in content-addressed files written atomically before the row that points at them commits, so
a crash mid-publish leaves the previous index serving. Log rows are append-only: triggers refuse UPDATE
and DELETE. Nothing stored here is a raw name, date or identifier: tokens are keyed hashes and
disclosure payloads are ciphertext. No connection leaves this module.

The tables, their versions and the upgrades between them are ``store.schema``. It runs over 400 lines: one
backend implements every storage protocol, and splitting it would spread one connection's rules apart.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crossforce.errors import AlreadyExistsError, UnavailableError
from crossforce.fsutil import PRIVATE_FILE_MODE, atomic_write
from crossforce.privatefiles import create_private_file, create_private_folder
from crossforce.server.store import schema
from crossforce.server.store.folderlock import lock_data_folder
from crossforce.server.store.protocols import RequestPosition
from crossforce.server.store.rows import HeadRow, IdempotentRow, IndexRow, OrgRow, RequestRow

DB_FILE = "matcher.sqlite3"
BITS_DIR = "indexes"
RECLAIM_WAIT_S = 1.0
"""How long a WAL truncation waits for a writer's batch to commit before giving up until next time."""


@dataclass
class SQLiteTransaction:
    """Writes gathered in one SQLite transaction; the log indexes they get are known before commit."""

    conn: sqlite3.Connection
    next_log_index: int
    appended_leaves: list[bytes] = field(default_factory=list)

    def _exec(self, sql: str, args: tuple[object, ...]) -> None:
        try:
            self.conn.execute(sql, args)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise UnavailableError("storage cannot write (disk full?); nothing was changed") from exc

    def append_log(self, entry: bytes, leaf_hash: bytes) -> int:
        idx = self.next_log_index
        self._exec("INSERT INTO log (idx, entry, leaf_hash) VALUES (?, ?, ?)", (idx, entry, leaf_hash))
        self.appended_leaves.append(leaf_hash)
        self.next_log_index += 1
        return idx

    def append_logs(self, entries: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> range:
        if len(entries) != len(leaf_hashes):
            raise ValueError(f"{len(entries)} entries for {len(leaf_hashes)} leaf hashes")
        indexes = range(self.next_log_index, self.next_log_index + len(entries))
        if entries:
            try:
                rows = zip(indexes, entries, leaf_hashes, strict=True)
                self.conn.executemany("INSERT INTO log (idx, entry, leaf_hash) VALUES (?, ?, ?)", rows)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise UnavailableError("storage cannot write (disk full?); nothing was changed") from exc
        self.appended_leaves.extend(leaf_hashes)
        self.next_log_index = indexes.stop
        return indexes

    def put_org(self, row: OrgRow) -> None:
        self._exec(
            "INSERT OR REPLACE INTO orgs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                row.org,
                row.display_name,
                row.signing_key,
                row.box_key,
                row.key_version,
                row.registered_at_ms,
                row.log_index,
            ),
        )

    def put_index(self, row: IndexRow) -> None:
        self._exec(
            "INSERT OR REPLACE INTO indexes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.org,
                row.epoch,
                row.version,
                row.header,
                row.signature,
                row.bits_sha256,
                row.num_blocks,
                row.num_probes,
                row.token_count,
                row.record_count,
                row.published_at_ms,
                row.expires_at_ms,
                row.log_index,
            ),
        )

    def insert_request(self, row: RequestRow) -> None:
        try:
            self._exec(
                f"INSERT INTO requests ({schema.REQUEST_COLUMNS}) VALUES ({schema.REQUEST_PLACEHOLDERS})",
                _request_tuple(row),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExistsError("disclosure request id already exists") from exc

    def update_request(self, row: RequestRow) -> None:
        """Every field that may change after opening: the state's, and what forgetting clears (tokens
        on resolve; justification text, payload and matched versions after retention)."""
        self._exec(
            "UPDATE requests SET state = ?, updated_at_ms = ?, refusal_reason = ?, sealed = ?, "
            "sealed_sha256 = ?, log_index = ?, tokens = ?, legal_basis = ?, case_reference = ?, "
            "officer_id = ?, matched_indexes = ?, approval_log_index = ? WHERE request_id = ?",
            (
                row.state,
                row.updated_at_ms,
                row.refusal_reason,
                row.sealed,
                row.sealed_sha256,
                row.log_index,
                row.tokens,
                row.legal_basis,
                row.case_reference,
                row.officer_id,
                schema.encode_matched(row.matched_indexes),
                row.approval_log_index,
                row.request_id,
            ),
        )

    def put_head(self, row: HeadRow) -> None:
        self._exec(
            "INSERT OR REPLACE INTO heads VALUES (?, ?, ?, ?)",
            (row.tree_size, row.timestamp_ms, row.root, row.signature),
        )

    def put_cosignature(self, tree_size: int, witness: str, line: str, timestamp_s: int) -> None:
        self._exec(
            "INSERT OR REPLACE INTO cosignatures VALUES (?, ?, ?, ?)", (tree_size, witness, line, timestamp_s)
        )

    def set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def put_idempotent(self, row: IdempotentRow) -> None:
        try:
            self._exec(
                "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (row.org, row.key, row.request_sha256, row.response, row.log_index, row.created_at_ms),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExistsError("idempotency key already used") from exc

    def _one(self, sql: str, args: tuple[object, ...]) -> sqlite3.Row | None:
        try:
            row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise UnavailableError("storage is unavailable; retry shortly") from exc
        return row

    def idempotent(self, org: str, key: str) -> IdempotentRow | None:
        row = self._one("SELECT * FROM idempotency WHERE org = ? AND key = ?", (org, key))
        return _idempotent_from(row) if row is not None else None

    def forget_idempotent(self, *, created_before_ms: int, limit: int) -> int:
        try:
            cursor = self.conn.execute(
                "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency "
                "WHERE created_at_ms < ? LIMIT ?)",
                (created_before_ms, limit),
            )
        except sqlite3.Error as exc:
            raise UnavailableError("storage cannot write (disk full?); nothing was changed") from exc
        return int(cursor.rowcount)

    def request(self, request_id: str) -> RequestRow | None:
        row = self._one("SELECT * FROM requests WHERE request_id = ?", (request_id,))
        return schema.request_row(dict(row)) if row is not None else None

    def org(self, org: str) -> OrgRow | None:
        row = self._one("SELECT * FROM orgs WHERE org = ?", (org,))
        return OrgRow(**dict(row)) if row is not None else None

    def index(self, org: str, epoch: int) -> IndexRow | None:
        row = self._one("SELECT * FROM indexes WHERE org = ? AND epoch = ?", (org, epoch))
        return IndexRow(**dict(row)) if row is not None else None


def _idempotent_from(r: sqlite3.Row) -> IdempotentRow:
    return IdempotentRow(**dict(r))


def _request_tuple(row: RequestRow) -> tuple[object, ...]:
    return (
        row.request_id,
        row.check_id,
        row.requester_org,
        row.holder_org,
        row.purpose,
        row.legal_basis,
        row.case_reference,
        row.officer_id,
        ",".join(str(k) for k in row.key_types),
        row.strength,
        row.tokens,
        row.state,
        row.created_at_ms,
        row.deadline_ms,
        row.updated_at_ms,
        row.refusal_reason,
        row.sealed,
        row.sealed_sha256,
        row.log_index,
        schema.encode_matched(row.matched_indexes),
        row.approval_log_index,
        row.probability_ppm,
    )


def _request_filter(
    holder: str | None, requester: str | None, states: Sequence[int]
) -> tuple[list[str], list[object]]:
    """The WHERE terms and arguments that pick requests by party and state."""
    where: list[str] = []
    args: list[object] = []
    if holder is not None:
        where.append("holder_org = ?")
        args.append(holder)
    if requester is not None:
        where.append("requester_org = ?")
        args.append(requester)
    if states:
        where.append(f"state IN ({','.join('?' * len(states))})")
        args.extend(states)
    return where, args


def _urgency_rank(urgent_purposes: Sequence[str]) -> tuple[str, list[object]]:
    """The SQL that sorts a request for an urgent purpose first (0, else 1), and its arguments."""
    if not urgent_purposes:
        return "1", []
    return f"(CASE WHEN purpose IN ({','.join('?' * len(urgent_purposes))}) THEN 0 ELSE 1 END)", [
        *urgent_purposes
    ]


class SQLiteStorage:
    """SQLite in a data folder (WAL, synchronous=FULL), one writer at a time."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._folder_lock = lock_data_folder(data_dir)
        self.bits_dir = data_dir / BITS_DIR
        create_private_folder(self.bits_dir)
        for leftover in self.bits_dir.glob(".*.tmp"):  # an index write cut short by a crash
            leftover.unlink(missing_ok=True)
        self.db_path = data_dir / DB_FILE
        self._lock = threading.RLock()
        self._closed = threading.Event()
        create_private_file(self.db_path)  # 0600 before SQLite opens it: its -wal and -shm take its mode
        self._conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # Forgotten tokens and purged text are overwritten with zeros, not left in free space.
        self._conn.execute("PRAGMA secure_delete=ON")
        try:
            schema.create_or_upgrade(self._conn, where=str(data_dir))
        except BaseException:
            self._conn.close()
            os.close(self._folder_lock)
            raise
        # Reads use their own connection, so with WAL they see committed data only, never what writers
        # have staged in the group-commit transaction.
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._reader.row_factory = sqlite3.Row

    @property
    def schema_version(self) -> int:
        """The layout this folder holds (``schema.SCHEMA_VERSION`` once open)."""
        return int(self.meta("schema_version") or 0)

    # Group commit (used by the audit log): one open transaction that many writers stage into, each in
    # its own savepoint, committed (one fsync) by a single committer. ``self._lock`` is held by the caller.
    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def shared(self) -> bool:
        """One matcher owns a data folder (``matcher.lock``): nobody else appends to its log."""
        return False

    def begin(self) -> int:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            return int(self._conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM log").fetchone()[0])
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise UnavailableError("storage is unavailable; retry shortly") from exc

    def log_size(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(idx) + 1, 0) FROM log")[0][0])

    def wait_for_log_change(self, timeout_s: float) -> None:
        """Nobody else appends to this folder's log: wait out ``timeout_s`` (or until closed)."""
        self._closed.wait(timeout_s)

    def head_at(self, tree_size: int) -> HeadRow | None:
        rows = self._query("SELECT * FROM heads WHERE tree_size = ?", (tree_size,))
        return HeadRow(**dict(rows[0])) if rows else None

    def idempotent(self, org: str, key: str) -> IdempotentRow | None:
        rows = self._query("SELECT * FROM idempotency WHERE org = ? AND key = ?", (org, key))
        return _idempotent_from(rows[0]) if rows else None

    def in_transaction(self) -> bool:
        """False when SQLite has rolled the open transaction back by itself (e.g. SQLITE_FULL)."""
        return self._conn.in_transaction

    def staged(self, next_log_index: int) -> SQLiteTransaction:
        if not self._conn.in_transaction:
            raise UnavailableError("the storage transaction was aborted; retry")
        self._conn.execute("SAVEPOINT staged")
        return SQLiteTransaction(conn=self._conn, next_log_index=next_log_index)

    def keep_staged(self) -> None:
        self._conn.execute("RELEASE staged")

    def drop_staged(self) -> None:
        if self._conn.in_transaction:  # else the engine already rolled everything back
            self._conn.execute("ROLLBACK TO staged")
            self._conn.execute("RELEASE staged")

    def commit(self) -> None:
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise UnavailableError("storage could not commit; nothing was changed") from exc

    def rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._read_lock:
            try:
                return self._reader.execute(sql, tuple(args)).fetchall()
            except sqlite3.Error as exc:
                raise UnavailableError("storage is unavailable; retry shortly") from exc

    def orgs(self) -> list[OrgRow]:
        return [OrgRow(**dict(r)) for r in self._query("SELECT * FROM orgs ORDER BY org")]

    def indexes(self) -> list[IndexRow]:
        return [IndexRow(**dict(r)) for r in self._query("SELECT * FROM indexes ORDER BY org, epoch")]

    def write_bits(self, sha256_hex: str, bits: bytes | memoryview) -> None:
        path = self.bits_dir / f"{sha256_hex}.bin"
        if not path.exists():
            try:
                atomic_write(path, bits, mode=PRIVATE_FILE_MODE)
            except OSError as exc:
                raise UnavailableError(
                    "storage cannot write the index; the previous index still serves, retry later"
                ) from exc

    def read_bits(self, sha256_hex: str) -> bytes:
        return (self.bits_dir / f"{sha256_hex}.bin").read_bytes()

    def prune_bits(self) -> int:
        """Remove index files no row points at (superseded versions); returns how many."""
        keep = {r.bits_sha256 for r in self.indexes()}
        removed = 0
        for path in self.bits_dir.glob("*.bin"):
            if path.stem not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def request(self, request_id: str) -> RequestRow | None:
        rows = self._query("SELECT * FROM requests WHERE request_id = ?", (request_id,))
        return schema.request_row(dict(rows[0])) if rows else None

    def requests(
        self,
        *,
        holder: str | None = None,
        requester: str | None = None,
        states: Sequence[int] = (),
        limit: int,
        urgent_purposes: Sequence[str] = (),
        after: RequestPosition | None = None,
    ) -> list[RequestRow]:
        where, args = _request_filter(holder, requester, states)
        rank, rank_args = _urgency_rank(urgent_purposes)
        if after is not None:
            where.append(f"({rank}, deadline_ms, created_at_ms, request_id) > (?, ?, ?, ?)")
            args += [*rank_args, *after]
        sql = "SELECT * FROM requests" + (" WHERE " + " AND ".join(where) if where else "")
        # A constant rank stays out of ORDER BY, where an integer literal would name a column.
        order = f"{rank}, " if rank_args else ""
        sql += f" ORDER BY {order}deadline_ms, created_at_ms, request_id LIMIT ?"
        return [schema.request_row(dict(r)) for r in self._query(sql, [*args, *rank_args, limit])]

    def requests_with_id_prefix(self, prefix: str, *, party_org: str | None, limit: int) -> list[RequestRow]:
        # A range on the primary key (every id starting with the prefix sorts between these two), so
        # the lookup uses the index, unlike LIKE under SQLite's default case-insensitive LIKE.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        sql = "SELECT * FROM requests WHERE request_id >= ? AND request_id < ?"
        args: list[object] = [prefix, upper]
        if party_org is not None:
            sql += " AND (holder_org = ? OR requester_org = ?)"
            args += [party_org, party_org]
        sql += " ORDER BY request_id LIMIT ?"
        return [schema.request_row(dict(r)) for r in self._query(sql, [*args, limit])]

    def requests_changed_since(
        self,
        *,
        holder: str | None = None,
        requester: str | None = None,
        states: Sequence[int] = (),
        after: tuple[int, str],
        limit: int,
    ) -> list[RequestRow]:
        where, args = _request_filter(holder, requester, states)
        where.append("(updated_at_ms > ? OR (updated_at_ms = ? AND request_id > ?))")
        args += [after[0], after[0], after[1]]
        sql = "SELECT * FROM requests WHERE " + " AND ".join(where)
        sql += " ORDER BY updated_at_ms, request_id LIMIT ?"
        return [schema.request_row(dict(r)) for r in self._query(sql, [*args, limit])]

    def requests_due_before(self, deadline_ms: int, states: Sequence[int]) -> list[RequestRow]:
        if not states:
            return []
        rows = self._query(
            f"SELECT * FROM requests WHERE state IN ({','.join('?' * len(states))}) AND deadline_ms < ? "
            "ORDER BY deadline_ms",
            [*states, deadline_ms],
        )
        return [schema.request_row(dict(r)) for r in rows]

    def request_outcomes(self) -> list[tuple[int, int]]:
        rows = self._query("SELECT probability_ppm, state FROM requests WHERE probability_ppm > 0", [])
        return [(int(r[0]), int(r[1])) for r in rows]

    def requests_to_forget(
        self, *, states: Sequence[int], updated_before_ms: int, limit: int, tokens_only: bool = False
    ) -> list[RequestRow]:
        if not states:
            return []
        holding = "tokens != X''" + (
            ""
            if tokens_only
            else " OR legal_basis != '' OR case_reference != '' OR officer_id != '' OR sealed IS NOT NULL "
            "OR matched_indexes != ''"
        )
        rows = self._query(
            f"SELECT * FROM requests WHERE state IN ({','.join('?' * len(states))}) AND updated_at_ms < ? "
            f"AND ({holding}) ORDER BY updated_at_ms, request_id LIMIT ?",
            [*states, updated_before_ms, limit],
        )
        return [schema.request_row(dict(r)) for r in rows]

    def reclaim_forgotten(self) -> bool:
        """Copy the WAL into the database and truncate it, so the old page images that still held
        forgotten bytes are gone too (secure_delete zeroes them in the database file). Best effort: False
        when a writer or reader is busy (the next purge tries again)."""
        try:  # its own short-lived connection, so a busy writer never holds up reads
            conn = sqlite3.connect(self.db_path, timeout=RECLAIM_WAIT_S, isolation_level=None)
        except sqlite3.Error:
            return False
        try:
            busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error:
            return False
        finally:
            conn.close()
        return not busy

    def log_leaf_hashes(self) -> list[bytes]:
        return [bytes(r[0]) for r in self._query("SELECT leaf_hash FROM log ORDER BY idx")]

    def log_entries(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        rows = self._query(
            "SELECT idx, entry, leaf_hash FROM log WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [(int(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]

    def latest_head(self) -> HeadRow | None:
        rows = self._query("SELECT * FROM heads ORDER BY tree_size DESC LIMIT 1")
        return HeadRow(**dict(rows[0])) if rows else None

    def heads(self) -> list[HeadRow]:
        return [HeadRow(**dict(r)) for r in self._query("SELECT * FROM heads ORDER BY tree_size")]

    def cosignatures(self, tree_size: int) -> list[str]:
        rows = self._query("SELECT line FROM cosignatures WHERE tree_size = ? ORDER BY witness", (tree_size,))
        return [str(r[0]) for r in rows]

    def best_cosigned_size(self, at_least: int) -> int | None:
        rows = self._query(
            "SELECT tree_size FROM cosignatures WHERE tree_size >= ? GROUP BY tree_size "
            "ORDER BY COUNT(*) DESC, tree_size LIMIT 1",
            (at_least,),
        )
        return int(rows[0][0]) if rows else None

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def healthy(self) -> bool:
        try:
            self._query("SELECT 1")
            # A new file each time: reopening an existing one succeeds on a folder that can no longer
            # take new files (full disk, read-only remount, lost permissions).
            probe = self.data_dir / f".health-{os.getpid()}-{threading.get_ident()}"
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
            os.close(fd)
            probe.unlink()
        except (UnavailableError, OSError):
            return False
        return True

    def integrity_check(self) -> str:
        return str(self._query("PRAGMA integrity_check")[0][0])

    def close(self) -> None:
        self._closed.set()
        with self._lock, self._read_lock:
            self._reader.close()
            self._conn.close()
            os.close(self._folder_lock)  # releases the data folder for the next matcher
