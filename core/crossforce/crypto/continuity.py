"""Key continuity: is an organisation's whole key history its own work? (pure, no I/O)

docs/threat-model.md, "the operator swaps an organisation's keys". The matcher's operator holds the
database and the log key, so it can append a well-formed, logged KEY_CHANGE carrying keys it made. Log
inclusion alone therefore proves nothing about who made a key version. What the operator cannot make:

- version 1's ``certificate_proof``: a signature by the organisation's CA-issued certificate key
  (``orgkeys.verify_key_binding``), on a certificate that chains to the deployment CA, names the
  organisation and the force-system role (the only role that may register keys);
- every later version's ``previous_key_proof``: a signature by the version before's signing key
  (``orgkeys.verify_key_change``).

``verify_key_history`` checks every version in order and refuses (``VerificationError``) at the first
that fails, naming its log index. A client calls it before pinning or re-pinning another organisation's
keys, and on its own organisation's history to alarm on key events its keys did not make.

Without a CA (a development-mode profile that connects in plaintext), version 1 cannot be anchored and is
taken on first use; every later version is still checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crossforce.crypto import certificates, orgkeys
from crossforce.domain import Role
from crossforce.errors import CrossforceError, VerificationError


@dataclass(frozen=True, kw_only=True)
class KeyVersion:
    """One key version as its log event records it, with the leaf that records it."""

    org: str
    signing_key: bytes
    box_key: bytes
    key_version: int
    log_index: int
    at_ms: int
    certificate: bytes = field(default=b"", repr=False)
    certificate_proof: bytes = field(default=b"", repr=False)
    previous_key_proof: bytes = field(default=b"", repr=False)


def unproven_change(org: str, log_index: int) -> VerificationError:
    """The one message for a key change its previous key did not make (the attack this module defeats)."""
    return VerificationError(
        f"key change for {org} at log index {log_index} has no valid proof from its previous key: "
        f"refusing to pin; report to the operator and {org}"
    )


def verify_key_history(org: str, history: Sequence[KeyVersion], *, ca_pem: bytes | None) -> None:
    """Refuse (VerificationError) unless ``history`` is ``org``'s versions 1..n, each proven.

    ``ca_pem``: the deployment CA(s) version 1's certificate must chain to; None only for a profile without
    a CA (development mode), where version 1 is taken on first use.
    """
    if not history:
        raise VerificationError(f"the matcher returned no key history for {org}")
    for position, version in enumerate(history, start=orgkeys.FIRST_KEY_VERSION):
        if version.org != org or version.key_version != position:
            raise VerificationError(
                f"the key history of {org} is not versions 1 to {len(history)} in order "
                f"(log index {version.log_index} holds version {version.key_version} of {version.org}): "
                f"refusing to pin; report to the operator and {org}"
            )
        if position == orgkeys.FIRST_KEY_VERSION:
            if ca_pem is not None:
                _verify_binding(org, version, ca_pem)
            continue
        previous = history[position - 2]
        try:
            orgkeys.verify_key_change(
                org,
                version.signing_key,
                version.box_key,
                version.key_version,
                version.previous_key_proof,
                previous.signing_key,
            )
        except CrossforceError as exc:
            raise unproven_change(org, version.log_index) from exc


def _verify_binding(org: str, first: KeyVersion, ca_pem: bytes) -> None:
    """Version 1 was bound by a force-system certificate for ``org`` that the deployment CA issued, valid
    when the matcher logged it."""
    where = f"the first keys of {org} at log index {first.log_index}"
    if not first.certificate or not first.certificate_proof:
        raise VerificationError(
            f"{where} carry no certificate proof (registered before key continuity, or by a matcher in "
            f"development mode): refusing to pin; {org} must be re-enrolled through the CA"
        )
    try:
        pem = x509.load_der_x509_certificate(first.certificate).public_bytes(serialization.Encoding.PEM)
        at = datetime.fromtimestamp(first.at_ms / 1000, tz=UTC)
        identity = certificates.verify_client_certificate(ca_pem, pem, at=at)
    except (CrossforceError, ValueError, OverflowError) as exc:
        raise VerificationError(
            f"{where} are bound to a certificate this profile's CA did not issue: refusing to pin; "
            f"report to the operator and {org}"
        ) from exc
    if identity.org != org or identity.role != Role.FORCE_SYSTEM:
        raise VerificationError(
            f"{where} are bound to a certificate for {identity.org} ({identity.role}), not {org}'s "
            f"{Role.FORCE_SYSTEM} certificate: refusing to pin; report to the operator and {org}"
        )
    try:
        orgkeys.verify_key_binding(
            org, first.signing_key, first.box_key, first.certificate_proof, first.certificate
        )
    except CrossforceError as exc:
        raise VerificationError(
            f"{where} carry a certificate proof that does not verify: refusing to pin; "
            f"report to the operator and {org}"
        ) from exc
