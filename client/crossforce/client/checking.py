"""Checking candidates: a candidate -> tokens (in this process) -> the matcher -> a report per candidate.

The matcher never receives a name, a date or an identifier: only keyed-hash tokens for each epoch in use
that this profile's network secret holds. Every answer carries a signed tree head committing to the
check's audit event, and it is verified like every other (``AuditReader.observe_head``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from crossforce.client.auditing import AuditReader
from crossforce.client.connection import Connection
from crossforce.client.profile import Profile
from crossforce.domain import CheckQuery, CheckReport, Justification, MatcherStatus, QueryToken
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.errors import PreconditionError, ValidationError
from crossforce.wire import matching as wire_matching

EPOCH_CACHE_S = 30.0
"""How long the epochs in use are reused before asking the matcher again (a stale answer is safe)."""
DEFAULT_BATCH_SIZE = 500
"""Candidates per CheckBatch call."""
Progress = Callable[[int, int], None]
T = TypeVar("T")


class Checker:
    """A vetting organisation's checks, single and batch."""

    def __init__(
        self,
        *,
        connection: Connection,
        profile: Profile,
        auditor: AuditReader,
        status: Callable[[], MatcherStatus],
    ) -> None:
        self._conn = connection
        self._profile = profile
        self._auditor = auditor
        self._status = status
        self._epoch_cache: tuple[float, list[int]] | None = None

    def candidate_tokens(self, candidate: Record, epochs: Iterable[int]) -> list[QueryToken]:
        """The candidate's tokens for each of ``epochs`` this profile's secret holds (others skipped)."""
        secret = self._profile.secret()
        out: list[QueryToken] = []
        for epoch in epochs:
            if epoch not in secret.epochs:
                continue
            tokeniser = Tokeniser(secret=secret.secret_for(epoch), epoch=epoch)
            out.extend(
                QueryToken(key_type=kt, epoch=epoch, token=tok)
                for kt, tok in tokeniser.record_tokens(candidate)
            )
        return out

    def _epochs(self, *, refresh: bool = False) -> list[int]:
        """Epochs to make tokens for: the matcher's epochs in use that this profile's secret holds.

        Cached for EPOCH_CACHE_S; a stale cache is safe, because tokens for a retired epoch are refused
        with FAILED_PRECONDITION and the caller refreshes and retries once.
        """
        cached = self._epoch_cache
        if cached is not None and not refresh and time.monotonic() - cached[0] < EPOCH_CACHE_S:
            return cached[1]
        usable = self._fetch_epochs()
        self._epoch_cache = (time.monotonic(), usable)
        return usable

    def _with_epochs(self, attempt: Callable[[list[int]], T]) -> T:
        try:
            return attempt(self._epochs())
        except PreconditionError:
            return attempt(self._epochs(refresh=True))

    def _fetch_epochs(self) -> list[int]:
        active = list(self._status().active_epochs)
        if not active:
            return [self._profile.secret().current_epoch]
        usable = [e for e in active if e in self._profile.secret().epochs]
        if not usable:
            raise ValidationError(
                "this profile's network secret holds none of the epochs in use ("
                + ", ".join(str(e) for e in active)
                + "); import the current secret with `crossforce keys import`"
            )
        return usable

    def check(self, candidate: Record, why: Justification, *, open_requests: bool = True) -> CheckReport:
        """Check one candidate against every force's index; opens disclosure requests for hits."""
        return self._with_epochs(lambda epochs: self._check(candidate, why, open_requests, epochs))

    def _check(
        self, candidate: Record, why: Justification, open_requests: bool, epochs: list[int]
    ) -> CheckReport:
        tokens = self.candidate_tokens(candidate, epochs)
        if not tokens:
            raise ValidationError(
                "the candidate produced no match keys: give a surname with a forename or a date of birth, "
                "or an identifier"
            )
        query = CheckQuery(candidates=(tuple(tokens),), justification=why, open_requests=open_requests)
        msg = self._conn.call(self._conn.matcher.Check, wire_matching.check_request_to_pb(query))
        outcome = wire_matching.check_outcome_from_pb(msg)
        self._auditor.observe_head(outcome.tree_head)
        return outcome.reports()[0]

    def check_batch(
        self,
        candidates: Sequence[Record],
        why: Justification,
        *,
        open_requests: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> list[CheckReport]:
        """Check many candidates, ``batch_size`` per call; one report per candidate, in order."""
        reports: list[CheckReport] = []
        for start in range(0, len(candidates), batch_size):
            chunk = candidates[start : start + batch_size]

            def attempt(epochs: list[int], chunk: Sequence[Record] = chunk) -> list[CheckReport]:
                query = CheckQuery(
                    candidates=tuple(tuple(self.candidate_tokens(c, epochs)) for c in chunk),
                    justification=why,
                    open_requests=open_requests,
                )
                msg = self._conn.call(
                    self._conn.matcher.CheckBatch, wire_matching.check_batch_request_to_pb(query)
                )
                outcome = wire_matching.check_outcome_from_pb(msg)
                self._auditor.observe_head(outcome.tree_head)
                return list(outcome.reports())

            reports.extend(self._with_epochs(attempt))
            if progress:
                progress(len(reports), len(candidates))
        return reports

    def ping(self) -> None:
        self._conn.call(self._conn.matcher.Ping, wire_matching.ping_request())
