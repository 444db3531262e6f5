"""Certificates and identities: what a verified mTLS certificate says about its holder (see ``pki``).

Parsing, validation and chain checks over PEM bytes, and the identity (organisation, role and
organisation kind) that the matcher takes from a caller's certificate. No file I/O and no grpc:
``server_credentials_args`` and ``client_credentials_args`` hand the grpc-importing code exactly the
bytes it needs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crossforce.clock import utc_now
from crossforce.domain import ROLES  # role names are defined once, in the domain
from crossforce.domain.enums import OrgKind, Role
from crossforce.errors import (
    AuthenticationError,
    ValidationError,
)
from crossforce.forces import all_forces

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

CA_ORGANISATION = "crossforce"

KIND_OID = NameOID.BUSINESS_CATEGORY
"""Where a client certificate carries its organisation's kind: subject businessCategory (2.5.4.15), the
X.520 attribute meant for "the kind of business" a subject is. In the signed subject, not the SAN URI, so
the URI ``crossforce://org/role`` that names an identity (and every tool that reads it) is unchanged, and a
matcher from before kinds still accepts the certificate while it is rolled out."""

POLICE_ONLY_ROLES: tuple[str, ...] = (Role.DISCLOSURE_OFFICER.value,)
"""Roles the CA issues to police kinds only: a disclosure officer decides on records its force holds.

``force-system`` is NOT here although it is a holder role: a vetting body needs its system to register
the key its disclosures are sealed to (``Registry/Register`` is force-system only, so a stolen officer
certificate cannot swap that key) and to fetch them. What makes it harmless is the matcher: it refuses
every holder RPC (publish, resolve, decide) to a non-police kind, whatever role the certificate names."""

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Identity:
    """Who a verified client certificate speaks for."""

    org: str
    role: str
    fingerprint: str
    """SHA-256 hex of the certificate's DER; changes on every renewal."""
    not_after: datetime
    kind: OrgKind | None = None
    """The organisation's kind as its certificate says. A certificate without one (issued before kinds)
    gets the kind of its code in forces.csv (territorial police), else None: an unknown kind, treated as
    not police (no holder RPC) and not the operator (an auditor reads only its own organisation's entries)."""

    def __post_init__(self) -> None:
        if self.kind is None:  # one rule for old certificates, development identities and tests alike
            object.__setattr__(self, "kind", listed_kind(self.org))

    @property
    def is_police(self) -> bool:
        """Whether this organisation holds police records: may publish and act as a request's holder."""
        return self.kind is not None and self.kind.is_police


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


@cache
def _listed_force_codes() -> frozenset[str]:
    return frozenset(force.code for force in all_forces())


def listed_kind(org: str) -> OrgKind | None:
    """The kind an organisation code has by default: territorial police if forces.csv lists it, else None
    (the CA must say which kind it is)."""
    return OrgKind.TERRITORIAL_POLICE if org in _listed_force_codes() else None


def resolve_kind(org: str, kind: OrgKind | str | None) -> OrgKind | None:
    """``org``'s kind: ``kind`` if given (ValidationError unless a known kind), else ``listed_kind``.

    A listed force code is always territorial police, so no other body can be issued a force's code
    under another kind.
    """
    if kind is not None and not isinstance(kind, OrgKind):
        try:
            kind = OrgKind(kind)
        except ValueError:
            raise ValidationError(
                f"must be one of {', '.join(k.value for k in OrgKind)}", field="organisation kind"
            ) from None
    default = listed_kind(org)
    if default is not None and kind not in (None, default):
        raise ValidationError(
            f"{org} is a territorial police force (core/crossforce/data/forces.csv); its kind is {default}",
            field="organisation kind",
        )
    return kind or default


def validate_kind(org: str, role: str, kind: OrgKind | str | None) -> OrgKind | None:
    """The kind to put in ``org``/``role``'s certificate (``resolve_kind``); ValidationError where the CA
    must refuse: a police-only role (``POLICE_ONLY_ROLES``) to a kind that is not police or is unknown."""
    resolved = resolve_kind(org, kind)
    if role in POLICE_ONLY_ROLES and (resolved is None or not resolved.is_police):
        said = resolved.value if resolved is not None else "not given"
        raise ValidationError(
            f"role {role} is for police forces only (kind territorial-police or national-police); "
            f"{org}'s kind is {said}",
            field="role",
        )
    return resolved


def validate_days(valid_days: int) -> int:
    if isinstance(valid_days, bool) or not isinstance(valid_days, int) or valid_days < 1:
        raise ValidationError("must be a whole number of days, at least 1", field="valid_days")
    return valid_days


# --- parsing helpers ----------------------------------------------------------------------------


def load_cert(cert_pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as exc:
        raise AuthenticationError("not a PEM X.509 certificate") from exc


def load_cert_bundle(ca_pem: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(ca_pem)
    except (ValueError, TypeError) as exc:
        raise AuthenticationError("CA bundle is not PEM X.509 certificates") from exc
    return certs


def load_key(key_pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValidationError("not an unencrypted PEM private key") from exc
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    raise ValidationError("private key must be EC (P-256) or Ed25519")


def spki(key: PrivateKey | x509.Certificate) -> bytes:
    public = key.public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_pair(pair: CertKeyPair, what: str) -> tuple[x509.Certificate, PrivateKey]:
    cert = load_cert(pair.cert_pem)
    key = load_key(pair.key_pem)
    if spki(cert) != spki(key):
        raise ValidationError(f"{what}: private key does not belong to the certificate")
    return cert, key


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 hex (lowercase) of the certificate's DER encoding."""
    der = load_cert(cert_pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


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
        org=org,
        role=role,
        fingerprint=hashlib.sha256(der).hexdigest(),
        not_after=cert.not_valid_after_utc,
        kind=_declared_kind(cert),
    )


def _declared_kind(cert: x509.Certificate) -> OrgKind | None:
    """The kind in the subject's businessCategory, or None for a certificate issued before kinds."""
    values = cert.subject.get_attributes_for_oid(KIND_OID)
    if not values:
        return None
    if len(values) != 1 or not isinstance(values[0].value, str):
        raise AuthenticationError("certificate subject must have at most one organisation kind")
    try:
        return OrgKind(values[0].value)
    except ValueError:
        raise AuthenticationError("certificate organisation kind is not a known kind") from None


def identity_from_pem(cert_pem: bytes) -> Identity:
    """Read the organisation and role a client certificate names; AuthenticationError if it names none.

    This parses; it does not check the issuer or dates (the TLS handshake has, and ``verify_chain``
    does offline). Use ``verify_client_certificate`` when the certificate did not come from a handshake.
    """
    return _identity_of(load_cert(cert_pem))


def verify_chain(ca_pem: bytes, cert_pem: bytes, *, at: datetime | None = None) -> None:
    """Raise AuthenticationError unless ``cert_pem`` was signed by a CA in ``ca_pem`` and both are valid
    at ``at`` (default now).

    ``ca_pem`` may hold several CA certificates (during a CA rotation both are trusted). The chain is one
    level deep by design: the deployment CA signs end-entity certificates directly.
    """
    when = at or utc_now()
    if when.tzinfo is None:
        raise ValidationError("must be timezone-aware", field="at")
    cert = load_cert(cert_pem)
    cas = load_cert_bundle(ca_pem)
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


def client_credentials_args(pair: CertKeyPair, ca_pem: bytes) -> tuple[bytes, bytes, bytes]:
    """(root certificates, private key, certificate chain), the positional order of
    ``grpc.ssl_channel_credentials``."""
    check_pair(pair, "client")
    return ca_pem, pair.key_pem, pair.cert_pem
