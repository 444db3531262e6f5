"""Matcher service messages: candidate checks (single and batch) and their outcomes.

A single ``Check`` is a batch of one in the domain (``CheckQuery`` with one candidate, ``CheckOutcome``
with one result), so the matcher has one check path whichever RPC was called.

A candidate's tokens travel packed (proto v2 ``TokenBlock``: one bytes field of key types, one of
tokens): reading a candidate costs a few bytes copies, not a message per token (issue 20). The framing is
checked here, before anything else sees it; what the tokens may be (types, counts, duplicates) is the
checking use case's.
"""

from __future__ import annotations

from crossforce.domain import (
    NAME_CLASS_COMMONEST,
    NAME_CLASS_UNLISTED,
    Candidate,
    CandidateError,
    CheckOutcome,
    CheckQuery,
    CheckResult,
    Coverage,
    ForceHit,
    NotSearchedReason,
    SearchedForce,
    TokenBlock,
    UnsearchedForce,
)
from crossforce.errors import ValidationError
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import (
    justification_from_pb,
    justification_to_pb,
    strength_to_pb,
    tree_head_from_pb,
    tree_head_to_pb,
)

TOKEN_BYTES = 32
"""Bytes per token in a ``TokenBlock`` (an HMAC-SHA256 output)."""


def candidate_to_pb(candidate: Candidate) -> pb.Candidate:
    return pb.Candidate(
        blocks=[
            pb.TokenBlock(epoch=b.epoch, key_types=b.key_types, tokens=b.tokens) for b in candidate.blocks
        ],
        forename_class=candidate.forename_class,
        surname_class=candidate.surname_class,
    )


def _name_class(value: int, which: str, slot: int) -> int:
    if not NAME_CLASS_COMMONEST <= value <= NAME_CLASS_UNLISTED:
        raise ValidationError(
            f"candidate {slot}: {which} class {value} is not one of "
            f"{NAME_CLASS_COMMONEST}..{NAME_CLASS_UNLISTED}"
        )
    return value


def _block_from_pb(msg: pb.TokenBlock, slot: int, index: int) -> TokenBlock:
    """A block whose bytes frame whole tokens: one key-type byte per 32-byte token, else a ValidationError
    naming the candidate and block (a length that does not agree cannot be read as tokens at all)."""
    key_types = msg.key_types
    tokens = msg.tokens
    if len(tokens) != TOKEN_BYTES * len(key_types):
        raise ValidationError(
            f"candidate {slot} block {index}: {len(tokens)} token bytes for {len(key_types)} key types "
            f"(want {TOKEN_BYTES} bytes per key type)"
        )
    return TokenBlock(epoch=msg.epoch, key_types=key_types, tokens=tokens)


def candidate_from_pb(msg: pb.Candidate, slot: int = 0) -> Candidate:
    """A candidate as sent; ``slot`` (its position in the request) names it in a ValidationError."""
    return Candidate(
        blocks=tuple(_block_from_pb(b, slot, i) for i, b in enumerate(msg.blocks)),
        forename_class=_name_class(msg.forename_class, "forename", slot),
        surname_class=_name_class(msg.surname_class, "surname", slot),
    )


def check_request_to_pb(query: CheckQuery) -> pb.CheckRequest:
    """A single check; a query of any other size is a ValidationError (use ``check_batch_request_to_pb``)."""
    if len(query.candidates) != 1:
        raise ValidationError(f"a single check carries one candidate, not {len(query.candidates)}")
    return pb.CheckRequest(
        candidate=candidate_to_pb(query.candidates[0]),
        justification=justification_to_pb(query.justification),
        open_requests=query.open_requests,
        idempotency_key=query.idempotency_key,
    )


def check_batch_request_to_pb(query: CheckQuery) -> pb.CheckBatchRequest:
    return pb.CheckBatchRequest(
        candidates=[candidate_to_pb(c) for c in query.candidates],
        justification=justification_to_pb(query.justification),
        open_requests=query.open_requests,
        idempotency_key=query.idempotency_key,
    )


def check_query_from_pb(msg: pb.CheckRequest | pb.CheckBatchRequest) -> CheckQuery:
    """Either check request as a query; a single ``Check`` becomes a batch of one."""
    cands = [msg.candidate] if isinstance(msg, pb.CheckRequest) else list(msg.candidates)
    return CheckQuery(
        candidates=tuple(candidate_from_pb(c, slot) for slot, c in enumerate(cands)),
        justification=justification_from_pb(msg.justification),
        open_requests=msg.open_requests,
        idempotency_key=msg.idempotency_key,
    )


def hit_to_pb(hit: ForceHit) -> pb.ForceHit:
    return pb.ForceHit(
        org=hit.org,
        strength=strength_to_pb(hit.strength),
        key_types=list(hit.key_types),
        request_id=hit.request_id,
        probability=hit.probability,
    )


def hit_from_pb(msg: pb.ForceHit) -> ForceHit:
    """A hit as the matcher sent it; a probability outside 0..1 (or NaN) is a ValidationError, never shown."""
    if not 0.0 <= msg.probability <= 1.0:
        raise ValidationError(f"hit at {msg.org}: probability {msg.probability} is not between 0 and 1")
    return ForceHit(
        org=msg.org,
        strength=int(msg.strength),
        key_types=tuple(msg.key_types),
        request_id=msg.request_id,
        probability=msg.probability,
    )


def check_result_to_pb(result: CheckResult) -> pb.CheckResult:
    msg = pb.CheckResult(check_id=result.check_id, hits=[hit_to_pb(h) for h in result.hits])
    if result.error is not None:
        msg.error.CopyFrom(pb.CandidateError(code=result.error.code, message=result.error.message))
    return msg


def check_result_from_pb(msg: pb.CheckResult) -> CheckResult:
    error = CandidateError(code=msg.error.code, message=msg.error.message) if msg.HasField("error") else None
    return CheckResult(check_id=msg.check_id, hits=tuple(hit_from_pb(h) for h in msg.hits), error=error)


COVERAGE_MESSAGES_KEPT = 16
"""Coverage answers whose message is kept (``_coverage_message``): one per view and token-epoch set."""
_coverage_messages: dict[int, tuple[Coverage, pb.Coverage]] = {}


def coverage_to_pb(coverage: Coverage) -> pb.Coverage:
    msg = pb.Coverage()
    msg.CopyFrom(_coverage_message(coverage))
    return msg


def _coverage_message(coverage: Coverage) -> pb.Coverage:
    """The message of ``coverage``, shared and never changed: callers copy it (a message field given to a
    constructor is copied). Why: every check's answer carries the coverage, the matcher hands every check
    the same ``Coverage`` object until the next publish or expiry (``ServingView.coverage``), and building
    43 forces' messages cost more than the rest of the answer (~0.1 ms); a copy costs a few microseconds.
    Kept by object identity (the object is held, so its id is not reused while kept)."""
    kept = _coverage_messages.get(id(coverage))
    if kept is not None and kept[0] is coverage:
        return kept[1]
    built = _build_coverage(coverage)
    if len(_coverage_messages) >= COVERAGE_MESSAGES_KEPT:
        _coverage_messages.clear()
    _coverage_messages[id(coverage)] = (coverage, built)
    return built


def _build_coverage(coverage: Coverage) -> pb.Coverage:
    return pb.Coverage(
        searched=[
            pb.SearchedForce(
                org=f.org,
                epoch=f.epoch,
                version=f.version,
                published_at_ms=f.published_at_ms,
                expires_at_ms=f.expires_at_ms,
            )
            for f in coverage.searched
        ],
        not_searched=[
            pb.UnsearchedForce(org=f.org, reason=pb.NotSearchedReason.ValueType(int(f.reason)))
            for f in coverage.not_searched
        ],
    )


def _reason_from_pb(value: int) -> NotSearchedReason:
    """An unknown reason number (from a newer matcher) still means "not searched", never "searched"."""
    try:
        return NotSearchedReason(value)
    except ValueError:
        return NotSearchedReason.UNSPECIFIED


def coverage_from_pb(msg: pb.Coverage) -> Coverage:
    return Coverage(
        searched=tuple(
            SearchedForce(
                org=f.org,
                epoch=f.epoch,
                version=f.version,
                published_at_ms=f.published_at_ms,
                expires_at_ms=f.expires_at_ms,
            )
            for f in msg.searched
        ),
        not_searched=tuple(
            UnsearchedForce(org=f.org, reason=_reason_from_pb(f.reason)) for f in msg.not_searched
        ),
    )


def check_response_to_pb(outcome: CheckOutcome) -> pb.CheckResponse:
    """The answer to a single ``Check``: the outcome must hold exactly one result."""
    if len(outcome.results) != 1:
        raise ValidationError(f"a single check answers one result, not {len(outcome.results)}")
    return pb.CheckResponse(
        result=check_result_to_pb(outcome.results[0]),
        forces_searched=outcome.forces_searched,
        stale_orgs=list(outcome.stale_orgs),
        tree_head=tree_head_to_pb(outcome.tree_head),
        coverage=_coverage_message(outcome.coverage),
    )


def check_batch_response_to_pb(outcome: CheckOutcome) -> pb.CheckBatchResponse:
    """The batch's answer. Most results are a check id alone (no hit, no error): those are added in place,
    where a built message given to the constructor is copied again (~1 µs a candidate of a 1,000 batch)."""
    msg = pb.CheckBatchResponse(
        forces_searched=outcome.forces_searched,
        stale_orgs=list(outcome.stale_orgs),
        tree_head=tree_head_to_pb(outcome.tree_head),
        coverage=_coverage_message(outcome.coverage),
    )
    results = msg.results
    for result in outcome.results:
        if result.hits or result.error is not None:
            results.append(check_result_to_pb(result))
        else:
            results.add(check_id=result.check_id)
    return msg


def check_outcome_from_pb(msg: pb.CheckResponse | pb.CheckBatchResponse) -> CheckOutcome:
    """Either check response as an outcome (a single ``Check`` has one result)."""
    results = [msg.result] if isinstance(msg, pb.CheckResponse) else list(msg.results)
    return CheckOutcome(
        results=tuple(check_result_from_pb(r) for r in results),
        forces_searched=msg.forces_searched,
        stale_orgs=tuple(msg.stale_orgs),
        tree_head=tree_head_from_pb(msg.tree_head),
        coverage=coverage_from_pb(msg.coverage),
    )


def ping_request() -> pb.PingRequest:
    return pb.PingRequest()
