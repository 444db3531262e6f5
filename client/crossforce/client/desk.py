"""The disclosure desk: requests against this force (holder) and disclosures addressed to it (requester).

The holder resolves a request's matched tokens against its own token store (tokens that resolve to no
record are Bloom false positives: "no match", nothing disclosed), then approves with a payload signed by
it and sealed to the requester's pinned box key, or refuses with a reason. The matcher relays only
ciphertext; the requester checks the digest the holder approved, then opens and verifies the payload
against the holder's pinned signing key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

from crossforce.client.auditing import AuditReader
from crossforce.client.connection import Connection
from crossforce.client.profile import Profile
from crossforce.client.tokenstore import TokenStore
from crossforce.crypto import sealed
from crossforce.domain import DisclosureRequest, OverdueReport, Party, RefusalReason, RequestState, Resolution
from crossforce.encoding.records import Record
from crossforce.errors import VerificationError
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
    ) -> None:
        self._conn = connection
        self._profile = profile
        self._auditor = auditor
        self._token_store = token_store

    # ------------------------------------------------------------------ both sides
    def list_requests(
        self, *, as_holder: bool, states: Sequence[RequestState | int] = (), limit: int = 0
    ) -> list[DisclosureRequest]:
        """Requests against this force (``as_holder``) or opened by this organisation; 0: server maximum."""
        party = Party.HOLDER if as_holder else Party.REQUESTER
        msg = self._conn.call(
            self._conn.disclosure.ListRequests, wire_disclosure.list_requests_request(party, states, limit)
        )
        return list(wire_disclosure.list_requests_from_pb(msg))

    def watch_requests(self, *, timeout: float | None = None) -> Iterator[DisclosureRequest]:
        """New requests against this force as they open, until ``timeout`` (then the iterator ends)."""
        for msg in self._conn.stream(
            self._conn.disclosure.WatchRequests, wire_disclosure.watch_requests_request(), timeout=timeout
        ):
            yield wire_disclosure.disclosure_request_from_pb(msg)

    def get_request(self, request_id: str) -> DisclosureRequest:
        msg = self._conn.call(
            self._conn.disclosure.GetRequest, wire_disclosure.get_request_request(request_id)
        )
        return wire_disclosure.disclosure_request_from_pb(msg)

    def overdue_report(self) -> OverdueReport:
        msg = self._conn.call(self._conn.disclosure.OverdueReport, wire_disclosure.overdue_report_request())
        return wire_disclosure.overdue_report_from_pb(msg)

    # ------------------------------------------------------------------ holder
    def local_matches(self, request: DisclosureRequest) -> tuple[Record, ...]:
        """This force's records the request's matched tokens resolve to (empty: a Bloom false positive)."""
        store = self._token_store()
        found = store.resolve((t.key_type, t.epoch, t.token) for t in request.matched_tokens)
        return tuple(r for rid in sorted(found) if (r := store.record(rid)) is not None)

    def resolve(self, request_id: str) -> Resolution:
        """Resolve a request's tokens against the local store; confirm or clear it on the matcher."""
        records = self.local_matches(self.get_request(request_id))
        msg = self._conn.call(
            self._conn.disclosure.Resolve,
            wire_disclosure.resolve_request(request_id, confirmed=bool(records)),
        )
        updated = wire_disclosure.disclosure_request_from_pb(msg)
        return Resolution(request=updated, confirmed=bool(records), records=records)

    def approve(
        self, request_id: str, payload: sealed.DisclosurePayload, *, officer_id: str
    ) -> DisclosureRequest:
        """Seal ``payload`` to the requester's pinned box key, signed by this force, and approve."""
        req = self.get_request(request_id)
        requester = self._auditor.organisation_keys(req.requester_org)
        blob = sealed.seal(
            payload=payload,
            request_id=req.request_id,
            holder_org=req.holder_org,
            requester_org=req.requester_org,
            holder_signing=self._profile.org_keys().signing,
            requester_box_public=requester.box_key,
        )
        msg = self._conn.call(
            self._conn.disclosure.Approve,
            wire_disclosure.approve_request(request_id, sealed_payload=blob, officer_id=officer_id),
        )
        return wire_disclosure.disclosure_request_from_pb(msg)

    def refuse(self, request_id: str, reason: RefusalReason | int, *, officer_id: str) -> DisclosureRequest:
        msg = self._conn.call(
            self._conn.disclosure.Refuse,
            wire_disclosure.refuse_request(request_id, reason=reason, officer_id=officer_id),
        )
        return wire_disclosure.disclosure_request_from_pb(msg)

    # ------------------------------------------------------------------ requester
    def fetch_disclosure(self, request_id: str) -> sealed.DisclosurePayload:
        """Fetch, decrypt and verify an approved disclosure addressed to this organisation."""
        msg = self._conn.call(
            self._conn.disclosure.FetchDisclosure, wire_disclosure.fetch_disclosure_request(request_id)
        )
        got = wire_disclosure.sealed_disclosure_from_pb(msg)
        if hashlib.sha256(got.sealed_payload).digest() != got.payload_sha256:
            raise VerificationError(
                "the disclosure's ciphertext does not match the digest the holder approved"
            )
        holder = self._auditor.organisation_keys(got.holder_org)
        return sealed.open_sealed(
            sealed=got.sealed_payload,
            request_id=request_id,
            holder_org=got.holder_org,
            requester_org=self._profile.org,
            requester_box=self._profile.org_keys().box,
            holder_signing_public=holder.signing_key,
        )
