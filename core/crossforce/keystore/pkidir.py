"""The deployment's PKI folder on disk: the CA, the server and every issued identity (0700/0600).

Why here and not in ``crossforce.crypto``: the crypto package is pure (certificates and keys as bytes);
everything that reads or writes the folder lives in ``crossforce.keystore``. Invariants: keys are written
before their certificate, 0600 inside 0700 folders, always through ``atomic_write``; every load checks
that key and certificate belong together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crossforce.crypto.certificates import (
    DEFAULT_CA_DAYS,
    DEFAULT_CLIENT_DAYS,
    DEFAULT_SERVER_DAYS,
    MAX_PEM_BYTES,
    ORG_CODE_RE,
    CertKeyPair,
    Identity,
    check_pair,
    identity_from_pem,
    load_cert_bundle,
    resolve_kind,
    validate_kind,
    validate_org,
    validate_role,
)
from crossforce.crypto.issuing import create_ca, issue_client_certificate, issue_server_certificate
from crossforce.domain import ROLES  # role names are defined once, in the domain
from crossforce.domain.enums import OrgKind
from crossforce.errors import (
    AlreadyExistsError,
    NotFoundError,
    ValidationError,
)
from crossforce.fsutil import atomic_write, atomic_write_private, make_private_dir, read_limited

PUBLIC_FILE_MODE = 0o644
"""Certificates and the revocation list are public: anyone on the host may read them."""
MAX_REVOKED_BYTES = 16 * 1024 * 1024
"""Bound on ``revoked.txt``: a SHA-256 line is ~100 bytes, so this holds over 100,000 revocations."""

# --- the PKI folder -----------------------------------------------------------------------------


class PkiDir:
    """A deployment's PKI folder (0700).

    Layout: ``ca.pem``, ``ca-key.pem`` (0600), ``server.pem``, ``server-key.pem`` (0600),
    ``issued/<org>/<role>.pem`` with ``issued/<org>/<role>-key.pem`` (0600), ``issued/<org>/kind`` (the
    organisation's kind, once the CA has said it), and ``revoked.txt``.
    Keys are written before their certificate, and every load checks that they belong together, so a
    crash mid-issue is reported instead of producing a server that cannot handshake. An organisation has
    one kind: every certificate issued or renewed for it carries the kind recorded for it.
    """

    CA_CERT = "ca.pem"
    CA_KEY = "ca-key.pem"
    SERVER_CERT = "server.pem"
    SERVER_KEY = "server-key.pem"
    ISSUED = "issued"
    REVOKED = "revoked.txt"
    KIND = "kind"
    """Per organisation, under ``issued/<org>/``: its kind, as the CA first declared it."""
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
        check_pair(pair, what)
        return pair

    def load_ca(self) -> CertKeyPair:
        """The CA certificate and key (needed only to issue; the matcher needs ``ca_cert_pem``)."""
        return self._read_pair(self.path / self.CA_CERT, self.path / self.CA_KEY, "CA")

    def ca_cert_pem(self) -> bytes:
        """The CA certificate bundle both sides trust."""
        pem = self._read(self.path / self.CA_CERT, "CA certificate")
        load_cert_bundle(pem)
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

    def kind_path(self, org: str) -> Path:
        return self.path / self.ISSUED / validate_org(org) / self.KIND

    def kind_of(self, org: str) -> OrgKind | None:
        """``org``'s kind: as recorded in the folder, else as its forces.csv code says, else None.

        None means the CA has never said: its certificates carry no kind (see ``Identity.kind``)."""
        try:
            text = read_limited(self.kind_path(org), 64).decode("ascii").strip()
        except FileNotFoundError:
            return resolve_kind(org, None)
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"{self.kind_path(org)} cannot be read: {exc}") from exc
        return resolve_kind(org, text)

    def declare_kind(self, org: str, kind: OrgKind | str) -> OrgKind:
        """Record ``org``'s kind; ValidationError if a different kind is already recorded or implied.

        Changing an organisation's kind is not an issuing decision (its existing certificates say the old
        one): revoke them, and delete ``issued/<org>/kind`` deliberately, first."""
        wanted = resolve_kind(org, kind)
        assert wanted is not None  # resolve_kind returns a given kind or raises
        recorded = self.kind_of(org)
        if recorded is not None and recorded != wanted:
            raise ValidationError(
                f"{org} is recorded as {recorded} in {self.kind_path(org)}; an organisation has one kind",
                field="organisation kind",
            )
        if not self.kind_path(org).exists():
            make_private_dir(self.path / self.ISSUED)
            make_private_dir(self.kind_path(org).parent)
            atomic_write(self.kind_path(org), f"{wanted.value}\n".encode(), mode=PUBLIC_FILE_MODE)
        return wanted

    # writing

    @staticmethod
    def _write_pair(cert_path: Path, key_path: Path, pair: CertKeyPair) -> None:
        atomic_write_private(key_path, pair.key_pem)
        atomic_write(cert_path, pair.cert_pem, mode=PUBLIC_FILE_MODE)

    def issue(
        self,
        org: str,
        role: str,
        valid_days: int = DEFAULT_CLIENT_DAYS,
        *,
        kind: OrgKind | str | None = None,
    ) -> CertKeyPair:
        """Issue and write a first certificate for ``org``/``role``; AlreadyExistsError if one exists.

        ``kind``, when given, is recorded for ``org`` (``declare_kind``) after the role is checked
        against it; otherwise the recorded (or listed) kind is used."""
        cert_path = self.client_cert_path(org, role)
        if cert_path.exists():
            raise AlreadyExistsError(f"{org}/{role} already has a certificate; use renew")
        if kind is not None:
            validate_kind(org, role, kind)  # refuse the role before recording anything
            self.declare_kind(org, kind)  # raises if another kind is recorded: one kind per organisation
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
        pair = issue_client_certificate(
            self.load_ca(), org=org, role=role, kind=self.kind_of(org), valid_days=valid_days
        )
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
            text = read_limited(self.path / self.REVOKED, MAX_REVOKED_BYTES).decode("utf-8")
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
        return self.deny(identity)

    def deny(self, identity: Identity) -> Identity:
        """Append ``identity``'s fingerprint to the deny list (once) that the matcher re-reads on change."""
        if identity.fingerprint in self.revoked_fingerprints():
            return identity
        path = self.path / self.REVOKED
        try:
            existing = read_limited(path, MAX_REVOKED_BYTES)
        except FileNotFoundError:
            existing = b""
        if existing and not existing.endswith(b"\n"):
            existing += b"\n"
        who = f"{identity.org}/{identity.role}"
        line = f"{identity.fingerprint}  # {who} until {identity.not_after:%Y-%m-%dT%H:%M:%SZ}\n"
        atomic_write(path, existing + line.encode(), mode=PUBLIC_FILE_MODE)
        return identity


def server_credentials_args(pki: PkiDir) -> tuple[bytes, bytes, bytes]:
    """(private key, certificate, CA bundle) for ``grpc.ssl_server_credentials([(key, cert)],
    root_certificates=ca, require_client_auth=True)``."""
    pair = pki.server_pair()
    return pair.key_pem, pair.cert_pem, pki.ca_cert_pem()
