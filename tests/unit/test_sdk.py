"""The SDK against a real matcher in the same process (testkit.inmemory): no sockets, no certificates.

Every answer the SDK hands back is a domain value (never protobuf), every failure an error of the exact
class the matcher raised, and every head it is shown goes through the profile's trust state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.protobuf.message import Message

import crossforce.client
import crossforce.client.sdk
from crossforce.auditlog import merkle
from crossforce.client import Client, Profile
from crossforce.crypto.sealed import DisclosurePayload
from crossforce.crypto.secrets import NetworkSecret
from crossforce.domain import (
    CheckReport,
    DisclosureRequest,
    Justification,
    MatcherStatus,
    Organisation,
    RequestState,
    Resolution,
    SignedTreeHead,
)
from crossforce.encoding.records import Record
from crossforce.errors import PermissionDeniedError, ValidationError, VerificationError
from crossforce.testkit.inmemory import InMemoryMatcher

WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
JANE = Record(record_id="K1", given_names="Jane", surname="Okafor", date_of_birth="1984-03-02")
NOBODY = Record(record_id="X", given_names="Ann", surname="Nobody", date_of_birth="1950-01-01")

ClientFor = Callable[[str, str], Client]


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[ClientFor]:
    """Kent (a force) and DBS (a vetting body), registered, each a profile folder of its own."""
    secret = NetworkSecret.create()
    opened: list[Client] = []
    with InMemoryMatcher(tmp_path / "matcher") as server:
        profiles = {
            org: Profile.create(
                tmp_path / org,
                org=org,
                display_name=org,
                server="in-memory",
                pki_dir=None,
                roles=(),
                secret=secret,
                dev_plaintext=True,
            )
            for org in ("kent", "dbs")
        }

        def make(org: str, role: str) -> Client:
            client = Client(profiles[org], role=role, channel=server.channel(org, role))
            opened.append(client)
            return client

        for org in profiles:
            make(org, "force-system").register()
        yield make
        for client in opened:
            client.close()


def _no_protobuf(value: object) -> None:
    assert not isinstance(value, Message), f"the SDK returned protobuf: {type(value).__name__}"


def test_register_returns_the_domain_organisation_and_keeps_a_head(client_for: ClientFor) -> None:
    kent = client_for("kent", "force-system")
    org = kent.register()
    assert isinstance(org, Organisation) and org.org == "kent"
    assert kent.last_head() is not None


def test_publish_then_check_finds_the_holder_and_returns_domain_types(client_for: ClientFor) -> None:
    result = client_for("kent", "force-system").publish_records([JANE])
    assert result.org == "kent" and result.record_count == 1
    dbs = client_for("dbs", "vetting-officer")
    status = dbs.status()
    assert isinstance(status, MatcherStatus) and {s.org for s in status.indexes} == {"kent"}
    report = dbs.check(JANE, WHY)
    assert isinstance(report, CheckReport)
    assert [h.org for h in report.hits] == ["kent"] and report.hits[0].request_id
    assert dbs.check(NOBODY, WHY, open_requests=False).no_trace
    for value in (result, status, report, *report.hits):
        _no_protobuf(value)


def test_holder_resolves_and_requester_opens_the_disclosure(client_for: ClientFor) -> None:
    client_for("kent", "force-system").publish_records([JANE])
    (hit,) = client_for("dbs", "vetting-officer").check(JANE, WHY).hits
    resolution = client_for("kent", "force-system").resolve(hit.request_id)
    assert isinstance(resolution, Resolution) and resolution.confirmed
    assert isinstance(resolution.request, DisclosureRequest)
    assert resolution.request.state == RequestState.CONFIRMED
    assert [r.record_id for r in resolution.records] == ["K1"]
    payload = DisclosurePayload(summary="held", records=(), point_of_contact="desk")
    approved = client_for("kent", "disclosure-officer").approve(hit.request_id, payload, officer_id="DO-1")
    assert approved.state == RequestState.APPROVED
    assert client_for("dbs", "force-system").fetch_disclosure(hit.request_id).summary == "held"


def test_a_role_the_matcher_refuses_arrives_as_its_exact_class(client_for: ClientFor) -> None:
    with pytest.raises(PermissionDeniedError):
        client_for("dbs", "vetting-officer").publish_records([JANE])


def test_a_check_with_no_match_keys_is_refused_locally(client_for: ClientFor) -> None:
    with pytest.raises(ValidationError):
        client_for("dbs", "vetting-officer").check(Record(record_id="e", given_names="", surname=""), WHY)


def test_heads_from_every_answer_go_through_one_trust_state(client_for: ClientFor) -> None:
    """Two clients on one profile share the kept head; a forged head is refused and changes nothing."""
    client_for("kent", "force-system").publish_records([JANE])
    first, second = client_for("dbs", "vetting-officer"), client_for("dbs", "auditor")
    first.check(JANE, WHY, open_requests=False)
    kept = second.tree_head()
    assert first.last_head() == kept
    grown = dataclasses.replace(kept.head, tree_size=kept.head.tree_size + 1, root_hash=bytes(32))
    forged = SignedTreeHead(head=grown, signature=kept.signature)
    with pytest.raises(VerificationError):
        first.observe_head(forged)
    assert second.last_head() == kept


def test_registration_leaf_is_readable_and_included(client_for: ClientFor) -> None:
    dbs = client_for("dbs", "auditor")
    kent = dbs.organisation_keys("kent")
    proof = dbs.inclusion(kent.log_index)
    assert proof.entry
    _no_protobuf(proof)
    entries = list(dbs.entries(0, dbs.tree_head().head.tree_size))
    assert entries[kent.log_index].entry == proof.entry


def test_consistency_proof_is_a_domain_value_that_verifies(client_for: ClientFor) -> None:
    dbs = client_for("dbs", "auditor")
    first = dbs.tree_head()
    client_for("kent", "force-system").publish_records([JANE])
    second = dbs.tree_head()
    assert second.head.tree_size > first.head.tree_size
    proof = dbs.consistency_proof(first.head.tree_size, second.head.tree_size)
    _no_protobuf(proof)
    merkle.verify_consistency(
        first.head.tree_size,
        second.head.tree_size,
        first.head.root_hash,
        second.head.root_hash,
        list(proof.hashes),
    )


def test_the_facade_exposes_no_wire_and_one_name_per_thing() -> None:
    """Raw RPCs go through ``client.connection``; the domain names are the only names."""
    wire = ("call", "rebind", "channel", "_metadata", "registry", "index", "matcher", "disclosure", "audit")
    assert [name for name in (*wire, "operations") if hasattr(Client, name)] == []
    assert not {"Why", "Hit"} & set(dir(crossforce.client) + dir(crossforce.client.sdk))
