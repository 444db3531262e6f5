"""Registry service: key registration and organisations' public keys."""

from __future__ import annotations

import grpc

from crossforce.domain import Organisation, Registered
from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.server.store import OrgRow
from crossforce.v1 import crossforce_pb2 as pb
from crossforce.v1 import crossforce_pb2_grpc as rpc
from crossforce.wire import registry as wire


def organisation(row: OrgRow) -> Organisation:
    """A stored organisation as the domain value (same fields by design)."""
    return Organisation(
        org=row.org,
        display_name=row.display_name,
        signing_key=row.signing_key,
        box_key=row.box_key,
        key_version=row.key_version,
        registered_at_ms=row.registered_at_ms,
        log_index=row.log_index,
    )


class RegistryServicer(rpc.RegistryServicer):
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    @status.unary
    def Register(self, request: pb.RegisterRequest, context: grpc.ServicerContext) -> pb.RegisterResponse:
        claim = wire.key_registration_from_pb(request)
        row, head = self.matcher.register(
            caller(context),
            org=claim.org,
            signing_key=claim.signing_key,
            box_key=claim.box_key,
            proof=claim.proof,
            display_name=claim.display_name,
        )
        return wire.registered_to_pb(Registered(organisation=organisation(row), tree_head=head))

    @status.unary
    def GetOrganisation(
        self, request: pb.GetOrganisationRequest, context: grpc.ServicerContext
    ) -> pb.Organisation:
        return wire.organisation_to_pb(organisation(self.matcher.organisation(request.org)))

    @status.unary
    def ListOrganisations(
        self, request: pb.ListOrganisationsRequest, context: grpc.ServicerContext
    ) -> pb.ListOrganisationsResponse:
        return wire.organisations_to_pb([organisation(r) for r in self.matcher.organisations()])
