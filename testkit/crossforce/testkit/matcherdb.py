"""Direct access to a matcher's database, whichever backend it runs on: the operator's own hands.

Why: many tests play an operator who reads or rewrites the matcher's rows behind its back (a swapped
key, a resealed disclosure, a forged log entry) or check that what the matcher stored is what it
acknowledged. The operator of a PostgreSQL deployment can do exactly the same, so those tests run on both
backends through this one handle instead of opening ``matcher.sqlite3`` themselves. Queries are written
once, with ``?`` placeholders (SQLite's); on PostgreSQL each ``?`` becomes ``%s``. Both backends use the
same table and column names (``pgschema`` version 1 mirrors the SQLite layout), and rows come back as
tuples of plain values (``bytes`` for blobs on both).

Two things differ, and each has one method here: how the operator lifts the log's append-only guard
(SQLite triggers ``log_no_update``/``log_no_delete``; PostgreSQL ``log_no_change``:
``allow_log_rewrite``), and what appending a log row takes (PostgreSQL also keeps the committed size in
``audit_head``, the row several matchers sequence on: ``log_append_statements``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

SQLITE_FILE = "matcher.sqlite3"
SQLITE_LOG_GUARDS = ("log_no_update", "log_no_delete")
POSTGRES_LOG_GUARDS = ("log_no_change",)


class HasMatcherStorage(Protocol):
    """What a deployment exposes about where its matcher stores (``LocalNet`` has both)."""

    @property
    def data_dir(self) -> Path: ...

    db: str | None


class MatcherDb:
    """Run SQL against one matcher's database; every call opens, commits and closes its own connection
    (the matcher keeps running beside it: SQLite in WAL mode, PostgreSQL as any other session)."""

    def __init__(self, *, sqlite_path: Path | None = None, dsn: str | None = None) -> None:
        if (sqlite_path is None) == (dsn is None):
            raise ValueError("give exactly one of sqlite_path and dsn")
        self.sqlite_path = sqlite_path
        self.dsn = dsn

    @classmethod
    def of(cls, deployment: HasMatcherStorage) -> MatcherDb:
        if deployment.db:
            return cls(dsn=deployment.db)
        return cls(sqlite_path=deployment.data_dir / SQLITE_FILE)

    @property
    def backend(self) -> str:
        return "postgresql" if self.dsn else "sqlite"

    def query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read (safe beside the running matcher)."""
        if self.dsn is None:
            assert self.sqlite_path is not None
            conn = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=30)
            try:
                return [tuple(r) for r in conn.execute(sql, tuple(args)).fetchall()]
            finally:
                conn.close()
        with psycopg.connect(self.dsn, autocommit=True) as pg:
            return [tuple(r) for r in pg.execute(_pg(sql), tuple(args)).fetchall()]

    def query_dicts(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Rows of a read as column name -> value."""
        if self.dsn is None:
            assert self.sqlite_path is not None
            conn = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=30)
            conn.row_factory = sqlite3.Row
            try:
                return [dict(r) for r in conn.execute(sql, tuple(args)).fetchall()]
            finally:
                conn.close()
        with psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row) as pg:
            return list(pg.execute(_pg(sql), tuple(args)).fetchall())

    def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        """One write, committed at once; returns the rows it changed."""
        return self._run_write([(sql, args)])

    def execute_all(self, statements: Sequence[tuple[str, Sequence[object]]]) -> int:
        """Several writes in one transaction; returns the rows they changed together."""
        return self._run_write(statements)

    def scalar(self, sql: str, args: Sequence[object] = ()) -> Any:
        rows = self.query(sql, args)
        return rows[0][0] if rows else None

    def allow_log_rewrite(self) -> None:
        """Drop the log's append-only triggers, as an operator with the database owner's rights can."""
        if self.dsn is None:
            self.execute_all([(f"DROP TRIGGER IF EXISTS {name}", ()) for name in SQLITE_LOG_GUARDS])
        else:
            self.execute_all([(f"DROP TRIGGER IF EXISTS {name} ON log", ()) for name in POSTGRES_LOG_GUARDS])

    def tables(self) -> list[str]:
        """The matcher's tables (PostgreSQL: the ``public`` schema; SQLite: every table in the file)."""
        if self.dsn is None:
            return [str(n) for (n,) in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [
            str(n)
            for (n,) in self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ]

    def every_stored_value(self) -> bytes:
        """Every value of every row of every table, as bytes (text UTF-8 encoded): what an operator who
        dumps the database holds, for tests that search it for what must never be stored."""
        parts: list[bytes] = []
        for table in self.tables():
            for row in self.query(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        parts.append(bytes(value))
                    elif value is not None:
                        parts.append(str(value).encode())
        return b"\x00".join(parts)

    def log_append_statements(
        self, index: int, entry: bytes, leaf_hash: bytes
    ) -> list[tuple[str, Sequence[object]]]:
        """The writes that append one log row as the matcher would (for ``execute_all``, beside the rows
        the forgery changes in the same transaction)."""
        insert = ("INSERT INTO log (idx, entry, leaf_hash) VALUES (?, ?, ?)", (index, entry, leaf_hash))
        if self.dsn is None:
            return [insert]
        return [insert, ("UPDATE audit_head SET size = ? WHERE id = 1", (index + 1,))]

    def _run_write(self, statements: Sequence[tuple[str, Sequence[object]]]) -> int:
        changed = 0
        if self.dsn is None:
            assert self.sqlite_path is not None
            conn = sqlite3.connect(self.sqlite_path, timeout=30)
            try:
                with conn:
                    for sql, args in statements:
                        changed += max(conn.execute(sql, tuple(args)).rowcount, 0)
            finally:
                conn.close()
            return changed
        with psycopg.connect(self.dsn) as pg, pg.transaction():
            for sql, args in statements:
                changed += max(pg.execute(_pg(sql), tuple(args)).rowcount, 0)
        return changed


def _pg(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (the queries here hold no literal ``?`` or ``%``)."""
    return sql.replace("%", "%%").replace("?", "%s")
