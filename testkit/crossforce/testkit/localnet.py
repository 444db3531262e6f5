"""A whole deployment on this machine: PKI, a matcher on 127.0.0.1, organisation profiles.

The demo, the integration tests, the benchmarks and the load tests all stand on this, so each of them
exercises the same real path: real certificates, real mTLS, a real gRPC server and SQLite storage.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crossforce.client.profile import Profile
from crossforce.client.sdk import Client
from crossforce.crypto import pki
from crossforce.crypto.secrets import NetworkSecret

FORCE_ROLES = ("force-system", "disclosure-officer", "auditor")
VETTING_ROLES = ("force-system", "vetting-officer", "auditor")
"""A vetting body is an organisation of the same kind: its system registers keys and fetches disclosures."""


@dataclass
class LocalNet:
    root: Path
    pki: pki.PkiDir
    secret: NetworkSecret
    profiles: dict[str, Profile] = field(default_factory=dict)
    server: object | None = None
    port: int = 0

    @classmethod
    def create(cls, root: Path, *, name: str = "crossforce-local") -> LocalNet:
        root.mkdir(parents=True, exist_ok=True)
        pki_dir = pki.PkiDir.create(root / "pki", name=name)
        secret = NetworkSecret.create()
        return cls(root=root, pki=pki_dir, secret=secret)

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def start_server(self, **kwargs: object) -> None:
        from crossforce.server.app import start

        running = start(data_dir=self.root / "matcher", pki_dir=self.pki.path, **kwargs)  # type: ignore[arg-type]
        self.server = running
        self.port = running.port
        for org, prof in list(self.profiles.items()):
            self.profiles[org] = prof.with_server(self.address)

    def stop_server(self, grace: float = 2.0) -> None:
        if self.server is not None:
            self.server.stop(grace)  # type: ignore[attr-defined]
            self.server = None

    def add_org(self, org: str, *, display_name: str = "", roles: Sequence[str] = FORCE_ROLES) -> Profile:
        prof = Profile.create(
            self.root / "orgs" / org,
            org=org,
            display_name=display_name or org,
            server=self.address,
            pki_dir=self.pki,
            roles=tuple(roles),
            secret=self.secret,
        )
        self.profiles[org] = prof
        return prof

    def client(self, org: str, role: str) -> Client:
        return Client(self.profiles[org], role=role)

    def register_all(self) -> None:
        for org, prof in self.profiles.items():
            with Client(prof, role="force-system") as c:
                c.register()
            del org

    def rotate_secret(self) -> NetworkSecret:
        """A new epoch for everyone (the distribution a real deployment does out of band)."""
        self.secret = self.secret.rotate()
        for prof in self.profiles.values():
            prof.save_secret(self.secret)
        return self.secret


@contextlib.contextmanager
def running(
    root: Path, orgs: Sequence[tuple[str, Sequence[str]]], **server_kwargs: object
) -> Iterator[LocalNet]:
    net = LocalNet.create(root)
    net.start_server(**server_kwargs)
    for org, roles in orgs:
        net.add_org(org, roles=roles)
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()
