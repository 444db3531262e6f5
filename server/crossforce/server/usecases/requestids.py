"""Request ids as people type them: a full id, or a prefix of at least 6 hex characters (as git takes).

Invariant: a prefix is resolved only among the requests the caller may see (``policy.disclosure.may_view``
on each candidate), so the answer for a prefix (NOT_FOUND, one request, or the candidates) is the same
whether or not another organisation has a request that starts with it: a prefix cannot probe what
exists. A full id keeps the broker's uniform denial ("not found or not yours").

Several matches are INVALID_ARGUMENT (``ValidationError``, exit status 3), not FAILED_PRECONDITION:
nothing about the requests' state is wrong; the argument does not name one request, and a longer prefix
fixes it. The message lists up to ``MAX_CANDIDATES`` of them, with what tells them apart.
"""

from __future__ import annotations

from crossforce.crypto.pki import Identity
from crossforce.domain.disclosure import RefKind, parse_request_ref, short_id
from crossforce.errors import NotFoundError, ValidationError
from crossforce.server.policy import disclosure, roles
from crossforce.server.policy.disclosure import RequestView
from crossforce.server.store.protocols import RequestStore
from crossforce.server.store.rows import RequestRow

MAX_CANDIDATES = 10
"""How many candidates an ambiguous prefix's error lists."""


def find_request(store: RequestStore, who: Identity, typed: str) -> RequestRow | None:
    """The request ``typed`` names for ``who``: None for an unknown full id (the caller answers it with
    the uniform denial); NotFoundError or ValidationError for a prefix that names none or several."""
    ref = parse_request_ref(typed)
    if ref.kind is RefKind.EXACT:
        return store.request(ref.text)
    party_org = None if roles.sees_every_request(who.role, who.kind) else who.org
    found = [
        row
        for row in store.requests_with_id_prefix(ref.text, party_org=party_org, limit=MAX_CANDIDATES + 1)
        if disclosure.may_view(_view(row), caller_org=who.org, caller_role=who.role, caller_kind=who.kind)
    ]
    if not found:
        raise NotFoundError(f"no request you can see has an id starting {ref.text}")
    if len(found) > 1:
        shown = found[:MAX_CANDIDATES]
        more = "more than " if len(found) > MAX_CANDIDATES else ""
        raise ValidationError(
            f"request id prefix {ref.text} is ambiguous: it starts {more}{len(shown)} of the requests you "
            f"can see: {'; '.join(_candidate(row) for row in shown)}; give more characters",
            field="request_id",
        )
    return found[0]


def _candidate(row: RequestRow) -> str:
    """What tells ambiguous candidates apart: short id, holder <- requester, state."""
    state = disclosure.State(row.state).name.lower()
    return f"{short_id(row.request_id)} ({row.holder_org}<-{row.requester_org}, {state})"


def _view(row: RequestRow) -> RequestView:
    return RequestView(
        request_id=row.request_id,
        requester_org=row.requester_org,
        holder_org=row.holder_org,
        state=disclosure.State(row.state),
        created_at_ms=row.created_at_ms,
        deadline_ms=row.deadline_ms,
    )
