"""The disclosure broker: opens requests for hits, moves them through the pure state machine, relays sealed
payloads.

Invariants: every state change is decided by ``policy.disclosure`` (``open_request``, ``apply``,
``authorise``, ``overdue_requests``, ``may_view``); this module loads the request, calls the rule, and
stores the result together with its DISCLOSURE_TRANSITION event in one transaction. The request is read
through that open transaction, never before it: another matcher sharing the database may have moved it
meanwhile, and the transaction sees everything committed before it took the log's sequence. A move that
changes nothing (a repeat fetch) stores and logs nothing. Unknown and not-yours requests get the same
answer. A decision may carry an idempotency key (``usecases.idempotency``): stored with the change, it
makes a retry (on any matcher) return the request as it now is instead of failing because the first
attempt already applied. The matcher relays only ciphertext and its SHA-256: it never sees a disclosure in
the clear. A request may be named by a prefix of its id (``usecases.requestids``), resolved among the
requests the caller may see; everything after the lookup uses the full id.

Forgetting (issue 16): a request's matched tokens leave its row in the transaction that resolves it (the
holder has used them; nothing after resolution needs them), and the freed bytes are then reclaimed from
the database's journal too. The approval's log index is kept beside the ciphertext, so a requester can
prove the approval event carries the digest of what it fetched. Later clearing, after the retention
period, is ``usecases.retention``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from crossforce.clock import Clock
from crossforce.crypto.pki import Identity
from crossforce.domain import (
    DisclosureRequest,
    IndexRef,
    Justification,
    OverdueReport,
    Party,
    QueryToken,
    RefusalReason,
    RequestState,
    SealedDisclosure,
)
from crossforce.domain.disclosure import RefKind, parse_request_ref
from crossforce.errors import AlreadyExistsError, PermissionDeniedError, TooLargeError, ValidationError
from crossforce.limits import Limits
from crossforce.server.audit import AuditLog
from crossforce.server.policy import disclosure, justification, roles
from crossforce.server.policy.disclosure import Action, State
from crossforce.server.settings import ServerSettings
from crossforce.server.store.protocols import IdempotencyStore, RequestStore, Transaction
from crossforce.server.store.rows import RequestRow
from crossforce.server.usecases import decisions, idempotency, requestpages
from crossforce.server.usecases.common import check_text
from crossforce.server.usecases.decisions import Decision, view_of
from crossforce.server.usecases.requestids import find_request

__all__ = [
    "PENDING_STATE_NUMBERS",
    "STATE_NUMBERS",
    "TOKEN_RECORD",
    "Broker",
    "BrokerStore",
    "Opening",
    "pack_tokens",
    "request_view",
    "sealed_disclosure",
    "unpack_tokens",
    "view_of",
]
"""``view_of`` is ``usecases.decisions``'s, named here too: callers read a request's view from the broker."""

TOKEN_RECORD = np.dtype([("key_type", ">u2"), ("epoch", ">u4"), ("token", "S32")])
"""How matched tokens are packed into a disclosure request row (fixed width, no raw data)."""

PENDING_STATE_NUMBERS = tuple(sorted(int(s) for s in disclosure.PENDING_STATES))
STATE_NUMBERS = frozenset(int(s) for s in State)


def pack_tokens(tokens: Sequence[QueryToken]) -> bytes:
    return np.array([(t.key_type, t.epoch, t.token) for t in tokens], dtype=TOKEN_RECORD).tobytes()


def unpack_tokens(packed: bytes) -> list[QueryToken]:
    arr = np.frombuffer(packed, dtype=TOKEN_RECORD)
    return [QueryToken(int(r["key_type"]), int(r["epoch"]), bytes(r["token"])) for r in arr]


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
        probability=row.probability_ppm / PPM,
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


class BrokerStore(RequestStore, IdempotencyStore, Protocol):
    """What the broker reads outside a transaction: requests, and decisions' stored answers."""


PPM = 1_000_000
"""A request row keeps its stated probability in millionths (an integer column on every backend)."""


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
    probability: float = 0.0
    """The probability the check stated for this hit (``crossforce.scoring``), kept with the request so
    its outcome can be compared with it (the reliability report)."""


class Broker:
    def __init__(
        self,
        *,
        store: BrokerStore,
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
        """Held around each decision too: the retention purge clears rows under it."""
        self._request_opened = threading.Condition()
        """Notified when a check opened requests (and when a watcher's call ends)."""

    @property
    def answers(self) -> IdempotencyStore:
        """Where every keyed write's answer is kept (a check's too: the check looks its key up here
        before charging the quota, and the requests its answer names are the broker's)."""
        return self._store

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
        idx = self._audit.append(tx, decisions.transition_event(who, now, view, state_from=""))
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
                probability_ppm=round(opening.probability * PPM),
            )
        )
        return view.request_id

    def _load(self, who: Identity, action: Action, request_id: str) -> RequestRow:
        """The stored request, if the caller may take ``action`` on it; the uniform denial otherwise."""
        check_text("request_id", request_id, self._limits.max_request_id_chars, required=True)
        if who.role not in disclosure.ACTION_ROLES[action]:  # refused before any lookup, as the policy says
            disclosure.authorise(action, None, caller_org=who.org, caller_role=who.role, caller_kind=who.kind)
        row = find_request(self._store, who, request_id)
        if row is None:
            disclosure.authorise(
                action, None, caller_org=who.org, caller_role=who.role, caller_kind=who.kind
            )  # always raises
            raise PermissionDeniedError(disclosure.DENIED_TEXT)
        disclosure.authorise(
            action, view_of(row), caller_org=who.org, caller_role=who.role, caller_kind=who.kind
        )
        return row

    def get_request(self, who: Identity, request_id: str) -> RequestRow:
        return self._load(who, Action.VIEW, request_id)

    def list_requests(
        self, who: Identity, *, as_holder: bool, states: Sequence[int], limit: int
    ) -> list[RequestRow]:
        """The first page of ``list_requests_page``."""
        return self.list_requests_page(who, as_holder=as_holder, states=states, limit=limit)[0]

    def list_requests_page(
        self, who: Identity, *, as_holder: bool, states: Sequence[int], limit: int, page_token: str = ""
    ) -> tuple[list[RequestRow], str]:
        """One page of the caller's requests (as holder or requester), urgent purposes first, then by
        deadline, created time and id; and the token of the next page (empty after the last).

        Urgent first because a batch of a thousand routine requests must not push a new safeguarding
        request off the page a desk reads (issue 15, item 8)."""
        if as_holder:
            roles.authorise_party(Party.HOLDER, who.kind)  # only police hold records
        for s in states:
            if s not in STATE_NUMBERS:
                raise ValidationError(f"unknown request state {s}")
        after = requestpages.decode(page_token)
        limit = min(limit or self._limits.max_list_results, self._limits.max_list_results)
        urgent = sorted(code for code, policy in self._settings.purposes.items() if policy.urgent)
        rows = self._store.requests(
            holder=who.org if as_holder else None,
            requester=None if as_holder else who.org,
            states=states,
            limit=limit,
            urgent_purposes=urgent,
            after=after,
        )
        if len(rows) < limit:
            return rows, ""
        return rows, requestpages.encode(requestpages.position(rows[-1], urgent=self.is_urgent(rows[-1])))

    def transition(
        self,
        who: Identity,
        request_id: str,
        action: Action,
        *,
        sealed: bytes | None = None,
        refusal_reason: int = 0,
        officer_id: str = "",
        officer_verified: bool = True,
        idempotency_key: str = "",
    ) -> RequestRow:
        """Apply ``action`` to the request as stored when the transaction opens; returns it as it is
        after (unchanged for a repeat fetch, and as it now is for a retry of a keyed decision)."""
        check_text("request_id", request_id, self._limits.max_request_id_chars, required=True)
        if officer_id:
            check_text("officer_id", officer_id, self._limits.max_text_chars, required=False)
            justification.check_officer_id(officer_id)
        if sealed is not None and len(sealed) > self._limits.max_payload_bytes:
            raise TooLargeError(f"sealed payload exceeds {self._limits.max_payload_bytes} bytes")
        decision = Decision(
            action=action,
            request_id=request_id,
            sealed=sealed,
            reason=decisions.refusal_reason(refusal_reason),
            officer_id=officer_id,
            officer_verified=officer_verified,
            key=idempotency.checked_key(idempotency_key),
        )
        full_id = self._full_id(who, action, request_id)
        if action is Action.FETCH:
            seen = self._load(who, action, full_id)
            if seen.state == int(State.DELIVERED):
                return seen  # delivered is final: a repeat fetch needs no transaction
        now = self._clock()
        try:
            with self._write_lock, self._audit.transaction(now) as tx:
                before, after = decisions.stage(tx, who, full_id, decision, now)
        except AlreadyExistsError:
            # The key was stored between our lookup and our write: the stored answer stands.
            earlier = self._store.idempotent(who.org, decision.key) if decision.key else None
            if earlier is None:
                raise
            return decisions.replayed(self._store.request, who, earlier, decision)
        if after is None:
            return before
        if before.tokens and not after.tokens:
            self._store.reclaim_forgotten()  # best effort; the retention purge retries
        self.notify_opened()  # a requester's watch sees the decision now, not at its next poll
        return after

    def _full_id(self, who: Identity, action: Action, typed: str) -> str:
        """The full id ``typed`` names for ``who``: a prefix is resolved among the requests the caller may
        see (ids never change, so this read may precede the transaction); the role is checked first."""
        if who.role not in disclosure.ACTION_ROLES[action]:  # refused before any lookup, as the policy says
            disclosure.authorise(action, None, caller_org=who.org, caller_role=who.role, caller_kind=who.kind)
        ref = parse_request_ref(typed)
        if ref.kind is RefKind.EXACT:
            return ref.text
        row = find_request(self._store, who, typed)  # a prefix that names no request raises
        return row.request_id if row is not None else ref.text

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
            if everyone
            or disclosure.may_view(v, caller_org=who.org, caller_role=who.role, caller_kind=who.kind)
        ]

    def overdue_report(self, who: Identity) -> OverdueReport:
        """The caller's overdue requests (everyone's for a role that sees all requests), no tokens shown."""
        rows = self.overdue(who, everyone=roles.sees_every_request(who.role, who.kind))
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
