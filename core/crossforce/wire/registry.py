"""Registry service messages: key registration and organisations' public keys."""

from __future__ import annotations

from crossforce.domain import KeyRegistration, Organisation, Registered
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import tree_head_from_pb, tree_head_to_pb


def key_registration_to_pb(reg: KeyRegistration) -> pb.RegisterRequest:
    return pb.RegisterRequest(
        org=reg.org,
        signing_key=reg.signing_key,
        box_key=reg.box_key,
        proof=reg.proof,
        display_name=reg.display_name,
        certificate_proof=reg.certificate_proof,
        previous_key_proof=reg.previous_key_proof,
    )


def key_registration_from_pb(msg: pb.RegisterRequest) -> KeyRegistration:
    return KeyRegistration(
        org=msg.org,
        signing_key=bytes(msg.signing_key),
        box_key=bytes(msg.box_key),
        proof=bytes(msg.proof),
        display_name=msg.display_name,
        certificate_proof=bytes(msg.certificate_proof),
        previous_key_proof=bytes(msg.previous_key_proof),
    )


def organisation_to_pb(org: Organisation) -> pb.Organisation:
    return pb.Organisation(
        org=org.org,
        display_name=org.display_name,
        signing_key=org.signing_key,
        box_key=org.box_key,
        key_version=org.key_version,
        registered_at_ms=org.registered_at_ms,
        log_index=org.log_index,
        certificate=org.certificate,
        certificate_proof=org.certificate_proof,
        previous_key_proof=org.previous_key_proof,
    )


def organisation_from_pb(msg: pb.Organisation) -> Organisation:
    return Organisation(
        org=msg.org,
        display_name=msg.display_name,
        signing_key=bytes(msg.signing_key),
        box_key=bytes(msg.box_key),
        key_version=msg.key_version,
        registered_at_ms=msg.registered_at_ms,
        log_index=msg.log_index,
        certificate=bytes(msg.certificate),
        certificate_proof=bytes(msg.certificate_proof),
        previous_key_proof=bytes(msg.previous_key_proof),
    )


def registered_to_pb(reg: Registered) -> pb.RegisterResponse:
    return pb.RegisterResponse(
        organisation=organisation_to_pb(reg.organisation), tree_head=tree_head_to_pb(reg.tree_head)
    )


def registered_from_pb(msg: pb.RegisterResponse) -> Registered:
    return Registered(
        organisation=organisation_from_pb(msg.organisation), tree_head=tree_head_from_pb(msg.tree_head)
    )


def get_organisation_request(org: str) -> pb.GetOrganisationRequest:
    return pb.GetOrganisationRequest(org=org)


def organisations_to_pb(orgs: tuple[Organisation, ...] | list[Organisation]) -> pb.ListOrganisationsResponse:
    return pb.ListOrganisationsResponse(organisations=[organisation_to_pb(o) for o in orgs])


def key_history_to_pb(versions: tuple[Organisation, ...] | list[Organisation]) -> pb.KeyHistory:
    return pb.KeyHistory(versions=[organisation_to_pb(o) for o in versions])


def key_history_from_pb(msg: pb.KeyHistory) -> tuple[Organisation, ...]:
    return tuple(organisation_from_pb(o) for o in msg.versions)
