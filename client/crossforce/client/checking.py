"""Checking candidates: a candidate -> tokens (in this process) -> the matcher -> a report per candidate.

The matcher never receives a name, a date or an identifier: only keyed-hash tokens for each epoch in use
that this profile's network secret holds, packed a block per epoch, and how common the candidate's
forename and surname are (a class 0-5 from the spec's public tables, shared by thousands of people).
Every answer carries a signed tree head committing to the check's audit event, and it is verified like
every other (``AuditReader.observe_head``).

A batch always finishes (issue 13): a candidate that yields no match key is answered here with an
error report and never sent, a candidate the matcher refuses comes back with its own error, and neither
touches any other candidate. A quota refusal of a sub-batch is waited out for the retry-after the
matcher gave (up to ``max_wait_s``) and the same sub-batch is sent again: a refused call changed
nothing at the matcher, so nothing is checked twice and no request is opened twice. ``check_batches``
yields the reports sub-batch by sub-batch so a caller can write each before the next is sent.

Every check call (a single check, each sub-batch) carries an idempotency key of its own, made when its
request is built and kept on every retry of that request (``retries``), so a call whose answer was lost
can be sent again, to the same matcher or another, without being charged, logged or opened twice. A
request built anew (fresh epochs, a sub-batch after a quota wait) is another call with another key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from crossforce.client.auditing import AuditReader
from crossforce.client.connection import Connection
from crossforce.client.profile import Profile
from crossforce.client.retries import new_idempotency_key
from crossforce.domain import (
    Candidate,
    CandidateError,
    CheckQuery,
    CheckReport,
    Justification,
    MatcherStatus,
    QueryToken,
)
from crossforce.encoding.nameclasses import name_classes
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.errors import CrossforceError, PreconditionError, QuotaExceededError, ValidationError
from crossforce.wire import matching as wire_matching

EPOCH_CACHE_S = 30.0
"""How long the epochs in use are reused before asking the matcher again (a stale answer is safe)."""
DEFAULT_BATCH_SIZE = 500
"""Candidates per CheckBatch call."""
DEFAULT_MAX_WAIT_S = 600.0
"""Longest a sub-batch waits, in total, for quota before the refusal is passed on to the caller."""
KEYLESS_MESSAGE = (
    "no match key: give a forename and a surname, or either one with a full date of birth, or an "
    "identifier (placeholders such as 'Unknown', 'Baby Boy' or a one-letter surname count as missing)"
)
KEYLESS = CandidateError(code="INVALID_ARGUMENT", message=KEYLESS_MESSAGE)
"""The error of a candidate that yields no token: answered here, never sent to the matcher."""
STALE_EPOCH_CODE = "FAILED_PRECONDITION"
"""A candidate refused for this carried tokens of an epoch no longer in use: refresh and resend once."""
Progress = Callable[[int, int], None]
Wait = Callable[[float], None]
T = TypeVar("T")


def _tokens(candidate: Record, tokenisers: Iterable[Tokeniser]) -> list[QueryToken]:
    return [
        QueryToken(key_type=kt, epoch=t.epoch, token=tok)
        for t in tokenisers
        for kt, tok in t.record_tokens(candidate)
    ]


def packed_candidate(candidate: Record, tokenisers: Sequence[Tokeniser]) -> Candidate | None:
    """The candidate as sent: its tokens packed a block per epoch, with its name classes; None when it
    yields no token (nothing to send). The classes say only how common the names are (spec v2)."""
    tokens = _tokens(candidate, tokenisers)
    if not tokens:
        return None
    forename_class, surname_class = name_classes(candidate)
    return Candidate.of(tokens, forename_class=forename_class, surname_class=surname_class)


def _unsent(error: CandidateError) -> CheckReport:
    return CheckReport(check_id="", hits=(), forces_searched=0, stale_orgs=(), error=error)


def retry_after(exc: QuotaExceededError) -> float | None:
    """The seconds the matcher said to wait before the refused charge fits (None: it never will, or an
    older matcher did not say)."""
    value = exc.retry_after_s
    return max(0.0, float(value)) if value is not None else None


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
        return _tokens(candidate, self._tokenisers(epochs))

    def candidate(self, record: Record, epochs: Iterable[int]) -> Candidate | None:
        """The candidate exactly as a check sends it (None: it yields no match key, so is never sent)."""
        return packed_candidate(record, self._tokenisers(epochs))

    def _tokenisers(self, epochs: Iterable[int]) -> list[Tokeniser]:
        """One tokeniser per epoch this profile's secret holds: read and keyed once per sub-batch, not
        once per candidate (the secret file read and the HMAC set-up cost more than the tokens)."""
        secret = self._profile.secret()
        return [
            Tokeniser(secret=secret.secret_for(epoch), epoch=epoch)
            for epoch in epochs
            if epoch in secret.epochs
        ]

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
        packed = packed_candidate(candidate, self._tokenisers(epochs))
        if packed is None:
            raise ValidationError(f"the candidate has {KEYLESS_MESSAGE}")
        query = CheckQuery(
            candidates=(packed,),
            justification=why,
            open_requests=open_requests,
            idempotency_key=new_idempotency_key(),
        )
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
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
    ) -> list[CheckReport]:
        """Check many candidates, ``batch_size`` per call; one report per candidate, in order.

        A report with ``error`` set is a candidate that was not checked (no match key, or refused by
        the matcher); every other candidate is checked as usual."""
        reports: list[CheckReport] = []
        for chunk in self.check_batches(
            candidates, why, open_requests=open_requests, batch_size=batch_size, max_wait_s=max_wait_s
        ):
            reports.extend(chunk)
            if progress:
                progress(len(reports), len(candidates))
        return reports

    def check_batches(
        self,
        candidates: Sequence[Record],
        why: Justification,
        *,
        open_requests: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        on_wait: Wait | None = None,
        sleep: Wait = time.sleep,
    ) -> Iterator[list[CheckReport]]:
        """The reports of ``candidates[i:i + batch_size]`` for each sub-batch in turn, each in order.

        Lazy: a sub-batch is sent only when the next one is asked for, so a caller that stops (Ctrl-C)
        between two has every answer it was given and nothing was checked that it did not see. A quota
        refusal is waited out (``on_wait(seconds)`` is told first, ``sleep`` waits) while the sub-batch's
        total wait stays within ``max_wait_s``; past that, or with no retry-after, it is raised.
        """
        if batch_size < 1:
            raise ValidationError("must be at least 1", field="batch_size")
        for start in range(0, len(candidates), batch_size):
            chunk = candidates[start : start + batch_size]
            yield self._sub_batch(chunk, why, open_requests, max_wait_s, on_wait, sleep)

    def _sub_batch(
        self,
        chunk: Sequence[Record],
        why: Justification,
        open_requests: bool,
        max_wait_s: float,
        on_wait: Wait | None,
        sleep: Wait,
    ) -> list[CheckReport]:
        waited = 0.0
        while True:
            try:
                return self._answer(chunk, why, open_requests)
            except QuotaExceededError as exc:
                seconds = retry_after(exc)
                if seconds is None or waited + seconds > max_wait_s:
                    raise
                if on_wait is not None:
                    on_wait(seconds)
                sleep(seconds)
                waited += seconds

    def _answer(self, chunk: Sequence[Record], why: Justification, open_requests: bool) -> list[CheckReport]:
        """One report per candidate of ``chunk``: keyless ones answered here, the rest by the matcher.

        Candidates refused for a stale epoch are sent once more with freshly fetched epochs (their
        refusal charged and logged nothing, so resending checks nothing twice)."""
        reports = self._send(chunk, why, open_requests, self._epochs(), range(len(chunk)))
        stale = [i for i, r in enumerate(reports) if r.error is not None and r.error.code == STALE_EPOCH_CODE]
        if stale:
            again = self._send(chunk, why, open_requests, self._epochs(refresh=True), stale)
            for i, report in zip(stale, again, strict=True):
                reports[i] = report
        return reports

    def _send(
        self,
        chunk: Sequence[Record],
        why: Justification,
        open_requests: bool,
        epochs: list[int],
        which: Iterable[int],
    ) -> list[CheckReport]:
        """The reports of ``chunk[i]`` for each ``i`` in ``which``, in that order."""
        picked = list(which)
        tokenisers = self._tokenisers(epochs)
        packed = [packed_candidate(chunk[i], tokenisers) for i in picked]
        sent = [c for c in packed if c is not None]
        answered: list[CheckReport] = []
        if sent:
            try:
                answered = self._call_batch(sent, why, open_requests)
            except PreconditionError:
                # A matcher that still refuses a whole batch for a stale epoch: refresh and resend once.
                tokenisers = self._tokenisers(self._epochs(refresh=True))
                packed = [packed_candidate(chunk[i], tokenisers) for i in picked]
                sent = [c for c in packed if c is not None]
                answered = self._call_batch(sent, why, open_requests) if sent else []
        replies = iter(answered)
        return [next(replies) if c is not None else _unsent(KEYLESS) for c in packed]

    def _call_batch(
        self, candidates: list[Candidate], why: Justification, open_requests: bool
    ) -> list[CheckReport]:
        query = CheckQuery(
            candidates=tuple(candidates),
            justification=why,
            open_requests=open_requests,
            idempotency_key=new_idempotency_key(),
        )
        msg = self._conn.call(self._conn.matcher.CheckBatch, wire_matching.check_batch_request_to_pb(query))
        outcome = wire_matching.check_outcome_from_pb(msg)
        self._auditor.observe_head(outcome.tree_head)
        reports = list(outcome.reports())
        if len(reports) != len(candidates):
            raise CrossforceError(
                f"the matcher answered {len(reports)} results for {len(candidates)} candidates"
            )
        return reports

    def ping(self) -> None:
        self._conn.call(self._conn.matcher.Ping, wire_matching.ping_request())
