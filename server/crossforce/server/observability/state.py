"""What a metrics scrape reads from the matcher: index ages, audit log size, requests waiting.

Read at scrape time rather than counted as events, so a restarted matcher reports the truth at once
and a gauge is never stale. Requests are judged overdue by the same policy the broker applies
(``crossforce.server.policy.disclosure.is_overdue``).
"""

from __future__ import annotations

from crossforce.server.matcher import Matcher
from crossforce.server.observability.metrics import MatcherState
from crossforce.server.policy import disclosure
from crossforce.server.store.protocols import RequestStore
from crossforce.server.usecases.broker import PENDING_STATE_NUMBERS, view_of

FOREVER_MS = 2**62
"""A deadline after every request's: "due before" it lists every pending request."""


class MatcherStateSource:
    """Reads ``MatcherState`` from a matcher and its request store (callable, for ``Metrics.watch``)."""

    def __init__(self, *, matcher: Matcher, requests: RequestStore) -> None:
        self._matcher = matcher
        self._requests = requests

    def __call__(self) -> MatcherState:
        now = self._matcher.clock()
        pending = self._requests.requests_due_before(FOREVER_MS, PENDING_STATE_NUMBERS)
        overdue = sum(1 for row in pending if disclosure.is_overdue(view_of(row), now))
        return MatcherState(
            now_ms=now,
            indexes=self._matcher.status(),
            audit_log_entries=self._matcher.log_size(),
            requests_pending=len(pending),
            requests_overdue=overdue,
        )
