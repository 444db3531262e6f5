"""Pieces every API area shares: tokens, justifications, signed tree heads and enum numbers."""

from __future__ import annotations

from collections.abc import Iterable

from crossforce.domain import (
    Justification,
    QueryToken,
    RefusalReason,
    RequestState,
    SignedTreeHead,
    TreeHead,
)
from crossforce.errors import ValidationError
from crossforce.v2 import crossforce_pb2 as pb


def token_to_pb(token: QueryToken) -> pb.QueryToken:
    return pb.QueryToken(key_type=token.key_type, epoch=token.epoch, token=token.token)


def token_from_pb(msg: pb.QueryToken) -> QueryToken:
    return QueryToken(key_type=msg.key_type, epoch=msg.epoch, token=bytes(msg.token))


def tokens_to_pb(tokens: Iterable[QueryToken]) -> list[pb.QueryToken]:
    return [token_to_pb(t) for t in tokens]


def tokens_from_pb(msgs: Iterable[pb.QueryToken]) -> tuple[QueryToken, ...]:
    return tuple(token_from_pb(m) for m in msgs)


def justification_to_pb(why: Justification) -> pb.Justification:
    return pb.Justification(
        purpose=why.purpose,
        legal_basis=why.legal_basis,
        case_reference=why.case_reference,
        officer_id=why.officer_id,
    )


def justification_from_pb(msg: pb.Justification) -> Justification:
    return Justification(
        purpose=msg.purpose,
        legal_basis=msg.legal_basis,
        case_reference=msg.case_reference,
        officer_id=msg.officer_id,
    )


def tree_head_to_pb(sth: SignedTreeHead) -> pb.SignedTreeHead:
    return pb.SignedTreeHead(
        tree_size=sth.head.tree_size,
        timestamp_ms=sth.head.timestamp_ms,
        root_hash=sth.head.root_hash,
        signature=sth.signature,
    )


def tree_head_from_pb(msg: pb.SignedTreeHead) -> SignedTreeHead:
    """A signed tree head as received; the caller verifies its signature (``treehead.verify_tree_head``).

    A root of the wrong length or an out-of-range size is a ValidationError (``TreeHead`` checks it).
    """
    return SignedTreeHead(
        head=TreeHead(tree_size=msg.tree_size, timestamp_ms=msg.timestamp_ms, root_hash=bytes(msg.root_hash)),
        signature=bytes(msg.signature),
    )


def request_state_from_pb(value: int) -> RequestState:
    """A proto ``RequestState`` number as the domain enum; 0 (unspecified) or unknown is a ValidationError."""
    try:
        return RequestState(value)
    except ValueError:
        raise ValidationError(f"unknown request state {value}") from None


def request_state_to_pb(state: RequestState) -> pb.RequestState.ValueType:
    return pb.RequestState.ValueType(int(state))


def refusal_reason_from_pb(value: int) -> RefusalReason:
    """A proto ``RefusalReason`` number as the domain enum (0 means "not refused")."""
    try:
        return RefusalReason(value)
    except ValueError:
        raise ValidationError(f"unknown refusal reason {value}") from None


def refusal_reason_to_pb(reason: RefusalReason) -> pb.RefusalReason.ValueType:
    return pb.RefusalReason.ValueType(int(reason))


def strength_to_pb(strength: int) -> pb.Strength.ValueType:
    return pb.Strength.ValueType(strength)
