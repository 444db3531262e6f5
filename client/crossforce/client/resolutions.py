"""What this force resolved each confirmed request to, kept locally until it approves or refuses.

Why: the matcher forgets a request's matched tokens as soon as the request is resolved (issue 16: stored
tokens let the operator link checks on one person), so the holder can no longer re-resolve a confirmed
request when its disclosure officer approves it later, perhaps from another process. The desk therefore
keeps, at resolve time, which of its own records (by index generation and record id) the request
matched, and reads them back at approval (and for ``desk show`` of a decided request). Nothing here
leaves the profile: it names this force's own records by id, beside the token store that already holds
them, never anything of the requester's.

One SQLite file in the profile (``resolutions.sqlite3``, 0600), one row per matched record, kept as the
force's own account of what each request matched.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from crossforce.domain import IndexRef
from crossforce.errors import ValidationError
from crossforce.fsutil import PRIVATE_FILE_MODE

RESOLUTIONS_FILE = "resolutions.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS resolved (
    request_id TEXT NOT NULL, epoch INTEGER NOT NULL, version INTEGER NOT NULL, record_id TEXT NOT NULL,
    PRIMARY KEY (request_id, record_id));
"""
_ADDED_COLUMNS = (("key_types", "TEXT"), ("probability", "REAL"), ("weight", "REAL"), ("chosen", "INTEGER"))
"""Columns added when one request came to cover one person; NULL in rows kept before."""


@dataclass(frozen=True)
class Kept:
    """One record a request resolved to, as kept."""

    ref: IndexRef
    record_id: str
    key_types: tuple[int, ...] | None = None
    """The key types that agreed with the record; None if kept before one person per request."""
    probability: float = 0.0
    """The score the desk showed for the record when it was resolved (``RecordScore.score``)."""
    weight: float = 0.0
    chosen: bool = True
    """False for the candidates of a request confirmed without a chosen person (an ambiguous request
    the officer refused): a later approval must still choose."""


class Resolutions:
    """The records each confirmed, undecided request resolved to, as ``(IndexRef, record_id)``."""

    def __init__(self, profile_dir: Path) -> None:
        self.path = Path(profile_dir) / RESOLUTIONS_FILE
        if not self.path.exists():
            # Create it 0600 before SQLite writes a byte (the umask cannot widen it).
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(_SCHEMA)
            self._add_columns()
        except sqlite3.DatabaseError as exc:
            raise ValidationError(f"{self.path} is not a resolutions file ({exc})") from None

    def _add_columns(self) -> None:
        """Bring a file written before one person per request up to date (its rows keep NULLs)."""
        have = {str(row[1]) for row in self._conn.execute("PRAGMA table_info(resolved)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in have:
                self._conn.execute(f"ALTER TABLE resolved ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Resolutions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def keep(self, request_id: str, kept: Iterable[Kept]) -> None:
        """Record what ``request_id`` resolved to (replacing anything kept for it), in one transaction."""
        rows = [
            (
                request_id,
                k.ref.epoch,
                k.ref.version,
                k.record_id,
                None if k.key_types is None else ",".join(map(str, k.key_types)),
                k.probability,
                k.weight,
                int(k.chosen),
            )
            for k in kept
        ]
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM resolved WHERE request_id = ?", (request_id,))
            self._conn.executemany(
                "INSERT INTO resolved (request_id, epoch, version, record_id, key_types, probability, "
                "weight, chosen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def get(self, request_id: str) -> tuple[Kept, ...] | None:
        """What ``request_id`` resolved to, by record id; None if nothing is kept for it."""
        found = self._conn.execute(
            "SELECT epoch, version, record_id, key_types, probability, weight, chosen FROM resolved "
            "WHERE request_id = ? ORDER BY record_id",
            (request_id,),
        ).fetchall()
        if not found:
            return None
        return tuple(
            Kept(
                ref=IndexRef(epoch=int(e), version=int(v)),
                record_id=str(rid),
                key_types=None if types is None else tuple(int(t) for t in str(types).split(",") if t),
                probability=float(prob or 0.0),
                weight=float(weight or 0.0),
                chosen=types is not None and chosen != 0,
            )
            for e, v, rid, types, prob, weight, chosen in found
        )
