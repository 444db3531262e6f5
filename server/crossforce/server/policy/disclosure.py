"""The disclosure request state machine and who may move it: pure policy, no storage.

Rules (docs/architecture.md, disclose; docs/threat-model.md):

- States: open -> confirmed | no_match; confirmed -> approved | refused; approved -> delivered. No_match,
  refused and delivered are final. Nothing else is a transition, and nothing is ever deleted.
- Only the holding force moves its requests: resolve by its force-system or disclosure-officer role,
  approve and refuse only by its disclosure officer. Only the requester fetches (approved -> delivered
  on the first fetch; later fetches return the same ciphertext and leave it delivered).
- Anyone else gets ``DENIED_TEXT``, word for word the same whether the request exists or not, so request
  ids cannot be probed. A role that may never take an action is refused before the request is looked
  at, so that refusal cannot depend on the request either.
- An approval carries the sealed disclosure (non-empty ciphertext); no other action carries one. The
  matcher relays that ciphertext on fetch, so an approval without it would deliver nothing.
- Open or confirmed past the deadline is *overdue*: a flag for the report and escalation, never a state
  that drops the request.

Call ``authorise`` before ``next_state`` (``apply`` does both in that order): a PreconditionError names
the request's state and must only reach a party to it.
"""

from __future__ import annotations

import dataclasses
import enum
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crossforce.domain import (
    DECIDER_ROLES,
    HOLDER_ROLES,
    REQUESTER_ROLES,
    ROLES,
    OrgKind,
    RefusalReason,
    RequestState,
)
from crossforce.errors import PermissionDeniedError, PreconditionError, ValidationError
from crossforce.server.policy.roles import sees_every_request
from crossforce.server.policy.settings import ServerSettings

State = RequestState
"""The request states are the domain's (``crossforce.domain.RequestState``; numbers match the proto)."""

TRANSITIONS: Mapping[State, frozenset[State]] = types.MappingProxyType(
    {
        State.OPEN: frozenset({State.CONFIRMED, State.NO_MATCH}),
        State.CONFIRMED: frozenset({State.APPROVED, State.REFUSED}),
        State.APPROVED: frozenset({State.DELIVERED}),
        State.NO_MATCH: frozenset(),
        State.REFUSED: frozenset(),
        State.DELIVERED: frozenset(),
    }
)
PENDING_STATES = frozenset({State.OPEN, State.CONFIRMED})
"""Waiting on the holding force: these, and only these, can become overdue."""


class Action(enum.Enum):
    RESOLVE_CONFIRMED = "resolve-confirmed"
    RESOLVE_NO_MATCH = "resolve-no-match"
    APPROVE = "approve"
    REFUSE = "refuse"
    FETCH = "fetch"
    VIEW = "view"
    """Read a request's metadata (GetRequest, ListRequests); changes nothing."""


ACTION_TARGET: Mapping[Action, State] = types.MappingProxyType(
    {
        Action.RESOLVE_CONFIRMED: State.CONFIRMED,
        Action.RESOLVE_NO_MATCH: State.NO_MATCH,
        Action.APPROVE: State.APPROVED,
        Action.REFUSE: State.REFUSED,
        Action.FETCH: State.DELIVERED,
    }
)

ACTION_ROLES: Mapping[Action, frozenset[str]] = types.MappingProxyType(
    {
        Action.RESOLVE_CONFIRMED: frozenset(HOLDER_ROLES),
        Action.RESOLVE_NO_MATCH: frozenset(HOLDER_ROLES),
        Action.APPROVE: frozenset(DECIDER_ROLES),
        Action.REFUSE: frozenset(DECIDER_ROLES),
        Action.FETCH: frozenset(REQUESTER_ROLES),
        Action.VIEW: frozenset(ROLES),
    }
)
HOLDER_ACTIONS = frozenset({Action.RESOLVE_CONFIRMED, Action.RESOLVE_NO_MATCH, Action.APPROVE, Action.REFUSE})

SEALED_REQUIRED_TEXT = "sealed_payload is required to approve"
"""The answer to an approval without a sealed payload (an empty one counts as none)."""

DENIED_TEXT = "request not found or not yours"
"""The one answer for a request that does not exist and for one that is not the caller's."""


@dataclass(frozen=True, kw_only=True)
class RequestView:
    """What the policy needs to know about one request (storage holds the rest: tokens, justification)."""

    request_id: str
    requester_org: str
    holder_org: str
    state: State
    created_at_ms: int
    deadline_ms: int
    purpose: str = ""
    check_id: str = ""
    updated_at_ms: int = 0
    refusal_reason: RefusalReason = RefusalReason.UNSPECIFIED

    def overdue(self, now_ms: int) -> bool:
        return is_overdue(self, now_ms)


def authorise(
    action: Action,
    request: RequestView | None,
    *,
    caller_org: str,
    caller_role: str,
    caller_kind: OrgKind | None = None,
) -> RequestView:
    """Raise PermissionDeniedError unless the caller may take ``action`` on ``request``; returns it.

    ``request`` is None when the id is unknown; that case and "not yours" raise the same DENIED_TEXT.
    """
    if caller_role not in ACTION_ROLES[action]:
        raise PermissionDeniedError(f"role {caller_role[:64]} may not {action.value} disclosure requests")
    if request is None:
        raise PermissionDeniedError(DENIED_TEXT)
    if action in HOLDER_ACTIONS:
        allowed = caller_org == request.holder_org
    elif action is Action.FETCH:
        allowed = caller_org == request.requester_org
    else:
        allowed = caller_org in (request.holder_org, request.requester_org) or sees_every_request(
            caller_role, caller_kind
        )
    if not allowed:
        raise PermissionDeniedError(DENIED_TEXT)
    return request


def may_view(
    request: RequestView, *, caller_org: str, caller_role: str, caller_kind: OrgKind | None = None
) -> bool:
    """Filter for listings: True where ``authorise(Action.VIEW, ...)`` would pass."""
    try:
        authorise(
            Action.VIEW, request, caller_org=caller_org, caller_role=caller_role, caller_kind=caller_kind
        )
    except PermissionDeniedError:
        return False
    return True


def sees_matched_tokens(request: RequestView, *, caller_org: str, caller_role: str) -> bool:
    """Only the holding force's own systems and officers receive the matched tokens (proto field 6)."""
    return caller_org == request.holder_org and caller_role in ACTION_ROLES[Action.RESOLVE_CONFIRMED]


def next_state(action: Action, current: State) -> State:
    """The state ``action`` moves a request in ``current`` to; PreconditionError naming both if illegal.

    A fetch of a delivered request is allowed and changes nothing, so a requester whose first fetch was
    lost in transit can fetch again.
    """
    if action is Action.VIEW:
        return current
    target = ACTION_TARGET[action]
    if action is Action.FETCH and current is State.DELIVERED:
        return current
    if target in TRANSITIONS[current]:
        return target
    sources = sorted(s.name for s, nxt in TRANSITIONS.items() if target in nxt)
    raise PreconditionError(
        f"cannot {action.value} a request that is {current.name}; "
        f"{target.name} is reachable only from {', '.join(sources)}"
    )


def apply(
    action: Action,
    request: RequestView | None,
    *,
    caller_org: str,
    caller_role: str,
    now_ms: int,
    refusal_reason: RefusalReason | None = None,
    sealed: bytes | None = None,
) -> RequestView:
    """Authorise, then move ``request``; returns the updated view (the caller stores and logs it).

    ``sealed`` is the approval's ciphertext: required (non-empty) for APPROVE, refused for any other
    action, as ``refusal_reason`` is for REFUSE. Both are checked after ``authorise``, so a caller who
    may not act learns nothing about what the action needs.

    Returns ``request`` itself (the same object) when nothing changes (a repeat fetch, a view), so the
    caller can tell that there is nothing to store or log.
    """
    request = authorise(action, request, caller_org=caller_org, caller_role=caller_role)
    if action is Action.REFUSE:
        if refusal_reason is None or refusal_reason is RefusalReason.UNSPECIFIED:
            raise ValidationError("a refusal needs a reason", field="reason")
    elif refusal_reason is not None:
        raise ValidationError("only a refusal carries a reason", field="reason")
    if action is Action.APPROVE:
        if not sealed:
            raise ValidationError(SEALED_REQUIRED_TEXT)
    elif sealed is not None:
        raise ValidationError("only an approval carries a sealed payload", field="sealed_payload")
    state = next_state(action, request.state)
    if state is request.state:
        return request
    return dataclasses.replace(
        request,
        state=state,
        updated_at_ms=now_ms,
        refusal_reason=refusal_reason if refusal_reason is not None else request.refusal_reason,
    )


def is_overdue(request: RequestView, now_ms: int) -> bool:
    """Still waiting on the holder (open or confirmed) and past its deadline."""
    return request.state in PENDING_STATES and now_ms > request.deadline_ms


def overdue_requests(requests: Iterable[RequestView], now_ms: int) -> list[RequestView]:
    """The overdue ones, most overdue first (the report's order)."""
    return sorted((r for r in requests if is_overdue(r, now_ms)), key=lambda r: (r.deadline_ms, r.request_id))


def deadline_for(purpose: str, created_at_ms: int, settings: ServerSettings) -> int:
    """When a request opened for ``purpose`` at ``created_at_ms`` becomes overdue.

    ValidationError for an unknown purpose; PreconditionError for a hit-only purpose, which never opens
    requests.
    """
    policy = settings.purpose(purpose)
    if not policy.allows_disclosure:
        raise PreconditionError(f"purpose {policy.code} does not allow disclosure requests")
    return created_at_ms + policy.deadline_ms


def open_request(
    *,
    request_id: str,
    requester_org: str,
    holder_org: str,
    purpose: str,
    created_at_ms: int,
    settings: ServerSettings,
    check_id: str = "",
) -> RequestView:
    """A new request in state OPEN with its deadline from the purpose's policy."""
    return RequestView(
        request_id=request_id,
        check_id=check_id,
        requester_org=requester_org,
        holder_org=holder_org,
        purpose=purpose,
        state=State.OPEN,
        created_at_ms=created_at_ms,
        deadline_ms=deadline_for(purpose, created_at_ms, settings),
        updated_at_ms=created_at_ms,
    )
