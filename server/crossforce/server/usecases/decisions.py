"""One disclosure decision, staged in the open transaction: read, authorised, applied, logged, remembered.

``stage`` reads the request through the transaction (never before it: another matcher sharing the
database may have moved it), asks ``policy.disclosure``, and stages the new row with its
DISCLOSURE_TRANSITION event and, for a decision that carries an idempotency key, its answer under that
key, so a retry finds it instead of failing because the decision already applied. The row a decision
leaves behind: a resolved request forgets its matched tokens (issue 16); an approval keeps the
ciphertext, its digest and the approval's log index beside it. The broker (``usecases.broker``) owns
the transaction and what follows a commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace

from crossforce.auditlog.events import DisclosureTransition
from crossforce.crypto.pki import Identity
from crossforce.domain import RefusalReason
from crossforce.errors import PermissionDeniedError, ValidationError
from crossforce.server.audit import AuditLog
from crossforce.server.policy import disclosure
from crossforce.server.policy.disclosure import Action, RequestView, State
from crossforce.server.store.protocols import Transaction
from crossforce.server.store.rows import IdempotentRow, RequestRow
from crossforce.server.usecases import idempotency


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One decision on a request, as the caller sent it (``request_id`` may still be a prefix)."""

    action: Action
    request_id: str
    sealed: bytes | None = None
    reason: RefusalReason | None = None
    officer_id: str = ""
    officer_verified: bool = True
    """False: ``officer_id`` is the caller's free text (``officer_credentials = "optional"``)."""
    key: str = ""
    """The caller's idempotency key (empty: none)."""

    def digest(self) -> bytes:
        """What a retry with the same key must match (``idempotency.decision_digest``)."""
        return idempotency.decision_digest(
            self.action.value,
            self.request_id,
            sealed=self.sealed,
            reason=int(self.reason or 0),
            officer_id=self.officer_id,
        )

    @property
    def payload_sha256(self) -> bytes:
        """The digest the approval event carries (empty for every other action)."""
        return hashlib.sha256(self.sealed).digest() if self.sealed is not None else b""


def refusal_reason(number: int) -> RefusalReason | None:
    """The refusal reason a caller sent (0: none); ValidationError naming the field for an unknown one."""
    if not number:
        return None
    try:
        return RefusalReason(number)
    except ValueError as exc:
        raise ValidationError(f"unknown refusal reason {number}", field="reason") from exc


def transition_event(
    who: Identity,
    now: int,
    view: RequestView,
    *,
    state_from: str,
    officer_id: str = "",
    officer_verified: bool = True,
    reason: int = 0,
    payload_sha256: bytes = b"",
) -> DisclosureTransition:
    """The audit event of a request entering ``view.state`` (``state_from`` empty: it was just opened)."""
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
        officer_unverified=int(bool(officer_id) and not officer_verified),
    )


def decided_row(row: RequestRow, after: RequestView, decision: Decision, log_index: int) -> RequestRow:
    """``row`` once ``decision`` moved it to ``after``, its event at ``log_index``: a request that leaves
    OPEN forgets its matched tokens (issue 16); an approval keeps the ciphertext, its digest and where
    the log recorded it."""
    return replace(
        row,
        state=int(after.state),
        updated_at_ms=after.updated_at_ms,
        log_index=log_index,
        refusal_reason=int(after.refusal_reason),
        sealed=decision.sealed if decision.sealed is not None else row.sealed,
        sealed_sha256=decision.payload_sha256 or row.sealed_sha256,
        tokens=row.tokens if after.state is State.OPEN else b"",
        approval_log_index=log_index if decision.action is Action.APPROVE else row.approval_log_index,
    )


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


def authorised(row: RequestRow | None, who: Identity, action: Action) -> RequestRow:
    """``row`` if ``who`` may take ``action`` on it; the uniform denial for an unknown or foreign one."""
    disclosure.authorise(
        action, view_of(row) if row is not None else None, caller_org=who.org, caller_role=who.role
    )
    if row is None:  # authorise always refuses None; this says so to the type checker
        raise PermissionDeniedError(disclosure.DENIED_TEXT)
    return row


def stage(
    tx: Transaction, who: Identity, full_id: str, decision: Decision, now: int
) -> tuple[RequestRow, RequestRow | None]:
    """Stage ``decision`` in ``tx``, decided on the request as the open transaction sees it (whichever
    matcher changed it last). Returns the request before and after (after None: nothing changed and
    nothing was staged: a repeat fetch, or a keyed decision that already applied)."""
    if decision.key:
        earlier = tx.idempotent(who.org, decision.key)
        if earlier is not None:
            return replayed(tx.request, who, earlier, decision), None
    row = authorised(tx.request(full_id), who, decision.action)
    before = view_of(row)
    after = disclosure.apply(
        decision.action,
        before,
        caller_org=who.org,
        caller_role=who.role,
        now_ms=now,
        refusal_reason=decision.reason,
        sealed=decision.sealed,
    )
    if after is before:
        return row, None
    event = transition_event(
        who,
        now,
        after,
        state_from=before.state.name,
        officer_id=decision.officer_id,
        officer_verified=decision.officer_verified,
        reason=int(decision.reason or 0),
        payload_sha256=decision.payload_sha256,
    )
    log_index = AuditLog.append(tx, event)
    updated = decided_row(row, after, decision, log_index)
    tx.update_request(updated)
    if decision.key:
        tx.put_idempotent(
            idempotency.answer_row(
                org=who.org,
                key=decision.key,
                digest=decision.digest(),
                response=idempotency.encode_decision(updated.request_id),
                log_index=log_index,
                now_ms=now,
            )
        )
    return row, updated


def replayed(
    read: Callable[[str], RequestRow | None], who: Identity, earlier: IdempotentRow, decision: Decision
) -> RequestRow:
    """The request a keyed decision already moved, as ``read`` sees it now; FAILED_PRECONDITION if the
    key answered another request."""
    same = idempotency.same_request(earlier, decision.digest())
    return authorised(read(idempotency.decode_decision(same.response)), who, Action.VIEW)
