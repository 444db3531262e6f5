"""Is a certificate usable at a given moment, and what to tell the person if not (pure).

One rule for three places: the SDK refuses to dial with an expired or not-yet-valid certificate and
warns when one ends within ``EXPIRY_WARNING_DAYS`` (``crossforce.client.connection``), and
``crossforce doctor`` prints the same verdict (``crossforce.client.health``). Parsing PEM bytes only:
no file, clock or network; the caller passes "now". Messages name the organisation, role, dates and the
command to renew with, never a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crossforce.crypto.certificates import fingerprint, identity_from_pem, load_cert, load_cert_bundle

EXPIRY_WARNING_DAYS = 7
"""A certificate that ends within this many days draws a warning on every command."""


class CertificateExpiryWarning(UserWarning):
    """A certificate this profile uses ends soon; the message says when and how to renew it.

    A Python warning because the SDK prints nothing itself: a program that embeds it sees a standard
    warning, and the CLI turns it into one ``warning:`` line on stderr.
    """


@dataclass(frozen=True)
class CertFacts:
    """What a certificate says about itself: whose it is, its name, its validity, its fingerprint."""

    org: str
    role: str
    common_name: str
    not_before: datetime
    not_after: datetime
    fingerprint: str


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def cert_facts(cert_pem: bytes) -> CertFacts:
    """The facts of a client certificate's PEM; AuthenticationError if it is not a crossforce identity."""
    identity = identity_from_pem(cert_pem)
    cert = load_cert(cert_pem)
    return CertFacts(
        org=identity.org,
        role=identity.role,
        common_name=common_name(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint=identity.fingerprint,
    )


def newest_ca(ca_pem: bytes) -> CertFacts | None:
    """The CA in the profile's bundle that ends last (during a rotation the bundle holds two), or None.

    ``org`` and ``role`` are empty: a CA names no organisation. AuthenticationError if not PEM."""
    cas = load_cert_bundle(ca_pem)
    if not cas:
        return None
    ca = max(cas, key=lambda c: c.not_valid_after_utc)
    return CertFacts(
        org="",
        role="",
        common_name=common_name(ca),
        not_before=ca.not_valid_before_utc,
        not_after=ca.not_valid_after_utc,
        fingerprint=fingerprint(ca.public_bytes(serialization.Encoding.PEM)),
    )


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days until ``not_after``, rounded toward zero: 29 for 29.9, -10 for "ten days ago"."""
    return int((not_after - now) / timedelta(days=1))


def when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def renew_hint(org: str, role: str, profile_path: str) -> str:
    """What to ask for: ``pki renew`` (``pki issue`` refuses an identity that already has a certificate)."""
    return (
        "ask your PKI administrator to reissue it: "
        f"crossforce pki renew PKI_DIR --org {org} --role {role} --profile {profile_path}"
    )


def certificate_problem(cert: CertFacts, now: datetime, *, profile_path: str) -> str | None:
    """Why this certificate cannot be used at ``now`` (expired, not yet valid), or None if it can."""
    if now > cert.not_after:
        return (
            f"your certificate for {cert.org}/{cert.role} expired on {when(cert.not_after)}; "
            + renew_hint(cert.org, cert.role, profile_path)
        )
    if now < cert.not_before:
        return (
            f"your certificate for {cert.org}/{cert.role} is not valid until {when(cert.not_before)}; "
            "check this machine's clock, or ask your PKI administrator why it was issued for later"
        )
    return None


def expiry_warning(cert: CertFacts, now: datetime, *, profile_path: str) -> str | None:
    """A warning if the certificate is usable but ends within ``EXPIRY_WARNING_DAYS``, else None."""
    if certificate_problem(cert, now, profile_path=profile_path) is not None:
        return None
    left = days_left(cert.not_after, now)
    if left >= EXPIRY_WARNING_DAYS:
        return None
    in_words = "within a day" if left < 1 else f"in {left} day{'s' if left != 1 else ''}"
    return (
        f"your certificate for {cert.org}/{cert.role} expires on {when(cert.not_after)} ({in_words}); "
        + renew_hint(cert.org, cert.role, profile_path)
    )


def ca_problem(ca_pem: bytes, now: datetime) -> str | None:
    """Why no CA in the profile's bundle is valid at ``now``, or None if one is."""
    cas = load_cert_bundle(ca_pem)
    if any(c.not_valid_before_utc <= now <= c.not_valid_after_utc for c in cas):
        return None
    newest = newest_ca(ca_pem)
    if newest is None:
        return "the profile's ca.pem holds no certificate; ask your PKI administrator for it"
    state, moment = (
        ("expired on", newest.not_after)
        if now > newest.not_after
        else ("is not valid until", newest.not_before)
    )
    return (
        f"the deployment CA certificate {newest.common_name} {state} {when(moment)}; "
        "ask your PKI administrator for the current ca.pem"
    )
