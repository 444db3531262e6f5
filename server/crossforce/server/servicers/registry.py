"""Registry service: key registration and organisations' public keys."""

from __future__ import annotations

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crossforce.server import status
from crossforce.server.auth import caller
from crossforce.server.matcher import Matcher
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc
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
            certificate=_caller_certificate_der(context),
            certificate_proof=claim.certificate_proof,
            previous_key_proof=claim.previous_key_proof,
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

    @status.unary
    def GetKeyHistory(
        self, request: pb.GetOrganisationRequest, context: grpc.ServicerContext
    ) -> pb.KeyHistory:
        return wire.key_history_to_pb(self.matcher.key_history(request.org))


def _caller_certificate_der(context: grpc.ServicerContext) -> bytes:
    """The DER of the certificate the caller connected with; empty in development mode (no TLS), where the
    identity comes from a header and there is no certificate to bind keys to."""
    auth = context.auth_context()
    certs = auth.get("x509_pem_cert") if auth else None
    if not certs:
        return b""
    return x509.load_pem_x509_certificate(bytes(certs[0])).public_bytes(serialization.Encoding.DER)
