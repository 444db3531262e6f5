"""The holding force's local token store: which of its own records each token came from, per generation.

Kept in SQLite in the force's profile folder and never sent anywhere. A disclosure request's tokens
are resolved here: tokens that resolve to no record are Bloom-filter false positives ("no match").
That answer is only true if the tokens are resolved against the records the matched index was built
from (issue 13: a store replaced before the matcher accepted the new index, or by a later republish,
turns a true hit into a "false positive"). So the store keeps **generations**, one per published index
version, keyed by (epoch, version):

- a publish *stages* its generation before it sends anything; a generation becomes *current* for its
  epoch only once the matcher has acknowledged that version (``promote``); a publish that fails or is
  interrupted leaves the previous current generation current, and the staged one waits until the
  client learns its fate from the matcher (promoted if the matcher holds it, else dropped);
- a superseded generation stays *previous* while an open or confirmed request still refers to it, and
  is pruned after a later successful publish once nothing does;
- version 0 is "from before generations": a store written by an older client (one ``records`` and one
  ``tokens`` table) is migrated at open to one current generation per epoch with version 0, which
  stands for every version of that epoch published before the first generation this client staged
  (``covers_below``).

Invariants: at most one current generation per epoch; every change is one SQLite transaction, so a
process killed at any point leaves the store as it was before or after that change; its files are 0600
in a 0700 folder, and opening refuses a store others could read (``crossforce.privatefiles``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crossforce.domain import IndexRef
from crossforce.encoding.records import FIELDS, Record
from crossforce.errors import PreconditionError
from crossforce.privatefiles import open_private_database

SCHEMA_VERSION = 2
"""``PRAGMA user_version`` of a store with generations; 0 is the single-table store of older clients."""
LEGACY_VERSION = 0
"""The version of a generation migrated from a store without generations."""

STAGED, CURRENT, PREVIOUS = "staged", "current", "previous"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS generations (
    epoch INTEGER NOT NULL, version INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('staged', 'current', 'previous')),
    created_at_ms INTEGER NOT NULL, promoted_at_ms INTEGER,
    record_count INTEGER NOT NULL, token_count INTEGER NOT NULL,
    covers_below INTEGER,
    PRIMARY KEY (epoch, version))""",
    """CREATE TABLE IF NOT EXISTS records (
    epoch INTEGER NOT NULL, version INTEGER NOT NULL, record_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (epoch, version, record_id))""",
    """CREATE TABLE IF NOT EXISTS tokens (
    epoch INTEGER NOT NULL, version INTEGER NOT NULL, token BLOB NOT NULL, key_type INTEGER NOT NULL,
    record_id TEXT NOT NULL)""",
)
"""Statement by statement: ``executescript`` would commit the migration's transaction half-way."""
_TOKEN_INDEX = "CREATE INDEX IF NOT EXISTS tokens_by_value ON tokens (epoch, version, token)"  # noqa: S105

_COLUMNS = "epoch, version, state, created_at_ms, promoted_at_ms, record_count, token_count, covers_below"
"""A ``generations`` row in ``Generation`` field order."""

TokenTriple = tuple[str, int, bytes]  # (record_id, key_type, token)
Pair = tuple[int, bytes]  # (key_type, token), as a request carries it


@dataclass(frozen=True)
class Generation:
    """One published (or staged) index version's records and tokens, as the store holds them."""

    epoch: int
    version: int
    state: str
    created_at_ms: int
    promoted_at_ms: int | None
    record_count: int
    token_count: int
    covers_below: int | None = None
    """Only for version 0 (from before generations): the first version staged after it, if any; the
    legacy generation stands for every version of its epoch below this one."""

    @property
    def ref(self) -> IndexRef:
        return IndexRef(epoch=self.epoch, version=self.version)

    @property
    def label(self) -> str:
        return "v0 (from before generations)" if self.version == LEGACY_VERSION else f"v{self.version}"

    def stands_for(self, ref: IndexRef) -> bool:
        """Whether a request that matched ``ref`` matched the index built from this generation."""
        if ref.epoch != self.epoch:
            return False
        if ref.version == self.version:
            return True
        if self.version != LEGACY_VERSION:
            return False
        return self.covers_below is None or ref.version < self.covers_below


class GenerationGoneError(PreconditionError):
    """A request matched an index whose generation this store no longer holds (or never held).

    Its tokens cannot be resolved, so it is neither a confirmed hit nor a false positive: it stays open
    and the message says which version is missing.
    """

    def __init__(self, request_id: str, missing: Sequence[IndexRef]) -> None:
        parts = [
            f"matched index v{r.version} (epoch {r.epoch})" if r.version else f"matched under epoch {r.epoch}"
            for r in missing
        ]
        super().__init__(
            f"request {request_id} {' and '.join(parts)}, no longer held locally: its tokens cannot be "
            "resolved here, so it is left open, neither confirmed nor cleared; restore the "
            "profile's token store from a backup that holds that version, or check the records by other means"
        )
        self.request_id = request_id
        self.missing = tuple(missing)


class TokenStore:
    """Generations of (records, tokens) of one force; see the module docstring for the rules."""

    def __init__(self, path: Path) -> None:
        self.path = path
        open_private_database(path, what="the token store")  # it holds the force's records
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._open_schema()

    # ------------------------------------------------------------------ schema
    def _open_schema(self) -> None:
        with _Transaction(self._conn):
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise PreconditionError(
                    f"the token store {self.path.name} has schema {version}; this client reads up to "
                    f"{SCHEMA_VERSION}: upgrade the client"
                )
            if self._has_table("records"):
                self._migrate_v1()
            else:
                self._create_tables()
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _create_tables(self) -> None:
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._conn.execute(_TOKEN_INDEX)

    def _has_table(self, name: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return row.fetchone() is not None

    def _migrate_v1(self) -> None:
        """One current version-0 generation per epoch the old ``tokens`` table holds, with every record
        (the old store kept one record table for all epochs)."""
        self._conn.execute("DROP INDEX IF EXISTS tokens_by_value")
        self._conn.execute("ALTER TABLE records RENAME TO v1_records")
        self._conn.execute("ALTER TABLE tokens RENAME TO v1_tokens")
        self._create_tables()
        self._conn.execute("DROP INDEX IF EXISTS tokens_by_value")
        epochs = [e for (e,) in self._conn.execute("SELECT DISTINCT epoch FROM v1_tokens ORDER BY epoch")]
        for epoch in epochs:
            self._conn.execute(
                "INSERT INTO records SELECT ?, ?, record_id, body FROM v1_records", (epoch, LEGACY_VERSION)
            )
            self._conn.execute(
                "INSERT INTO tokens SELECT epoch, ?, token, key_type, record_id FROM v1_tokens "
                "WHERE epoch = ?",
                (LEGACY_VERSION, epoch),
            )
            self._conn.execute(
                "INSERT INTO generations VALUES (?, ?, ?, 0, 0, "
                "(SELECT COUNT(*) FROM v1_records), (SELECT COUNT(*) FROM v1_tokens WHERE epoch = ?), NULL)",
                (epoch, LEGACY_VERSION, CURRENT, epoch),
            )
        self._conn.execute("DROP TABLE v1_records")
        self._conn.execute("DROP TABLE v1_tokens")
        self._conn.execute(_TOKEN_INDEX)

    # ------------------------------------------------------------------ generations
    def stage(
        self,
        epoch: int,
        version: int,
        records: Sequence[Record],
        tokens: Iterable[TokenTriple],
        *,
        now_ms: int,
    ) -> Generation:
        """Keep ``records`` and their tokens as the staged generation (epoch, version); nothing current
        changes. A legacy generation of the epoch learns that versions from here on are not its own."""
        with _Transaction(self._conn):
            if self._get(epoch, version) is not None:
                raise PreconditionError(f"the token store already holds index v{version} of epoch {epoch}")
            count = self._insert(epoch, version, records, tokens)
            self._conn.execute(
                "INSERT INTO generations VALUES (?, ?, ?, ?, NULL, ?, ?, NULL)",
                (epoch, version, STAGED, now_ms, len(records), count),
            )
            self._conn.execute(
                "UPDATE generations SET covers_below = ? "
                "WHERE epoch = ? AND version = ? AND covers_below IS NULL",
                (version, epoch, LEGACY_VERSION),
            )
        return self._must_get(epoch, version)

    def promote(self, epoch: int, version: int, *, now_ms: int) -> Generation:
        """Make (epoch, version) current for its epoch: the matcher acknowledged (or holds) that version."""
        with _Transaction(self._conn):
            if self._get(epoch, version) is None:
                raise PreconditionError(f"the token store holds no index v{version} of epoch {epoch}")
            self._conn.execute(
                "UPDATE generations SET state = ? WHERE epoch = ? AND state = ?", (PREVIOUS, epoch, CURRENT)
            )
            self._conn.execute(
                "UPDATE generations SET state = ?, promoted_at_ms = ? WHERE epoch = ? AND version = ?",
                (CURRENT, now_ms, epoch, version),
            )
        return self._must_get(epoch, version)

    def drop(self, epoch: int, version: int) -> None:
        """Forget one generation, its records and tokens (a staged one the matcher never took, or one
        nothing refers to any more)."""
        with _Transaction(self._conn):
            self._delete(epoch, version)

    def prune(self, keep: Iterable[IndexRef]) -> list[Generation]:
        """Drop every previous generation no ref in ``keep`` stands for; current and staged ones stay.
        Returns what was dropped."""
        wanted = tuple(keep)
        dropped = [
            g
            for g in self.generations()
            if g.state == PREVIOUS and not any(g.stands_for(ref) for ref in wanted)
        ]
        with _Transaction(self._conn):
            for g in dropped:
                self._delete(g.epoch, g.version)
        return dropped

    def replace_epoch(self, epoch: int, records: Sequence[Record], tokens: Iterable[TokenTriple]) -> None:
        """Make ``records`` the one generation of ``epoch``, as version 0 (any version).

        For tools that build and publish index bits themselves (load tests, crash tests) and so cannot
        tie the tokens to a version; a force's publish stages and promotes versioned generations instead.
        """
        with _Transaction(self._conn):
            for (version,) in self._conn.execute(
                "SELECT version FROM generations WHERE epoch = ?", (epoch,)
            ).fetchall():
                self._delete(epoch, version)
            count = self._insert(epoch, LEGACY_VERSION, records, tokens)
            self._conn.execute(
                "INSERT INTO generations VALUES (?, ?, ?, 0, 0, ?, ?, NULL)",
                (epoch, LEGACY_VERSION, CURRENT, len(records), count),
            )

    def generations(self) -> list[Generation]:
        """Every generation held, oldest first within each epoch."""
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM generations ORDER BY epoch, version")
        return [Generation(*row) for row in rows.fetchall()]

    def staged(self) -> list[Generation]:
        return [g for g in self.generations() if g.state == STAGED]

    def currents(self) -> list[Generation]:
        """The current generation of each epoch, oldest epoch first."""
        return [g for g in self.generations() if g.state == CURRENT]

    def current(self, epoch: int) -> Generation | None:
        return next((g for g in self.currents() if g.epoch == epoch), None)

    def latest_current(self) -> Generation | None:
        """The current generation of the newest epoch: what the last acknowledged publish holds."""
        found = self.currents()
        return found[-1] if found else None

    def generation_for(self, ref: IndexRef) -> Generation | None:
        """The generation a request that matched ``ref`` resolves against, or None if it is not held."""
        held = [g for g in self.generations() if g.stands_for(ref)]
        exact = [g for g in held if g.version == ref.version]
        return next(iter(exact or held), None)

    # ------------------------------------------------------------------ reading
    def resolve(self, generation: Generation, tokens: Iterable[tuple[int, bytes]]) -> dict[str, set[int]]:
        """Map (key_type, token) pairs to {record_id: matched key types} within one generation."""
        return {rid: {kt for kt, _ in pairs} for rid, pairs in self.matches(generation, tokens).items()}

    def matches(self, generation: Generation, tokens: Iterable[Pair]) -> dict[str, set[Pair]]:
        """{record_id: the (key_type, token) pairs that resolved to it}: tells duplicates from people."""
        found: dict[str, set[Pair]] = {}
        for key_type, token in tokens:
            for (rid,) in self._conn.execute(
                "SELECT record_id FROM tokens WHERE epoch = ? AND version = ? AND token = ? AND key_type = ?",
                (generation.epoch, generation.version, token, key_type),
            ).fetchall():
                found.setdefault(rid, set()).add((key_type, token))
        return found

    def record(self, generation: Generation, record_id: str) -> Record | None:
        row = self._conn.execute(
            "SELECT body FROM records WHERE epoch = ? AND version = ? AND record_id = ?",
            (generation.epoch, generation.version, record_id),
        ).fetchone()
        return None if row is None else record_from_body(row[0])

    def bodies(self, generation: Generation) -> dict[str, str]:
        """{record_id: canonical body} of one generation, for a diff against a new file."""
        rows = self._conn.execute(
            "SELECT record_id, body FROM records WHERE epoch = ? AND version = ?",
            (generation.epoch, generation.version),
        )
        return dict(rows.fetchall())

    def count(self) -> tuple[int, int]:
        """(distinct records, tokens) of the current generations: what the force has published."""
        records = self._conn.execute(
            "SELECT COUNT(DISTINCT r.record_id) FROM records r JOIN generations g "
            "ON g.epoch = r.epoch AND g.version = r.version WHERE g.state = ?",
            (CURRENT,),
        ).fetchone()[0]
        tokens = self._conn.execute(
            "SELECT COALESCE(SUM(token_count), 0) FROM generations WHERE state = ?", (CURRENT,)
        ).fetchone()[0]
        return int(records), int(tokens)

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ inside
    def _insert(
        self, epoch: int, version: int, records: Sequence[Record], tokens: Iterable[TokenTriple]
    ) -> int:
        # Bulk load without the lookup index, then build it once (inside the caller's transaction, so a
        # kill leaves the old index in place): far faster than keeping it current row by row.
        self._conn.execute("DROP INDEX IF EXISTS tokens_by_value")
        self._conn.executemany(
            "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)",
            ((epoch, version, r.record_id, record_body(r)) for r in records),
        )
        before = self._conn.total_changes
        self._conn.executemany(
            "INSERT INTO tokens VALUES (?, ?, ?, ?, ?)",
            ((epoch, version, tok, kt, rid) for rid, kt, tok in tokens),
        )
        count = self._conn.total_changes - before
        self._conn.execute(_TOKEN_INDEX)
        return count

    def _delete(self, epoch: int, version: int) -> None:
        for table in ("tokens", "records", "generations"):
            self._conn.execute(f"DELETE FROM {table} WHERE epoch = ? AND version = ?", (epoch, version))

    def _get(self, epoch: int, version: int) -> Generation | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM generations WHERE epoch = ? AND version = ?", (epoch, version)
        ).fetchone()
        return None if row is None else Generation(*row)

    def _must_get(self, epoch: int, version: int) -> Generation:
        found = self._get(epoch, version)
        if found is None:  # pragma: no cover - written in the same call
            raise PreconditionError(f"the token store holds no index v{version} of epoch {epoch}")
        return found


class _Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT`` (``ROLLBACK`` on any exception): one writer at a time, and a
    process killed inside leaves nothing half-written (SQLite rolls the journal back at next open)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def record_body(record: Record) -> str:
    """The canonical text of a record as the store keeps it: two records differ iff their bodies do."""
    return json.dumps({name: getattr(record, name) for name in FIELDS}, sort_keys=True)


def record_from_body(body: str) -> Record:
    data = json.loads(body)
    data["previous_names"] = tuple(data.get("previous_names", ()))
    return Record(**data)
