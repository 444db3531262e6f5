"""The holding force's local token store: which of its own records each token came from.

Kept in SQLite in the force's profile folder and never sent anywhere. When a disclosure request
arrives carrying the tokens that matched, the force resolves them here: tokens that resolve to no record
are Bloom-filter false positives and the request is answered "no match" without disclosing anything.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from crossforce.encoding.records import FIELDS, Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (record_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    epoch INTEGER NOT NULL, token BLOB NOT NULL, key_type INTEGER NOT NULL, record_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_by_value ON tokens (epoch, token);
"""


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    def replace_epoch(
        self, epoch: int, records: Sequence[Record], tokens: Iterable[tuple[str, int, bytes]]
    ) -> None:
        """Replace what the store holds for ``epoch``: ``records`` and their (record_id, key_type, token)."""
        with self._conn:
            # Bulk load without the lookup index, then build it once: far faster than keeping it current.
            self._conn.execute("DROP INDEX IF EXISTS tokens_by_value")
            self._conn.execute("DELETE FROM tokens WHERE epoch = ?", (epoch,))
            self._conn.execute("DELETE FROM records")
            self._conn.executemany(
                "INSERT OR REPLACE INTO records VALUES (?, ?)",
                ((r.record_id, json.dumps(_as_dict(r), sort_keys=True)) for r in records),
            )
            self._conn.executemany(
                "INSERT INTO tokens VALUES (?, ?, ?, ?)",
                ((epoch, tok, kt, rid) for rid, kt, tok in tokens),
            )
            self._conn.execute("CREATE INDEX tokens_by_value ON tokens (epoch, token)")

    def resolve(self, tokens: Iterable[tuple[int, int, bytes]]) -> dict[str, set[int]]:
        """Map (key_type, epoch, token) triples to {record_id: matched key types}; empty means no match."""
        found: dict[str, set[int]] = {}
        for key_type, epoch, token in tokens:
            rows = self._conn.execute(
                "SELECT record_id FROM tokens WHERE epoch = ? AND token = ? AND key_type = ?",
                (epoch, token, key_type),
            ).fetchall()
            for (rid,) in rows:
                found.setdefault(rid, set()).add(key_type)
        return found

    def record(self, record_id: str) -> Record | None:
        row = self._conn.execute("SELECT body FROM records WHERE record_id = ?", (record_id,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        data["previous_names"] = tuple(data.get("previous_names", ()))
        return Record(**data)

    def count(self) -> tuple[int, int]:
        records = self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        tokens = self._conn.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]
        return int(records), int(tokens)

    def close(self) -> None:
        self._conn.close()


def _as_dict(record: Record) -> dict[str, object]:
    return {name: getattr(record, name) for name in FIELDS}
