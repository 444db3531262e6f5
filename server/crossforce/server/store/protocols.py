"""What the matcher needs from durable storage, one small protocol per concern.

Why split: the use cases each need one concern (the registry its organisations, publishing its index
generations, the broker its requests, the audit log its entries and heads), and a second backend
(PostgreSQL) must implement exactly these. ``Storage`` is the whole set, as one backend provides it.

Invariants every backend keeps:

- A change and the audit event that records it are written through one ``Transaction`` and commit
  together or not at all (the audit log's group commit opens, stages and commits it).
- Reads see committed data only, never what is staged in an open transaction.
- Log rows are append-only; nothing stored is a raw name, date or identifier.
- No connection, cursor or driver type crosses these protocols: values are the rows of ``store.rows``,
  bytes, ints and text.
- Several matchers may share one backend (PostgreSQL). The log is then their one sequence: ``begin``
  takes it (no other matcher appends until this transaction ends) and says how long the committed log
  is, so a matcher learns what others appended before it adds its own. A decision that depends on a
  stored row (a request's state, an organisation's key, an index's version) reads it through the open
  ``Transaction``, which sees everything committed before ``begin`` plus what it staged itself.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from crossforce.server.store.rows import HeadRow, IdempotentRow, IndexRow, OrgRow, RequestRow


class Transaction(Protocol):
    """Writes staged in the open transaction; log indexes are known before it commits.

    Its reads see what was committed before the transaction took the log's sequence, plus what it has
    staged: the current truth for a decision, whichever matcher made the last change."""

    @property
    def appended_leaves(self) -> Sequence[bytes]:
        """Leaf hashes appended through this transaction, in order."""
        ...

    def append_log(self, entry: bytes, leaf_hash: bytes) -> int: ...
    def append_logs(self, entries: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> range:
        """``append_log`` of each pair in order, in one statement (a batch's events); their indexes.

        Not atomic on its own: if it raises, rows before the failing one may be staged, so the writer
        must let the error end its body (the group commit then drops its savepoint) and not write on."""
        ...

    def put_org(self, row: OrgRow) -> None: ...
    def put_index(self, row: IndexRow) -> None: ...
    def insert_request(self, row: RequestRow) -> None:
        """AlreadyExistsError if the request id exists (the whole transaction body must then fail)."""
        ...

    def update_request(self, row: RequestRow) -> None: ...
    def put_head(self, row: HeadRow) -> None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def put_cosignature(self, tree_size: int, witness: str, line: str, timestamp_s: int) -> None:
        """Keep (or replace) ``witness``'s cosignature line on the checkpoint of ``tree_size``."""
        ...

    def put_idempotent(self, row: IdempotentRow) -> None:
        """Remember a write's answer under its caller's idempotency key (AlreadyExistsError if the key is
        taken: the whole transaction body must then fail and the caller answers from ``idempotent``)."""
        ...

    def idempotent(self, org: str, key: str) -> IdempotentRow | None: ...
    def forget_idempotent(self, *, created_before_ms: int, limit: int) -> int:
        """Drop up to ``limit`` kept answers created before ``created_before_ms`` (no client retries that
        late); returns how many were dropped."""
        ...

    def request(self, request_id: str) -> RequestRow | None: ...
    def org(self, org: str) -> OrgRow | None: ...
    def index(self, org: str, epoch: int) -> IndexRow | None: ...


class OrgStore(Protocol):
    """Organisations and their registered public keys."""

    def orgs(self) -> list[OrgRow]: ...


class IndexStore(Protocol):
    """Index generations: one row per (organisation, epoch) and content-addressed bits beside it."""

    def indexes(self) -> list[IndexRow]: ...
    def write_bits(self, sha256_hex: str, bits: bytes | memoryview) -> None:
        """Durable before the row that points at it commits; UnavailableError if it cannot be written."""
        ...

    def read_bits(self, sha256_hex: str) -> bytes: ...
    def prune_bits(self) -> int:
        """Remove bits no row points at; returns how many."""
        ...

    def meta(self, key: str) -> str | None: ...


RequestPosition = tuple[int, int, int, str]
"""Where a request sorts in a request list: (0 if its purpose is urgent else 1, deadline_ms,
created_at_ms, request_id)."""


class RequestStore(Protocol):
    """Disclosure requests."""

    def request(self, request_id: str) -> RequestRow | None: ...
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
        """The order a disclosure officer works in: requests for ``urgent_purposes`` first, then soonest
        deadline, then oldest, then by id; only those whose ``RequestPosition`` is after ``after`` (a
        page's last row), so a list pages on without skipping or repeating a row."""
        ...

    def requests_with_id_prefix(self, prefix: str, *, party_org: str | None, limit: int) -> list[RequestRow]:
        """Requests whose id starts with ``prefix`` (lower-case hex), by id; only those ``party_org``
        holds or opened unless it is None (a role that sees every request)."""
        ...

    def requests_changed_since(
        self,
        *,
        holder: str | None = None,
        requester: str | None = None,
        states: Sequence[int] = (),
        after: tuple[int, str],
        limit: int,
    ) -> list[RequestRow]:
        """Requests whose ``(updated_at_ms, request_id)`` is after ``after``, in that order (a watch's
        change feed: page on from the last row returned)."""
        ...

    def requests_due_before(self, deadline_ms: int, states: Sequence[int]) -> list[RequestRow]:
        """Requests in ``states`` whose deadline is before ``deadline_ms``, earliest deadline first."""
        ...

    def request_outcomes(self) -> list[tuple[int, int]]:
        """(stated probability in millionths, state) of every request that stated one: the reliability
        report compares the two (``policy.reliability``)."""
        ...

    def requests_to_forget(
        self, *, states: Sequence[int], updated_before_ms: int, limit: int, tokens_only: bool = False
    ) -> list[RequestRow]:
        """Requests in ``states`` last changed before ``updated_before_ms`` that still hold tokens (and,
        unless ``tokens_only``, justification text, a sealed payload or matched versions); oldest first."""
        ...

    def reclaim_forgotten(self) -> bool:
        """Make cleared bytes unrecoverable from the backend's files (journals included); False if it
        could not now (try again later)."""
        ...


class CosignatureStore(Protocol):
    """Witnesses' cosignatures on the log's checkpoints (signature lines, already verified)."""

    def cosignatures(self, tree_size: int) -> list[str]:
        """The stored cosignature lines on the checkpoint of ``tree_size``, by witness name."""
        ...

    def best_cosigned_size(self, at_least: int) -> int | None:
        """Of the checkpoints of at least ``at_least`` entries, the one with the most cosignatures
        (the smallest of those), or None if none has any."""
        ...


class LogReads(Protocol):
    """The stored audit log as plain values: what an offline verifier needs, and nothing else."""

    def log_entries(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        """``(index, entry, leaf_hash)`` for stored entries ``start <= index < end``, in order."""
        ...

    def heads(self) -> list[HeadRow]:
        """Every stored signed head, smallest tree first."""
        ...


class AuditStore(LogReads, Protocol):
    """The audit log's group commit: one open transaction that many writers stage into, each in a
    savepoint, committed by a single committer. The caller holds ``lock`` around all of it."""

    @property
    def lock(self) -> threading.RLock: ...
    def begin(self) -> int:
        """Open the group-commit transaction and take the log's sequence; returns how many log entries
        are committed (more than this matcher has seen when another matcher appended meanwhile)."""
        ...

    def log_size(self) -> int:
        """How many log entries are committed (read outside any open transaction)."""
        ...

    def head_at(self, tree_size: int) -> HeadRow | None:
        """The stored signed head of ``tree_size`` entries, if one was stored."""
        ...

    def wait_for_log_change(self, timeout_s: float) -> None:
        """Block until another matcher may have appended to the log, or ``timeout_s`` passes, or the
        store closes (PostgreSQL: a NOTIFY sent by the committing matcher; a store nobody else writes just
        waits). Callers re-read ``log_size`` afterwards: a wake-up is a hint, never the data."""
        ...

    def in_transaction(self) -> bool:
        """False when the engine has rolled the open transaction back by itself (e.g. disk full)."""
        ...

    def staged(self, next_log_index: int) -> Transaction: ...
    def keep_staged(self) -> None: ...
    def drop_staged(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def log_leaf_hashes(self) -> list[bytes]: ...
    def latest_head(self) -> HeadRow | None: ...


class IdempotencyStore(Protocol):
    """Answers to writes that carried an idempotency key, so a retried write never applies twice."""

    def idempotent(self, org: str, key: str) -> IdempotentRow | None: ...


class Storage(OrgStore, IndexStore, RequestStore, AuditStore, CosignatureStore, IdempotencyStore, Protocol):
    """Every concern, as one backend (``SQLiteStorage``, ``PostgresStorage``) provides them."""

    @property
    def shared(self) -> bool:
        """True when other matchers may write to this storage too (PostgreSQL): the matcher then follows
        the log for what they appended."""
        ...

    def healthy(self) -> bool: ...
    def close(self) -> None: ...
