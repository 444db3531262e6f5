"""Read a matcher's stored audit log (and its requests' outcomes) from its data folder without opening it
for writing.

For the offline verifier (``crossforce audit verify --data DIR``, ``crossforce.auditlog.verify``): the log
entries and signed heads come out as plain values (ints and bytes), a page at a time, so the verifier
needs no server internals and the log's size bounds nothing but time. The database is opened with
SQLite's read-only mode: nothing is created, written or migrated, and a folder without a matcher
database is an UnavailableError, not a new empty log.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crossforce.errors import UnavailableError
from crossforce.server.store.sqlite import DB_FILE

READ_PAGE = 10_000
"""Log rows read per query: bounds memory for the event bytes, whatever the log's size."""


class StoredLog:
    """The stored entries and heads of one data folder, read through a read-only connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise UnavailableError(f"cannot read the stored audit log: {exc}") from exc

    def entries(self) -> Iterator[tuple[int, bytes, bytes]]:
        """``(index, entry, leaf_hash)`` for every stored entry, in index order (gaps are the reader's
        to detect)."""
        after = -1
        while True:
            rows = self._rows(
                "SELECT idx, entry, leaf_hash FROM log WHERE idx > ? ORDER BY idx LIMIT ?", (after, READ_PAGE)
            )
            for idx, entry, leaf in rows:
                yield int(idx), bytes(entry), bytes(leaf)
            if len(rows) < READ_PAGE:
                return
            after = int(rows[-1][0])

    def heads(self) -> Iterator[tuple[int, int, bytes, bytes]]:
        """``(tree_size, timestamp_ms, root, signature)`` for every stored signed head, smallest first."""
        for size, ts, root, sig in self._rows(
            "SELECT tree_size, timestamp_ms, root, signature FROM heads ORDER BY tree_size", ()
        ):
            yield int(size), int(ts), bytes(root), bytes(sig)

    def request_outcomes(self) -> list[tuple[int, int]]:
        """(probability in millionths, state) of every request that stated a probability, as
        ``Storage.request_outcomes`` gives them: what ``crossforce calibrate`` fits to."""
        rows = self._rows("SELECT probability_ppm, state FROM requests WHERE probability_ppm > 0", ())
        return [(int(ppm), int(state)) for ppm, state in rows]


@contextlib.contextmanager
def open_stored_log(data_dir: Path) -> Iterator[StoredLog]:
    """Open ``data_dir``'s matcher database read-only for the length of the ``with`` block."""
    path = data_dir / DB_FILE
    if not path.is_file():
        raise UnavailableError(f"no matcher database in {data_dir}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UnavailableError(f"cannot open {path} read-only: {exc}") from exc
    try:
        yield StoredLog(conn)
    finally:
        conn.close()
