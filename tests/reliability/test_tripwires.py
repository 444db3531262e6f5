"""Issue 15 item 5, "tripwires": a vetting body publishes an index of people it wants to watch, so that
another body's check of one of them hits the vetting body, opens a request against it, and tells it who
was checked, when and by whom. Refused by organisation kind: only police publish or act as a holder.

Against a real matcher (LocalNet: real certificates, mTLS and storage). The refusal comes before the
matcher reads a byte of the index, so these tests send the Publish stream raw rather than build one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from crossforce.auditlog.events import Check, parse_event
from crossforce.crypto import issuing
from crossforce.domain import Role
from crossforce.domain.enums import OrgKind
from crossforce.errors import PermissionDeniedError
from crossforce.keystore import pki
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.v2 import crossforce_pb2 as pb
from tests.reliability.crash_harness import WHY, base_records

WATCHER = "dbs"
"""The vetting body that plants the tripwire."""
OTHER = "ofsted"
"""Another vetting body, whose checks the watcher wants to learn of."""
HOLDER = "kent"
OTHER_CASE = "OFS-2026-7731"
TIMEOUT_S = 5.0


@pytest.fixture
def net(tmp_path: Path, matcher_db: str | None) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server()
    net.add_org(HOLDER, roles=FORCE_ROLES)
    net.add_org(WATCHER, roles=VETTING_ROLES)
    net.add_org(OTHER, roles=VETTING_ROLES)
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()


def _publish_raw(net: LocalNet, org: str, role: str, cert: pki.CertKeyPair | None = None) -> grpc.RpcError:
    """Open a Publish stream as ``org``/``role`` (or with ``cert``) and return the error it ends with."""
    if cert is not None:
        net.profiles[org].install_cert(role, cert)
    with net.client(org, role) as c, pytest.raises(grpc.RpcError) as info:
        c.connection.index.Publish(iter([]), timeout=TIMEOUT_S, metadata=c.connection.metadata)
    error = info.value
    assert isinstance(error, grpc.RpcError)
    return error


def _code_and_text(error: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    assert isinstance(error, grpc.Call)
    return error.code(), error.details() or ""


def test_vetting_body_that_publishes_a_tripwire_index_is_refused(net: LocalNet) -> None:
    code, text = _code_and_text(_publish_raw(net, WATCHER, Role.FORCE_SYSTEM))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "Index/Publish is for police forces only" in text and "vetting-body" in text
    # Control: the same empty stream from a police force gets past the gate (and fails on its content).
    police_code, police_text = _code_and_text(_publish_raw(net, HOLDER, Role.FORCE_SYSTEM))
    assert police_code != grpc.StatusCode.PERMISSION_DENIED, police_text
    with net.client(OTHER, Role.VETTING_OFFICER) as other:
        assert WATCHER not in {s.org for s in other.status().indexes}


def test_vetting_body_with_a_certificate_from_before_kinds_is_refused(net: LocalNet) -> None:
    """An old force-system certificate of an unlisted organisation names no kind: not police."""
    old = issuing.issue_client_certificate(net.pki.load_ca(), org="legacy-vetting", role=Role.FORCE_SYSTEM)
    assert pki.identity_from_pem(old.cert_pem).kind is None
    net.add_org("legacy-vetting", roles=(Role.VETTING_OFFICER,))
    code, text = _code_and_text(_publish_raw(net, "legacy-vetting", Role.FORCE_SYSTEM, cert=old))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "for police forces only" in text and "no recorded kind" in text


@pytest.mark.parametrize("rpc", ["Resolve", "Approve", "Refuse"])
def test_vetting_body_disclosure_officer_certificate_cannot_act_as_holder(net: LocalNet, rpc: str) -> None:
    """A disclosure-officer certificate issued to a vetting body before the CA refused it still cannot
    resolve or decide: the matcher checks the kind, not only the role."""
    old = _forged_disclosure_officer(net, WATCHER)
    net.profiles[WATCHER].install_cert(Role.DISCLOSURE_OFFICER, old)
    request = {"Resolve": pb.ResolveRequest, "Approve": pb.ApproveRequest, "Refuse": pb.RefuseRequest}[rpc]()
    with net.client(WATCHER, Role.DISCLOSURE_OFFICER) as c:
        call = getattr(c.connection.disclosure, rpc)
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=TIMEOUT_S, metadata=c.connection.metadata)
    code, text = _code_and_text(info.value)
    assert code == grpc.StatusCode.PERMISSION_DENIED and "for police forces only" in text


def test_vetting_body_learns_nothing_of_another_bodys_check(net: LocalNet) -> None:
    """The whole attack: plant (refused), let another body check the watched person, then look for it
    everywhere the watcher may look: the status of indexes, requests as holder, and the audit log."""
    watched = base_records(HOLDER)[0]
    assert (
        _code_and_text(_publish_raw(net, WATCHER, Role.FORCE_SYSTEM))[0] == grpc.StatusCode.PERMISSION_DENIED
    )
    with net.client(OTHER, Role.VETTING_OFFICER) as other:
        report = other.check(watched, dataclasses.replace(WHY, case_reference=OTHER_CASE), open_requests=True)
    assert WATCHER not in {h.org for h in report.hits}
    with net.client(WATCHER, Role.FORCE_SYSTEM) as system:
        with pytest.raises(PermissionDeniedError, match="only police"):  # it holds no records to be asked for
            system.list_requests(as_holder=True)
        size = system.tree_head().head.tree_size
        seen = [e.entry for e in system.entries(0, size)]
    with net.client(WATCHER, Role.AUDITOR) as auditor:
        seen += [e.entry for e in auditor.entries(0, size)]
    assert not any(OTHER_CASE.encode() in entry for entry in seen)
    assert not any(
        isinstance(event, Check) and event.actor_org == OTHER for event in (_parsed(e) for e in seen if e)
    )


def _parsed(entry: bytes) -> object:
    return parse_event(entry)


def _forged_disclosure_officer(net: LocalNet, org: str) -> pki.CertKeyPair:
    """What an old CA (before kinds) issued: a disclosure-officer certificate for any organisation. The
    CA refuses it now, so build the same certificate minus the kind by hand, signed by the net's CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from crossforce.clock import utc_now

    ca = net.pki.load_ca()
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    role = Role.DISCLOSURE_OFFICER.value
    now = utc_now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"{org}:{role}"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - pki.BACKDATE)
        .not_valid_after(now + timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(pki.san_uri(org, role))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pair = pki.CertKeyPair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    identity = pki.identity_from_pem(pair.cert_pem)
    assert identity.kind is None and OrgKind.VETTING_BODY is not identity.kind
    return pair
