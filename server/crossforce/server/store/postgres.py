"""The shared store: PostgreSQL, implementing every protocol of ``store.protocols`` for several matchers.

The rules are the SQLite backend's (``store.sqlite``), kept across processes:

- Group commit on one dedicated writer connection: ``BEGIN``, a ``SAVEPOINT`` per writer (a failed
  writer rolls back to it and the others stay), one ``COMMIT``. ``begin`` locks the single
  ``audit_head`` row: that row lock is the log's sequence cluster-wide, so one matcher appends at a time
  and indexes are gap-free whoever wrote. ``commit`` moves ``audit_head`` to the new size only if
  exactly the rows in between were staged, and NOTIFYs the other matchers (delivered at commit).
- Reads come from a pool of autocommit connections: they see committed data only, never what is
  staged. Reads inside the open transaction (``PostgresTransaction.request`` and friends) go through
  the writer, so they see what other matchers committed before ``begin`` plus what was staged.
- Index bits are committed in their own transaction before the row naming them; a prune removes bits
  only after they have been unreferenced for ``BITS_GRACE_MS`` (another replica may be loading them).
- No connection, cursor or driver error leaves this module, and no message carries the DSN's password.

It runs over 400 lines: one backend implements every storage protocol, and splitting it would spread
one writer connection's rules apart (the tables and migrations are ``store.pgschema``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from crossforce.errors import AlreadyExistsError, NotFoundError, PreconditionError, UnavailableError
from crossforce.server.store import pgschema, schema
from crossforce.server.store.protocols import RequestPosition
from crossforce.server.store.rows import HeadRow, IdempotentRow, IndexRow, OrgRow, RequestRow

LOG_CHANNEL = "crossforce_log"
"""The NOTIFY channel a commit that grew the log announces its new size on."""
READ_WAIT_S = 3.0
"""How long a read waits for a pooled connection before answering UNAVAILABLE."""
READS_DOWN_S = 1.0
"""After a read finds the database gone, later reads fail at once for this long instead of each waiting
``READ_WAIT_S`` for a connection: a replica whose database is down refuses quickly."""
HEALTH_WAIT_S = 2.0
"""How long the health probe may take: the health loop must never hang on a vanished database."""
POOL_OPEN_WAIT_S = 10.0
LISTEN_SLICE_S = 0.25
"""``wait_for_log_change`` wakes this often to notice ``close``."""
LOG_PAGE = 50_000
"""Log rows per query when reading the whole log: bounds one result set, whatever the log's size."""
BITS_GRACE_MS = 10 * 60 * 1000
"""Index bits are removed only once unreferenced this long: a replica that has just read an index row
(or is committing one) still finds its bits."""
WRITER_SETTINGS = (
    # Another matcher that hangs inside its commit must not stall this one for ever, nor hold the
    # log's sequence: its lock waits are bounded, and a session idle inside a transaction is ended.
    "SET lock_timeout = '15s'",
    "SET idle_in_transaction_session_timeout = '30s'",
)
NOW_MS = pgschema.NOW_MS
UNREFERENCED = "NOT EXISTS (SELECT 1 FROM indexes i WHERE i.bits_sha256 = b.sha256)"

ADVANCE_LOG = f"""
WITH appended AS (
    SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE idx >= %(size)s) AS beyond FROM log WHERE idx >= %(old)s
), moved AS (
    UPDATE audit_head SET size = %(size)s FROM appended
    WHERE id = 1 AND audit_head.size = %(old)s AND appended.n = %(size)s - %(old)s AND appended.beyond = 0
    RETURNING audit_head.size
)
SELECT pg_notify('{LOG_CHANNEL}', size::text) FROM moved
"""
"""Move the log's committed size from ``old`` to ``size`` and announce it, only if exactly the rows
``old .. size-1`` were staged (a gap or a stray row makes it update nothing, and the commit is refused)."""

UNAVAILABLE = "storage is unavailable; retry shortly"


def _request_params(row: RequestRow) -> dict[str, object]:
    params: dict[str, object] = {c: getattr(row, c) for c in pgschema.REQUESTS.columns}
    params["key_types"] = ",".join(str(k) for k in row.key_types)
    params["matched_indexes"] = schema.encode_matched(row.matched_indexes)
    return params


def _idempotent_from(r: Mapping[str, Any]) -> IdempotentRow:
    return IdempotentRow(**r)


def _fields(row: object, table: pgschema.Table) -> dict[str, object]:
    return {c: getattr(row, c) for c in table.columns}


REQUEST_SELECT = f"SELECT {pgschema.REQUESTS.column_list} FROM requests"


class PostgresTransaction:
    """Writes staged in the writer's open transaction (inside its savepoint); reads see what was
    committed before ``begin`` plus what is staged."""

    def __init__(self, conn: psycopg.Connection[Any], next_log_index: int) -> None:
        self._conn = conn
        self.next_log_index = next_log_index
        self.appended_leaves: list[bytes] = []

    def _exec(self, sql: str, params: Mapping[str, object] | Sequence[object]) -> None:
        try:
            self._conn.execute(sql, params)
        except psycopg.errors.UniqueViolation:
            raise
        except psycopg.Error as exc:
            raise UnavailableError("storage cannot write; nothing was changed") from exc

    def _one(self, sql: str, params: Sequence[object]) -> dict[str, Any] | None:
        try:
            with self._conn.cursor(row_factory=dict_row) as cur:
                return cur.execute(sql, params).fetchone()
        except psycopg.Error as exc:
            raise UnavailableError(UNAVAILABLE) from exc

    def append_log(self, entry: bytes, leaf_hash: bytes) -> int:
        idx = self.next_log_index
        self._exec(pgschema.LOG.insert(), {"idx": idx, "entry": entry, "leaf_hash": leaf_hash})
        self.appended_leaves.append(leaf_hash)
        self.next_log_index += 1
        return idx

    def append_logs(self, entries: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> range:
        if len(entries) != len(leaf_hashes):
            raise ValueError(f"{len(entries)} entries for {len(leaf_hashes)} leaf hashes")
        indexes = range(self.next_log_index, self.next_log_index + len(entries))
        rows = [
            {"idx": idx, "entry": entry, "leaf_hash": leaf}
            for idx, entry, leaf in zip(indexes, entries, leaf_hashes, strict=True)
        ]
        if rows:
            try:
                with self._conn.cursor() as cur:
                    cur.executemany(pgschema.LOG.insert(), rows)  # one pipelined round of statements
            except psycopg.errors.UniqueViolation:
                raise
            except psycopg.Error as exc:
                raise UnavailableError("storage cannot write; nothing was changed") from exc
        self.appended_leaves.extend(leaf_hashes)
        self.next_log_index = indexes.stop
        return indexes

    def put_org(self, row: OrgRow) -> None:
        self._exec(pgschema.ORGS.upsert(), _fields(row, pgschema.ORGS))

    def put_index(self, row: IndexRow) -> None:
        self._exec(pgschema.INDEXES.upsert(), _fields(row, pgschema.INDEXES))

    def insert_request(self, row: RequestRow) -> None:
        try:
            self._exec(pgschema.REQUESTS.insert(), _request_params(row))
        except psycopg.errors.UniqueViolation as exc:
            raise AlreadyExistsError("disclosure request id already exists") from exc

    def update_request(self, row: RequestRow) -> None:
        assignments = ", ".join(f"{c} = %({c})s" for c in pgschema.REQUEST_CHANGES)
        self._exec(
            f"UPDATE requests SET {assignments} WHERE request_id = %(request_id)s", _request_params(row)
        )

    def put_head(self, row: HeadRow) -> None:
        self._exec(pgschema.HEADS.upsert(), _fields(row, pgschema.HEADS))

    def put_cosignature(self, tree_size: int, witness: str, line: str, timestamp_s: int) -> None:
        self._exec(
            pgschema.COSIGNATURES.upsert(),
            {"tree_size": tree_size, "witness": witness, "line": line, "timestamp_s": timestamp_s},
        )

    def set_meta(self, key: str, value: str) -> None:
        self._exec(pgschema.META.upsert(), {"key": key, "value": value})

    def put_idempotent(self, row: IdempotentRow) -> None:
        try:
            self._exec(pgschema.IDEMPOTENCY.insert(), _fields(row, pgschema.IDEMPOTENCY))
        except psycopg.errors.UniqueViolation as exc:
            raise AlreadyExistsError("idempotency key already used") from exc

    def idempotent(self, org: str, key: str) -> IdempotentRow | None:
        row = self._one(
            f"SELECT {pgschema.IDEMPOTENCY.column_list} FROM idempotency WHERE org = %s AND key = %s",
            (org, key),
        )
        return _idempotent_from(row) if row is not None else None

    def forget_idempotent(self, *, created_before_ms: int, limit: int) -> int:
        """Oldest first, so a purge that stops at ``limit`` has dropped the answers least likely wanted."""
        try:
            cur = self._conn.execute(
                "DELETE FROM idempotency WHERE (org, key) IN (SELECT org, key FROM idempotency "
                "WHERE created_at_ms < %s ORDER BY created_at_ms LIMIT %s)",
                (created_before_ms, limit),
            )
        except psycopg.Error as exc:
            raise UnavailableError("storage cannot write; nothing was changed") from exc
        return max(cur.rowcount, 0)

    def request(self, request_id: str) -> RequestRow | None:
        row = self._one(f"{REQUEST_SELECT} WHERE request_id = %s", (request_id,))
        return schema.request_row(row) if row is not None else None

    def org(self, org: str) -> OrgRow | None:
        row = self._one(f"SELECT {pgschema.ORGS.column_list} FROM orgs WHERE org = %s", (org,))
        return OrgRow(**row) if row is not None else None

    def index(self, org: str, epoch: int) -> IndexRow | None:
        row = self._one(
            f"SELECT {pgschema.INDEXES.column_list} FROM indexes WHERE org = %s AND epoch = %s", (org, epoch)
        )
        return IndexRow(**row) if row is not None else None


def _request_filter(
    holder: str | None, requester: str | None, states: Sequence[int]
) -> tuple[list[str], list[object]]:
    """The WHERE terms and arguments that pick requests by party and state."""
    where: list[str] = []
    args: list[object] = []
    if holder is not None:
        where.append("holder_org = %s")
        args.append(holder)
    if requester is not None:
        where.append("requester_org = %s")
        args.append(requester)
    if states:
        where.append("state = ANY(%s)")
        args.append(list(states))
    return where, args


def _urgency_rank(urgent_purposes: Sequence[str]) -> tuple[str, list[object]]:
    """The SQL that sorts a request for an urgent purpose first (0, else 1), and its arguments."""
    if not urgent_purposes:
        return "1", []
    return "(CASE WHEN purpose = ANY(%s) THEN 0 ELSE 1 END)", [list(urgent_purposes)]


def _open_pool(dsn: str, *, min_size: int, max_size: int) -> ConnectionPool[psycopg.Connection[Any]]:
    pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
        dsn,
        kwargs={"autocommit": True, **pgschema.connect_options(dsn)},
        min_size=min_size,
        max_size=max_size,
        open=False,
        check=ConnectionPool.check_connection,  # a connection the database dropped is replaced, not used
        name="crossforce-reads",
        timeout=READ_WAIT_S,
        num_workers=2,
    )
    try:
        pool.open(wait=True, timeout=POOL_OPEN_WAIT_S)
    except psycopg.Error:
        pool.close()
        raise UnavailableError(
            f"cannot open connections to PostgreSQL at {pgschema.safe_dsn(dsn)} within "
            f"{POOL_OPEN_WAIT_S:.0f} s; check that it is running and accepts this many connections"
        ) from None
    return pool


class PostgresStorage:
    """PostgreSQL shared by any number of matchers; open with ``PostgresStorage.open(dsn)``."""

    def __init__(
        self, *, dsn: str, writer: psycopg.Connection[Any], pool: ConnectionPool[psycopg.Connection[Any]]
    ) -> None:
        self._dsn = dsn
        self._writer: psycopg.Connection[Any] | None = writer
        self._writer_pid = writer.info.backend_pid
        self._pool = pool
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._size_at_begin = 0
        self._next_index = 0
        """The log index the next staged writer starts at: the committed size plus what kept writers
        appended in the open transaction."""
        self._savepoint_open = False
        self._open_tx: PostgresTransaction | None = None
        self._reads_down_until = 0.0
        """Until this monotonic time, reads fail at once: the previous one found the database gone."""

    @classmethod
    def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 8) -> PostgresStorage:
        """Connect to an upgraded database: UnavailableError if it cannot be reached, PreconditionError
        if its schema is not this matcher's (the message says to run ``crossforce db upgrade``)."""
        writer = pgschema.connect(dsn)
        try:
            try:
                pgschema.require_current(writer, dsn)
                for statement in WRITER_SETTINGS:
                    writer.execute(statement)
            except psycopg.Error as exc:
                raise UnavailableError(
                    f"cannot read {pgschema.safe_dsn(dsn)}: {pgschema.describe_error(exc, dsn)}"
                ) from None
            pool = _open_pool(dsn, min_size=min_size, max_size=max_size)
        except BaseException:
            writer.close()
            raise
        return cls(dsn=dsn, writer=writer, pool=pool)

    @property
    def schema_version(self) -> int:
        return int(self.meta("schema_version") or 0)

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def shared(self) -> bool:
        """Other matchers may append to this log: they share the ``audit_head`` row lock."""
        return True

    # --- group commit (the caller holds ``lock``) ---------------------------------------------------

    def _connected_writer(self) -> psycopg.Connection[Any]:
        """The writer connection, reconnected if the database dropped it (UnavailableError if it cannot)."""
        conn = self._writer
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._drop_writer()
        conn = pgschema.connect(self._dsn)
        try:
            for statement in WRITER_SETTINGS:
                conn.execute(statement)
        except psycopg.Error:
            conn.close()
            raise
        self._writer, self._writer_pid = conn, conn.info.backend_pid
        return conn

    def _drop_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(psycopg.Error):
                self._writer.close()
        self._writer = None
        self._savepoint_open = False

    def _usable_writer(self) -> psycopg.Connection[Any]:
        conn = self._writer
        if conn is None or conn.closed or conn.broken:
            raise UnavailableError("the storage transaction was aborted; retry")
        return conn

    def begin(self) -> int:
        if self._closed.is_set():
            raise UnavailableError("the storage is closed")
        try:
            conn = self._connected_writer()
            if conn.info.transaction_status != TransactionStatus.IDLE:  # left by a failed commit
                conn.execute("ROLLBACK")
            conn.execute("BEGIN")
            row = conn.execute("SELECT size FROM audit_head WHERE id = 1 FOR UPDATE").fetchone()
        except (psycopg.Error, UnavailableError) as exc:
            self.rollback()
            raise UnavailableError(UNAVAILABLE) from exc
        if row is None:
            self.rollback()
            raise UnavailableError(
                "the database has no audit_head row: it was not created by `crossforce db`"
            )
        self._size_at_begin = self._next_index = int(row[0])
        self._savepoint_open = False
        self._open_tx = None
        return self._size_at_begin

    def in_transaction(self) -> bool:
        """False when the database ended the transaction (connection lost, session killed) or failed it
        outside any writer's savepoint; a failure inside a savepoint is undone by ``drop_staged``."""
        conn = self._writer
        if conn is None or conn.closed or conn.broken:
            return False
        status = conn.info.transaction_status
        return status == TransactionStatus.INTRANS or (
            status == TransactionStatus.INERROR and self._savepoint_open
        )

    def staged(self, next_log_index: int) -> PostgresTransaction:
        if not self.in_transaction():
            raise UnavailableError("the storage transaction was aborted; retry")
        if next_log_index != self._next_index:
            raise PreconditionError(
                f"the log's next index is {self._next_index}, not {next_log_index}: "
                "this matcher has not caught up with the committed log"
            )
        conn = self._usable_writer()
        try:
            conn.execute("SAVEPOINT staged")
        except psycopg.Error as exc:
            raise UnavailableError(UNAVAILABLE) from exc
        self._savepoint_open = True
        self._open_tx = PostgresTransaction(conn, next_log_index)
        return self._open_tx

    def keep_staged(self) -> None:
        conn = self._usable_writer()
        try:
            conn.execute("RELEASE staged")
        except psycopg.Error as exc:
            raise UnavailableError("storage cannot write; nothing was changed") from exc
        self._savepoint_open = False
        if self._open_tx is not None:
            self._next_index = self._open_tx.next_log_index
        self._open_tx = None

    def drop_staged(self) -> None:
        if self.in_transaction() and self._savepoint_open:
            conn = self._usable_writer()
            with contextlib.suppress(psycopg.Error):  # if this fails, in_transaction() turns False
                conn.execute("ROLLBACK TO staged")
                conn.execute("RELEASE staged")
        self._savepoint_open = False
        self._open_tx = None

    def commit(self) -> None:
        healthy_savepoint = self._writer is not None and (
            self._writer.info.transaction_status == TransactionStatus.INTRANS
        )
        if self._savepoint_open and healthy_savepoint:
            self.keep_staged()  # as SQLite's COMMIT does, it keeps what the open savepoint holds
        if not self.in_transaction() or self._savepoint_open:
            self.rollback()
            raise UnavailableError("the storage transaction was aborted; nothing was changed")
        conn = self._usable_writer()
        try:
            if self._next_index != self._size_at_begin:
                moved = conn.execute(ADVANCE_LOG, {"old": self._size_at_begin, "size": self._next_index})
                if moved.fetchone() is None:
                    self.rollback()
                    raise UnavailableError("the staged log entries are not contiguous; nothing was changed")
        except psycopg.Error as exc:
            self.rollback()
            raise UnavailableError("storage could not commit; nothing was changed") from exc
        try:
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            lost = conn.broken or conn.closed
            self.rollback()
            raise UnavailableError(
                "the database did not confirm the commit; it may or may not have been recorded"
                if lost
                else "storage could not commit; nothing was changed"
            ) from exc

    def rollback(self) -> None:
        self._savepoint_open = False
        self._open_tx = None
        conn = self._writer
        if conn is None:
            return
        if conn.closed or conn.broken:
            self._drop_writer()  # the next begin() connects again
            return
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")

    # --- reads (committed data only) ----------------------------------------------------------------

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        if time.monotonic() < self._reads_down_until:
            raise UnavailableError(UNAVAILABLE)  # the last read just failed: answer now, not in READ_WAIT_S
        try:
            with self._pool.connection() as conn, conn.cursor(row_factory=dict_row, binary=True) as cur:
                return cur.execute(sql, args).fetchall()
        except PoolTimeout as exc:
            self._reads_down_until = time.monotonic() + READS_DOWN_S
            raise UnavailableError(UNAVAILABLE) from exc
        except psycopg.OperationalError as exc:
            self._reads_down_until = time.monotonic() + READS_DOWN_S
            raise UnavailableError(UNAVAILABLE) from exc
        except psycopg.Error as exc:
            raise UnavailableError(UNAVAILABLE) from exc

    def log_size(self) -> int:
        rows = self._query("SELECT size FROM audit_head WHERE id = 1")
        return int(rows[0]["size"]) if rows else 0

    def wait_for_log_change(self, timeout_s: float) -> None:
        """Wait for another matcher's NOTIFY (this matcher's own commits are ignored). After (re)connecting
        the listener it returns at once: notifications sent while nobody listened are lost."""
        deadline = time.monotonic() + timeout_s
        if not self._listen_lock.acquire(timeout=max(timeout_s, 0.0)):
            return
        try:
            conn = self._listener
            if conn is None or conn.closed or conn.broken:
                if not self._listen_again():
                    self._closed.wait(max(0.0, deadline - time.monotonic()))
                return
            while not self._closed.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                for note in conn.notifies(timeout=min(remaining, LISTEN_SLICE_S)):
                    if note.pid != self._writer_pid:
                        return
        except psycopg.Error:
            self._close_listener()  # the next call listens again and returns at once
        finally:
            self._listen_lock.release()

    def _listen_again(self) -> bool:
        self._close_listener()
        if self._closed.is_set():
            return False
        try:
            conn = pgschema.connect(self._dsn)
        except UnavailableError:
            return False
        try:
            conn.execute(f"LISTEN {LOG_CHANNEL}")
        except psycopg.Error:
            conn.close()
            return False
        self._listener = conn
        return True

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                self._listener.close()
        self._listener = None

    def head_at(self, tree_size: int) -> HeadRow | None:
        rows = self._query(
            f"SELECT {pgschema.HEADS.column_list} FROM heads WHERE tree_size = %s", (tree_size,)
        )
        return HeadRow(**rows[0]) if rows else None

    def idempotent(self, org: str, key: str) -> IdempotentRow | None:
        rows = self._query(
            f"SELECT {pgschema.IDEMPOTENCY.column_list} FROM idempotency WHERE org = %s AND key = %s",
            (org, key),
        )
        return _idempotent_from(rows[0]) if rows else None

    def orgs(self) -> list[OrgRow]:
        return [
            OrgRow(**r) for r in self._query(f"SELECT {pgschema.ORGS.column_list} FROM orgs ORDER BY org")
        ]

    def indexes(self) -> list[IndexRow]:
        rows = self._query(f"SELECT {pgschema.INDEXES.column_list} FROM indexes ORDER BY org, epoch")
        return [IndexRow(**r) for r in rows]

    def write_bits(self, sha256_hex: str, bits: bytes | memoryview) -> None:
        """Committed (in its own transaction) before the publish that names it; bits already stored
        are only marked as wanted again, not sent twice."""
        try:
            with self._pool.connection() as conn:
                touched = conn.execute(
                    f"UPDATE index_bits SET created_at_ms = {NOW_MS}, released_at_ms = NULL "
                    "WHERE sha256 = %s",
                    (sha256_hex,),
                )
                if touched.rowcount == 0:
                    conn.execute(
                        f"INSERT INTO index_bits (sha256, bits, created_at_ms) VALUES (%s, %b, {NOW_MS}) "
                        "ON CONFLICT (sha256) DO UPDATE SET created_at_ms = EXCLUDED.created_at_ms, "
                        "released_at_ms = NULL",
                        (sha256_hex, bits),
                    )
        except psycopg.Error as exc:
            raise UnavailableError(
                "storage cannot write the index; the previous index still serves, retry later"
            ) from exc

    def read_bits(self, sha256_hex: str) -> bytes:
        rows = self._query("SELECT bits FROM index_bits WHERE sha256 = %s", (sha256_hex,))
        if not rows:
            raise NotFoundError(f"no index bits stored under {sha256_hex}")
        return bytes(rows[0]["bits"])

    def prune_bits(self) -> int:
        """Remove bits that no index row has named for ``BITS_GRACE_MS``; returns how many.

        Two steps, so a replica that has just read an index row still finds its bits: a prune first
        marks bits it finds unreferenced (``released_at_ms``; bits written in the last grace period
        are left alone, their publish may not have committed yet) and unmarks bits named again; it
        removes only bits marked at least a grace period ago and still unreferenced."""
        grace = {"grace": BITS_GRACE_MS}
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute(
                    "UPDATE index_bits b SET released_at_ms = NULL "
                    f"WHERE released_at_ms IS NOT NULL AND NOT ({UNREFERENCED})"
                )
                conn.execute(
                    f"UPDATE index_bits b SET released_at_ms = {NOW_MS} WHERE released_at_ms IS NULL "
                    f"AND created_at_ms < {NOW_MS} - %(grace)s AND {UNREFERENCED}",
                    grace,
                )
                removed = conn.execute(
                    f"DELETE FROM index_bits b WHERE released_at_ms < {NOW_MS} - %(grace)s "
                    f"AND {UNREFERENCED}",
                    grace,
                )
                return max(removed.rowcount, 0)
        except psycopg.Error as exc:
            raise UnavailableError(UNAVAILABLE) from exc

    def request(self, request_id: str) -> RequestRow | None:
        rows = self._query(f"{REQUEST_SELECT} WHERE request_id = %s", (request_id,))
        return schema.request_row(rows[0]) if rows else None

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
            where.append(f"({rank}, deadline_ms, created_at_ms, request_id) > (%s, %s, %s, %s)")
            args += [*rank_args, *after]
        sql = REQUEST_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        # A constant rank stays out of ORDER BY, where an integer literal would name a column.
        order = f"{rank}, " if rank_args else ""
        sql += f" ORDER BY {order}deadline_ms, created_at_ms, request_id LIMIT %s"
        return [schema.request_row(r) for r in self._query(sql, [*args, *rank_args, limit])]

    def requests_with_id_prefix(self, prefix: str, *, party_org: str | None, limit: int) -> list[RequestRow]:
        # A range on the primary key (bytewise collation): every id starting with the prefix sorts
        # between these two, and the lookup uses the index.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        sql = f"{REQUEST_SELECT} WHERE request_id >= %s AND request_id < %s"
        args: list[object] = [prefix, upper]
        if party_org is not None:
            sql += " AND (holder_org = %s OR requester_org = %s)"
            args += [party_org, party_org]
        sql += " ORDER BY request_id LIMIT %s"
        return [schema.request_row(r) for r in self._query(sql, [*args, limit])]

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
        where.append("(updated_at_ms, request_id) > (%s, %s)")
        args += [after[0], after[1]]
        sql = f"{REQUEST_SELECT} WHERE " + " AND ".join(where)
        sql += " ORDER BY updated_at_ms, request_id LIMIT %s"
        return [schema.request_row(r) for r in self._query(sql, [*args, limit])]

    def requests_due_before(self, deadline_ms: int, states: Sequence[int]) -> list[RequestRow]:
        if not states:
            return []
        rows = self._query(
            f"{REQUEST_SELECT} WHERE state = ANY(%s) AND deadline_ms < %s ORDER BY deadline_ms, request_id",
            [list(states), deadline_ms],
        )
        return [schema.request_row(r) for r in rows]

    def request_outcomes(self) -> list[tuple[int, int]]:
        rows = self._query("SELECT probability_ppm, state FROM requests WHERE probability_ppm > 0", [])
        return [(int(r["probability_ppm"]), int(r["state"])) for r in rows]

    def requests_to_forget(
        self, *, states: Sequence[int], updated_before_ms: int, limit: int, tokens_only: bool = False
    ) -> list[RequestRow]:
        if not states:
            return []
        holding = "octet_length(tokens) > 0" + (
            ""
            if tokens_only
            else " OR legal_basis <> '' OR case_reference <> '' OR officer_id <> '' OR sealed IS NOT NULL "
            "OR matched_indexes <> ''"
        )
        rows = self._query(
            f"{REQUEST_SELECT} WHERE state = ANY(%s) AND updated_at_ms < %s AND ({holding}) "
            "ORDER BY updated_at_ms, request_id LIMIT %s",
            [list(states), updated_before_ms, limit],
        )
        return [schema.request_row(r) for r in rows]

    def reclaim_forgotten(self) -> bool:
        """Run ``VACUUM requests``: the old versions of cleared rows become free space that later
        writes overwrite, and the table's visibility map and statistics are brought up to date.

        What it does not do (docs/operations.md): it does not zero that space at once, so cleared bytes
        can stay readable in the table's files until PostgreSQL reuses the pages; and the write-ahead
        log still holds them until its segments are recycled after a checkpoint, as do WAL archives,
        base backups and standbys for as long as they are kept. Bound those by the WAL and backup
        retention. False when the database is unreachable or this role may not vacuum the table (it
        must own it: run the matcher as the role that ran ``crossforce db upgrade``)."""
        try:
            with self._pool.connection(timeout=HEALTH_WAIT_S) as conn:
                owner = conn.execute(
                    "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'requests'::regclass"
                ).fetchone()
                if owner is None or not owner[0]:
                    return False
                conn.execute("VACUUM requests")
        except psycopg.Error:
            return False
        return True

    def log_leaf_hashes(self) -> list[bytes]:
        """Every committed leaf hash, read a page at a time up to the committed size (rows below it never
        change, so the pages make one consistent prefix)."""
        size = self.log_size()
        hashes: list[bytes] = []
        while len(hashes) < size:
            start = len(hashes)
            rows = self._query(
                "SELECT leaf_hash FROM log WHERE idx >= %s AND idx < %s ORDER BY idx",
                (start, min(start + LOG_PAGE, size)),
            )
            if not rows:
                raise UnavailableError(f"the audit log has no row {start} below its committed size {size}")
            hashes += [bytes(r["leaf_hash"]) for r in rows]
        return hashes

    def log_entries(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        rows = self._query(
            "SELECT idx, entry, leaf_hash FROM log WHERE idx >= %s AND idx < %s ORDER BY idx", (start, end)
        )
        return [(int(r["idx"]), bytes(r["entry"]), bytes(r["leaf_hash"])) for r in rows]

    def latest_head(self) -> HeadRow | None:
        rows = self._query(f"SELECT {pgschema.HEADS.column_list} FROM heads ORDER BY tree_size DESC LIMIT 1")
        return HeadRow(**rows[0]) if rows else None

    def heads(self) -> list[HeadRow]:
        rows = self._query(f"SELECT {pgschema.HEADS.column_list} FROM heads ORDER BY tree_size")
        return [HeadRow(**r) for r in rows]

    def cosignatures(self, tree_size: int) -> list[str]:
        rows = self._query(
            "SELECT line FROM cosignatures WHERE tree_size = %s ORDER BY witness", (tree_size,)
        )
        return [str(r["line"]) for r in rows]

    def best_cosigned_size(self, at_least: int) -> int | None:
        rows = self._query(
            "SELECT tree_size FROM cosignatures WHERE tree_size >= %s GROUP BY tree_size "
            "ORDER BY COUNT(*) DESC, tree_size LIMIT 1",
            (at_least,),
        )
        return int(rows[0]["tree_size"]) if rows else None

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0]["value"]) if rows else None

    def healthy(self) -> bool:
        """A pooled connection answers within ``HEALTH_WAIT_S`` and the database takes writes (a standby
        left behind by a failover does not)."""
        try:
            with self._pool.connection(timeout=HEALTH_WAIT_S) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.Error:
            return False
        return row is not None and not row[0]

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._drop_writer()
        with self._listen_lock:
            self._close_listener()
        self._pool.close()
