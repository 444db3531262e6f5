"""The disclosure desk: requests against this force (holder) and disclosures addressed to it (requester).

The holder resolves a request's matched tokens against its own token store to one person
(``crossforce.client.holding``: which generation, which person, what is kept once the matcher forgets
the tokens), then approves with a payload signed by it and sealed to the requester's pinned box key, or
refuses with a reason. The matcher relays only ciphertext; the requester checks the digest the holder
approved, then opens and verifies the payload against the holder's pinned signing key.

Sealing binds the requester's pinned box key and key version into the signed
statement; on fetch the requester checks that statement names its own key and registered version, and
proves by an inclusion proof that the holder's approval event in the log carries the SHA-256 of the
ciphertext it fetched (docs/threat-model.md: "the operator re-seals a disclosure it read").

Every ``request_id`` may be a prefix of at least 6 hex characters: the matcher resolves it among the
requests this organisation may see. Once a request is fetched, later calls and the sealed payload use its
full id, and an answer for a request whose id does not start with what was asked is refused.

Each decision (resolve, approve, refuse) carries an idempotency key of its own, kept on every retry of
it (``retries``): a decision whose answer was lost can be sent again, to any matcher sharing the
database, and comes back with the request as it now is instead of "cannot approve an APPROVED request".

A watch outlives its stream (``follow_watch``): the matcher closes every connection at its maximum age
and restarts on a deploy, so a lost stream is reopened after a jittered pause, and the backlog the
matcher sends again is not yielded twice.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator, Sequence

from crossforce.auditlog.events import DisclosureTransition, parse_event
from crossforce.client import retries
from crossforce.client.auditing import AuditReader
from crossforce.client.connection import Connection
from crossforce.client.holding import LocalResolver
from crossforce.client.personpick import PersonPick
from crossforce.client.profile import Profile
from crossforce.client.retries import new_idempotency_key
from crossforce.client.tokenstore import TokenStore
from crossforce.crypto import sealed
from crossforce.domain import (
    DisclosureRequest,
    OverdueReport,
    Party,
    RefusalReason,
    RequestState,
    Resolution,
)
from crossforce.encoding.records import Record
from crossforce.errors import CrossforceError, UnavailableError, ValidationError, VerificationError
from crossforce.wire import disclosure as wire_disclosure


class DisclosureDesk:
    """One organisation's side of the disclosure broker."""

    def __init__(
        self,
        *,
        connection: Connection,
        profile: Profile,
        auditor: AuditReader,
        token_store: Callable[[], TokenStore],
        reconcile: Callable[[], object] | None = None,
    ) -> None:
        """``reconcile``: settles staged generations with the matcher before a request is resolved."""
        self._conn = connection
        self._profile = profile
        self._auditor = auditor
        self._resolver = LocalResolver(
            connection=connection, profile=profile, token_store=token_store, reconcile=reconcile
        )

    # ------------------------------------------------------------------ both sides
    def list_requests(
        self, *, as_holder: bool, states: Sequence[RequestState | int] = (), limit: int = 0
    ) -> list[DisclosureRequest]:
        """Requests against this force (``as_holder``) or opened by this organisation, urgent first, then
        by deadline: every one (paging through the server's pages), or the first ``limit`` if not 0."""
        found: list[DisclosureRequest] = []
        token = ""
        while True:
            want = 0 if not limit else limit - len(found)
            page, token = self.list_requests_page(
                as_holder=as_holder, states=states, limit=want, page_token=token
            )
            found += page
            if not token or not page or (limit and len(found) >= limit):
                return found[:limit] if limit else found

    def list_requests_page(
        self,
        *,
        as_holder: bool,
        states: Sequence[RequestState | int] = (),
        limit: int = 0,
        page_token: str = "",
    ) -> tuple[list[DisclosureRequest], str]:
        """One page (``limit`` 0: the server's page size) after ``page_token`` (empty: the first), and the
        token of the next page (empty after the last)."""
        party = Party.HOLDER if as_holder else Party.REQUESTER
        request = wire_disclosure.list_requests_request(party, states, limit)
        request.page_token = page_token
        msg = self._conn.call(self._conn.disclosure.ListRequests, request)
        return list(wire_disclosure.list_requests_from_pb(msg)), msg.next_page_token

    def watch_requests(
        self,
        *,
        timeout: float | None = None,
        as_holder: bool = True,
        states: Sequence[RequestState | int] = (),
        on_reopen: OnReopen | None = None,
    ) -> Iterator[DisclosureRequest]:
        """Requests as they change state, the current backlog first, until ``timeout`` (then the iterator
        ends): against this force (``as_holder``; default states: open) or opened by this organisation
        (default: every state, so each decision arrives as it is made).

        A lost stream (the matcher restarting, or closing the connection at its maximum age) is reopened
        (``follow_watch``); ``on_reopen(error, pause_s)`` is told each time, before the pause."""
        party = Party.HOLDER if as_holder else Party.REQUESTER
        request = wire_disclosure.watch_requests_request(states, party=party)

        def open_stream(left: float | None) -> Iterator[DisclosureRequest]:
            for msg in self._conn.stream(self._conn.disclosure.WatchRequests, request, timeout=left):
                yield wire_disclosure.disclosure_request_from_pb(msg)

        return follow_watch(open_stream, timeout=timeout, on_reopen=on_reopen)

    def get_request(self, request_id: str) -> DisclosureRequest:
        """The request ``request_id`` (a full id or a prefix of 6+ hex characters) names."""
        msg = self._conn.call(
            self._conn.disclosure.GetRequest, wire_disclosure.get_request_request(request_id)
        )
        return _answering(request_id, wire_disclosure.disclosure_request_from_pb(msg))

    def overdue_report(self) -> OverdueReport:
        msg = self._conn.call(self._conn.disclosure.OverdueReport, wire_disclosure.overdue_report_request())
        return wire_disclosure.overdue_report_from_pb(msg)

    # ------------------------------------------------------------------ holder
    def person_pick(self, request: DisclosureRequest) -> PersonPick:
        """Every local record the request touched, scored, and the one person it names (read only;
        ``LocalResolver.person_pick``)."""
        return self._resolver.person_pick(request)

    def local_matches(self, request: DisclosureRequest) -> tuple[Record, ...]:
        """The one person's records the request would disclose, in the generation of the index version
        it matched (empty: a Bloom false positive).

        Raises ``GenerationGoneError`` (and nothing is resolved) when that generation is not held, and
        ``AmbiguousPersonError`` when the tokens name no one person. A request resolved already (the
        matcher has forgotten its tokens) gives the records kept when it was.
        """
        return self._resolver.local_matches(request)

    def resolve(self, request_id: str, *, record_id: str | None = None) -> Resolution:
        """Resolve a request's tokens against the local store to one person; confirm or clear it on the
        matcher. ``record_id``: the officer's choice when the tokens name no one person.

        A request whose generation is not held raises ``GenerationGoneError``, an ambiguous one without a
        choice ``AmbiguousPersonError``; either stays open.
        """
        return self._resolver.resolve(self.get_request(request_id), record_id=record_id)

    def approve(
        self, request_id: str, payload: sealed.DisclosurePayload, *, officer_id: str
    ) -> DisclosureRequest:
        """Seal ``payload`` to the requester's pinned box key and key version (both signed into the
        statement), signed by this force, and approve; then check the approval the log recorded carries
        the digest of what was sent."""
        req = self.get_request(request_id)
        requester = self._auditor.organisation_keys(req.requester_org)
        blob = sealed.seal(
            payload=payload,
            request_id=req.request_id,
            holder_org=req.holder_org,
            requester_org=req.requester_org,
            holder_signing=self._profile.org_keys().signing,
            requester_box_public=requester.box_key,
            requester_key_version=requester.key_version,
        )
        msg = self._conn.call(
            self._conn.disclosure.Approve,
            wire_disclosure.approve_request(
                req.request_id,
                sealed_payload=blob,
                officer_id=officer_id,
                idempotency_key=new_idempotency_key(),
            ),
        )
        done = _answering(req.request_id, wire_disclosure.disclosure_request_from_pb(msg))
        if done.state is RequestState.APPROVED:
            self._check_logged_approval(done.log_index, done.request_id, blob, holder_org=self._profile.org)
        return done

    def refuse(self, request_id: str, reason: RefusalReason | int, *, officer_id: str) -> DisclosureRequest:
        msg = self._conn.call(
            self._conn.disclosure.Refuse,
            wire_disclosure.refuse_request(
                request_id, reason=reason, officer_id=officer_id, idempotency_key=new_idempotency_key()
            ),
        )
        return _answering(request_id, wire_disclosure.disclosure_request_from_pb(msg))

    # ------------------------------------------------------------------ requester
    def fetch_disclosure(self, request_id: str, *, allow_unbound: bool = False) -> sealed.DisclosurePayload:
        """Fetch, decrypt and verify an approved disclosure addressed to this organisation."""
        return self.open_disclosure(request_id, allow_unbound=allow_unbound).payload

    def open_disclosure(self, request_id: str, *, allow_unbound: bool = False) -> sealed.OpenedDisclosure:
        """Fetch an approved disclosure and verify everything about it before returning it:

        1. the ciphertext's digest as relayed, and the holder's approval event in the log (proved
           included under a head consistent with the ones this profile kept) carries that same digest;
        2. the holder's signature under its pinned key, and the request, both organisations and the
           payload digest it signs;
        3. the box key and key version the holder signed are this organisation's own key (the one that
           decrypted) and its registered version: a frame sealed to another key and re-sealed to us
           (the operator, after swapping our registered keys) is refused.

        ``allow_unbound`` opens a disclosure sealed before recipient binding (format version 1, with no
        approval log index); the result says it is not recipient-bound.
        """
        keys = self._profile.org_keys()  # first: a fetch marks the request delivered, so fail before it
        msg = self._conn.call(
            self._conn.disclosure.FetchDisclosure, wire_disclosure.fetch_disclosure_request(request_id)
        )
        got = wire_disclosure.sealed_disclosure_from_pb(msg)
        _check_answer(request_id, got.request_id)
        if hashlib.sha256(got.sealed_payload).digest() != got.payload_sha256:
            raise VerificationError(
                "the disclosure's ciphertext does not match the digest the holder approved"
            )
        if got.approval_log_index or not allow_unbound:
            self._check_logged_approval(
                got.approval_log_index, got.request_id, got.sealed_payload, holder_org=got.holder_org
            )
        own = self._auditor.organisation_keys(self._profile.org)
        if own.box_key != keys.box_public:
            raise VerificationError(
                f"the registry shows a box key for {self._profile.org} (key version {own.key_version}) that "
                "is not this profile's: a key change this organisation did not make; nothing was opened"
            )
        holder = self._auditor.organisation_keys(got.holder_org)
        return sealed.open_sealed(
            sealed=got.sealed_payload,
            request_id=got.request_id,
            holder_org=got.holder_org,
            requester_org=self._profile.org,
            requester_box=keys.box,
            requester_key_version=own.key_version,
            holder_signing_public=holder.signing_key,
            allow_unbound=allow_unbound,
        )

    def _check_logged_approval(
        self, index: int, request_id: str, ciphertext: bytes, *, holder_org: str
    ) -> None:
        """The approval of ``request_id`` is in the log at ``index`` (inclusion proved against a verified
        head) and carries the SHA-256 of ``ciphertext``, computed the way the matcher logs it: over the
        sealed bytes exactly as approved (``sealed.sealed_sha256``). VerificationError otherwise."""
        if index <= 0:
            raise VerificationError(
                f"the matcher gave no audit entry for the approval of {request_id}: the ciphertext cannot "
                "be checked against the log (a disclosure approved before this release opens only with "
                "--allow-unbound)"
            )
        proof = self._auditor.inclusion(index)
        if not proof.entry:
            raise VerificationError(f"the matcher withheld audit entry {index}, the approval of {request_id}")
        try:
            event = parse_event(proof.entry)
        except ValidationError as exc:
            raise VerificationError(f"audit entry {index} is not a well-formed event ({exc})") from None
        if not (
            isinstance(event, DisclosureTransition)
            and event.request_id == request_id
            and event.state_to == RequestState.APPROVED.name
            and event.holder_org == holder_org
            and event.actor_org == holder_org
        ):
            raise VerificationError(
                f"audit entry {index} is not {holder_org}'s approval of request {request_id}"
            )
        if event.payload_sha256 != sealed.sealed_sha256(ciphertext):
            raise VerificationError(
                f"the ciphertext served for request {request_id} is not the one whose digest the log "
                f"recorded at its approval (audit entry {index}): the matcher swapped it"
            )


OnReopen = Callable[[CrossforceError, float], None]
"""Told, before each pause, why a watch's stream was lost and how long until it is reopened."""
SEEN_LIMIT = 100_000
"""The most (request, state) pairs a watch remembers to skip in a re-sent backlog; the oldest are
forgotten first (a backlog is a page of the newest requests, far fewer)."""


def follow_watch(
    open_stream: Callable[[float | None], Iterator[DisclosureRequest]],
    *,
    timeout: float | None,
    on_reopen: OnReopen | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> Iterator[DisclosureRequest]:
    """Requests from ``open_stream(seconds_left)``, reopened when the stream is lost, each (request,
    state) yielded once, until ``timeout`` seconds have passed (None: until the caller stops).

    Lost means UNAVAILABLE, or an end before the timeout. A stream that never connected (it failed at
    once, delivering nothing) raises its error as it is: a wrong address or a matcher down when the
    watch starts is said now. Once connected, a lost stream is reopened after a jittered, capped pause
    (``retries.watch_backoff_s``), for up to ``retries.WATCH_GIVE_UP_S`` of failing attempts in a row,
    then UnavailableError. Every other error (revoked or unknown certificate, a role that may not watch)
    ends the watch at once. On reopening the matcher sends its backlog again; what was yielded already
    is skipped, so a caller sees each state change once and loses none.
    """
    deadline = None if timeout is None else clock() + timeout
    seen: dict[tuple[str, int], None] = {}
    connected = False
    failures = 0
    failing_since = 0.0
    while True:
        left = None if deadline is None else deadline - clock()
        if left is not None and left <= 0:
            return
        opened = clock()
        delivered = False
        lost: CrossforceError
        try:
            for req in open_stream(left):
                delivered = True
                key = (req.request_id, int(req.state))
                if key in seen:
                    continue
                seen[key] = None
                if len(seen) > SEEN_LIMIT:
                    del seen[next(iter(seen))]
                yield req
            if deadline is not None and clock() >= deadline:
                return
            lost = UnavailableError("the matcher ended the watch stream")
        except UnavailableError as exc:
            lost = exc
        if delivered or clock() - opened >= retries.WATCH_HELD_S:
            connected, failures = True, 0
        if not connected:
            raise lost
        failures += 1
        if failures == 1:
            failing_since = clock()
        elif clock() - failing_since > retries.WATCH_GIVE_UP_S:
            raise UnavailableError(
                f"the watch lost its stream and could not reopen it in {retries.WATCH_GIVE_UP_S:.0f} s "
                f"({failures - 1} attempts); last: {lost}"
            )
        pause = retries.watch_backoff_s(failures, rand)
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - clock()))
        if on_reopen is not None:
            on_reopen(lost, pause)
        sleep(pause)


def _check_answer(asked: str, answered: str) -> None:
    """Refuse an answer about another request than the one asked for (a prefix must start the id)."""
    if not answered.startswith(asked.strip().lower()):
        raise VerificationError(
            f"the matcher answered for request {answered[:32]} when asked for {asked[:32]}"
        )


def _answering(asked: str, request: DisclosureRequest) -> DisclosureRequest:
    _check_answer(asked, request.request_id)
    return request
