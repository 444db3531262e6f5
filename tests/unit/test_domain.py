"""The domain vocabulary: pure values whose names and numbers are the proto's."""

from __future__ import annotations

import dataclasses

import pytest

from crossforce import domain
from crossforce.crypto import pki
from crossforce.v2 import crossforce_pb2 as pb

HEAD = domain.SignedTreeHead(
    head=domain.TreeHead(tree_size=1, timestamp_ms=2, root_hash=b"\x00" * 32), signature=b"\x01" * 64
)


def test_role_names_are_defined_once_and_are_the_certificate_roles() -> None:
    assert domain.ROLES == tuple(r.value for r in domain.Role) == pki.ROLES
    for group in (domain.HOLDER_ROLES, domain.DECIDER_ROLES, domain.REQUESTER_ROLES, domain.OVERSIGHT_ROLES):
        assert set(group) <= set(domain.ROLES) and len(set(group)) == len(group)


def test_only_a_person_decides_a_disclosure() -> None:
    assert domain.DECIDER_ROLES == ("disclosure-officer",)
    assert domain.HOLDER_ROLES[0] == "disclosure-officer"  # a person first, then the force's server


@pytest.mark.parametrize(
    ("value", "label"), [(0, "none"), (1, "weak"), (2, "medium"), (3, "strong"), (9, "9")]
)
def test_strength_labels(value: int, label: str) -> None:
    assert domain.strength_label(value) == label
    assert domain.ForceHit(org="kent", strength=value, key_types=(1,)).strength_name == label


def test_outcome_reports_one_per_candidate_in_order() -> None:
    hit = domain.ForceHit(org="kent", strength=3, key_types=(1, 2), request_id="r1")
    outcome = domain.CheckOutcome(
        results=(domain.CheckResult("c1", (hit,)), domain.CheckResult("c2", ())),
        forces_searched=42,
        stale_orgs=("essex",),
        tree_head=HEAD,
    )
    first, second = outcome.reports()
    assert (first.check_id, first.hits, first.no_trace) == ("c1", (hit,), False)
    assert (second.check_id, second.no_trace, second.forces_searched, second.stale_orgs) == (
        "c2",
        True,
        42,
        ("essex",),
    )


@pytest.mark.parametrize(
    ("value_type", "message"),
    [
        (domain.Organisation, pb.Organisation),
        (domain.IndexStatus, pb.ForceIndexStatus),
        (domain.DisclosureRequest, pb.DisclosureRequest),
        (domain.SealedDisclosure, pb.SealedDisclosure),
        (domain.ForceHit, pb.ForceHit),
        (domain.MatcherStatus, pb.StatusResponse),
        (domain.OperatorReport, pb.ReportResponse),
        (domain.LogEntry, pb.LogEntry),
        (domain.InclusionProof, pb.InclusionProof),
        (domain.KeyRegistration, pb.RegisterRequest),
    ],
)
def test_field_names_are_the_proto_field_names(value_type: type, message: type) -> None:
    fields = {f.name for f in dataclasses.fields(value_type)}
    assert fields == set(message.DESCRIPTOR.fields_by_name)


def test_values_are_immutable() -> None:
    token = domain.QueryToken(key_type=1, epoch=1, token=b"\x00" * 32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        token.epoch = 2  # type: ignore[misc]
