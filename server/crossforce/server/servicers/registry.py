"""Registry service: key registration and organisations' public keys."""

from __future__ import annotations

import grpc

from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.v1 import crossforce_pb2 as pb
from crossforce.v1 import crossforce_pb2_grpc as rpc
from crossforce.wire import registry as wire


class RegistryServicer(rpc.RegistryServicer):
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    @status.unary
    def Register(self, request: pb.RegisterRequest, context: grpc.ServicerContext) -> pb.RegisterResponse:
        claim = wire.key_registration_from_pb(request)
        registered = self.matcher.register(
            caller(context),
            org=claim.org,
            signing_key=claim.signing_key,
            box_key=claim.box_key,
            proof=claim.proof,
            display_name=claim.display_name,
        )
        return wire.registered_to_pb(registered)

    @status.unary
    def GetOrganisation(
        self, request: pb.GetOrganisationRequest, context: grpc.ServicerContext
    ) -> pb.Organisation:
        return wire.organisation_to_pb(self.matcher.organisation(request.org))

    @status.unary
    def ListOrganisations(
        self, request: pb.ListOrganisationsRequest, context: grpc.ServicerContext
    ) -> pb.ListOrganisationsResponse:
        return wire.organisations_to_pb(self.matcher.organisations())
