"""The matcher's durable state: small protocols by concern (``protocols``), the rows they carry
(``rows``), the embedded SQLite backend (``sqlite``) and a read-only view of a stored log for offline
verification (``readonly``). Nothing outside this package touches a database connection.
"""

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

__all__ = [
    "AuditStore",
    "HeadRow",
    "IdempotentRow",
    "IndexRow",
    "IndexStore",
    "LogReads",
    "OrgRow",
    "OrgStore",
    "RequestRow",
    "RequestStore",
    "SQLiteStorage",
    "Storage",
    "StoredLog",
    "Transaction",
    "open_stored_log",
]
