"""Organisation kinds in client certificates (issue 15 items 5 and 9): what the CA writes and refuses,
what the parser reads, how the PKI folder keeps one kind per organisation, and the CLI's ``--kind``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import NameOID

from crossforce.cli.main import cli
from crossforce.errors import AuthenticationError, ValidationError
from crossforce.keystore import pki
from crossforce.server.identity import dev_identity
from tests.unit.test_pki import GOOD_SUBJECT, GOOD_URI, _forge

OrgKind = pki.OrgKind
NOT_POLICE = [OrgKind.VETTING_BODY, OrgKind.OPERATOR]


@pytest.fixture(scope="module")
def ca() -> pki.CertKeyPair:
    return pki.create_ca("kinds test")


def _business_category(cert_pem: bytes) -> list[str]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.BUSINESS_CATEGORY)]


def _san_uris(cert_pem: bytes) -> list[str]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(sans.get_values_for_type(x509.UniformResourceIdentifier))


# --- issuing ------------------------------------------------------------------------------------


def test_listed_force_gets_territorial_police_by_default(ca: pki.CertKeyPair) -> None:
    pair = pki.issue_client_certificate(ca, org="kent", role="force-system")
    assert _business_category(pair.cert_pem) == ["territorial-police"]
    assert pki.identity_from_pem(pair.cert_pem).kind is OrgKind.TERRITORIAL_POLICE


def test_kind_is_in_the_subject_and_the_san_uri_is_unchanged(ca: pki.CertKeyPair) -> None:
    pair = pki.issue_client_certificate(ca, org="dbs", role="vetting-officer", kind="vetting-body")
    identity = pki.identity_from_pem(pair.cert_pem)
    assert (identity.org, identity.role, identity.kind) == ("dbs", "vetting-officer", OrgKind.VETTING_BODY)
    assert _business_category(pair.cert_pem) == ["vetting-body"]
    assert _san_uris(pair.cert_pem) == ["crossforce://dbs/vetting-officer"]
    assert not identity.is_police


@pytest.mark.parametrize("kind", NOT_POLICE)
def test_disclosure_officer_refused_to_a_kind_that_is_not_police(ca: pki.CertKeyPair, kind: OrgKind) -> None:
    with pytest.raises(ValidationError, match="police forces only"):
        pki.issue_client_certificate(ca, org="dbs", role="disclosure-officer", kind=kind)


def test_disclosure_officer_refused_to_an_unlisted_org_of_no_kind(ca: pki.CertKeyPair) -> None:
    with pytest.raises(ValidationError, match="kind is not given"):
        pki.issue_client_certificate(ca, org="dbs", role="disclosure-officer")


def test_national_police_holds_every_role(ca: pki.CertKeyPair) -> None:
    for role in pki.ROLES:
        pair = pki.issue_client_certificate(ca, org="nca", role=role, kind=OrgKind.NATIONAL_POLICE)
        assert pki.identity_from_pem(pair.cert_pem).is_police


@pytest.mark.parametrize("role", ["force-system", "vetting-officer", "auditor", "operator"])
def test_vetting_body_gets_the_roles_it_needs(ca: pki.CertKeyPair, role: str) -> None:
    """force-system too: it registers the body's box key and fetches disclosures (the matcher, not the
    CA, stops it publishing)."""
    pair = pki.issue_client_certificate(ca, org="dbs", role=role, kind=OrgKind.VETTING_BODY)
    assert pki.identity_from_pem(pair.cert_pem).kind is OrgKind.VETTING_BODY


@pytest.mark.parametrize("kind", ["national-police", "vetting-body", "operator"])
def test_listed_force_code_cannot_be_issued_as_another_kind(ca: pki.CertKeyPair, kind: str) -> None:
    with pytest.raises(ValidationError, match="territorial police force"):
        pki.issue_client_certificate(ca, org="humberside", role="vetting-officer", kind=kind)


@pytest.mark.parametrize("kind", ["police", "Vetting-Body", "", "operator "])
def test_unknown_kind_refused(ca: pki.CertKeyPair, kind: str) -> None:
    with pytest.raises(ValidationError, match="organisation kind"):
        pki.issue_client_certificate(ca, org="dbs", role="vetting-officer", kind=kind)


def test_unlisted_org_without_kind_gets_a_certificate_of_unknown_kind(ca: pki.CertKeyPair) -> None:
    pair = pki.issue_client_certificate(ca, org="dbs", role="vetting-officer")
    assert _business_category(pair.cert_pem) == []
    identity = pki.identity_from_pem(pair.cert_pem)
    assert identity.kind is None and not identity.is_police


# --- parsing certificates issued before kinds, and forged ones ----------------------------------


def test_old_certificate_of_a_listed_force_counts_as_territorial_police(ca: pki.CertKeyPair) -> None:
    identity = pki.identity_from_pem(_forge(ca, subject=GOOD_SUBJECT, uris=[GOOD_URI]))
    assert identity.kind is OrgKind.TERRITORIAL_POLICE and identity.is_police


def test_old_certificate_of_an_unlisted_org_has_no_kind(ca: pki.CertKeyPair) -> None:
    subject = [
        (NameOID.ORGANIZATION_NAME, "dbs"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "force-system"),
        (NameOID.COMMON_NAME, "dbs:force-system"),
    ]
    identity = pki.identity_from_pem(_forge(ca, subject=subject, uris=["crossforce://dbs/force-system"]))
    assert identity.kind is None and not identity.is_police


@pytest.mark.parametrize(
    "categories", [["police"], ["vetting-body", "territorial-police"], ["territorial-police "]]
)
def test_malformed_kind_in_a_certificate_is_refused(ca: pki.CertKeyPair, categories: list[str]) -> None:
    subject = [*GOOD_SUBJECT[:2], *((NameOID.BUSINESS_CATEGORY, c) for c in categories), GOOD_SUBJECT[2]]
    with pytest.raises(AuthenticationError, match="kind"):
        pki.identity_from_pem(_forge(ca, subject=subject, uris=[GOOD_URI]))


def test_identity_built_without_kind_takes_the_listed_kind() -> None:
    issued = pki.issue_client_certificate(pki.create_ca("x"), org="kent", role="auditor")
    from_cert = pki.identity_from_pem(issued.cert_pem)
    bare = pki.Identity(org="kent", role="auditor", fingerprint="f", not_after=from_cert.not_after)
    assert bare.kind is OrgKind.TERRITORIAL_POLICE
    assert pki.Identity("dbs", "auditor", "f", from_cert.not_after).kind is None


# --- development-mode identities ----------------------------------------------------------------


def test_dev_identity_reads_an_optional_kind() -> None:
    assert dev_identity("kent:force-system").kind is OrgKind.TERRITORIAL_POLICE
    assert dev_identity("dbs:force-system").kind is None
    assert dev_identity("ops:auditor:operator").kind is OrgKind.OPERATOR


@pytest.mark.parametrize("text", ["dbs", "dbs:force-system:police", "a:b:c:d", "dbs:admin", ":auditor"])
def test_dev_identity_refuses_malformed_headers(text: str) -> None:
    with pytest.raises(AuthenticationError):
        dev_identity(text)


# --- the PKI folder: one kind per organisation --------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> pki.PkiDir:
    return pki.PkiDir.create(tmp_path / "pki", name="kinds")


def test_folder_records_the_kind_and_later_roles_inherit_it(folder: pki.PkiDir) -> None:
    folder.issue("dbs", "vetting-officer", kind="vetting-body")
    assert folder.kind_of("dbs") is OrgKind.VETTING_BODY
    assert stat.S_IMODE(folder.kind_path("dbs").stat().st_mode) == 0o644
    auditor = folder.issue("dbs", "auditor")  # no kind given: the recorded one
    assert pki.identity_from_pem(auditor.cert_pem).kind is OrgKind.VETTING_BODY
    renewed = folder.renew("dbs", "vetting-officer")
    assert pki.identity_from_pem(renewed.cert_pem).kind is OrgKind.VETTING_BODY
    assert {i.kind for i in folder.issued()} == {OrgKind.VETTING_BODY}


def test_folder_refuses_a_second_kind_for_one_organisation(folder: pki.PkiDir) -> None:
    folder.issue("dbs", "vetting-officer", kind="vetting-body")
    with pytest.raises(ValidationError, match="one kind"):
        folder.issue("dbs", "auditor", kind="operator")
    assert not folder.client_cert_path("dbs", "auditor").exists()


def test_folder_refuses_disclosure_officer_to_a_recorded_vetting_body(folder: pki.PkiDir) -> None:
    folder.issue("dbs", "force-system", kind="vetting-body")
    with pytest.raises(ValidationError, match="police forces only"):
        folder.issue("dbs", "disclosure-officer")


def test_refused_role_records_no_kind(folder: pki.PkiDir) -> None:
    with pytest.raises(ValidationError, match="police forces only"):
        folder.issue("dbs", "disclosure-officer", kind="vetting-body")
    assert not folder.kind_path("dbs").exists()
    folder.issue("dbs", "disclosure-officer", kind="national-police")  # the CA may still decide
    assert folder.kind_of("dbs") is OrgKind.NATIONAL_POLICE


def test_listed_force_needs_no_recorded_kind(folder: pki.PkiDir) -> None:
    pair = folder.issue("kent", "disclosure-officer")
    assert pki.identity_from_pem(pair.cert_pem).kind is OrgKind.TERRITORIAL_POLICE
    with pytest.raises(ValidationError, match="territorial police force"):
        folder.declare_kind("kent", "vetting-body")


# --- the CLI --------------------------------------------------------------------------------------


def _cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_issue_requires_a_kind_for_an_unlisted_org(folder: pki.PkiDir) -> None:
    code, out = _cli("pki", "issue", folder.path, "--org", "dbs", "--role", "vetting-officer")
    assert code != 0 and "--kind" in out
    assert not folder.client_cert_path("dbs", "vetting-officer").exists()


def test_cli_issue_with_kind_then_list_shows_it(folder: pki.PkiDir) -> None:
    code, out = _cli(
        "pki",
        "issue",
        folder.path,
        "--org",
        "dbs",
        "--role",
        "vetting-officer",
        "--kind",
        "vetting-body",
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["kind"] == "vetting-body"
    code, out = _cli("pki", "issue", folder.path, "--org", "dbs", "--role", "auditor", "--json")
    assert code == 0 and json.loads(out)["kind"] == "vetting-body"  # recorded: no --kind needed again
    code, out = _cli("pki", "issue", folder.path, "--org", "kent", "--role", "force-system", "--json")
    assert code == 0 and json.loads(out)["kind"] == "territorial-police"
    code, out = _cli("pki", "list", folder.path, "--json")
    kinds = {(c["org"], c["role"]): c["kind"] for c in json.loads(out)["certificates"]}
    assert kinds == {
        ("dbs", "vetting-officer"): "vetting-body",
        ("dbs", "auditor"): "vetting-body",
        ("kent", "force-system"): "territorial-police",
    }


def test_cli_refuses_disclosure_officer_for_a_vetting_body(folder: pki.PkiDir) -> None:
    code, out = _cli(
        "pki", "issue", folder.path, "--org", "dbs", "--role", "disclosure-officer", "--kind", "vetting-body"
    )
    assert code != 0 and "police forces only" in out
