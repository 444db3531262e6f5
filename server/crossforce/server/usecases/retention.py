"""Forgetting what finished requests no longer need: a bounded purge, at start-up and periodically.

Why: a request row that keeps its matched tokens, its free-text justification and its ciphertext for
ever lets whoever holds the database (the operator, or a thief of the folder) link checks on the same
person across requesters, purposes and years (issue 16). The audit trail is what must last; the rest has
a use only while the request is being worked on.

What the purge does, in batches of ``batch`` rows, each batch one transaction under the broker's write
lock, every row read again inside that transaction and cleared only if it still qualifies (so it never
overwrites a state change made meanwhile, on this matcher or another sharing the storage: every matcher
runs the purge, and two purging at once clear the same rows to the same values):

1. Tokens: any decided request loses its matched tokens (the broker already drops them when it
   resolves one; this catches rows stored before that).
2. Retention: a *finished* request (no_match, refused or delivered) whose last change is older than
   ``retention_days`` loses its justification text (legal basis, case reference, officer id), its sealed
   payload (for a delivered one: ``retention_days`` after delivery) and the index versions it matched.
3. Answers kept for retries: a write's stored answer under its idempotency key is dropped once older
   than ``KEEP_ANSWERS_MS`` (a client retries within seconds), so that table stays bounded.

What stays on every row: the request and check ids, both organisations, the purpose code, key types and
strength, the state, the refusal reason, every timestamp, the ciphertext's SHA-256 and the log indexes
(latest transition and approval) that lead to the audit events. Requests still waiting on someone (open,
confirmed, approved but never fetched) keep everything they need. The audit log itself is never touched:
it never carried tokens, and its events are the trail. After each run the freed bytes are reclaimed from
the database's journal (``reclaim_forgotten``). A purge appends no audit event: it changes no state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from crossforce.clock import DAY_MS, Clock
from crossforce.domain import RequestState
from crossforce.server.audit import AuditLog
from crossforce.server.settings import ServerSettings
from crossforce.server.store.protocols import RequestStore
from crossforce.server.store.rows import RequestRow
from crossforce.server.usecases.idempotency import KEEP_ANSWERS_MS

log = logging.getLogger(__name__)

FINISHED_STATES = (int(RequestState.NO_MATCH), int(RequestState.REFUSED), int(RequestState.DELIVERED))
"""Nothing more can happen to these: after the retention period only the audit trail is kept."""
DECIDED_STATES = (*FINISHED_STATES, int(RequestState.APPROVED))
"""Resolved and decided: the holder has used the tokens and will not resolve again. (A confirmed request
stored before the broker dropped tokens at resolve keeps them until decided: the holder's profile kept
no record of what they matched, so it still needs them to approve.)"""
PURGE_BATCH = 100
"""Rows cleared per transaction: small, so a purge never holds the write lock for long."""
PURGE_MAX_BATCHES = 50
"""Batches per run; the rest waits for the next run (a backlog drains over a few runs, not one stall)."""
PURGE_EVERY_S = 3600.0
"""How often the periodic purge runs."""
ANSWER_BATCH = 5_000
"""Kept answers dropped per transaction: a busy network stores thousands an hour, and dropping one is a
single-row delete, so the batches are larger than the request batches (still short transactions)."""


@dataclass(frozen=True, kw_only=True)
class PurgeResult:
    tokens_forgotten: int
    """Rows whose matched tokens were cleared."""
    expired: int
    """Finished rows cleared down to their audit trail."""
    answers_forgotten: int
    """Kept answers to retried writes dropped (older than ``KEEP_ANSWERS_MS``)."""
    reclaimed: bool
    """The journal was truncated (False: busy; the next run tries again)."""


def forget_tokens(row: RequestRow) -> RequestRow:
    return replace(row, tokens=b"")


def keep_only_audit_trail(row: RequestRow) -> RequestRow:
    """``row`` as it stays after retention (see the module docstring for what is kept)."""
    return replace(
        row,
        tokens=b"",
        legal_basis="",
        case_reference="",
        officer_id="",
        sealed=None,
        matched_indexes=(),
    )


def _still_due(row: RequestRow, states: tuple[int, ...], before_ms: int) -> bool:
    """Whether ``row``, as stored now, is still one the purge was asked to clear."""
    return row.state in states and row.updated_at_ms < before_ms


class Retention:
    """Runs the purge; ``start`` runs it once now and then every ``every_s`` seconds until ``stop``."""

    def __init__(
        self,
        *,
        store: RequestStore,
        audit: AuditLog,
        settings: ServerSettings,
        clock: Clock,
        write_lock: threading.RLock,
        batch: int = PURGE_BATCH,
        max_batches: int = PURGE_MAX_BATCHES,
        every_s: float = PURGE_EVERY_S,
    ) -> None:
        self._store = store
        self._audit = audit
        self._retention_ms = settings.retention_days * DAY_MS
        self._clock = clock
        self._write_lock = write_lock
        self._batch = batch
        self._max_batches = max_batches
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def purge(self) -> PurgeResult:
        """One bounded run: at most ``max_batches`` batches of each kind."""
        now = self._clock()
        tokens = self._run(DECIDED_STATES, now + 1, forget_tokens, tokens_only=True)
        expired = self._run(
            FINISHED_STATES, now - self._retention_ms, keep_only_audit_trail, tokens_only=False
        )
        answers = self._forget_answers(now - KEEP_ANSWERS_MS)
        reclaimed = self._store.reclaim_forgotten() if tokens or expired else True
        return PurgeResult(
            tokens_forgotten=tokens, expired=expired, answers_forgotten=answers, reclaimed=reclaimed
        )

    def _forget_answers(self, created_before_ms: int) -> int:
        """Drop kept answers no client can still be retrying, ``ANSWER_BATCH`` per transaction."""
        done = 0
        for _ in range(self._max_batches):
            with self._audit.transaction(self._clock()) as tx:
                dropped = tx.forget_idempotent(created_before_ms=created_before_ms, limit=ANSWER_BATCH)
            done += dropped
            if dropped < ANSWER_BATCH:
                break
        return done

    def _run(
        self,
        states: tuple[int, ...],
        before_ms: int,
        clear: Callable[[RequestRow], RequestRow],
        *,
        tokens_only: bool,
    ) -> int:
        done = 0
        for _ in range(self._max_batches):
            with self._write_lock:
                rows = self._store.requests_to_forget(
                    states=states, updated_before_ms=before_ms, limit=self._batch, tokens_only=tokens_only
                )
                if not rows:
                    break
                with self._audit.transaction(self._clock()) as tx:
                    for row in rows:
                        current = tx.request(row.request_id)
                        if current is not None and _still_due(current, states, before_ms):
                            cleared = clear(current)
                            if cleared != current:
                                tx.update_request(cleared)
                                done += 1
            if len(rows) < self._batch:
                break
        return done

    # ------------------------------------------------------------------ the periodic run
    def start(self) -> None:
        """Purge now and then every ``every_s`` seconds, in a daemon thread (start-up is not delayed)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the periodic purge; waits for a run in progress (bounded by ``timeout_s``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.purge()
                if result.tokens_forgotten or result.expired or result.answers_forgotten:
                    log.info(
                        "retention purge: tokens forgotten on %d requests, %d requests cleared to their "
                        "audit trail, %d kept answers dropped",
                        result.tokens_forgotten,
                        result.expired,
                        result.answers_forgotten,
                    )
            except Exception:  # a failed run (storage busy or full) is retried at the next one
                log.exception("retention purge failed; it will run again")
            self._stop.wait(self._every_s)
