"""The matcher's durable state: small protocols by concern (``protocols``), the rows they carry
(``rows``), the embedded SQLite backend (``sqlite``), the PostgreSQL backend several matchers share
(``postgres``, its tables and upgrades in ``pgschema``) and a read-only view of a stored log for offline
verification (``readonly``). Nothing outside this package touches a database connection.

``PostgresStorage`` is loaded on first use (PEP 562): psycopg takes a sixth of a second to import, and a
matcher on SQLite, or a command that only reads a data folder, never needs it.
"""

from typing import TYPE_CHECKING, Any

from crossforce.server.store.protocols import (
    AuditStore,
    IndexStore,
    LogReads,
    OrgStore,
    RequestStore,
    Storage,
    Transaction,
)
from crossforce.server.store.readonly import StoredLog, open_stored_log
from crossforce.server.store.rows import HeadRow, IdempotentRow, IndexRow, OrgRow, RequestRow
from crossforce.server.store.sqlite import SQLiteStorage

if TYPE_CHECKING:
    from crossforce.server.store.postgres import PostgresStorage

__all__ = [
    "AuditStore",
    "HeadRow",
    "IdempotentRow",
    "IndexRow",
    "IndexStore",
    "LogReads",
    "OrgRow",
    "OrgStore",
    "PostgresStorage",
    "RequestRow",
    "RequestStore",
    "SQLiteStorage",
    "Storage",
    "StoredLog",
    "Transaction",
    "open_stored_log",
]


def __getattr__(name: str) -> Any:
    if name == "PostgresStorage":
        from crossforce.server.store.postgres import PostgresStorage

        return PostgresStorage
    raise AttributeError(f"module 'crossforce.server.store' has no attribute {name!r}")
