"""The matcher's side of idempotency keys: what a key may be, what a retry must match, what is stored."""

from __future__ import annotations

import dataclasses

import pytest

from crossforce.auditlog.treehead import SignedTreeHead, TreeHead
from crossforce.domain import (
    Candidate,
    CandidateError,
    CheckOutcome,
    CheckResult,
    Coverage,
    ForceHit,
    Justification,
    NotSearchedReason,
    QueryToken,
    SearchedForce,
    UnsearchedForce,
)
from crossforce.errors import PreconditionError, ValidationError
from crossforce.server.usecases import idempotency

WHY = Justification(purpose="p", legal_basis="b", case_reference="c", officer_id="o")
TOKENS = (QueryToken(1, 1, b"\x01" * 32), QueryToken(2, 1, b"\x02" * 32))
C = Candidate.of


HEAD = SignedTreeHead(head=TreeHead(tree_size=7, timestamp_ms=1, root_hash=b"\x00" * 32), signature=b"s")


def _digest(**changes: object) -> bytes:
    args: dict[str, object] = {"candidates": [C(TOKENS)], "why": WHY, "open_requests": True, "alone": True}
    args.update(changes)
    return idempotency.check_digest(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["0123456789abcdef", "A" * 64, "a-b_c-0123456789ABCDEF", ""])
def test_well_formed_keys_pass(key: str) -> None:
    assert idempotency.checked_key(key) == key


@pytest.mark.parametrize(
    "key", ["0123456789abcde", "a" * 65, "0123456789abcdef!", "0123456789abcdéf", "a b" * 8]
)
def test_malformed_keys_are_refused_without_quoting_them(key: str) -> None:
    with pytest.raises(ValidationError, match="idempotency_key") as caught:
        idempotency.checked_key(key)
    assert key not in str(caught.value)


def test_the_digest_covers_everything_that_decides_the_answer() -> None:
    first = _digest()
    assert _digest() == first
    changed = [
        _digest(alone=False),
        _digest(open_requests=False),
        _digest(why=dataclasses.replace(WHY, case_reference="c2")),
        _digest(candidates=[C(TOKENS[:1])]),
        _digest(candidates=[C(TOKENS), C(TOKENS)]),
        _digest(candidates=[C((dataclasses.replace(TOKENS[0], epoch=2), TOKENS[1]))]),
        _digest(candidates=[C((dataclasses.replace(TOKENS[0], token=b"\x03" * 32), TOKENS[1]))]),
        _digest(candidates=[C((dataclasses.replace(TOKENS[0], key_type=3), TOKENS[1]))]),
        _digest(candidates=[C(TOKENS, forename_class=2)]),
        _digest(candidates=[C(TOKENS, surname_class=2)]),
    ]
    assert first not in changed
    assert len(set(changed)) == len(changed)


def test_field_boundaries_cannot_be_moved() -> None:
    """Length prefixes: ("ab", "c") and ("a", "bc") are different justifications, so different digests."""
    one = dataclasses.replace(WHY, purpose="ab", legal_basis="c")
    two = dataclasses.replace(WHY, purpose="a", legal_basis="bc")
    assert _digest(why=one) != _digest(why=two)


def test_decision_digest_tells_decisions_apart() -> None:
    base = {"sealed": None, "reason": 0, "officer_id": ""}
    digests = {
        idempotency.decision_digest("resolve", "r1", **base),  # type: ignore[arg-type]
        idempotency.decision_digest("resolve", "r2", **base),  # type: ignore[arg-type]
        idempotency.decision_digest("approve", "r1", sealed=b"x", reason=0, officer_id="o"),
        idempotency.decision_digest("approve", "r1", sealed=b"y", reason=0, officer_id="o"),
        idempotency.decision_digest("refuse", "r1", sealed=None, reason=1, officer_id="o"),
        idempotency.decision_digest("refuse", "r1", sealed=None, reason=2, officer_id="o"),
    }
    assert len(digests) == 6


def test_a_check_answer_survives_storage_whole_except_its_head() -> None:
    outcome = CheckOutcome(
        results=(
            CheckResult(
                check_id="c1",
                hits=(
                    ForceHit(
                        org="kent", strength=3, key_types=(1, 4), request_id="r1", probability=0.987654321
                    ),
                ),
            ),
            CheckResult(
                check_id="", hits=(), error=CandidateError(code="INVALID_ARGUMENT", message="no tokens")
            ),
            CheckResult(check_id="c3", hits=()),
        ),
        forces_searched=1,
        stale_orgs=("essex",),
        tree_head=SignedTreeHead(
            head=TreeHead(tree_size=3, timestamp_ms=0, root_hash=b"\x01" * 32), signature=b""
        ),
        coverage=Coverage(
            searched=(SearchedForce(org="kent", epoch=1, version=4, published_at_ms=5, expires_at_ms=6),),
            not_searched=(UnsearchedForce(org="essex", reason=NotSearchedReason.EXPIRED),),
        ),
    )
    stored = idempotency.encode_check(outcome)
    assert b"\x01" * 32 not in stored  # no head, no token: ids, org codes and numbers only
    assert idempotency.decode_check(stored, HEAD) == dataclasses.replace(outcome, tree_head=HEAD)


def test_an_answer_from_a_newer_matcher_is_refused_plainly() -> None:
    with pytest.raises(PreconditionError, match="encoding version 2"):
        idempotency.decode_check(b'{"v":2,"kind":"check"}', HEAD)
    with pytest.raises(PreconditionError, match="check answer"):
        idempotency.decode_decision(idempotency.encode_check(CheckOutcome((), 0, (), HEAD)))


def test_a_key_answers_only_its_own_request() -> None:
    row = idempotency.answer_row(org="dbs", key="k" * 16, digest=b"a", response=b"{}", log_index=1, now_ms=2)
    assert idempotency.same_request(row, b"a") is row
    with pytest.raises(PreconditionError, match="used for a different request"):
        idempotency.same_request(row, b"b")
