"""Real gRPC mTLS handshakes with certificates from crossforce.crypto.pki.

The unit tests check what we issue; these check that gRPC's BoringSSL accepts it, that the server learns
the caller's organisation and role from the handshake alone, and that callers without a certificate
from the deployment CA never reach a handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crossforce.errors import AuthenticationError
from crossforce.keystore import pki

SERVICE = "crossforce.test.Identity"
METHOD = f"/{SERVICE}/WhoAmI"
TIMEOUT_S = 10


def _who_am_i(request: bytes, context: grpc.ServicerContext) -> bytes:
    """What a servicer does: identity from the verified peer certificate, never from the request."""
    try:
        identity = pki.identity_from_auth_context(context.auth_context())
    except AuthenticationError as exc:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
    return f"{identity.org}/{identity.role}".encode()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiDir:
    folder = pki.PkiDir.create(tmp_path_factory.mktemp("pki") / "pki", name="handshake test")
    folder.issue("humberside", "vetting-officer")
    folder.issue("kent", "force-system")
    return folder


@pytest.fixture(scope="module")
def port(deployment: pki.PkiDir) -> Iterator[int]:
    key, cert, ca = pki.server_credentials_args(deployment)
    credentials = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"WhoAmI": grpc.unary_unary_rpc_method_handler(_who_am_i)}
    )
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_secure_port("127.0.0.1:0", credentials)
    assert bound > 0
    server.start()
    yield bound
    server.stop(grace=None)


def _call(port: int, credentials: grpc.ChannelCredentials, target: str = "localhost") -> bytes:
    with grpc.secure_channel(f"{target}:{port}", credentials) as channel:
        stub = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        response = stub(b"org=somebody-else", timeout=TIMEOUT_S)
    assert isinstance(response, bytes)
    return response


def _client_credentials(pair: pki.CertKeyPair, ca_pem: bytes) -> grpc.ChannelCredentials:
    root, key, cert = pki.client_credentials_args(pair, ca_pem)
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=cert)


def test_client_learns_its_own_org_from_handshake(deployment: pki.PkiDir, port: int) -> None:
    pair = deployment.client_pair("humberside", "vetting-officer")
    assert _call(port, _client_credentials(pair, deployment.ca_cert_pem())) == b"humberside/vetting-officer"


def test_each_identity_is_its_own(deployment: pki.PkiDir, port: int) -> None:
    pair = deployment.client_pair("kent", "force-system")
    assert _call(port, _client_credentials(pair, deployment.ca_cert_pem())) == b"kent/force-system"


def test_renewed_certificate_works(deployment: pki.PkiDir, port: int) -> None:
    pair = deployment.renew("kent", "force-system", 2)
    assert _call(port, _client_credentials(pair, deployment.ca_cert_pem())) == b"kent/force-system"


def test_ip_san_accepted(deployment: pki.PkiDir, port: int) -> None:
    pair = deployment.client_pair("humberside", "vetting-officer")
    credentials = _client_credentials(pair, deployment.ca_cert_pem())
    assert _call(port, credentials, target="127.0.0.1") == b"humberside/vetting-officer"


def _expect_refused(port: int, credentials: grpc.ChannelCredentials) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _call(port, credentials)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_client_certificate_from_another_ca_refused(deployment: pki.PkiDir, port: int) -> None:
    rogue_ca = pki.create_ca("handshake test")  # same name, different key
    rogue = pki.issue_client_certificate(rogue_ca, org="humberside", role="vetting-officer")
    _expect_refused(port, _client_credentials(rogue, deployment.ca_cert_pem()))


def test_no_client_certificate_refused(deployment: pki.PkiDir, port: int) -> None:
    _expect_refused(port, grpc.ssl_channel_credentials(root_certificates=deployment.ca_cert_pem()))


def test_server_certificate_cannot_be_used_as_client(deployment: pki.PkiDir, port: int) -> None:
    """The serverAuth-only certificate is refused as a client certificate (EKU checked by BoringSSL)."""
    _expect_refused(port, _client_credentials(deployment.server_pair(), deployment.ca_cert_pem()))


def test_client_refuses_server_from_another_ca(deployment: pki.PkiDir, port: int) -> None:
    """A client pinned to the deployment CA does not talk to an impostor matcher."""
    pair = deployment.client_pair("humberside", "vetting-officer")
    _expect_refused(port, _client_credentials(pair, pki.create_ca("impostor").cert_pem))


def test_expired_client_certificate_refused(deployment: pki.PkiDir, port: int) -> None:
    ca = deployment.load_ca()
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    good = x509.load_pem_x509_certificate(deployment.client_pair("kent", "force-system").cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(good.subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3))
        .not_valid_after(now - timedelta(days=1))
    )
    for extension in good.extensions:
        if not isinstance(extension.value, x509.SubjectKeyIdentifier):
            builder = builder.add_extension(extension.value, critical=extension.critical)
    cert_pem = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    expired = pki.CertKeyPair(cert_pem, key_pem)
    assert pki.identity_from_pem(expired.cert_pem).org == "kent"  # well-formed, just expired
    _expect_refused(port, _client_credentials(expired, deployment.ca_cert_pem()))


def test_pki_folder_survives_reload(deployment: pki.PkiDir, port: int) -> None:
    """A second process reading the same folder gets working credentials."""
    again = pki.PkiDir(Path(deployment.path))
    pair = again.client_pair("humberside", "vetting-officer")
    assert _call(port, _client_credentials(pair, again.ca_cert_pem())) == b"humberside/vetting-officer"
