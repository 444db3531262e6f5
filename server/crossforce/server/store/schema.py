"""The matcher database's tables, their version, and the upgrades from every older version.

Why a module of its own: the layout is a contract with every data folder ever written. The ``meta`` row
``schema_version`` says which layout a folder holds; opening an older folder upgrades it in one
transaction (``MIGRATIONS``), so a crash mid-upgrade leaves it as it was, and a folder written by a newer
matcher is refused rather than read wrongly. Version 2 added ``requests.matched_indexes``: the holder's
(epoch, version) of each index a disclosure request matched (requests from version 1 keep none).
Version 3 added ``cosignatures``: witnesses' cosignature lines on the log's checkpoints (issue 16), one
row per (tree size, witness), kept beside the log and never part of it; and
``requests.approval_log_index``: the audit leaf of a request's approval, which the requester checks the
ciphertext's digest against (0 for requests approved before it was recorded, or never approved).
Version 4 added ``idempotency``: the answer to each write that carried an idempotency key (issue 17), so
a client that retries on another matcher never applies a check or a decision twice. Version 6 changes no
table: epochs became operator acts (issue 15 item 3; ``meta`` ``epoch_state`` and ``retired_through``,
set with the event that records them, the first at the matcher's first start), and the version keeps a
matcher from before, which retired epochs by itself from what forces published, from opening the folder.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from crossforce.errors import PreconditionError, UnavailableError
from crossforce.server.store.rows import RequestRow

SCHEMA_VERSION = 6

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orgs (
    org TEXT PRIMARY KEY, display_name TEXT NOT NULL, signing_key BLOB NOT NULL, box_key BLOB NOT NULL,
    key_version INTEGER NOT NULL, registered_at_ms INTEGER NOT NULL, log_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS indexes (
    org TEXT NOT NULL, epoch INTEGER NOT NULL, version INTEGER NOT NULL, header BLOB NOT NULL,
    signature BLOB NOT NULL, bits_sha256 TEXT NOT NULL, num_blocks INTEGER NOT NULL,
    num_probes INTEGER NOT NULL, token_count INTEGER NOT NULL, record_count INTEGER NOT NULL,
    published_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL, log_index INTEGER NOT NULL,
    PRIMARY KEY (org, epoch));
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, check_id TEXT NOT NULL, requester_org TEXT NOT NULL,
    holder_org TEXT NOT NULL, purpose TEXT NOT NULL, legal_basis TEXT NOT NULL,
    case_reference TEXT NOT NULL, officer_id TEXT NOT NULL, key_types TEXT NOT NULL,
    strength INTEGER NOT NULL, tokens BLOB NOT NULL, state INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL, deadline_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
    refusal_reason INTEGER NOT NULL DEFAULT 0, sealed BLOB, sealed_sha256 BLOB,
    log_index INTEGER NOT NULL, matched_indexes TEXT NOT NULL DEFAULT '',
    approval_log_index INTEGER NOT NULL DEFAULT 0, probability_ppm INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS requests_holder ON requests (holder_org, state);
CREATE INDEX IF NOT EXISTS requests_requester ON requests (requester_org, state);
CREATE TABLE IF NOT EXISTS log (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, leaf_hash BLOB NOT NULL);
CREATE TRIGGER IF NOT EXISTS log_no_update BEFORE UPDATE ON log
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS log_no_delete BEFORE DELETE ON log
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS heads (
    tree_size INTEGER PRIMARY KEY, timestamp_ms INTEGER NOT NULL, root BLOB NOT NULL,
    signature BLOB NOT NULL);
"""
COSIGNATURES_TABLE = """CREATE TABLE IF NOT EXISTS cosignatures (
    tree_size INTEGER NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL, timestamp_s INTEGER NOT NULL,
    PRIMARY KEY (tree_size, witness))"""
SCHEMA += COSIGNATURES_TABLE + ";\n"
IDEMPOTENCY_TABLE = """CREATE TABLE IF NOT EXISTS idempotency (
    org TEXT NOT NULL, key TEXT NOT NULL, request_sha256 BLOB NOT NULL, response BLOB NOT NULL,
    log_index INTEGER NOT NULL, created_at_ms INTEGER NOT NULL, PRIMARY KEY (org, key))"""
SCHEMA += IDEMPOTENCY_TABLE + ";\n"

MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE requests ADD COLUMN matched_indexes TEXT NOT NULL DEFAULT ''",),
    3: (COSIGNATURES_TABLE, "ALTER TABLE requests ADD COLUMN approval_log_index INTEGER NOT NULL DEFAULT 0"),
    4: (IDEMPOTENCY_TABLE,),
    5: ("ALTER TABLE requests ADD COLUMN probability_ppm INTEGER NOT NULL DEFAULT 0",),
    6: (),  # operator epochs: no table changes (see the module docstring)
}
"""The statements that bring a folder from the version before up to each version (requests opened before
version 2 keep an empty list of matched indexes: the matcher did not record them then; requests opened
before version 5 keep a stated probability of 0, which the reliability report leaves out)."""
REQUEST_COLUMNS = (
    "request_id, check_id, requester_org, holder_org, purpose, legal_basis, case_reference, officer_id, "
    "key_types, strength, tokens, state, created_at_ms, deadline_ms, updated_at_ms, refusal_reason, "
    "sealed, sealed_sha256, log_index, matched_indexes, approval_log_index, probability_ppm"
)
"""Named in every insert, so a column added by an upgrade (at the end of the table) lines up."""
REQUEST_PLACEHOLDERS = ", ".join("?" for _ in REQUEST_COLUMNS.split(","))


def encode_matched(refs: Sequence[tuple[int, int]]) -> str:
    """``((epoch, version), ...)`` as ``"epoch:version,..."`` (text, like ``key_types``)."""
    return ",".join(f"{epoch}:{version}" for epoch, version in refs)


def decode_matched(text: str) -> tuple[tuple[int, int], ...]:
    """Inverse of ``encode_matched``; the empty text is the empty tuple."""
    pairs = (item.split(":") for item in text.split(",") if item)
    return tuple((int(epoch), int(version)) for epoch, version in pairs)


def request_row(columns: Mapping[str, Any]) -> RequestRow:
    """A stored request from its columns by name (any backend): the two text columns decoded."""
    values = dict(columns)
    values["key_types"] = tuple(int(k) for k in str(columns["key_types"]).split(",") if k)
    values["matched_indexes"] = decode_matched(str(columns["matched_indexes"]))
    return RequestRow(**values)


def create_or_upgrade(conn: sqlite3.Connection, *, where: str) -> None:
    """Create the current tables in a new database, or bring an older one up to ``SCHEMA_VERSION`` in
    one transaction; refuse one from a newer matcher. ``where`` names the folder in errors."""
    conn.executescript(SCHEMA)
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:  # a new database: SCHEMA has just created the current layout
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return
    found = int(row[0])
    if found > SCHEMA_VERSION:
        raise PreconditionError(
            f"{where} holds schema version {found}, written by a newer matcher; this matcher reads up "
            f"to version {SCHEMA_VERSION}: run the newer matcher"
        )
    if found == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise UnavailableError(
            f"cannot upgrade {where} from schema version {found}; nothing was changed"
        ) from exc
