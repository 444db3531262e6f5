"""Key continuity (issue 16): the proofs that bind an organisation's key versions, and the history rule.

Each refusal is named after what the operator (who holds the log key but no organisation's certificate
key or signing key) would try: keys of its own as version 1 or as a later version, a proof by the wrong
certificate or key, a gap in the versions.
"""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from crossforce.auditlog.events import KeyChange, Registration, parse_event
from crossforce.crypto import continuity, issuing, orgkeys
from crossforce.crypto.certificates import CertKeyPair, load_cert, load_key
from crossforce.crypto.continuity import KeyVersion
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.errors import ValidationError, VerificationError

CA = issuing.create_ca("unit-ca")
KENT_CERT = issuing.issue_client_certificate(CA, org="kent", role="force-system")
NOW_MS = int(datetime.datetime.now(tz=datetime.UTC).timestamp() * 1000)


def _der(pair: CertKeyPair) -> bytes:
    return load_cert(pair.cert_pem).public_bytes(serialization.Encoding.DER)


def _first(keys: OrgKeys, cert: CertKeyPair = KENT_CERT, *, index: int = 0) -> KeyVersion:
    return KeyVersion(
        org=keys.org,
        signing_key=keys.signing_public,
        box_key=keys.box_public,
        key_version=1,
        log_index=index,
        at_ms=NOW_MS,
        certificate=_der(cert),
        certificate_proof=orgkeys.sign_key_binding(keys, load_key(cert.key_pem)),
    )


def _next(previous: OrgKeys, new: OrgKeys, version: int, *, index: int) -> KeyVersion:
    return KeyVersion(
        org=new.org,
        signing_key=new.signing_public,
        box_key=new.box_public,
        key_version=version,
        log_index=index,
        at_ms=NOW_MS,
        previous_key_proof=orgkeys.sign_key_change(previous, new, new_version=version),
    )


V1, V2, V3 = (OrgKeys.generate("kent") for _ in range(3))
HONEST = [_first(V1), _next(V1, V2, 2, index=7), _next(V2, V3, 3, index=19)]


def test_an_honest_history_of_three_versions_verifies() -> None:
    continuity.verify_key_history("kent", HONEST, ca_pem=CA.cert_pem)


def test_operator_key_change_without_previous_key_proof_is_refused() -> None:
    operator = OrgKeys.generate("kent")
    forged = dataclasses.replace(_next(V2, operator, 3, index=19), previous_key_proof=b"")
    with pytest.raises(VerificationError) as refused:
        continuity.verify_key_history("kent", [*HONEST[:2], forged], ca_pem=CA.cert_pem)
    assert str(refused.value) == (
        "key change for kent at log index 19 has no valid proof from its previous key: refusing to pin; "
        "report to the operator and kent"
    )


def test_operator_key_change_signed_by_its_own_key_is_refused() -> None:
    operator = OrgKeys.generate("kent")
    with pytest.raises(VerificationError, match="at log index 7 has no valid proof"):
        continuity.verify_key_history("kent", [HONEST[0], _next(operator, operator, 2, index=7)], ca_pem=None)


def test_a_proof_for_other_keys_does_not_carry_over() -> None:
    """The hand-over to V2, pasted onto the operator's keys at version 2."""
    operator = OrgKeys.generate("kent")
    pasted = dataclasses.replace(HONEST[1], signing_key=operator.signing_public, box_key=operator.box_public)
    with pytest.raises(VerificationError, match="at log index 7"):
        continuity.verify_key_history("kent", [HONEST[0], pasted], ca_pem=CA.cert_pem)


@pytest.mark.parametrize(
    "history",
    [
        pytest.param([HONEST[0], HONEST[2]], id="version-skipped"),
        pytest.param([HONEST[1], HONEST[2]], id="first-version-hidden"),
        pytest.param([], id="empty"),
    ],
)
def test_a_history_with_gaps_is_refused(history: list[KeyVersion]) -> None:
    with pytest.raises(VerificationError):
        continuity.verify_key_history("kent", history, ca_pem=CA.cert_pem)


def test_first_keys_bound_by_another_orgs_certificate_are_refused() -> None:
    essex = issuing.issue_client_certificate(CA, org="essex", role="force-system")
    with pytest.raises(VerificationError, match="certificate for essex"):
        continuity.verify_key_history("kent", [_first(V1, essex)], ca_pem=CA.cert_pem)


def test_first_keys_bound_by_an_officer_certificate_are_refused() -> None:
    officer = issuing.issue_client_certificate(CA, org="kent", role="disclosure-officer")
    with pytest.raises(VerificationError, match="not kent's force-system certificate"):
        continuity.verify_key_history("kent", [_first(V1, officer)], ca_pem=CA.cert_pem)


def test_first_keys_bound_by_a_certificate_of_another_ca_are_refused() -> None:
    stranger = issuing.issue_client_certificate(
        issuing.create_ca("operator-ca"), org="kent", role="force-system"
    )
    with pytest.raises(VerificationError, match="CA did not issue"):
        continuity.verify_key_history("kent", [_first(V1, stranger)], ca_pem=CA.cert_pem)


def test_first_keys_without_a_certificate_proof_are_refused_with_a_ca() -> None:
    bare = dataclasses.replace(HONEST[0], certificate=b"", certificate_proof=b"")
    with pytest.raises(VerificationError, match="no certificate proof"):
        continuity.verify_key_history("kent", [bare], ca_pem=CA.cert_pem)
    continuity.verify_key_history("kent", [bare, *HONEST[1:]], ca_pem=None)  # development mode: first use


def test_a_certificate_proof_over_other_keys_is_refused() -> None:
    operator = OrgKeys.generate("kent")
    swapped = dataclasses.replace(HONEST[0], signing_key=operator.signing_public)
    with pytest.raises(VerificationError, match="does not verify"):
        continuity.verify_key_history("kent", [swapped], ca_pem=CA.cert_pem)


def _ed25519_certificate() -> tuple[bytes, ed25519.Ed25519PrivateKey]:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kent:force-system")])
    now = datetime.datetime.now(tz=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.DER), key


def test_key_binding_verifies_under_ec_and_ed25519_certificate_keys() -> None:
    ec_proof = orgkeys.sign_key_binding(V1, load_key(KENT_CERT.key_pem))
    orgkeys.verify_key_binding("kent", V1.signing_public, V1.box_public, ec_proof, _der(KENT_CERT))
    der, key = _ed25519_certificate()
    ed_proof = orgkeys.sign_key_binding(V1, key)
    orgkeys.verify_key_binding("kent", V1.signing_public, V1.box_public, ed_proof, der)
    with pytest.raises(VerificationError):
        orgkeys.verify_key_binding("kent", V1.signing_public, V1.box_public, ed_proof, _der(KENT_CERT))
    with pytest.raises(VerificationError):
        orgkeys.verify_key_binding("kent", V1.signing_public, V1.box_public, ec_proof, b"not a certificate")


def test_a_key_change_payload_moves_exactly_one_version() -> None:
    with pytest.raises(ValidationError):
        orgkeys.key_change_payload("kent", V2.signing_public, V2.box_public, 3, 1)
    assert orgkeys.key_change_payload("kent", V2.signing_public, V2.box_public, 2, 1) != (
        orgkeys.key_change_payload("kent", V2.signing_public, V2.box_public, 3, 2)
    )


def test_key_events_carry_their_proofs_and_old_events_still_decode() -> None:
    common = {"at_ms": 1, "actor_org": "kent", "actor_role": "force-system", "org": "kent"}
    keys = {"signing_key": V1.signing_public, "box_key": V1.box_public}
    old = Registration(**common, **keys, key_version=1)
    assert parse_event(old.encode()) == old
    assert "certificate" not in old.stored_fields()
    bound = Registration(
        **common, **keys, key_version=1, certificate=b"\x30\x01", certificate_proof=b"\x01" * 64
    )
    assert parse_event(bound.encode()) == bound
    change = KeyChange(**common, **keys, key_version=2, previous_key_proof=b"\x02" * 64, previous_log_index=5)
    assert parse_event(change.encode()) == change
    at_zero = dataclasses.replace(change, previous_log_index=0)
    assert "previous_log_index" not in at_zero.stored_fields()
    assert parse_event(at_zero.encode()) == at_zero
