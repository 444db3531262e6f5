"""The deployment's certificate authority and the identities it issues.

Identity is mTLS: the matcher takes the organisation and role of every caller from its verified client
certificate, never from a request body, so a force cannot speak as another force by writing a different
name in a message. The invariants this module keeps:

* one certificate per organisation AND role; the organisation code and role appear twice, in the subject
  (O=org, OU=role, CN=org:role) and in a SAN URI ``crossforce://org/role``, and ``identity_from_pem``
  refuses a certificate where the two disagree or either is missing or unknown;
* client certificates carry EKU clientAuth and are never CAs; the server certificate carries serverAuth
  and no organisation, so it can never pass as a caller;
* client certificates are short-lived (30 days by default): there is no CRL, and expiry plus renewal is
  the revocation story. Renewal makes a fresh key, so the fingerprint changes and the identity does not;
* keys are EC P-256 (accepted by gRPC's BoringSSL everywhere), written 0600 through ``atomic_write``.

Nothing here imports grpc: ``server_credentials_args``, ``client_credentials_args`` and
``identity_from_auth_context`` give the grpc-importing code exactly the bytes and the identity it needs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crossforce.errors import (
    AlreadyExistsError,
    AuthenticationError,
    NotFoundError,
    ValidationError,
)
from crossforce.fsutil import atomic_write, atomic_write_private, make_private_dir, read_limited

ROLES: tuple[str, ...] = ("force-system", "vetting-officer", "disclosure-officer", "auditor", "operator")

ORG_CODE_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])")
"""Organisation codes (e.g. ``humberside``): lowercase letters, digits and inner hyphens, 2..64 chars.
Always use ``fullmatch``. Codes become folder names, so this also keeps paths inside the PKI folder."""

SAN_URI_SCHEME = "crossforce"
_SAN_URI_RE = re.compile(r"crossforce://([^/]+)/([^/]+)")

BACKDATE = timedelta(minutes=5)
"""Certificates start a little in the past so a peer whose clock runs slightly behind accepts them."""

DEFAULT_CA_DAYS = 3650
DEFAULT_SERVER_DAYS = 365
DEFAULT_CLIENT_DAYS = 30
MAX_PEM_BYTES = 64 * 1024
"""Bound on any certificate or key file we read; real ones are well under 2 KiB."""

AUTH_CONTEXT_CERT_KEY = "x509_pem_cert"
"""Key of the peer's PEM certificate in a gRPC ``ServicerContext.auth_context()``."""

_CA_ORGANISATION = "crossforce"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Identity:
    """Who a verified client certificate speaks for."""

    org: str
    role: str
    fingerprint: str
    """SHA-256 hex of the certificate's DER; changes on every renewal."""
    not_after: datetime


@dataclass(frozen=True)
class CertKeyPair:
    """A PEM certificate and its PEM (PKCS#8, unencrypted) private key."""

    cert_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:
        # Never let a private key reach a log line or a test failure message.
        return f"CertKeyPair(fingerprint={fingerprint(self.cert_pem)!r}, key_pem=<redacted>)"


# --- validation ---------------------------------------------------------------------------------


def validate_org(org: str) -> str:
    """Return ``org`` if it is a well-formed organisation code, else raise ValidationError."""
    if not isinstance(org, str) or not ORG_CODE_RE.fullmatch(org):
        raise ValidationError(
            "must be 2..64 lowercase letters, digits or inner hyphens", field="organisation code"
        )
    return org


def validate_role(role: str) -> str:
    """Return ``role`` if it is one of ROLES, else raise ValidationError naming the allowed roles."""
    if role not in ROLES:
        raise ValidationError(f"must be one of {', '.join(ROLES)}", field="role")
    return role


def _validate_days(valid_days: int) -> int:
    if isinstance(valid_days, bool) or not isinstance(valid_days, int) or valid_days < 1:
        raise ValidationError("must be a whole number of days, at least 1", field="valid_days")
    return valid_days


# --- parsing helpers ----------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _load_cert(cert_pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as exc:
        raise AuthenticationError("not a PEM X.509 certificate") from exc


def _load_cert_bundle(ca_pem: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(ca_pem)
    except (ValueError, TypeError) as exc:
        raise AuthenticationError("CA bundle is not PEM X.509 certificates") from exc
    return certs


def _load_key(key_pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValidationError("not an unencrypted PEM private key") from exc
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    raise ValidationError("private key must be EC (P-256) or Ed25519")


def _spki(key: PrivateKey | x509.Certificate) -> bytes:
    public = key.public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_pair(pair: CertKeyPair, what: str) -> tuple[x509.Certificate, PrivateKey]:
    cert = _load_cert(pair.cert_pem)
    key = _load_key(pair.key_pem)
    if _spki(cert) != _spki(key):
        raise ValidationError(f"{what}: private key does not belong to the certificate")
    return cert, key


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 hex (lowercase) of the certificate's DER encoding."""
    der = _load_cert(cert_pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


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
    _validate_days(valid_days)
    key = _new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _CA_ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    now = _now()
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
    ca_cert, ca_key = _check_pair(ca, "CA")
    _validate_days(valid_days)
    now = _now()
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
    ca: CertKeyPair, *, org: str, role: str, valid_days: int = DEFAULT_CLIENT_DAYS
) -> CertKeyPair:
    """A short-lived clientAuth certificate naming ``org`` and ``role`` in the subject and a SAN URI."""
    validate_org(org)
    validate_role(role)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{org}:{role}"),
        ]
    )
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
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _CA_ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )
    return _issue_leaf(
        ca, subject=subject, sans=sans, eku=ExtendedKeyUsageOID.SERVER_AUTH, valid_days=valid_days
    )


# --- identity and verification ------------------------------------------------------------------


def _single_attribute(cert: x509.Certificate, oid: x509.ObjectIdentifier, label: str) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        raise AuthenticationError(f"certificate subject must have exactly one {label}")
    return values[0].value


def _identity_of(cert: x509.Certificate) -> Identity:
    org = _single_attribute(cert, NameOID.ORGANIZATION_NAME, "organisation (O)")
    role = _single_attribute(cert, NameOID.ORGANIZATIONAL_UNIT_NAME, "role (OU)")
    common_name = _single_attribute(cert, NameOID.COMMON_NAME, "common name (CN)")
    if not ORG_CODE_RE.fullmatch(org):
        raise AuthenticationError("certificate organisation is not a valid organisation code")
    if role not in ROLES:
        raise AuthenticationError("certificate role is not a known role")
    if common_name != f"{org}:{role}":
        raise AuthenticationError("certificate common name does not match its organisation and role")
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ekus = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound as exc:
        raise AuthenticationError("certificate lacks a crossforce client extension") from exc
    except ValueError as exc:  # duplicate or malformed extensions
        raise AuthenticationError("certificate extensions are malformed") from exc
    uris = [
        u for u in sans.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith("crossforce:")
    ]
    if len(uris) != 1:
        raise AuthenticationError("certificate must carry exactly one crossforce:// SAN URI")
    match = _SAN_URI_RE.fullmatch(uris[0])
    if match is None or match.groups() != (org, role):
        raise AuthenticationError("certificate SAN URI does not match its organisation and role")
    if ExtendedKeyUsageOID.CLIENT_AUTH not in ekus:
        raise AuthenticationError("certificate is not for client authentication")
    if constraints.ca:
        raise AuthenticationError("a CA certificate cannot be a caller identity")
    der = cert.public_bytes(serialization.Encoding.DER)
    return Identity(
        org=org, role=role, fingerprint=hashlib.sha256(der).hexdigest(), not_after=cert.not_valid_after_utc
    )


def identity_from_pem(cert_pem: bytes) -> Identity:
    """Read the organisation and role a client certificate names; AuthenticationError if it names none.

    This parses; it does not check the issuer or dates (the TLS handshake has, and ``verify_chain``
    does offline). Use ``verify_client_certificate`` when the certificate did not come from a handshake.
    """
    return _identity_of(_load_cert(cert_pem))


def verify_chain(ca_pem: bytes, cert_pem: bytes, *, at: datetime | None = None) -> None:
    """Raise AuthenticationError unless ``cert_pem`` was signed by a CA in ``ca_pem`` and both are valid
    at ``at`` (default now).

    ``ca_pem`` may hold several CA certificates (during a CA rotation both are trusted). The chain is one
    level deep by design: the deployment CA signs end-entity certificates directly.
    """
    when = at or _now()
    if when.tzinfo is None:
        raise ValidationError("must be timezone-aware", field="at")
    cert = _load_cert(cert_pem)
    cas = _load_cert_bundle(ca_pem)
    for ca in cas:
        if ca.subject != cert.issuer:
            continue
        try:
            constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            continue
        if not constraints.ca:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            continue
        if not ca.not_valid_before_utc <= when <= ca.not_valid_after_utc:
            raise AuthenticationError("the issuing CA certificate is expired or not yet valid")
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            raise AuthenticationError("certificate is expired or not yet valid")
        return
    raise AuthenticationError("certificate was not issued by this deployment's CA")


def verify_client_certificate(ca_pem: bytes, cert_pem: bytes, *, at: datetime | None = None) -> Identity:
    """``verify_chain`` then ``identity_from_pem``: for certificates that did not arrive by handshake."""
    verify_chain(ca_pem, cert_pem, at=at)
    return identity_from_pem(cert_pem)


def identity_from_auth_context(
    auth_context: Mapping[str, object], *, ca_pem: bytes | None = None
) -> Identity:
    """The caller's identity from a gRPC ``context.auth_context()``; AuthenticationError if it has none.

    gRPC has verified the chain and dates in the handshake (``require_client_auth=True``); pass
    ``ca_pem`` to check the chain again as defence in depth. Takes ``Mapping[str, object]`` because
    grpc gives a list of bytes per key while its type stubs say plain bytes; both are accepted.
    """
    value = auth_context.get(AUTH_CONTEXT_CERT_KEY)
    certs = [value] if isinstance(value, bytes) else list(value) if isinstance(value, list | tuple) else []
    if len(certs) != 1 or not isinstance(certs[0], bytes):
        raise AuthenticationError("no client certificate presented")
    if ca_pem is not None:
        return verify_client_certificate(ca_pem, certs[0])
    return identity_from_pem(certs[0])


# --- grpc glue (bytes only; the grpc import lives in the server and client) ---------------------


def server_credentials_args(pki: PkiDir) -> tuple[bytes, bytes, bytes]:
    """(private key, certificate, CA bundle) for ``grpc.ssl_server_credentials([(key, cert)],
    root_certificates=ca, require_client_auth=True)``."""
    pair = pki.server_pair()
    return pair.key_pem, pair.cert_pem, pki.ca_cert_pem()


def client_credentials_args(pair: CertKeyPair, ca_pem: bytes) -> tuple[bytes, bytes, bytes]:
    """(root certificates, private key, certificate chain), the positional order of
    ``grpc.ssl_channel_credentials``."""
    _check_pair(pair, "client")
    return ca_pem, pair.key_pem, pair.cert_pem


# --- the PKI folder -----------------------------------------------------------------------------


class PkiDir:
    """A deployment's PKI folder (0700).

    Layout: ``ca.pem``, ``ca-key.pem`` (0600), ``server.pem``, ``server-key.pem`` (0600),
    ``issued/<org>/<role>.pem`` with ``issued/<org>/<role>-key.pem`` (0600), and ``revoked.txt``.
    Keys are written before their certificate, and every load checks that they belong together, so a
    crash mid-issue is reported instead of producing a server that cannot handshake.
    """

    CA_CERT = "ca.pem"
    CA_KEY = "ca-key.pem"
    SERVER_CERT = "server.pem"
    SERVER_KEY = "server-key.pem"
    ISSUED = "issued"
    REVOKED = "revoked.txt"
    """Fingerprint deny list the matcher re-reads on change: one SHA-256 hex per line, '#' comments."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"PkiDir({str(self.path)!r})"

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        name: str,
        hostnames: Sequence[str] = ("localhost",),
        ips: Sequence[str] = ("127.0.0.1",),
        ca_valid_days: int = DEFAULT_CA_DAYS,
        server_valid_days: int = DEFAULT_SERVER_DAYS,
    ) -> PkiDir:
        """Make a new CA and server certificate in ``path``; AlreadyExistsError if a CA is there."""
        pki = cls(path)
        if (pki.path / cls.CA_CERT).exists() or (pki.path / cls.CA_KEY).exists():
            raise AlreadyExistsError(f"{pki.path} already holds a CA; refusing to overwrite it")
        ca = create_ca(name, valid_days=ca_valid_days)
        server = issue_server_certificate(ca, hostnames=hostnames, ips=ips, valid_days=server_valid_days)
        make_private_dir(pki.path)
        pki._write_pair(pki.path / cls.CA_CERT, pki.path / cls.CA_KEY, ca)
        pki._write_pair(pki.path / cls.SERVER_CERT, pki.path / cls.SERVER_KEY, server)
        return pki

    # reading

    def _read(self, path: Path, what: str) -> bytes:
        try:
            return read_limited(path, MAX_PEM_BYTES)
        except FileNotFoundError as exc:
            raise NotFoundError(f"{what} not found at {path}") from exc
        except IsADirectoryError as exc:
            raise ValidationError(f"{what} path {path} is a folder") from exc

    def _read_pair(self, cert_path: Path, key_path: Path, what: str) -> CertKeyPair:
        pair = CertKeyPair(self._read(cert_path, f"{what} certificate"), self._read(key_path, f"{what} key"))
        _check_pair(pair, what)
        return pair

    def load_ca(self) -> CertKeyPair:
        """The CA certificate and key (needed only to issue; the matcher needs ``ca_cert_pem``)."""
        return self._read_pair(self.path / self.CA_CERT, self.path / self.CA_KEY, "CA")

    def ca_cert_pem(self) -> bytes:
        """The CA certificate bundle both sides trust."""
        pem = self._read(self.path / self.CA_CERT, "CA certificate")
        _load_cert_bundle(pem)
        return pem

    def server_pair(self) -> CertKeyPair:
        return self._read_pair(self.path / self.SERVER_CERT, self.path / self.SERVER_KEY, "server")

    def client_cert_path(self, org: str, role: str) -> Path:
        return self.path / self.ISSUED / validate_org(org) / f"{validate_role(role)}.pem"

    def client_key_path(self, org: str, role: str) -> Path:
        return self.path / self.ISSUED / validate_org(org) / f"{validate_role(role)}-key.pem"

    def client_pair(self, org: str, role: str) -> CertKeyPair:
        """The issued certificate and key for ``org``/``role``; NotFoundError if never issued."""
        return self._read_pair(self.client_cert_path(org, role), self.client_key_path(org, role), "client")

    def issued(self) -> tuple[Identity, ...]:
        """Every identity with a certificate in the folder, sorted by organisation then role."""
        found: list[Identity] = []
        root = self.path / self.ISSUED
        if not root.is_dir():
            return ()
        for org_dir in sorted(root.iterdir()):
            if not org_dir.is_dir() or not ORG_CODE_RE.fullmatch(org_dir.name):
                continue
            for role in ROLES:
                cert_path = org_dir / f"{role}.pem"
                if cert_path.is_file():
                    found.append(identity_from_pem(self._read(cert_path, "client certificate")))
        return tuple(sorted(found, key=lambda i: (i.org, ROLES.index(i.role))))

    # writing

    @staticmethod
    def _write_pair(cert_path: Path, key_path: Path, pair: CertKeyPair) -> None:
        atomic_write_private(key_path, pair.key_pem)
        atomic_write(cert_path, pair.cert_pem, mode=0o644)

    def issue(self, org: str, role: str, valid_days: int = DEFAULT_CLIENT_DAYS) -> CertKeyPair:
        """Issue and write a first certificate for ``org``/``role``; AlreadyExistsError if one exists."""
        cert_path = self.client_cert_path(org, role)
        if cert_path.exists():
            raise AlreadyExistsError(f"{org}/{role} already has a certificate; use renew")
        return self._issue(org, role, valid_days)

    def renew(self, org: str, role: str, valid_days: int = DEFAULT_CLIENT_DAYS) -> CertKeyPair:
        """Replace ``org``/``role``'s certificate with one on a fresh key; NotFoundError if none exists.

        The old certificate stays valid until it expires (there is no CRL), which is why client
        certificates are short-lived.
        """
        if not self.client_cert_path(org, role).exists():
            raise NotFoundError(f"{org}/{role} has no certificate to renew; use issue")
        return self._issue(org, role, valid_days)

    def _issue(self, org: str, role: str, valid_days: int) -> CertKeyPair:
        pair = issue_client_certificate(self.load_ca(), org=org, role=role, valid_days=valid_days)
        cert_path = self.client_cert_path(org, role)
        make_private_dir(self.path / self.ISSUED)
        make_private_dir(cert_path.parent)
        self._write_pair(cert_path, self.client_key_path(org, role), pair)
        return pair

    def renew_server(
        self,
        *,
        hostnames: Sequence[str] = ("localhost",),
        ips: Sequence[str] = ("127.0.0.1",),
        valid_days: int = DEFAULT_SERVER_DAYS,
    ) -> CertKeyPair:
        """Replace the server certificate (new key); restart the matcher to pick it up."""
        pair = issue_server_certificate(self.load_ca(), hostnames=hostnames, ips=ips, valid_days=valid_days)
        self._write_pair(self.path / self.SERVER_CERT, self.path / self.SERVER_KEY, pair)
        return pair

    def revoked_fingerprints(self) -> frozenset[str]:
        """Fingerprints in ``revoked.txt`` (empty if the file does not exist)."""
        try:
            text = read_limited(self.path / self.REVOKED, 16 * 1024 * 1024).decode("utf-8")
        except FileNotFoundError:
            return frozenset()
        entries = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
        return frozenset(e for e in entries if e)

    def revoke(self, org: str, role: str) -> Identity:
        """Deny the current certificate of ``org``/``role`` by fingerprint, before its expiry.

        The matcher refuses it on the next call. To replace a compromised certificate, ``revoke`` first
        and ``renew`` second (revoking after a renewal would deny the new certificate).
        """
        identity = identity_from_pem(self._read(self.client_cert_path(org, role), "client certificate"))
        path = self.path / self.REVOKED
        try:
            existing = read_limited(path, 16 * 1024 * 1024)
        except FileNotFoundError:
            existing = b""
        if identity.fingerprint in self.revoked_fingerprints():
            return identity
        if existing and not existing.endswith(b"\n"):
            existing += b"\n"
        line = f"{identity.fingerprint}  # {org}/{role} until {identity.not_after:%Y-%m-%dT%H:%M:%SZ}\n"
        atomic_write(path, existing + line.encode(), mode=0o644)
        return identity
