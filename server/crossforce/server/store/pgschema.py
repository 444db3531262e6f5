"""The matcher's PostgreSQL tables, their versions and upgrades, and how to reach the database safely.

Why a module of its own: the layout is a contract with every database a matcher ever wrote, and it is
applied by an operator (``crossforce db upgrade``), never by a matcher starting up: several replicas
share one database, so none of them may change its layout behind the others' backs. ``MIGRATIONS[n]``
brings a database from version n-1 to n inside one transaction (PostgreSQL's DDL is transactional, so a
failed upgrade leaves the database as it was) under an advisory lock, so two upgrades started at once
run one after the other and the second finds nothing to do.

Version 1 is the SQLite layout of ``store.schema`` version 4, column for column (so rows copy 1:1 from
a pilot's folder), plus ``audit_head``, the one row whose lock is the log's sequence across matchers,
and ``index_bits``, the content-addressed index bits that SQLite keeps in files (``released_at_ms``:
when a prune first found no index row naming them, so bits are removed only after every replica has
had time to read them). Version 2 adds ``requests.probability_ppm`` (SQLite version 5). Version 3 (SQLite
version 6) changes no table: epochs are operator acts, kept in ``meta``, and the version keeps a matcher
from before, which retired epochs by itself from publishes, off the database. Text keys sort
bytewise (``COLLATE "C"``) as they do in SQLite, whatever the database's locale.

The connection helpers live here too because the upgrade, the backend and the migration all open
connections the same way: a bounded connect timeout, an application name operators can see in
``pg_stat_activity``, and errors that never carry the DSN's password.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from crossforce.errors import PermissionDeniedError, PreconditionError, UnavailableError

SCHEMA_VERSION = 3
CONNECT_TIMEOUT_S = 5
"""Seconds a connection attempt may take unless the DSN says otherwise: a dead host fails fast."""
APPLICATION_NAME = "crossforce-matcher"
DEFAULT_OPTIONS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "application_name": APPLICATION_NAME,
    # Over TCP, notice a vanished server in about 25 s instead of the kernel's two hours.
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
"""Connection options the DSN may override: a dead host fails fast, and operators can tell the
matcher's sessions apart in ``pg_stat_activity``."""
NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
"""The database's clock, in ms, as SQL: replicas' clocks may differ, the database's is one."""
UPGRADE_LOCK = 0x63726F7373666F72
"""The advisory lock key an upgrade holds (``crossfor`` in ASCII): one upgrade at a time per database."""

APPEND_ONLY_FUNCTION = """CREATE FUNCTION crossforce_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only' USING ERRCODE = 'integrity_constraint_violation';
END $$"""
NEVER_SHRINKS_FUNCTION = """CREATE FUNCTION crossforce_log_never_shrinks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size < OLD.size THEN
        RAISE EXCEPTION 'audit log size may only grow' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$"""

VERSION_1 = (
    'CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL)',
    """CREATE TABLE orgs (
        org TEXT COLLATE "C" PRIMARY KEY, display_name TEXT NOT NULL, signing_key BYTEA NOT NULL,
        box_key BYTEA NOT NULL, key_version BIGINT NOT NULL, registered_at_ms BIGINT NOT NULL,
        log_index BIGINT NOT NULL)""",
    """CREATE TABLE indexes (
        org TEXT COLLATE "C" NOT NULL, epoch BIGINT NOT NULL, version BIGINT NOT NULL, header BYTEA NOT NULL,
        signature BYTEA NOT NULL, bits_sha256 TEXT COLLATE "C" NOT NULL, num_blocks BIGINT NOT NULL,
        num_probes BIGINT NOT NULL, token_count BIGINT NOT NULL, record_count BIGINT NOT NULL,
        published_at_ms BIGINT NOT NULL, expires_at_ms BIGINT NOT NULL, log_index BIGINT NOT NULL,
        PRIMARY KEY (org, epoch))""",
    "CREATE INDEX indexes_bits ON indexes (bits_sha256)",
    """CREATE TABLE requests (
        request_id TEXT COLLATE "C" PRIMARY KEY, check_id TEXT NOT NULL,
        requester_org TEXT COLLATE "C" NOT NULL, holder_org TEXT COLLATE "C" NOT NULL, purpose TEXT NOT NULL,
        legal_basis TEXT NOT NULL, case_reference TEXT NOT NULL, officer_id TEXT NOT NULL,
        key_types TEXT NOT NULL, strength BIGINT NOT NULL, tokens BYTEA NOT NULL, state BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL, deadline_ms BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL,
        refusal_reason BIGINT NOT NULL DEFAULT 0, sealed BYTEA, sealed_sha256 BYTEA,
        log_index BIGINT NOT NULL, matched_indexes TEXT NOT NULL DEFAULT '',
        approval_log_index BIGINT NOT NULL DEFAULT 0)""",
    "CREATE INDEX requests_holder ON requests (holder_org, state)",
    "CREATE INDEX requests_requester ON requests (requester_org, state)",
    "CREATE INDEX requests_changed ON requests (updated_at_ms, request_id)",
    "CREATE INDEX requests_deadline ON requests (deadline_ms)",
    """CREATE TABLE log (
        idx BIGINT PRIMARY KEY CHECK (idx >= 0), entry BYTEA NOT NULL,
        leaf_hash BYTEA NOT NULL CHECK (octet_length(leaf_hash) = 32))""",
    APPEND_ONLY_FUNCTION,
    "CREATE TRIGGER log_no_change BEFORE UPDATE OR DELETE ON log "
    "FOR EACH ROW EXECUTE FUNCTION crossforce_append_only()",
    "CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON log "
    "FOR EACH STATEMENT EXECUTE FUNCTION crossforce_append_only()",
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL CHECK (size >= 0))""",
    "INSERT INTO audit_head (id, size) VALUES (1, 0)",
    NEVER_SHRINKS_FUNCTION,
    "CREATE TRIGGER audit_head_never_shrinks BEFORE UPDATE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION crossforce_log_never_shrinks()",
    """CREATE TABLE heads (
        tree_size BIGINT PRIMARY KEY, timestamp_ms BIGINT NOT NULL, root BYTEA NOT NULL,
        signature BYTEA NOT NULL)""",
    """CREATE TABLE cosignatures (
        tree_size BIGINT NOT NULL, witness TEXT COLLATE "C" NOT NULL, line TEXT NOT NULL,
        timestamp_s BIGINT NOT NULL, PRIMARY KEY (tree_size, witness))""",
    """CREATE TABLE idempotency (
        org TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, request_sha256 BYTEA NOT NULL,
        response BYTEA NOT NULL, log_index BIGINT NOT NULL, created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (org, key))""",
    "CREATE INDEX idempotency_created ON idempotency (created_at_ms)",
    """CREATE TABLE index_bits (
        sha256 TEXT COLLATE "C" PRIMARY KEY, bits BYTEA NOT NULL, created_at_ms BIGINT NOT NULL,
        released_at_ms BIGINT)""",
    # Bloom-filter bits look random: compressing them costs CPU and saves nothing.
    "ALTER TABLE index_bits ALTER COLUMN bits SET STORAGE EXTERNAL",
)

VERSION_2 = ("ALTER TABLE requests ADD COLUMN probability_ppm BIGINT NOT NULL DEFAULT 0",)
"""The probability a check stated for each request's hit, in millionths (0 for requests opened before):
the reliability report compares it with the holder's outcome (issue 14)."""

VERSION_3: tuple[str, ...] = ()
"""Epochs became operator acts (``epoch_state`` and ``retired_through`` in ``meta``, the first set and
logged at the first start of a matcher of this version): no table changes; an older matcher must not serve."""
MIGRATIONS: dict[int, tuple[str, ...]] = {1: VERSION_1, 2: VERSION_2, 3: VERSION_3}
"""The statements that bring a database from the version before up to each version (0: empty)."""


@dataclass(frozen=True)
class Table:
    """A table's columns (in the SQLite layout's order) and the key an upsert replaces rows by."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def column_list(self) -> str:
        return ", ".join(self.columns)

    def upsert(self) -> str:
        """``INSERT .. ON CONFLICT DO UPDATE`` with named parameters: SQLite's ``INSERT OR REPLACE``."""
        values = ", ".join(f"%({c})s" for c in self.columns)
        changed = ", ".join(f"{c} = EXCLUDED.{c}" for c in self.columns if c not in self.key)
        return (
            f"INSERT INTO {self.name} ({self.column_list}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {changed}"
        )

    def insert(self) -> str:
        values = ", ".join(f"%({c})s" for c in self.columns)
        return f"INSERT INTO {self.name} ({self.column_list}) VALUES ({values})"


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


META = Table("meta", _columns("key value"), ("key",))
ORGS = Table(
    "orgs", _columns("org display_name signing_key box_key key_version registered_at_ms log_index"), ("org",)
)
INDEXES = Table(
    "indexes",
    _columns(
        "org epoch version header signature bits_sha256 num_blocks num_probes token_count record_count "
        "published_at_ms expires_at_ms log_index"
    ),
    ("org", "epoch"),
)
REQUESTS = Table(
    "requests",
    _columns(
        "request_id check_id requester_org holder_org purpose legal_basis case_reference officer_id "
        "key_types strength tokens state created_at_ms deadline_ms updated_at_ms refusal_reason sealed "
        "sealed_sha256 log_index matched_indexes approval_log_index probability_ppm"
    ),
    ("request_id",),
)
REQUEST_CHANGES = _columns(
    "state updated_at_ms refusal_reason sealed sealed_sha256 log_index tokens legal_basis case_reference "
    "officer_id matched_indexes approval_log_index"
)
"""What may change after a request is opened: its state's fields, and what forgetting clears (tokens on
resolve; justification text, payload and matched versions after retention)."""
LOG = Table("log", _columns("idx entry leaf_hash"), ("idx",))
HEADS = Table("heads", _columns("tree_size timestamp_ms root signature"), ("tree_size",))
COSIGNATURES = Table("cosignatures", _columns("tree_size witness line timestamp_s"), ("tree_size", "witness"))
IDEMPOTENCY = Table(
    "idempotency", _columns("org key request_sha256 response log_index created_at_ms"), ("org", "key")
)
INDEX_BITS = Table("index_bits", _columns("sha256 bits created_at_ms"), ("sha256",))
ROW_TABLES = (META, ORGS, INDEXES, REQUESTS, LOG, HEADS, COSIGNATURES, IDEMPOTENCY)
"""The tables a SQLite data folder has too, with the same columns."""


@dataclass(frozen=True, kw_only=True)
class DatabaseStatus:
    """What ``crossforce db status`` shows: the layout, and the log the database holds."""

    where: str
    """The DSN without its password."""
    schema_version: int
    required_version: int
    log_size: int
    """Committed log entries (0 for a database not yet upgraded)."""
    tree_size: int
    """Size of the newest stored signed tree head (0 when none)."""
    root: bytes
    """Root of that head (empty when none)."""

    @property
    def up_to_date(self) -> bool:
        return self.schema_version == self.required_version


# --- reaching the database without leaking its password -------------------------------------------------


def safe_dsn(dsn: str) -> str:
    """``dsn`` with any password removed, for messages and logs (a URL keeps its shape)."""
    if dsn.startswith(("postgresql://", "postgres://")):
        parts = urllib.parse.urlsplit(dsn)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, hosts = netloc.rsplit("@", 1)
            netloc = f"{userinfo.split(':', 1)[0]}@{hosts}"
        query = urllib.parse.urlencode(
            [
                (k, v)
                for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
                if k != "password"
            ],
            safe="/",
        )
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "(a DSN that does not parse)"
    params.pop("password", None)
    return make_conninfo("", **params)


def _password(dsn: str) -> str | None:
    try:
        value = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        return None
    return str(value) if value else None


def scrub(text: str, dsn: str) -> str:
    """``text`` (a driver's message) with the DSN's password blanked, should a message ever quote it."""
    password = _password(dsn)
    return text.replace(password, "***") if password else text


def describe_error(exc: BaseException, dsn: str) -> str:
    """The first line of a driver error, password-free."""
    lines = str(exc).strip().splitlines()
    return scrub(lines[0] if lines else type(exc).__name__, dsn)


def connect_options(dsn: str) -> dict[str, Any]:
    """Keyword options every connection gets unless the DSN sets them itself."""
    try:
        given = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise UnavailableError(f"the database DSN does not parse: {safe_dsn(dsn)}") from None
    return {key: value for key, value in DEFAULT_OPTIONS.items() if key not in given}


def connect(dsn: str) -> psycopg.Connection[Any]:
    """An autocommit connection; UnavailableError (saying what to check, never the password) if the
    database cannot be reached."""
    options = connect_options(dsn)
    try:
        return psycopg.connect(dsn, autocommit=True, **options)
    except psycopg.Error as exc:
        raise UnavailableError(
            f"cannot reach PostgreSQL at {safe_dsn(dsn)}: {describe_error(exc, dsn)}; check that it is "
            "running and that the DSN's host, port, database, user and password are right"
        ) from None


# --- versions -------------------------------------------------------------------------------------------


def installed_version(conn: psycopg.Connection[Any]) -> int:
    """The layout the connected database holds: 0 when it has no matcher tables yet."""
    row = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(found[0]) if found else 0


def upgrade_hint(dsn: str) -> str:
    return f"run `crossforce db upgrade --db {safe_dsn(dsn)}` (with the database owner's credentials)"


def require_current(conn: psycopg.Connection[Any], dsn: str) -> None:
    """Refuse a database whose layout is not exactly this matcher's: an older one is upgraded by an
    operator first, a newer one belongs to a newer matcher."""
    found = installed_version(conn)
    if found > SCHEMA_VERSION:
        raise PreconditionError(
            f"the PostgreSQL database {safe_dsn(dsn)} holds schema version {found}, written by a newer "
            f"matcher; this matcher reads version {SCHEMA_VERSION}: run the newer matcher"
        )
    if found < SCHEMA_VERSION:
        raise PreconditionError(
            f"the PostgreSQL database {safe_dsn(dsn)} holds schema version {found}; this matcher needs "
            f"version {SCHEMA_VERSION}: {upgrade_hint(dsn)}"
        )


def upgrade(dsn: str) -> tuple[int, int]:
    """Bring the database at ``dsn`` to ``SCHEMA_VERSION`` in one transaction; returns (from, to).

    Safe to run from several replicas at once: the advisory lock makes them take turns, and the later
    ones find the work done. A database from a newer matcher is refused and left alone."""
    found = 0
    with connect(dsn) as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
                found = installed_version(conn)
                if found > SCHEMA_VERSION:
                    raise PreconditionError(
                        f"the database holds schema version {found}, written by a newer matcher; this "
                        f"matcher knows versions up to {SCHEMA_VERSION}: upgrade with the newer matcher"
                    )
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[version]:
                        conn.execute(statement)
                if found < SCHEMA_VERSION:
                    conn.execute(META.upsert(), {"key": "schema_version", "value": str(SCHEMA_VERSION)})
        except psycopg.errors.InsufficientPrivilege:
            raise PermissionDeniedError(
                f"the database user may not change the schema of {safe_dsn(dsn)}: run the upgrade as the "
                "database owner; nothing was changed"
            ) from None
        except psycopg.Error as exc:
            raise UnavailableError(
                f"cannot upgrade {safe_dsn(dsn)} from schema version {found}: "
                f"{describe_error(exc, dsn)}; nothing was changed"
            ) from None
    return found, SCHEMA_VERSION


upgrade_database = upgrade
"""The name the server's public face exports (``crossforce db upgrade``)."""


def database_status(dsn: str) -> DatabaseStatus:
    """The database's layout and log, read without changing anything (it may be in use)."""
    with connect(dsn) as conn:
        try:
            version = installed_version(conn)
            size, tree_size, root = 0, 0, b""
            if version >= 1:
                row = conn.execute("SELECT size FROM audit_head WHERE id = 1").fetchone()
                size = int(row[0]) if row else 0
                head = conn.execute(
                    "SELECT tree_size, root FROM heads ORDER BY tree_size DESC LIMIT 1"
                ).fetchone()
                if head is not None:
                    tree_size, root = int(head[0]), bytes(head[1])
        except psycopg.Error as exc:
            raise UnavailableError(f"cannot read {safe_dsn(dsn)}: {describe_error(exc, dsn)}") from None
    return DatabaseStatus(
        where=safe_dsn(dsn),
        schema_version=version,
        required_version=SCHEMA_VERSION,
        log_size=size,
        tree_size=tree_size,
        root=root,
    )
