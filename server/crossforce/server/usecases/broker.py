"""The disclosure broker: opens requests for hits, moves them through the pure state machine, relays
sealed payloads.

Invariants: every state change is decided by ``policy.disclosure`` (``open_request``, ``apply``,
``authorise``, ``overdue_requests``, ``may_view``); this module loads the request, calls the rule,
and stores the result together with its DISCLOSURE_TRANSITION event in one transaction. A move that
changes nothing (a repeat fetch) stores and logs nothing. Unknown and not-yours requests get the same
answer. The matcher relays only ciphertext and its SHA-256: it never sees a disclosure in the clear.
A request may be named by a prefix of its id (``usecases.requestids``), resolved among the requests the
caller may see; everything after the lookup uses the full id.

Forgetting (issue 16): a request's matched tokens leave its row in the transaction that resolves it (the
holder has used them; nothing after resolution needs them), and the freed bytes are then reclaimed from
the database's journal too. The approval's log index is kept beside the ciphertext, so a requester can
prove the approval event carries the digest of what it fetched. Later clearing, after the retention
period, is ``usecases.retention``.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from crossforce.auditlog.events import DisclosureTransition
from crossforce.clock import Clock
from crossforce.crypto.pki import Identity
from crossforce.domain import (
    DisclosureRequest,
    IndexRef,
    Justification,
    OverdueReport,
    QueryToken,
    RefusalReason,
    RequestState,
    SealedDisclosure,
)
from crossforce.errors import PermissionDeniedError, TooLargeError, ValidationError
from crossforce.limits import Limits
from crossforce.server.audit import AuditLog
from crossforce.server.policy import disclosure, roles
from crossforce.server.policy.disclosure import Action, RequestView, State
from crossforce.server.settings import ServerSettings
from crossforce.server.store.protocols import RequestStore, Transaction
from crossforce.server.store.rows import RequestRow
from crossforce.server.usecases.common import check_text
from crossforce.server.usecases.requestids import find_request

TOKEN_RECORD = np.dtype([("key_type", ">u2"), ("epoch", ">u4"), ("token", "S32")])
"""How matched tokens are packed into a disclosure request row (fixed width, no raw data)."""

PENDING_STATE_NUMBERS = tuple(sorted(int(s) for s in disclosure.PENDING_STATES))
STATE_NUMBERS = frozenset(int(s) for s in State)


def pack_tokens(tokens: Sequence[QueryToken]) -> bytes:
    return np.array([(t.key_type, t.epoch, t.token) for t in tokens], dtype=TOKEN_RECORD).tobytes()


def unpack_tokens(packed: bytes) -> list[QueryToken]:
    arr = np.frombuffer(packed, dtype=TOKEN_RECORD)
    return [QueryToken(int(r["key_type"]), int(r["epoch"]), bytes(r["token"])) for r in arr]


def view_of(row: RequestRow) -> RequestView:
    """What the disclosure policy needs to know about a stored request."""
    return RequestView(
        request_id=row.request_id,
        requester_org=row.requester_org,
        holder_org=row.holder_org,
        state=State(row.state),
        created_at_ms=row.created_at_ms,
        deadline_ms=row.deadline_ms,
        purpose=row.purpose,
        check_id=row.check_id,
        updated_at_ms=row.updated_at_ms,
        refusal_reason=RefusalReason(row.refusal_reason),
    )


def request_view(
    row: RequestRow, *, for_holder: bool, overdue: bool, urgent: bool = False
) -> DisclosureRequest:
    """A stored request as a party sees it; ``for_holder`` decides whether the matched tokens are shown."""
    return DisclosureRequest(
        request_id=row.request_id,
        check_id=row.check_id,
        requester_org=row.requester_org,
        holder_org=row.holder_org,
        justification=Justification(
            purpose=row.purpose,
            legal_basis=row.legal_basis,
            case_reference=row.case_reference,
            officer_id=row.officer_id,
        ),
        matched_tokens=tuple(unpack_tokens(row.tokens)) if for_holder else (),
        key_types=tuple(row.key_types),
        strength=row.strength,
        state=RequestState(row.state),
        created_at_ms=row.created_at_ms,
        deadline_ms=row.deadline_ms,
        updated_at_ms=row.updated_at_ms,
        overdue=overdue,
        refusal_reason=RefusalReason(row.refusal_reason),
        log_index=row.log_index,
        matched_indexes=tuple(IndexRef(epoch=e, version=v) for e, v in row.matched_indexes),
        urgent=urgent,
    )


def sealed_disclosure(row: RequestRow) -> SealedDisclosure:
    """The ciphertext a stored request relays, with its digest (empty until approved)."""
    return SealedDisclosure(
        request_id=row.request_id,
        requester_org=row.requester_org,
        holder_org=row.holder_org,
        sealed_payload=row.sealed or b"",
        payload_sha256=row.sealed_sha256 or b"",
        state=RequestState(row.state),
        approval_log_index=row.approval_log_index,
    )


@dataclass(frozen=True, kw_only=True)
class Opening:
    """A hit that becomes a disclosure request to its holding force (tokens only, never raw data).

    ``matched`` names the holder's index (epoch, version) for each epoch of the matched tokens, so the
    holder resolves the request against the token generation it published then, not whatever it holds
    now (issue 13: a republish must not turn a true hit into a "false positive").
    """

    requester: Identity
    why: Justification
    check_id: str
    holder_org: str
    tokens: tuple[QueryToken, ...]
    key_types: tuple[int, ...]
    strength: int
    now_ms: int
    matched: tuple[IndexRef, ...] = ()


class Broker:
    def __init__(
        self,
        *,
        store: RequestStore,
        audit: AuditLog,
        settings: ServerSettings,
        clock: Clock,
        write_lock: threading.RLock,
    ) -> None:
        self._store = store
        self._audit = audit
        self._settings = settings
        self._limits: Limits = settings.limits
        self._clock = clock
        self._write_lock = write_lock
        self._request_opened = threading.Condition()
        """Notified when a check opened requests (and when a watcher's call ends)."""

    def notify_opened(self) -> None:
        """Wake every ``wait_for_new_request`` now (a check opened requests, a request changed state, or
        a watcher's call ended)."""
        with self._request_opened:
            self._request_opened.notify_all()

    def wait_for_new_request(self, timeout_s: float) -> None:
        """Block until the next ``notify_opened`` or for ``timeout_s`` seconds, whichever comes first."""
        with self._request_opened:
            self._request_opened.wait(timeout=timeout_s)

    def shown(self, who: Identity, row: RequestRow) -> DisclosureRequest:
        """``row`` as ``who`` sees it: the matched tokens only if the policy shows them to this caller."""
        tokens = disclosure.sees_matched_tokens(view_of(row), caller_org=who.org, caller_role=who.role)
        return request_view(row, for_holder=tokens, overdue=self.is_overdue(row), urgent=self.is_urgent(row))

    def is_urgent(self, row: RequestRow) -> bool:
        """Whether the request's purpose is urgent now (a purpose since removed from settings is not)."""
        policy = self._settings.purposes.get(row.purpose)
        return policy is not None and policy.urgent

    def open_request(self, tx: Transaction, opening: Opening) -> str:
        """Stage a new OPEN request and its event in ``tx`` (the check's transaction); returns its id."""
        who, why, now = opening.requester, opening.why, opening.now_ms
        view = disclosure.open_request(
            request_id=uuid.uuid4().hex,
            check_id=opening.check_id,
            requester_org=who.org,
            holder_org=opening.holder_org,
            purpose=why.purpose,
            created_at_ms=now,
            settings=self._settings,
        )
        idx = self._audit.append(tx, self._event(who, now, view, state_from=""))
        tx.insert_request(
            RequestRow(
                request_id=view.request_id,
                check_id=view.check_id,
                requester_org=view.requester_org,
                holder_org=view.holder_org,
                purpose=why.purpose,
                legal_basis=why.legal_basis,
                case_reference=why.case_reference,
                officer_id=why.officer_id,
                key_types=opening.key_types,
                strength=opening.strength,
                tokens=pack_tokens(opening.tokens),
                state=int(view.state),
                created_at_ms=now,
                deadline_ms=view.deadline_ms,
                updated_at_ms=now,
                log_index=idx,
                matched_indexes=tuple((r.epoch, r.version) for r in opening.matched),
            )
        )
        return view.request_id

    def _load(self, who: Identity, action: Action, request_id: str) -> RequestRow:
        """The stored request, if the caller may take ``action`` on it; the uniform denial otherwise."""
        check_text("request_id", request_id, self._limits.max_request_id_chars, required=True)
        if who.role not in disclosure.ACTION_ROLES[action]:  # refused before any lookup, as the policy says
            disclosure.authorise(action, None, caller_org=who.org, caller_role=who.role)
        row = find_request(self._store, who, request_id)
        if row is None:
            disclosure.authorise(action, None, caller_org=who.org, caller_role=who.role)  # always raises
            raise PermissionDeniedError(disclosure.DENIED_TEXT)
        disclosure.authorise(action, view_of(row), caller_org=who.org, caller_role=who.role)
        return row

    def get_request(self, who: Identity, request_id: str) -> RequestRow:
        return self._load(who, Action.VIEW, request_id)

    def list_requests(
        self, who: Identity, *, as_holder: bool, states: Sequence[int], limit: int
    ) -> list[RequestRow]:
        for s in states:
            if s not in STATE_NUMBERS:
                raise ValidationError(f"unknown request state {s}")
        limit = min(limit or self._limits.max_list_results, self._limits.max_list_results)
        if as_holder:
            return self._store.requests(holder=who.org, states=states, limit=limit)
        return self._store.requests(requester=who.org, states=states, limit=limit)

    def transition(
        self,
        who: Identity,
        request_id: str,
        action: Action,
        *,
        sealed: bytes | None = None,
        refusal_reason: int = 0,
        officer_id: str = "",
    ) -> RequestRow:
        check_text("request_id", request_id, self._limits.max_request_id_chars, required=True)
        if officer_id:
            check_text("officer_id", officer_id, self._limits.max_text_chars, required=False)
        if sealed is not None and len(sealed) > self._limits.max_payload_bytes:
            raise TooLargeError(f"sealed payload exceeds {self._limits.max_payload_bytes} bytes")
        reason = _refusal_reason(refusal_reason)
        now = self._clock()
        with self._write_lock:
            row = self._load(who, action, request_id)
            before = view_of(row)
            after = disclosure.apply(
                action,
                before,
                caller_org=who.org,
                caller_role=who.role,
                now_ms=now,
                refusal_reason=reason,
                sealed=sealed,
            )
            if after is before:
                return row
            payload_sha = hashlib.sha256(sealed).digest() if sealed is not None else b""
            with self._audit.transaction(now) as tx:
                event = self._event(
                    who,
                    now,
                    after,
                    state_from=before.state.name,
                    officer_id=officer_id,
                    reason=int(reason or 0),
                    payload_sha256=payload_sha,
                )
                log_index = self._audit.append(tx, event)
                updated = replace(
                    row,
                    state=int(after.state),
                    updated_at_ms=after.updated_at_ms,
                    log_index=log_index,
                    refusal_reason=int(after.refusal_reason),
                    sealed=sealed if sealed is not None else row.sealed,
                    sealed_sha256=payload_sha or row.sealed_sha256,
                    tokens=row.tokens if after.state is State.OPEN else b"",
                    approval_log_index=log_index if action is Action.APPROVE else row.approval_log_index,
                )
                tx.update_request(updated)
        if row.tokens and not updated.tokens:
            self._store.reclaim_forgotten()  # best effort; the retention purge retries
        self.notify_opened()  # a requester's watch sees the decision now, not at its next poll
        return updated

    def fetch_disclosure(self, who: Identity, request_id: str) -> RequestRow:
        """Approved -> delivered on the first fetch; a repeat fetch returns the same ciphertext."""
        return self.transition(who, request_id, Action.FETCH)

    def overdue(self, who: Identity, *, everyone: bool) -> list[RequestRow]:
        """Requests past their deadline and still waiting on the holder, most overdue first; only the
        caller's own unless ``everyone``."""
        now = self._clock()
        rows = {r.request_id: r for r in self._store.requests_due_before(now, PENDING_STATE_NUMBERS)}
        due = disclosure.overdue_requests([view_of(r) for r in rows.values()], now)
        return [
            rows[v.request_id]
            for v in due
            if everyone or disclosure.may_view(v, caller_org=who.org, caller_role=who.role)
        ]

    def overdue_report(self, who: Identity) -> OverdueReport:
        """The caller's overdue requests (everyone's for a role that sees all requests), no tokens shown."""
        rows = self.overdue(who, everyone=roles.sees_all_requests(who.role))
        return OverdueReport(
            requests=tuple(
                request_view(r, for_holder=False, overdue=True, urgent=self.is_urgent(r)) for r in rows
            ),
            generated_at_ms=self._clock(),
        )

    def overdue_count(self) -> int:
        now = self._clock()
        rows = self._store.requests_due_before(now, PENDING_STATE_NUMBERS)
        return len(disclosure.overdue_requests([view_of(r) for r in rows], now))

    def is_overdue(self, row: RequestRow) -> bool:
        return disclosure.is_overdue(view_of(row), self._clock())

    @staticmethod
    def _event(
        who: Identity,
        now: int,
        view: RequestView,
        *,
        state_from: str,
        officer_id: str = "",
        reason: int = 0,
        payload_sha256: bytes = b"",
    ) -> DisclosureTransition:
        return DisclosureTransition(
            at_ms=now,
            actor_org=who.org,
            actor_role=who.role,
            request_id=view.request_id,
            holder_org=view.holder_org,
            requester_org=view.requester_org,
            state_from=state_from,
            state_to=view.state.name,
            officer_id=officer_id,
            reason=reason,
            payload_sha256=payload_sha256,
        )


def _refusal_reason(number: int) -> RefusalReason | None:
    if not number:
        return None
    try:
        return RefusalReason(number)
    except ValueError as exc:
        raise ValidationError(f"unknown refusal reason {number}", field="reason") from exc
