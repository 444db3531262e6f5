"""An organisation's profile folder: everything one force or vetting body holds locally.

Layout (0700): ``profile.json`` (org, display name, matcher address: one ``host:port``, or several
comma-separated for identical matchers sharing one database), ``ca.pem``, ``certs/<role>.pem`` and
``certs/<role>-key.pem``, ``keys/`` (Ed25519 signing and X25519 box keys), ``network-secret.json``,
``tokens.sqlite3`` (the local token store) and ``state.json`` (the trust state, ``crossforce.client.trust``:
the last tree head seen, the matcher's log key, the keys pinned for other organisations, the last index
version published per epoch; changed only under its lock file, ``crossforce.client.truststore``) and,
optionally, ``config.toml``, the defaults for officer, purpose, legal basis and server
(``crossforce.client.profileconfig``). Nothing here is ever sent to the matcher except public keys,
tokens and ciphertext. An officer's workstation profile (``profileworkstation``) holds only the public
half of ``keys/`` and no token store: it checks, and cannot register, publish or approve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossforce.client.profileconfig import addresses
from crossforce.client.trust import encode_state
from crossforce.client.truststore import TrustStore
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.crypto.secrets import NetworkSecret
from crossforce.domain import OrgKind
from crossforce.errors import NotFoundError, ValidationError
from crossforce.fsutil import atomic_write, atomic_write_private, make_private_dir
from crossforce.keystore import (
    KEY_FILE,
    load_network_secret,
    load_org_keys,
    pki,
    save_network_secret,
    save_org_keys,
)

PROFILE_FILE = "profile.json"
STATE_FILE = "state.json"
SECRET_FILE = "network-secret.json"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True)
class Profile:
    path: Path
    org: str
    display_name: str
    server: str
    dev_plaintext: bool = False

    # ------------------------------------------------------------------ creation and loading
    @classmethod
    def create(
        cls,
        path: Path,
        *,
        org: str,
        display_name: str,
        server: str,
        pki_dir: pki.PkiDir | None,
        roles: tuple[str, ...],
        secret: NetworkSecret | None,
        dev_plaintext: bool = False,
        kind: OrgKind | None = None,
    ) -> Profile:
        pki.validate_org(org)
        addresses(server)
        make_private_dir(path)
        if (path / PROFILE_FILE).exists():
            raise ValidationError(f"{path} already holds a profile", field="path")
        save_org_keys(OrgKeys.generate(org), path / "keys")
        if pki_dir is not None:
            atomic_write(path / "ca.pem", pki_dir.ca_cert_pem())
            for role in roles:
                pair = pki_dir.issue(org, role, kind=kind)
                make_private_dir(path / "certs")
                atomic_write_private(path / "certs" / f"{role}-key.pem", pair.key_pem)
                atomic_write(path / "certs" / f"{role}.pem", pair.cert_pem)
        if secret is not None:
            save_network_secret(secret, path / SECRET_FILE)
        doc = {"org": org, "display_name": display_name, "server": server, "dev_plaintext": dev_plaintext}
        atomic_write(path / PROFILE_FILE, json.dumps(doc, indent=2).encode())
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> Profile:
        file = Path(path) / PROFILE_FILE
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ValidationError(f"no profile at {path}; create one with `crossforce org create`") from exc
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{file} is not valid JSON (line {exc.lineno})") from exc
        return cls(
            path=Path(path),
            org=doc["org"],
            display_name=doc.get("display_name", doc["org"]),
            server=doc["server"],
            dev_plaintext=bool(doc.get("dev_plaintext", False)),
        )

    @property
    def addresses(self) -> tuple[str, ...]:
        """The matcher addresses ``server`` names, in the order the SDK tries them."""
        return addresses(self.server)

    def with_server(self, server: str) -> Profile:
        addresses(server)
        doc = {
            "org": self.org,
            "display_name": self.display_name,
            "server": server,
            "dev_plaintext": self.dev_plaintext,
        }
        atomic_write(self.path / PROFILE_FILE, json.dumps(doc, indent=2).encode())
        return Profile(self.path, self.org, self.display_name, server, self.dev_plaintext)

    # ------------------------------------------------------------------ material
    def roles(self) -> list[str]:
        certs = self.path / "certs"
        return (
            sorted(p.stem for p in certs.glob("*.pem") if not p.stem.endswith("-key"))
            if certs.exists()
            else []
        )

    def cert_pair(self, role: str) -> pki.CertKeyPair:
        cert = self.path / "certs" / f"{role}.pem"
        key = self.path / "certs" / f"{role}-key.pem"
        if not cert.exists():
            have = ", ".join(self.roles()) or "none"
            raise ValidationError(f"profile {self.org} has no certificate for role {role} (has: {have})")
        return pki.CertKeyPair(cert_pem=cert.read_bytes(), key_pem=key.read_bytes())

    def install_cert(self, role: str, pair: pki.CertKeyPair) -> None:
        make_private_dir(self.path / "certs")
        atomic_write_private(self.path / "certs" / f"{role}-key.pem", pair.key_pem)
        atomic_write(self.path / "certs" / f"{role}.pem", pair.cert_pem)

    def ca_pem(self) -> bytes:
        return (self.path / "ca.pem").read_bytes()

    def org_keys(self) -> OrgKeys:
        """The organisation's private keys. NotFoundError naming the missing file and who holds it when
        the profile has none (an officer's workstation holds only the public file, ``profileworkstation``):
        registering or rotating keys, publishing, approving and opening disclosures need them."""
        keys_dir = self.path / "keys"
        if not (keys_dir / KEY_FILE).exists():
            raise NotFoundError(
                f"{keys_dir / KEY_FILE} is not in this profile (an officer's workstation holds only the "
                f"organisation's public keys): registering or rotating keys, publishing, approving a "
                f"disclosure and opening one need {self.org}'s private keys, which only its system "
                "profile holds (the one that ran `crossforce org register`); do this there"
            )
        return load_org_keys(keys_dir, org=self.org)

    @property
    def holds_org_keys(self) -> bool:
        """Whether this profile holds the organisation's private keys (a workstation does not)."""
        return (self.path / "keys" / KEY_FILE).exists()

    def secret(self) -> NetworkSecret:
        return load_network_secret(self.path / SECRET_FILE)

    def save_secret(self, secret: NetworkSecret) -> None:
        save_network_secret(secret, self.path / SECRET_FILE)

    @property
    def token_store_path(self) -> Path:
        return self.path / "tokens.sqlite3"

    # ------------------------------------------------------------------ state
    def trust_store(self) -> TrustStore:
        """The profile's trust state (pins, log key, last head, index versions), file-locked."""
        return TrustStore(self.path / STATE_FILE)

    def state(self) -> dict[str, Any]:
        """The trust state as its JSON document (format 2, migrated if older), for display only.

        Code that decides anything reads the typed ``trust_store().load()`` instead.
        """
        data: dict[str, Any] = json.loads(encode_state(self.trust_store().load()))
        return data
