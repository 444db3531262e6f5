"""A whole deployment on this machine: PKI, a matcher on 127.0.0.1, organisation profiles.

The matcher runs from an exported server folder (``server_pki_dir``), never the CA folder, so every test
exercises the layout ``serve`` insists on.

The demo, the integration tests, the benchmarks and the load tests all stand on this, so each of them
exercises the same real path: real certificates, real mTLS, a real gRPC server and real storage: SQLite
in ``root/matcher``, or, when the net is created with ``db``, a PostgreSQL database (upgraded by the
caller) with only the log signing key in ``root/matcher``.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc

    from crossforce.server import RunningServer, ServerSettings
    from crossforce.server.store import Storage

from crossforce.client.epochs import EpochOperator
from crossforce.client.profile import Profile
from crossforce.client.sdk import Client
from crossforce.crypto.secrets import NetworkSecret
from crossforce.domain import Role
from crossforce.domain.enums import OrgKind
from crossforce.domain.epochs import EpochState
from crossforce.keystore import pki

MATCHER_PKI = "matcher-pki"
"""The folder under the net's root the matcher serves from: exported from the CA folder ``pki``."""
FORCE_ROLES: tuple[Role, ...] = (Role.FORCE_SYSTEM, Role.DISCLOSURE_OFFICER, Role.AUDITOR)
"""The certificates a test force holds: its system, its disclosure desk and its own auditor."""
VETTING_ROLES: tuple[Role, ...] = (Role.FORCE_SYSTEM, Role.VETTING_OFFICER, Role.AUDITOR)
"""A vetting body's certificates: its system registers keys and fetches disclosures (it may not publish:
its kind is ``vetting-body``), its officers check, its auditor reads what concerns the body."""
OVERSIGHT_ROLES: tuple[Role, ...] = (Role.AUDITOR, Role.OPERATOR)
"""The operator's organisation (kind ``operator``): the auditor that reads the whole log, and the operator."""
OVERSEER = "inspectorate"
"""The code ``add_overseer`` gives the operator's organisation, whose auditor reads everything."""
NETWORK_OPERATOR = "network-ops"
"""The operator's organisation a net makes for epoch acts when it has no overseer."""


def net_kind(org: str, roles: Sequence[str]) -> OrgKind:
    """The kind a test net gives ``org`` when the test does not say: a force listed in forces.csv is
    territorial police; any other organisation with a disclosure desk is a national police force (it holds
    records), and one without is a vetting body. A real CA is never this lenient: it must be told."""
    listed = pki.listed_kind(org)
    if listed is not None:
        return listed
    if Role.DISCLOSURE_OFFICER in roles:
        return OrgKind.NATIONAL_POLICE
    return OrgKind.VETTING_BODY


class NetPkiDir(pki.PkiDir):
    """The test net's CA folder: a revocation returns once every matcher of the net must have seen it.

    A matcher re-reads its deny list at most every ``DENY_LIST_RECHECK_S`` (by content, not ``stat``), so
    a test that revokes and then expects a refusal would otherwise race it."""

    def deny(self, identity: pki.Identity) -> pki.Identity:
        from crossforce.server.identity import DENY_LIST_RECHECK_S  # the server's own bound, not a guess

        denied = super().deny(identity)
        time.sleep(DENY_LIST_RECHECK_S + 0.05)
        return denied


@dataclass
class LocalNet:
    root: Path
    pki: pki.PkiDir
    secret: NetworkSecret
    profiles: dict[str, Profile] = field(default_factory=dict)
    server: RunningServer | None = None
    """The in-process matcher ``start_server`` started, or None (stopped, or a matcher run elsewhere)."""
    port: int = 0
    _operator: Profile | None = None
    """The operator's own profile, made on first use when the net has no overseer (``operator_client``)."""
    db: str | None = None
    """The PostgreSQL DSN the matcher stores everything in (schema already upgraded), or None for SQLite
    in ``data_dir``. Kept for every restart, so a restarted matcher finds the same data."""

    @classmethod
    def create(cls, root: Path, *, name: str = "crossforce-local", db: str | None = None) -> LocalNet:
        root.mkdir(parents=True, exist_ok=True)
        pki_dir = NetPkiDir.create(root / "pki", name=name)
        deny_list = pki.ensure_deny_list(pki_dir)
        export = pki.export_server(pki_dir, root / MATCHER_PKI)
        # The one shortcut of a test net: the matcher's deny list IS the CA's (a link), as if the operator
        # copied it the moment ``net.pki.revoke`` wrote it; everything else is the exported safe layout.
        (export.path / pki.PkiDir.REVOKED).unlink()
        (export.path / pki.PkiDir.REVOKED).symlink_to(deny_list.resolve())
        secret = NetworkSecret.create()
        return cls(root=root, pki=pki_dir, secret=secret, db=db)

    @property
    def server_pki_dir(self) -> Path:
        """The matcher's own PKI folder (``crossforce pki export-server``): CA and server certificates, the
        server key and the deny list; never the CA key. Start any matcher of this net with it."""
        return self.root / MATCHER_PKI

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    @property
    def data_dir(self) -> Path:
        """The matcher's folder: its SQLite store and log signing key, or with ``db`` the key alone."""
        return self.root / "matcher"

    @property
    def backend(self) -> str:
        """``"postgresql"`` or ``"sqlite"``: what the matcher stores in (test ids and reports name it)."""
        return "postgresql" if self.db else "sqlite"

    @property
    def running_server(self) -> RunningServer:
        """The matcher ``start_server`` started; a RuntimeError (a test's own mistake) if none runs."""
        if self.server is None:
            raise RuntimeError("no matcher is running: call start_server() first")
        return self.server

    def start_server(
        self,
        *,
        settings: ServerSettings | None = None,
        interceptors: tuple[grpc.ServerInterceptor[Any, Any], ...] = (),
        max_workers: int | None = None,
    ) -> None:
        """Start the matcher in this process on a free port, over this deployment's PKI, and point every
        profile at it. ``max_workers``: the server's default unless given (tests shrink the pool).

        Without ``settings`` the matcher expects no force beyond those that publish
        (``expected_forces=()``): a small test network is not the 43 forces. Pass settings to expect more.
        """
        from crossforce.server import ServerSettings, start  # imported only by deployments that run one

        if settings is None:
            settings = ServerSettings(expected_forces=())

        launch = functools.partial(
            start,
            data_dir=self.data_dir,
            pki_dir=self.server_pki_dir,
            settings=settings,
            interceptors=interceptors,
            db=self.db,
        )
        running = launch() if max_workers is None else launch(max_workers=max_workers)
        self.server = running
        self.port = running.port
        for org, prof in list(self.profiles.items()):
            self.profiles[org] = prof.with_server(self.address)

    def open_storage(self) -> Storage:
        """The matcher's storage opened as the matcher opens it, for a test or tool working offline
        (stop the matcher first on SQLite: its folder is locked by one process at a time)."""
        if self.db:
            from crossforce.server.store import PostgresStorage

            return PostgresStorage.open(self.db)
        from crossforce.server.store import SQLiteStorage

        return SQLiteStorage(self.data_dir)

    def stop_server(self, grace: float = 2.0) -> None:
        if self.server is not None:
            self.server.stop(grace)
            self.server = None

    def add_org(
        self,
        org: str,
        *,
        display_name: str = "",
        roles: Sequence[str] = FORCE_ROLES,
        kind: OrgKind | None = None,
    ) -> Profile:
        """Create ``org``'s profile with a certificate for each of ``roles``, all naming ``kind`` (default
        ``net_kind``), recorded in the net's CA folder first so every later certificate agrees."""
        self.pki.declare_kind(org, kind or net_kind(org, roles))
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

    def add_overseer(self, org: str = OVERSEER) -> Profile:
        """The operator's organisation (kind ``operator``, ``OVERSIGHT_ROLES``): use its auditor where a
        test reads the whole log; every other organisation's auditor reads only its own entries."""
        return self.add_org(
            org, display_name="the operator's oversight", roles=OVERSIGHT_ROLES, kind=OrgKind.OPERATOR
        )

    def client(self, org: str, role: str) -> Client:
        return Client(self.profiles[org], role=role)

    def register_all(self) -> None:
        """Register every organisation that has a system certificate (the overseer has none)."""
        for prof in self.profiles.values():
            if Role.FORCE_SYSTEM in prof.roles():
                with Client(prof, role=Role.FORCE_SYSTEM) as c:
                    c.register()

    def rotate_secret(self, *, activate: bool = True) -> NetworkSecret:
        """A new epoch for everyone (the distribution a real deployment does out of band), then the
        operator's activation of it (unless ``activate`` is False), so forces may publish under it."""
        self.secret = self.secret.rotate()
        for prof in self.profiles.values():
            prof.save_secret(self.secret)
        if activate:
            self.activate_epoch(self.secret.current_epoch)
        return self.secret

    def operator_client(self) -> Client:
        """A client with the operator's certificate: the overseer's if the net has one, else a profile
        kept for the operator alone (not among ``profiles``, so it changes no test's organisations)."""
        for prof in self.profiles.values():
            if Role.OPERATOR in prof.roles():
                return Client(prof, role=Role.OPERATOR)
        if self._operator is None:
            self.pki.declare_kind(NETWORK_OPERATOR, OrgKind.OPERATOR)
            self._operator = Profile.create(
                self.root / "orgs" / NETWORK_OPERATOR,
                org=NETWORK_OPERATOR,
                display_name="the network's operator",
                server=self.address,
                pki_dir=self.pki,
                roles=(Role.OPERATOR,),
                secret=self.secret,
            )
        return Client(self._operator.with_server(self.address), role=Role.OPERATOR)

    def activate_epoch(self, epoch: int) -> EpochState:
        """The operator makes ``epoch`` current (``crossforce epoch activate``)."""
        with self.operator_client() as ops:
            return EpochOperator(ops.connection).activate(epoch)

    def retire_epoch(self, epoch: int, *, force_override: bool = False) -> EpochState:
        """The operator retires ``epoch`` (``crossforce epoch retire``)."""
        with self.operator_client() as ops:
            return EpochOperator(ops.connection).retire(epoch, force_override=force_override)


@contextlib.contextmanager
def running(
    root: Path,
    orgs: Sequence[tuple[str, Sequence[str]]],
    *,
    settings: ServerSettings | None = None,
    db: str | None = None,
) -> Iterator[LocalNet]:
    """A started matcher with ``orgs`` (name, roles) created and registered; stopped on exit.
    ``db``: a PostgreSQL DSN to store in instead of SQLite (``LocalNet.db``)."""
    net = LocalNet.create(root, db=db)
    net.start_server(settings=settings)
    for org, roles in orgs:
        net.add_org(org, roles=roles)
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()
