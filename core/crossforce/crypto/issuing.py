"""Issuing: the deployment CA and the server and client certificates it signs (invariants in ``pki``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crossforce.clock import utc_now
from crossforce.crypto.certificates import (
    BACKDATE,
    CA_ORGANISATION,
    DEFAULT_CA_DAYS,
    DEFAULT_CLIENT_DAYS,
    DEFAULT_SERVER_DAYS,
    KIND_OID,
    SAN_URI_SCHEME,
    CertKeyPair,
    PrivateKey,
    check_pair,
    validate_days,
    validate_kind,
    validate_org,
    validate_role,
)
from crossforce.domain.enums import OrgKind
from crossforce.errors import (
    ValidationError,
)

# --- issuing ------------------------------------------------------------------------------------


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _hash_for(key: PrivateKey) -> hashes.SHA256 | None:
    # Ed25519 signs the message itself; cryptography wants no hash algorithm for it.
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def create_ca(name: str, *, valid_days: int = DEFAULT_CA_DAYS) -> CertKeyPair:
    """A fresh self-signed CA that may sign end-entity certificates only (path length 0)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise ValidationError("must be 1..64 characters", field="CA name")
    validate_days(valid_days)
    key = _new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    now = utc_now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertKeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _issue_leaf(
    ca: CertKeyPair,
    *,
    subject: x509.Name,
    sans: list[x509.GeneralName],
    eku: x509.ObjectIdentifier,
    valid_days: int,
) -> CertKeyPair:
    ca_cert, ca_key = check_pair(ca, "CA")
    validate_days(valid_days)
    now = utc_now()
    not_after = now + timedelta(days=valid_days)
    if not_after > ca_cert.not_valid_after_utc:
        raise ValidationError(
            f"certificate would outlive its CA (CA expires {ca_cert.not_valid_after_utc:%Y-%m-%d}); "
            "issue a shorter one or rotate the CA",
            field="valid_days",
        )
    key = _new_key()
    try:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        )
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - BACKDATE, ca_cert.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, _hash_for(ca_key))
    )
    return CertKeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def san_uri(org: str, role: str) -> str:
    """The SAN URI that names an identity, e.g. ``crossforce://humberside/force-system``."""
    return f"{SAN_URI_SCHEME}://{validate_org(org)}/{validate_role(role)}"


def issue_client_certificate(
    ca: CertKeyPair,
    *,
    org: str,
    role: str,
    kind: OrgKind | str | None = None,
    valid_days: int = DEFAULT_CLIENT_DAYS,
) -> CertKeyPair:
    """A short-lived clientAuth certificate naming ``org`` and ``role`` in the subject and a SAN URI, and
    the organisation's ``kind`` in the subject's businessCategory.

    ``kind`` None takes the default of ``validate_kind`` (territorial police for a listed force code);
    an unlisted organisation without a kind gets a certificate with none, which the matcher treats as not
    police and not the operator. ValidationError for a police-only role to a kind that is not police.
    """
    validate_org(org)
    validate_role(role)
    resolved = validate_kind(org, role, kind)
    attributes = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
    ]
    if resolved is not None:
        attributes.append(x509.NameAttribute(KIND_OID, resolved.value))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, f"{org}:{role}"))
    subject = x509.Name(attributes)
    return _issue_leaf(
        ca,
        subject=subject,
        sans=[x509.UniformResourceIdentifier(san_uri(org, role))],
        eku=ExtendedKeyUsageOID.CLIENT_AUTH,
        valid_days=valid_days,
    )


def issue_server_certificate(
    ca: CertKeyPair,
    *,
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    valid_days: int = DEFAULT_SERVER_DAYS,
) -> CertKeyPair:
    """The matcher's serverAuth certificate; clients check it against ``hostnames`` and ``ips`` SANs."""
    if isinstance(hostnames, str) or isinstance(ips, str):
        raise ValidationError("hostnames and ips must be sequences of strings, not a single string")
    sans: list[x509.GeneralName] = []
    for host in hostnames:
        if not isinstance(host, str) or not host or len(host) > 253 or not host.isascii():
            raise ValidationError("each hostname must be 1..253 ASCII characters", field="hostnames")
        sans.append(x509.DNSName(host.lower()))
    for ip in ips:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError as exc:
            raise ValidationError("each entry must be an IPv4 or IPv6 address", field="ips") from exc
    if not sans:
        raise ValidationError("a server certificate needs at least one hostname or IP address")
    common_name = hostnames[0] if hostnames else str(ips[0])
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )
    return _issue_leaf(
        ca, subject=subject, sans=sans, eku=ExtendedKeyUsageOID.SERVER_AUTH, valid_days=valid_days
    )
