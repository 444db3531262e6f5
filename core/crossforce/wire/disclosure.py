"""Disclosure service messages: requests as each party sees them, sealed disclosures, overdue reports.

The ``*_request`` builders are the SDK's side of each call; the servicer reads scalar fields itself and
converts enums here, so an unknown state, party or reason is refused the same way on every path.
"""

from __future__ import annotations

from collections.abc import Iterable

from crossforce.domain import (
    DisclosureRequest,
    IndexRef,
    OverdueReport,
    Party,
    RefusalReason,
    RequestState,
    SealedDisclosure,
)
from crossforce.errors import ValidationError
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import (
    justification_from_pb,
    justification_to_pb,
    refusal_reason_from_pb,
    refusal_reason_to_pb,
    request_state_from_pb,
    request_state_to_pb,
    strength_to_pb,
    tokens_from_pb,
    tokens_to_pb,
)

REFUSAL_CHOICES = tuple(r for r in RefusalReason if r is not RefusalReason.UNSPECIFIED)
"""The reasons a holder may give; UNSPECIFIED only ever means "not refused"."""


def disclosure_request_to_pb(req: DisclosureRequest) -> pb.DisclosureRequest:
    return pb.DisclosureRequest(
        request_id=req.request_id,
        check_id=req.check_id,
        requester_org=req.requester_org,
        holder_org=req.holder_org,
        justification=justification_to_pb(req.justification),
        matched_tokens=tokens_to_pb(req.matched_tokens),
        key_types=list(req.key_types),
        strength=strength_to_pb(req.strength),
        state=request_state_to_pb(req.state),
        created_at_ms=req.created_at_ms,
        deadline_ms=req.deadline_ms,
        updated_at_ms=req.updated_at_ms,
        overdue=req.overdue,
        refusal_reason=refusal_reason_to_pb(req.refusal_reason),
        log_index=req.log_index,
        matched_indexes=[pb.IndexRef(epoch=r.epoch, version=r.version) for r in req.matched_indexes],
        urgent=req.urgent,
        probability=req.probability,
    )


def disclosure_request_from_pb(msg: pb.DisclosureRequest) -> DisclosureRequest:
    return DisclosureRequest(
        request_id=msg.request_id,
        check_id=msg.check_id,
        requester_org=msg.requester_org,
        holder_org=msg.holder_org,
        justification=justification_from_pb(msg.justification),
        matched_tokens=tokens_from_pb(msg.matched_tokens),
        key_types=tuple(msg.key_types),
        strength=int(msg.strength),
        state=request_state_from_pb(msg.state),
        created_at_ms=msg.created_at_ms,
        deadline_ms=msg.deadline_ms,
        updated_at_ms=msg.updated_at_ms,
        overdue=msg.overdue,
        refusal_reason=refusal_reason_from_pb(msg.refusal_reason),
        log_index=msg.log_index,
        matched_indexes=tuple(IndexRef(epoch=r.epoch, version=r.version) for r in msg.matched_indexes),
        urgent=msg.urgent,
        probability=msg.probability,
    )


def disclosure_requests_from_pb(msgs: Iterable[pb.DisclosureRequest]) -> tuple[DisclosureRequest, ...]:
    return tuple(disclosure_request_from_pb(m) for m in msgs)


# ------------------------------------------------------------------ listing and watching
def list_requests_request(
    party: Party, states: Iterable[RequestState | int] = (), limit: int = 0
) -> pb.ListRequestsRequest:
    """``limit`` 0 means the server's maximum; no ``states`` means every state."""
    return pb.ListRequestsRequest(
        party=pb.Party.ValueType(int(party)),
        states=[pb.RequestState.ValueType(int(s)) for s in states],
        limit=limit,
    )


def party_from_pb(value: int) -> Party:
    try:
        return Party(value)
    except ValueError:
        raise ValidationError("party must be HOLDER or REQUESTER") from None


def states_from_pb(values: Iterable[int]) -> tuple[RequestState, ...]:
    """Distinct states, ascending; an unknown number is a ValidationError."""
    return tuple(sorted({request_state_from_pb(v) for v in values}))


def list_requests_response(requests: Iterable[DisclosureRequest]) -> pb.ListRequestsResponse:
    return pb.ListRequestsResponse(requests=[disclosure_request_to_pb(r) for r in requests])


def list_requests_from_pb(msg: pb.ListRequestsResponse) -> tuple[DisclosureRequest, ...]:
    return disclosure_requests_from_pb(msg.requests)


def watch_requests_request(
    states: Iterable[RequestState | int] = (), *, party: Party = Party.HOLDER
) -> pb.WatchRequestsRequest:
    """No ``states`` means OPEN only for a holder, every state for a requester (the server's defaults)."""
    return pb.WatchRequestsRequest(
        states=[pb.RequestState.ValueType(int(s)) for s in states], party=pb.Party.ValueType(int(party))
    )


def watch_party_from_pb(value: int) -> Party:
    """A watch's party: unspecified means HOLDER (what every watch was before requesters could watch)."""
    return Party.HOLDER if value == 0 else party_from_pb(value)


# ------------------------------------------------------------------ one request
def get_request_request(request_id: str) -> pb.GetRequestRequest:
    return pb.GetRequestRequest(request_id=request_id)


# A decision's ``idempotency_key`` (empty: none) is chosen once per decision and sent unchanged on every
# retry, so a decision that applied before its answer was lost is not refused when it arrives again.
def resolve_request(request_id: str, *, confirmed: bool, idempotency_key: str = "") -> pb.ResolveRequest:
    return pb.ResolveRequest(request_id=request_id, confirmed=confirmed, idempotency_key=idempotency_key)


def approve_request(
    request_id: str, *, sealed_payload: bytes, officer_id: str, idempotency_key: str = ""
) -> pb.ApproveRequest:
    return pb.ApproveRequest(
        request_id=request_id,
        sealed_payload=sealed_payload,
        officer_id=officer_id,
        idempotency_key=idempotency_key,
    )


def refuse_request(
    request_id: str, *, reason: RefusalReason | int, officer_id: str, idempotency_key: str = ""
) -> pb.RefuseRequest:
    return pb.RefuseRequest(
        request_id=request_id,
        reason=pb.RefusalReason.ValueType(int(reason)),
        officer_id=officer_id,
        idempotency_key=idempotency_key,
    )


def refusal_from_pb(value: int) -> RefusalReason:
    """A holder's refusal reason: one of ``REFUSAL_CHOICES``, else a ValidationError naming them."""
    if value not in {int(r) for r in REFUSAL_CHOICES}:
        raise ValidationError("reason must be one of " + ", ".join(r.name for r in REFUSAL_CHOICES))
    return RefusalReason(value)


def fetch_disclosure_request(request_id: str) -> pb.FetchDisclosureRequest:
    return pb.FetchDisclosureRequest(request_id=request_id)


def sealed_disclosure_to_pb(d: SealedDisclosure) -> pb.SealedDisclosure:
    return pb.SealedDisclosure(
        request_id=d.request_id,
        requester_org=d.requester_org,
        holder_org=d.holder_org,
        sealed_payload=d.sealed_payload,
        payload_sha256=d.payload_sha256,
        state=request_state_to_pb(d.state),
        approval_log_index=d.approval_log_index,
    )


def sealed_disclosure_from_pb(msg: pb.SealedDisclosure) -> SealedDisclosure:
    return SealedDisclosure(
        request_id=msg.request_id,
        requester_org=msg.requester_org,
        holder_org=msg.holder_org,
        sealed_payload=bytes(msg.sealed_payload),
        payload_sha256=bytes(msg.payload_sha256),
        state=request_state_from_pb(msg.state),
        approval_log_index=msg.approval_log_index,
    )


# ------------------------------------------------------------------ overdue report
def overdue_report_request() -> pb.OverdueReportRequest:
    return pb.OverdueReportRequest()


def overdue_report_to_pb(report: OverdueReport) -> pb.OverdueReportResponse:
    return pb.OverdueReportResponse(
        requests=[disclosure_request_to_pb(r) for r in report.requests],
        generated_at_ms=report.generated_at_ms,
    )


def overdue_report_from_pb(msg: pb.OverdueReportResponse) -> OverdueReport:
    return OverdueReport(
        requests=disclosure_requests_from_pb(msg.requests), generated_at_ms=msg.generated_at_ms
    )
