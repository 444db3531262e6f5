"""Protobuf <-> domain conversions: every pair round-trips, and bad enum numbers are ValidationErrors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossforce.domain import (
    NAME_CLASS_UNLISTED,
    Alert,
    Candidate,
    CheckOutcome,
    CheckQuery,
    CheckResult,
    ConsistencyProof,
    DisclosureRequest,
    ForceHit,
    InclusionProof,
    IndexStatus,
    Justification,
    KeyRegistration,
    LogEntry,
    LogKey,
    MatcherStatus,
    OperatorReport,
    Organisation,
    OverdueReport,
    Party,
    PublishReceipt,
    QueryToken,
    RefusalReason,
    Registered,
    RequestState,
    SealedDisclosure,
    SignedTreeHead,
    TokenBlock,
    TreeHead,
)
from crossforce.errors import ValidationError
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire import audit, common, disclosure, index, matching, operations, registry

U32 = st.integers(min_value=0, max_value=2**32 - 1)
U63 = st.integers(min_value=0, max_value=2**63 - 1)
TEXT = st.text(max_size=40)
BYTES = st.binary(max_size=40)
HASH = st.binary(min_size=32, max_size=32)

tokens = st.builds(QueryToken, key_type=U32, epoch=U32, token=HASH)
whys = st.builds(Justification, purpose=TEXT, legal_basis=TEXT, case_reference=TEXT, officer_id=TEXT)
heads = st.builds(
    SignedTreeHead,
    head=st.builds(TreeHead, tree_size=U63, timestamp_ms=U63, root_hash=HASH),
    signature=st.binary(min_size=64, max_size=64),
)
hits = st.builds(
    ForceHit,
    org=TEXT,
    strength=st.integers(min_value=0, max_value=3),
    key_types=st.lists(U32, max_size=5).map(tuple),
    request_id=TEXT,
    probability=st.floats(min_value=0.0, max_value=1.0),
)
CLASSES = st.integers(min_value=0, max_value=NAME_CLASS_UNLISTED)
blocks = st.integers(min_value=0, max_value=4).flatmap(
    lambda n: st.builds(
        TokenBlock,
        epoch=U32,
        key_types=st.binary(min_size=n, max_size=n),
        tokens=st.binary(min_size=32 * n, max_size=32 * n),
    )
)
candidates = st.builds(
    Candidate,
    blocks=st.lists(blocks, max_size=3).map(tuple),
    forename_class=CLASSES,
    surname_class=CLASSES,
)
results = st.builds(CheckResult, check_id=TEXT, hits=st.lists(hits, max_size=3).map(tuple))
statuses = st.builds(
    IndexStatus,
    org=TEXT,
    epoch=U32,
    version=U63,
    record_count=U63,
    token_count=U63,
    size_bytes=U63,
    published_at_ms=U63,
    expires_at_ms=U63,
    stale=st.booleans(),
    stale_reason=TEXT,
)
orgs = st.builds(
    Organisation,
    org=TEXT,
    display_name=TEXT,
    signing_key=BYTES,
    box_key=BYTES,
    key_version=U63,
    registered_at_ms=U63,
    log_index=U63,
)
requests = st.builds(
    DisclosureRequest,
    request_id=TEXT,
    check_id=TEXT,
    requester_org=TEXT,
    holder_org=TEXT,
    justification=whys,
    matched_tokens=st.lists(tokens, max_size=3).map(tuple),
    key_types=st.lists(U32, max_size=3).map(tuple),
    strength=st.integers(min_value=0, max_value=3),
    state=st.sampled_from(RequestState),
    created_at_ms=U63,
    deadline_ms=U63,
    updated_at_ms=U63,
    overdue=st.booleans(),
    refusal_reason=st.sampled_from(RefusalReason),
    log_index=U63,
    probability=st.floats(min_value=0.0, max_value=1.0),
)
hashes = st.lists(HASH, max_size=4).map(tuple)

PAIRS: list[tuple[str, Any, Callable[[Any], Any], Callable[[Any], Any]]] = [
    ("token", tokens, common.token_to_pb, common.token_from_pb),
    ("justification", whys, common.justification_to_pb, common.justification_from_pb),
    ("tree head", heads, common.tree_head_to_pb, common.tree_head_from_pb),
    (
        "key registration",
        st.builds(
            KeyRegistration, org=TEXT, signing_key=BYTES, box_key=BYTES, proof=BYTES, display_name=TEXT
        ),
        registry.key_registration_to_pb,
        registry.key_registration_from_pb,
    ),
    ("organisation", orgs, registry.organisation_to_pb, registry.organisation_from_pb),
    (
        "registered",
        st.builds(Registered, organisation=orgs, tree_head=heads),
        registry.registered_to_pb,
        registry.registered_from_pb,
    ),
    (
        "organisations",
        st.lists(orgs, max_size=3).map(tuple),
        registry.organisations_to_pb,
        # No production reader (the SDK never lists organisations): read back one by one.
        lambda msg: tuple(registry.organisation_from_pb(o) for o in msg.organisations),
    ),
    ("index status", statuses, index.index_status_to_pb, index.index_status_from_pb),
    (
        "matcher status",
        st.builds(
            MatcherStatus,
            indexes=st.lists(statuses, max_size=3).map(tuple),
            current_epoch=U32,
            active_epochs=st.lists(U32, max_size=3).map(tuple),
            registered_orgs=st.lists(TEXT, max_size=3).map(tuple),
        ),
        index.matcher_status_to_pb,
        index.matcher_status_from_pb,
    ),
    (
        "publish receipt",
        st.builds(PublishReceipt, org=TEXT, epoch=U32, version=U63, log_index=U63, tree_head=heads),
        index.publish_receipt_to_pb,
        index.publish_receipt_from_pb,
    ),
    ("hit", hits, matching.hit_to_pb, matching.hit_from_pb),
    ("check result", results, matching.check_result_to_pb, matching.check_result_from_pb),
    (
        "check batch query",
        st.builds(
            CheckQuery,
            candidates=st.lists(candidates, max_size=3).map(tuple),
            justification=whys,
            open_requests=st.booleans(),
        ),
        matching.check_batch_request_to_pb,
        matching.check_query_from_pb,
    ),
    (
        "single check query",
        st.builds(
            CheckQuery,
            candidates=candidates.map(lambda c: (c,)),
            justification=whys,
            open_requests=st.booleans(),
        ),
        matching.check_request_to_pb,
        matching.check_query_from_pb,
    ),
    (
        "check batch outcome",
        st.builds(
            CheckOutcome,
            results=st.lists(results, max_size=3).map(tuple),
            forces_searched=U32,
            stale_orgs=st.lists(TEXT, max_size=3).map(tuple),
            tree_head=heads,
        ),
        matching.check_batch_response_to_pb,
        matching.check_outcome_from_pb,
    ),
    (
        "single check outcome",
        st.builds(
            CheckOutcome,
            results=results.map(lambda r: (r,)),
            forces_searched=U32,
            stale_orgs=st.lists(TEXT, max_size=3).map(tuple),
            tree_head=heads,
        ),
        matching.check_response_to_pb,
        matching.check_outcome_from_pb,
    ),
    (
        "disclosure request",
        requests,
        disclosure.disclosure_request_to_pb,
        disclosure.disclosure_request_from_pb,
    ),
    (
        "request list",
        st.lists(requests, max_size=3).map(tuple),
        disclosure.list_requests_response,
        disclosure.list_requests_from_pb,
    ),
    (
        "sealed disclosure",
        st.builds(
            SealedDisclosure,
            request_id=TEXT,
            requester_org=TEXT,
            holder_org=TEXT,
            sealed_payload=BYTES,
            payload_sha256=HASH,
            state=st.sampled_from(RequestState),
        ),
        disclosure.sealed_disclosure_to_pb,
        disclosure.sealed_disclosure_from_pb,
    ),
    (
        "overdue report",
        st.builds(OverdueReport, requests=st.lists(requests, max_size=3).map(tuple), generated_at_ms=U63),
        disclosure.overdue_report_to_pb,
        disclosure.overdue_report_from_pb,
    ),
    (
        "consistency proof",
        st.builds(ConsistencyProof, first=U63, second=U63, hashes=hashes),
        audit.consistency_proof_to_pb,
        audit.consistency_proof_from_pb,
    ),
    (
        "inclusion proof",
        st.builds(InclusionProof, leaf_index=U63, tree_size=U63, hashes=hashes, entry=BYTES),
        audit.inclusion_proof_to_pb,
        audit.inclusion_proof_from_pb,
    ),
    (
        "log entries",
        st.lists(st.builds(LogEntry, index=U63, leaf_hash=HASH, entry=BYTES), max_size=3).map(tuple),
        audit.entries_to_pb,
        audit.entries_from_pb,
    ),
    ("log key", st.builds(LogKey, public_key=HASH, log_id=TEXT), audit.log_key_to_pb, audit.log_key_from_pb),
    (
        "operator report",
        st.builds(
            OperatorReport,
            alerts=st.lists(st.builds(Alert, at_ms=U63, org=TEXT, kind=TEXT, detail=TEXT), max_size=3).map(
                tuple
            ),
            overdue_requests=U32,
            log_size=U63,
            indexes=st.lists(statuses, max_size=3).map(tuple),
        ),
        operations.operator_report_to_pb,
        operations.operator_report_from_pb,
    ),
]


@pytest.mark.parametrize(("strategy", "to_pb", "from_pb"), [p[1:] for p in PAIRS], ids=[p[0] for p in PAIRS])
def test_round_trip_through_the_wire_bytes(strategy: Any, to_pb: Any, from_pb: Any) -> None:
    @given(strategy)
    def check(value: Any) -> None:
        msg = to_pb(value)
        reparsed = type(msg).FromString(msg.SerializeToString())
        assert from_pb(reparsed) == value

    check()


def test_enums_carry_the_proto_numbers() -> None:
    assert {s.name: int(s) for s in RequestState} == {
        k: v for k, v in pb.RequestState.items() if k != "REQUEST_STATE_UNSPECIFIED"
    }
    assert {r.name: int(r) for r in RefusalReason} == {
        k.removeprefix("REFUSAL_REASON_"): v for k, v in pb.RefusalReason.items()
    }
    assert {p.name: int(p) for p in Party} == {k: v for k, v in pb.Party.items() if k != "PARTY_UNSPECIFIED"}


@pytest.mark.parametrize("bad", [0, 7, 2**31 - 1])
def test_unknown_request_state_from_a_peer_is_a_validation_error(bad: int) -> None:
    msg = pb.SealedDisclosure(state=pb.RequestState.ValueType(bad))
    with pytest.raises(ValidationError, match="unknown request state"):
        disclosure.sealed_disclosure_from_pb(msg)


@pytest.mark.parametrize("bad", [0, 3, -1])
def test_party_must_be_holder_or_requester(bad: int) -> None:
    with pytest.raises(ValidationError, match="party must be HOLDER or REQUESTER"):
        disclosure.party_from_pb(bad)


@pytest.mark.parametrize("bad", [0, 6, 99])
def test_refusal_without_a_real_reason_is_refused(bad: int) -> None:
    with pytest.raises(ValidationError, match="reason must be one of NOT_RELEVANT"):
        disclosure.refusal_from_pb(bad)


def test_states_from_a_list_request_are_distinct_and_sorted() -> None:
    assert disclosure.states_from_pb([4, 1, 4]) == (RequestState.OPEN, RequestState.APPROVED)
    with pytest.raises(ValidationError, match="unknown request state 9"):
        disclosure.states_from_pb([1, 9])


def test_single_check_wire_carries_exactly_one_candidate() -> None:
    why = Justification("p", "l", "c", "o")
    two = CheckQuery(candidates=(Candidate(()), Candidate(())), justification=why, open_requests=False)
    with pytest.raises(ValidationError):
        matching.check_request_to_pb(two)


def test_candidate_tokens_are_packed_not_a_message_per_token() -> None:
    """Issue 20: a candidate's tokens travel as two bytes fields per epoch, so its wire size is the
    tokens plus a few bytes of framing, not a message (key type, epoch, length) per token."""
    tokens = [QueryToken(key_type=16 + i % 4, epoch=7, token=bytes([i]) * 32) for i in range(25)]
    msg = matching.candidate_to_pb(Candidate.of(tokens, forename_class=2, surname_class=5))
    assert len(msg.blocks) == 1
    assert msg.blocks[0].key_types == bytes(t.key_type for t in tokens)
    assert msg.blocks[0].tokens == b"".join(t.token for t in tokens)
    assert (msg.forename_class, msg.surname_class) == (2, 5)
    assert len(msg.SerializeToString()) <= 25 * 33 + 16


def test_candidate_tokens_come_back_in_order_with_their_epochs() -> None:
    tokens = [QueryToken(1, 8, b"a" * 32), QueryToken(16, 7, b"b" * 32), QueryToken(2, 8, b"c" * 32)]
    sent = Candidate.of(tokens)
    back = matching.candidate_from_pb(
        pb.Candidate.FromString(matching.candidate_to_pb(sent).SerializeToString())
    )
    assert back.query_tokens() == (tokens[0], tokens[2], tokens[1])


@pytest.mark.parametrize(
    ("key_types", "token_bytes"),
    [(b"\x01", b"x" * 31), (b"\x01", b"x" * 33), (b"\x01\x02", b"x" * 32), (b"", b"x" * 32)],
)
def test_block_whose_bytes_do_not_frame_whole_tokens_is_refused_naming_it(
    key_types: bytes, token_bytes: bytes
) -> None:
    """A token that straddles the framing (a short or long tokens field, a key type with no token, a
    token with no key type) must not be read as some other token: the request names where it broke."""
    good = pb.TokenBlock(epoch=1, key_types=b"\x01", tokens=b"y" * 32)
    bad = pb.TokenBlock(epoch=2, key_types=key_types, tokens=token_bytes)
    msg = pb.CheckBatchRequest(candidates=[pb.Candidate(blocks=[good]), pb.Candidate(blocks=[good, bad])])
    with pytest.raises(ValidationError, match="candidate 1 block 1"):
        matching.check_query_from_pb(msg)


@pytest.mark.parametrize("field", ["forename_class", "surname_class"])
@pytest.mark.parametrize("value", [NAME_CLASS_UNLISTED + 1, 2**32 - 1])
def test_name_class_outside_the_spec_range_is_refused_naming_the_candidate(field: str, value: int) -> None:
    """A class claimed beyond "unlisted" would make every agreement look rarer than any real name."""
    cand = pb.Candidate(blocks=[pb.TokenBlock(epoch=1, key_types=b"\x01", tokens=b"y" * 32)])
    setattr(cand, field, value)
    with pytest.raises(ValidationError, match=f"candidate 0: {field.removesuffix('_class')} class {value}"):
        matching.check_query_from_pb(pb.CheckRequest(candidate=cand))


def test_hit_probability_crosses_the_wire_exactly() -> None:
    hit = ForceHit(org="kent", strength=3, key_types=(1, 16), probability=0.9731)
    assert matching.hit_from_pb(pb.ForceHit.FromString(matching.hit_to_pb(hit).SerializeToString())) == hit


@pytest.mark.parametrize("bad", [-0.01, 1.5, float("nan"), float("inf")])
def test_hit_probability_outside_zero_to_one_is_refused_not_shown(bad: float) -> None:
    with pytest.raises(ValidationError, match="probability"):
        matching.hit_from_pb(pb.ForceHit(org="kent", strength=3, probability=bad))


def test_tree_head_with_a_short_root_is_refused() -> None:
    with pytest.raises(ValidationError):
        common.tree_head_from_pb(pb.SignedTreeHead(tree_size=1, root_hash=b"\x00" * 31))


def test_publish_stream_frames_header_then_bits_and_back() -> None:
    bits = bytes(range(256)) * 5
    chunks = list(index.publish_chunks(b"header", b"sig", bits, chunk_bytes=300))
    assert index.signed_header_from_chunk(chunks[0]) == (b"header", b"sig")
    assert b"".join(index.bits_from_chunk(c) for c in chunks[1:]) == bits
    assert all(len(c.bits) <= 300 for c in chunks[1:])


def test_publish_stream_must_start_with_a_header_and_never_repeat_it() -> None:
    with pytest.raises(ValidationError, match="first message"):
        index.signed_header_from_chunk(None)
    with pytest.raises(ValidationError, match="first message"):
        index.signed_header_from_chunk(pb.PublishChunk(bits=b"x"))
    header = pb.PublishChunk(header=pb.SignedIndexHeader(header=b"h", signature=b"s"))
    with pytest.raises(ValidationError, match="only bits"):
        index.bits_from_chunk(header)
