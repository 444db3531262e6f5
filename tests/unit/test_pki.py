"""The deployment CA and client identities (crossforce.crypto.pki), and the PKI folder
(crossforce.keystore.pki)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crossforce import fsutil
from crossforce.errors import (
    AlreadyExistsError,
    AuthenticationError,
    NotFoundError,
    ValidationError,
)
from crossforce.keystore import pki


@pytest.fixture(scope="module")
def ca() -> pki.CertKeyPair:
    return pki.create_ca("test deployment")


@pytest.fixture(scope="module")
def client(ca: pki.CertKeyPair) -> pki.CertKeyPair:
    return pki.issue_client_certificate(ca, org="humberside", role="vetting-officer")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _forge(
    ca: pki.CertKeyPair,
    *,
    subject: list[tuple[x509.ObjectIdentifier, str]],
    uris: list[str],
    eku: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.CLIENT_AUTH,
    is_ca: bool = False,
) -> bytes:
    """A certificate signed by ``ca`` with arbitrary identity fields, to test what the parser refuses."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(oid, value) for oid, value in subject]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), critical=False
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


GOOD_SUBJECT = [
    (NameOID.ORGANIZATION_NAME, "humberside"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "force-system"),
    (NameOID.COMMON_NAME, "humberside:force-system"),
]
GOOD_URI = "crossforce://humberside/force-system"


# --- issuing and parsing ------------------------------------------------------------------------


def test_client_certificate_names_org_and_role(ca: pki.CertKeyPair, client: pki.CertKeyPair) -> None:
    identity = pki.identity_from_pem(client.cert_pem)
    assert (identity.org, identity.role) == ("humberside", "vetting-officer")
    assert identity.fingerprint == pki.fingerprint(client.cert_pem)
    assert len(identity.fingerprint) == 64
    cert = x509.load_pem_x509_certificate(client.cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "humberside:vetting-officer"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "crossforce://humberside/vetting-officer"
    ]
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_client_certificate_is_short_lived_by_default(client: pki.CertKeyPair) -> None:
    identity = pki.identity_from_pem(client.cert_pem)
    remaining = identity.not_after - datetime.now(UTC)
    assert timedelta(days=29) < remaining <= timedelta(days=30)


def test_profile_passes_cryptography_webpki_verifier(ca: pki.CertKeyPair, client: pki.CertKeyPair) -> None:
    """An independent RFC 5280 path validator accepts what we issue (key usage, EKU, AKI, SAN)."""
    store = verification.Store([x509.load_pem_x509_certificate(ca.cert_pem)])
    verified = (
        verification.PolicyBuilder()
        .store(store)
        .build_client_verifier()
        .verify(x509.load_pem_x509_certificate(client.cert_pem), [])
    )
    assert [s.value for s in verified.subjects or []] == ["crossforce://humberside/vetting-officer"]
    server = pki.issue_server_certificate(ca)
    (
        verification.PolicyBuilder()
        .store(store)
        .build_server_verifier(x509.DNSName("localhost"))
        .verify(x509.load_pem_x509_certificate(server.cert_pem), [])
    )


def test_every_role_can_be_issued(ca: pki.CertKeyPair) -> None:
    for role in pki.ROLES:
        pair = pki.issue_client_certificate(ca, org="kent", role=role, valid_days=1)
        assert pki.identity_from_pem(pair.cert_pem).role == role


@pytest.mark.parametrize("role", ["admin", "Force-System", "force-system ", "", "vetting_officer"])
def test_unknown_role_refused_at_issue(ca: pki.CertKeyPair, role: str) -> None:
    with pytest.raises(ValidationError, match="role"):
        pki.issue_client_certificate(ca, org="kent", role=role)


@pytest.mark.parametrize(
    "org", ["", "k", "Kent", "kent/../x", "-kent", "kent-", "ke nt", "kent\n", "a" * 65, "kënt", ".."]
)
def test_malformed_org_code_refused_at_issue(ca: pki.CertKeyPair, org: str) -> None:
    with pytest.raises(ValidationError, match="organisation code"):
        pki.issue_client_certificate(ca, org=org, role="auditor")


def test_org_code_bounds() -> None:
    assert pki.ORG_CODE_RE.fullmatch("ab")
    assert pki.ORG_CODE_RE.fullmatch("a" * 64)
    assert pki.ORG_CODE_RE.fullmatch("avon-and-somerset")
    assert not pki.ORG_CODE_RE.fullmatch("a" * 65)


@pytest.mark.parametrize("days", [0, -1, True])
def test_bad_validity_refused(ca: pki.CertKeyPair, days: int) -> None:
    with pytest.raises(ValidationError, match="valid_days"):
        pki.issue_client_certificate(ca, org="kent", role="auditor", valid_days=days)


def test_certificate_cannot_outlive_its_ca() -> None:
    short_ca = pki.create_ca("short", valid_days=10)
    with pytest.raises(ValidationError, match="outlive"):
        pki.issue_client_certificate(short_ca, org="kent", role="auditor", valid_days=30)


def test_issue_refuses_ca_key_that_does_not_match(ca: pki.CertKeyPair) -> None:
    other = pki.create_ca("other")
    with pytest.raises(ValidationError, match="does not belong"):
        pki.issue_client_certificate(pki.CertKeyPair(ca.cert_pem, other.key_pem), org="kent", role="auditor")


def test_repr_hides_private_key(client: pki.CertKeyPair) -> None:
    assert b"PRIVATE" in client.key_pem
    assert "PRIVATE" not in repr(client)
    assert client.key_pem.decode() not in repr(client)


# --- identity refusals (attacks on the parser) ----------------------------------------------------


def test_server_certificate_is_not_a_caller_identity(ca: pki.CertKeyPair) -> None:
    server = pki.issue_server_certificate(ca)
    with pytest.raises(AuthenticationError):
        pki.identity_from_pem(server.cert_pem)


def test_ca_certificate_is_not_a_caller_identity(ca: pki.CertKeyPair) -> None:
    with pytest.raises(AuthenticationError):
        pki.identity_from_pem(ca.cert_pem)


def test_forged_baseline_is_accepted(ca: pki.CertKeyPair) -> None:
    """The forging helper makes valid certificates, so the refusals below test one change each."""
    identity = pki.identity_from_pem(_forge(ca, subject=GOOD_SUBJECT, uris=[GOOD_URI]))
    assert (identity.org, identity.role) == ("humberside", "force-system")


BAD_IDENTITIES = {
    "unknown_role_in_subject": dict(
        subject=[
            (NameOID.ORGANIZATION_NAME, "humberside"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "admin"),
            (NameOID.COMMON_NAME, "humberside:admin"),
        ],
        uris=["crossforce://humberside/admin"],
    ),
    "bad_org_code": dict(
        subject=[
            (NameOID.ORGANIZATION_NAME, "Humberside Police"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "force-system"),
            (NameOID.COMMON_NAME, "Humberside Police:force-system"),
        ],
        uris=["crossforce://Humberside Police/force-system"],
    ),
    "san_names_other_org": dict(subject=GOOD_SUBJECT, uris=["crossforce://kent/force-system"]),
    "san_names_other_role": dict(subject=GOOD_SUBJECT, uris=["crossforce://humberside/operator"]),
    "two_crossforce_sans": dict(subject=GOOD_SUBJECT, uris=[GOOD_URI, "crossforce://kent/force-system"]),
    "no_san": dict(subject=GOOD_SUBJECT, uris=[]),
    "cn_mismatch": dict(
        subject=[*GOOD_SUBJECT[:2], (NameOID.COMMON_NAME, "kent:force-system")], uris=[GOOD_URI]
    ),
    "two_orgs": dict(subject=[(NameOID.ORGANIZATION_NAME, "kent"), *GOOD_SUBJECT], uris=[GOOD_URI]),
    "no_role": dict(
        subject=[GOOD_SUBJECT[0], (NameOID.COMMON_NAME, "humberside:force-system")], uris=[GOOD_URI]
    ),
    "server_eku": dict(subject=GOOD_SUBJECT, uris=[GOOD_URI], eku=ExtendedKeyUsageOID.SERVER_AUTH),
    "no_eku": dict(subject=GOOD_SUBJECT, uris=[GOOD_URI], eku=None),
    "is_a_ca": dict(subject=GOOD_SUBJECT, uris=[GOOD_URI], is_ca=True),
}


@pytest.mark.parametrize("case", sorted(BAD_IDENTITIES))
def test_identity_refused(ca: pki.CertKeyPair, case: str) -> None:
    cert_pem = _forge(ca, **BAD_IDENTITIES[case])  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError):
        pki.identity_from_pem(cert_pem)


@pytest.mark.parametrize(
    "blob", [b"", b"not a cert", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_garbage_is_not_an_identity(blob: bytes) -> None:
    with pytest.raises(AuthenticationError):
        pki.identity_from_pem(blob)


# --- chain verification ---------------------------------------------------------------------------


def test_verify_chain_accepts_own_ca(ca: pki.CertKeyPair, client: pki.CertKeyPair) -> None:
    pki.verify_chain(ca.cert_pem, client.cert_pem)
    identity = pki.verify_client_certificate(ca.cert_pem, client.cert_pem)
    assert identity.org == "humberside"


def test_certificate_from_another_ca_rejected(ca: pki.CertKeyPair) -> None:
    rogue_ca = pki.create_ca("test deployment")  # same name, different key
    rogue = pki.issue_client_certificate(rogue_ca, org="humberside", role="vetting-officer")
    with pytest.raises(AuthenticationError, match="not issued"):
        pki.verify_chain(ca.cert_pem, rogue.cert_pem)


def test_ca_bundle_trusts_both_cas_during_rotation(ca: pki.CertKeyPair, client: pki.CertKeyPair) -> None:
    new_ca = pki.create_ca("test deployment 2")
    new_client = pki.issue_client_certificate(new_ca, org="humberside", role="vetting-officer")
    bundle = new_ca.cert_pem + ca.cert_pem
    pki.verify_chain(bundle, client.cert_pem)
    pki.verify_chain(bundle, new_client.cert_pem)


def test_expired_certificate_rejected(ca: pki.CertKeyPair) -> None:
    pair = pki.issue_client_certificate(ca, org="kent", role="auditor", valid_days=1)
    pki.verify_chain(ca.cert_pem, pair.cert_pem, at=datetime.now(UTC) + timedelta(hours=23))
    with pytest.raises(AuthenticationError, match="expired"):
        pki.verify_chain(ca.cert_pem, pair.cert_pem, at=datetime.now(UTC) + timedelta(days=1, minutes=1))


def test_not_yet_valid_certificate_rejected(ca: pki.CertKeyPair, client: pki.CertKeyPair) -> None:
    with pytest.raises(AuthenticationError):
        pki.verify_chain(ca.cert_pem, client.cert_pem, at=datetime.now(UTC) - timedelta(hours=1))


def test_expired_ca_rejected() -> None:
    short_ca = pki.create_ca("short", valid_days=2)
    pair = pki.issue_client_certificate(short_ca, org="kent", role="auditor", valid_days=1)
    with pytest.raises(AuthenticationError, match="CA"):
        pki.verify_chain(short_ca.cert_pem, pair.cert_pem, at=datetime.now(UTC) + timedelta(days=3))


def test_leaf_cannot_act_as_ca(ca: pki.CertKeyPair, client: pki.CertKeyPair) -> None:
    """A client key signing a certificate whose issuer is the client's own subject gets nowhere."""
    forged = _forge(client, subject=GOOD_SUBJECT, uris=[GOOD_URI])
    with pytest.raises(AuthenticationError):
        pki.verify_chain(ca.cert_pem + client.cert_pem, forged)


def test_naive_time_refused(ca: pki.CertKeyPair, client: pki.CertKeyPair) -> None:
    with pytest.raises(ValidationError):
        pki.verify_chain(ca.cert_pem, client.cert_pem, at=datetime(2030, 1, 1))


# --- auth context -----------------------------------------------------------------------------------


def test_identity_from_auth_context(ca: pki.CertKeyPair, client: pki.CertKeyPair) -> None:
    context = {"x509_pem_cert": [client.cert_pem], "transport_security_type": [b"ssl"]}
    assert pki.identity_from_auth_context(context).role == "vetting-officer"
    assert pki.identity_from_auth_context(context, ca_pem=ca.cert_pem).org == "humberside"


def test_auth_context_without_certificate_refused() -> None:
    with pytest.raises(AuthenticationError, match="no client certificate"):
        pki.identity_from_auth_context({"transport_security_type": [b"ssl"]})


def test_auth_context_rechecks_chain_when_asked(ca: pki.CertKeyPair) -> None:
    rogue = pki.issue_client_certificate(pki.create_ca("rogue"), org="kent", role="operator")
    with pytest.raises(AuthenticationError):
        pki.identity_from_auth_context({"x509_pem_cert": [rogue.cert_pem]}, ca_pem=ca.cert_pem)


def test_credentials_args_order(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    pair = folder.issue("kent", "operator")
    key, cert, root = pki.server_credentials_args(folder)
    assert b"PRIVATE KEY" in key and b"CERTIFICATE" in cert and root == folder.ca_cert_pem()
    assert pki.client_credentials_args(pair, root) == (root, pair.key_pem, pair.cert_pem)


# --- the PKI folder --------------------------------------------------------------------------------


def test_pki_dir_layout_and_modes(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    folder.issue("humberside", "force-system")
    root = tmp_path / "pki"
    assert _mode(root) == 0o700
    assert _mode(root / "ca-key.pem") == 0o600
    assert _mode(root / "server-key.pem") == 0o600
    assert _mode(root / "issued" / "humberside" / "force-system-key.pem") == 0o600
    assert _mode(root / "ca.pem") == 0o644
    assert (root / "issued" / "humberside" / "force-system.pem").is_file()
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_pki_dir_round_trip(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    pair = folder.issue("humberside", "force-system", 7)
    again = pki.PkiDir(tmp_path / "pki")
    assert again.client_pair("humberside", "force-system") == pair
    pki.verify_chain(again.ca_cert_pem(), pair.cert_pem)
    pki.verify_chain(again.ca_cert_pem(), again.server_pair().cert_pem)
    assert again.load_ca().cert_pem == again.ca_cert_pem()


def test_pki_dir_create_refuses_to_overwrite_ca(tmp_path: Path) -> None:
    pki.PkiDir.create(tmp_path / "pki", name="t")
    with pytest.raises(AlreadyExistsError):
        pki.PkiDir.create(tmp_path / "pki", name="t")


def test_issue_twice_refused_renew_required(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    folder.issue("kent", "auditor")
    with pytest.raises(AlreadyExistsError):
        folder.issue("kent", "auditor")
    with pytest.raises(NotFoundError):
        folder.renew("kent", "operator")


def test_renew_gives_new_fingerprint_same_identity(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    old = folder.issue("kent", "disclosure-officer")
    new = folder.renew("kent", "disclosure-officer", 60)
    old_id, new_id = pki.identity_from_pem(old.cert_pem), pki.identity_from_pem(new.cert_pem)
    assert (old_id.org, old_id.role) == (new_id.org, new_id.role)
    assert old_id.fingerprint != new_id.fingerprint
    assert old.key_pem != new.key_pem
    assert new_id.not_after > old_id.not_after
    assert folder.client_pair("kent", "disclosure-officer") == new


def test_client_pair_missing(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    with pytest.raises(NotFoundError):
        folder.client_pair("kent", "auditor")


def test_path_traversal_org_refused(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    for org in ("../../etc", "..", "kent/../../x"):
        with pytest.raises(ValidationError):
            folder.issue(org, "auditor")


def test_mismatched_key_on_disk_detected(tmp_path: Path) -> None:
    """A crash between writing a new key and its certificate is reported, not served."""
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    folder.issue("kent", "auditor")
    other = folder.issue("essex", "auditor")
    folder.client_key_path("kent", "auditor").write_bytes(other.key_pem)
    with pytest.raises(ValidationError, match="does not belong"):
        folder.client_pair("kent", "auditor")


def test_issued_lists_identities(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    folder.issue("kent", "operator")
    folder.issue("essex", "auditor")
    folder.issue("kent", "force-system")
    assert [(i.org, i.role) for i in folder.issued()] == [
        ("essex", "auditor"),
        ("kent", "force-system"),
        ("kent", "operator"),
    ]


def test_renew_server(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    before = folder.server_pair()
    after = folder.renew_server(hostnames=("matcher.example", "localhost"), ips=("127.0.0.1", "::1"))
    assert folder.server_pair() == after != before
    cert = x509.load_pem_x509_certificate(after.cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["matcher.example", "localhost"]


@pytest.mark.parametrize(
    ("hostnames", "ips"), [("localhost", ()), ((), ()), (("",), ()), ((), ("not-an-ip",)), (("hé",), ())]
)
def test_bad_server_names_refused(
    ca: pki.CertKeyPair, hostnames: tuple[str, ...], ips: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError):
        pki.issue_server_certificate(ca, hostnames=hostnames, ips=ips)


def test_auth_context_with_plain_bytes_value(client: pki.CertKeyPair) -> None:
    """grpc's stubs type the values as bytes (the runtime gives lists); accept both shapes."""
    assert pki.identity_from_auth_context({"x509_pem_cert": client.cert_pem}).org == "humberside"
    with pytest.raises(AuthenticationError):
        pki.identity_from_auth_context({"x509_pem_cert": [client.cert_pem, client.cert_pem]})


# --- atomic writes (crossforce.fsutil), which every key and certificate file goes through ----------


def test_atomic_write_sets_exact_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        fsutil.atomic_write_private(tmp_path / "k", b"secret")
        fsutil.atomic_write(tmp_path / "c", b"public", mode=0o644)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "k") == 0o600
    assert _mode(tmp_path / "c") == 0o644
    assert (tmp_path / "k").read_bytes() == b"secret"


def test_atomic_write_replaces_and_tightens_mode(tmp_path: Path) -> None:
    target = tmp_path / "k"
    target.write_bytes(b"old")
    target.chmod(0o666)
    fsutil.atomic_write_private(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600


def test_failed_atomic_write_keeps_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "k"
    fsutil.atomic_write_private(target, b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        fsutil.atomic_write_private(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]


def test_read_limited_refuses_oversized_file(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 11)
    assert fsutil.read_limited(tmp_path / "big", 11) == b"x" * 11
    with pytest.raises(ValidationError, match="larger"):
        fsutil.read_limited(tmp_path / "big", 10)


def test_revoke_appends_fingerprint_to_deny_list(tmp_path: Path) -> None:
    folder = pki.PkiDir.create(tmp_path / "pki", name="t")
    old = folder.issue("kent", "operator")
    assert folder.revoked_fingerprints() == frozenset()
    revoked = folder.revoke("kent", "operator")
    assert revoked.fingerprint == pki.fingerprint(old.cert_pem)
    assert folder.revoke("kent", "operator") == revoked  # idempotent
    new = folder.renew("kent", "operator")
    folder.issue("essex", "auditor")
    folder.revoke("essex", "auditor")
    fingerprints = folder.revoked_fingerprints()
    assert pki.fingerprint(old.cert_pem) in fingerprints
    assert pki.fingerprint(new.cert_pem) not in fingerprints
    assert len(fingerprints) == 2
    lines = (tmp_path / "pki" / "revoked.txt").read_text().splitlines()
    assert len(lines) == 2 and "# kent/operator" in lines[0]
