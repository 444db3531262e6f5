"""One watcher's feed of disclosure requests as they change state (``Disclosure/WatchRequests``).

A holder watches requests against its force (by default only OPEN ones: new work); a requester watches
the requests its organisation opened (by default every state: each decision as it is made). Each
request is shown as the broker shows it to this caller, so a requester never receives matched tokens.

How the feed stays cheap and complete: it reads requests in ``(updated_at_ms, request_id)`` order after
a cursor, a page at a time, instead of the whole list on every poll. A page that comes back full is
followed at once from its last row (the backlog streams out without waiting). Otherwise the cursor is
put back ``SLACK_MS`` behind the newest change seen, because a change is stamped before it commits and
may land behind one already read; what is read twice is dropped by ``_sent`` (the last state sent for
each request), which forgets requests that fall behind the window, so it stays bounded.
"""

from __future__ import annotations

from collections.abc import Sequence

from crossforce.crypto.pki import Identity
from crossforce.domain import DisclosureRequest, Party, RequestState
from crossforce.errors import ValidationError
from crossforce.server.policy import roles
from crossforce.server.store.protocols import RequestStore
from crossforce.server.usecases.broker import STATE_NUMBERS, Broker

SLACK_MS = 60_000
"""How far behind the newest change a feed re-reads: longer than any change takes to commit."""
HOLDER_DEFAULT_STATES = (int(RequestState.OPEN),)
"""A holder's watch, unless it names states: new requests to resolve."""


class RequestFeed:
    """The changes one caller may see, as party ``party``, in the given states (none: the default)."""

    def __init__(
        self,
        *,
        broker: Broker,
        store: RequestStore,
        who: Identity,
        party: Party,
        states: Sequence[int],
        page: int,
    ) -> None:
        roles.authorise_watch(party, who.role)
        roles.authorise_party(party, who.kind)
        for s in states:
            if s not in STATE_NUMBERS:
                raise ValidationError(f"unknown request state {s}")
        if not states and party is Party.HOLDER:
            states = HOLDER_DEFAULT_STATES
        self._broker = broker
        self._store = store
        self._who = who
        self._party = party
        self._states = tuple(states)
        self._page = page
        self._after: tuple[int, str] = (-1, "")
        self._newest = -1
        self._sent: dict[str, tuple[int, int]] = {}
        """request id -> (state, updated_at_ms) last sent."""

    def poll(self) -> tuple[list[DisclosureRequest], bool]:
        """The changes since the last poll, and whether more are waiting now (a full page came back)."""
        org = self._who.org
        rows = self._store.requests_changed_since(
            holder=org if self._party is Party.HOLDER else None,
            requester=org if self._party is Party.REQUESTER else None,
            states=self._states,
            after=self._after,
            limit=self._page,
        )
        out: list[DisclosureRequest] = []
        for row in rows:
            self._newest = max(self._newest, row.updated_at_ms)
            if self._sent.get(row.request_id, (None, 0))[0] == row.state:
                continue
            self._sent[row.request_id] = (row.state, row.updated_at_ms)
            out.append(self._broker.shown(self._who, row))
        full = len(rows) >= self._page
        if full:
            self._after = (rows[-1].updated_at_ms, rows[-1].request_id)
        else:
            self._after = (max(-1, self._newest - SLACK_MS), "")
            self._forget_before(self._after[0])
        return out, full

    def _forget_before(self, updated_ms: int) -> None:
        """Drop what no later read can return again (changed before the window)."""
        stale = [rid for rid, (_state, at) in self._sent.items() if at < updated_ms]
        for rid in stale:
            del self._sent[rid]
