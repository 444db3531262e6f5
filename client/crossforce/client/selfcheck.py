"""Gather a profile's health: read its files, ask the matcher briefly, hand the facts to ``health``.

This is the I/O half of ``crossforce doctor`` (``crossforce.client.health`` judges): it never changes
the profile. Unlike the SDK's audit reads it does not pin the matcher's log key or other organisations'
keys on first sight; it only compares. Each role's certificate is tried with a Ping (open to every role)
under a short deadline, so a certificate the matcher turns away (revoked, another CA) shows on its own
line, and the first certificate the matcher accepts reads the index status, the log key and this
organisation's registration.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from crossforce import errors
from crossforce.client import certstatus, health
from crossforce.client.connection import Connection
from crossforce.client.profile import SECRET_FILE, Profile
from crossforce.client.profilekeys import own_keys
from crossforce.clock import utc_now
from crossforce.domain import Role
from crossforce.wire import audit as wire_audit
from crossforce.wire import index as wire_index
from crossforce.wire import matching as wire_matching
from crossforce.wire import registry as wire_registry

PING_TIMEOUT_S = 5.0
"""Deadline for each call the doctor makes: long enough for a loaded matcher, short enough to wait for."""

TOKEN_ROLES = frozenset({Role.FORCE_SYSTEM.value, Role.VETTING_OFFICER.value})
"""Roles that make tokens (publish, check, resolve), and so need the network secret."""

T = TypeVar("T")


def _quietly(make: Callable[[], T]) -> T:
    """Run ``make`` without the expiry warning: the certificate's own line already says it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", certstatus.CertificateExpiryWarning)
        return make()


def _attempt(call: Callable[[], T]) -> T | errors.CrossforceError:
    try:
        return call()
    except errors.CrossforceError as exc:
        return exc


PRIVATE_DATA = ("tokens.sqlite3", "verified-log-", "resolutions")
"""Files that hold the force's records or its desk's decisions (and their SQLite side files)."""


def _modes(root: Path) -> list[health.PathMode]:
    """Every folder and file under the profile (symbolic links are not followed), with its mode."""
    found = [health.PathMode("", root.lstat().st_mode, secret=False)]
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in [*dirs, *files]:
            path = here / name
            mode = path.lstat().st_mode
            relative = str(path.relative_to(root))
            in_keys = relative.startswith("keys" + os.sep) and ".pub." not in name
            secret = stat.S_ISREG(mode) and (
                in_keys or name.endswith("-key.pem") or name == SECRET_FILE or name.startswith(PRIVATE_DATA)
            )
            found.append(health.PathMode(relative, mode, secret=secret))
    return found


class Examination:
    """One doctor run over one profile; ``findings`` is the report, in the order it is printed."""

    def __init__(self, profile: Profile, *, timeout: float = PING_TIMEOUT_S) -> None:
        self.profile = profile
        self.timeout = timeout
        self.now = utc_now()
        self.where = str(profile.path)

    def findings(self) -> tuple[health.Finding, ...]:
        if self.profile.dev_plaintext:
            return self._dev_findings()
        certs, cert_findings = self._certificates()
        ca = self._ca()
        refused: dict[str, str] = {}
        reach = health.Reach(address=self.profile.server, role=None)
        connection: Connection | None = None
        if ca.level is not health.Level.FAIL:
            reach, refused, connection = self._reach(certs)
        cert_lines = [
            health.certificate_finding(
                certs[f.subject], self.now, profile_path=self.where, refused=refused.get(f.subject)
            )
            if f.subject in certs
            else f
            for f in cert_findings
        ]
        try:
            remote = self._remote(connection) if connection is not None else self._not_asked()
        finally:
            if connection is not None:
                connection.close()
        return (*cert_lines, ca, health.reach_finding(reach), *remote, self._folders())

    def _dev_findings(self) -> tuple[health.Finding, ...]:
        """A development profile has no certificates: say so, then ask the matcher as force-system."""
        plaintext = health.Finding(
            "certificate",
            "none",
            health.Level.WARN,
            "development plaintext profile: no TLS and no certificates; never use it outside a laptop",
        )
        connection, failed = self._ping(Role.FORCE_SYSTEM)
        reach = health.Reach(self.profile.server, Role.FORCE_SYSTEM, failed)
        try:
            remote = self._remote(connection) if failed is None else self._not_asked()
        finally:
            connection.close()
        return (plaintext, health.reach_finding(reach), *remote, self._folders())

    # ------------------------------------------------------------------ local
    def _certificates(self) -> tuple[dict[str, certstatus.CertFacts], list[health.Finding]]:
        certs: dict[str, certstatus.CertFacts] = {}
        lines: list[health.Finding] = []
        for role in self.profile.roles():
            try:
                facts = certstatus.cert_facts(self.profile.cert_pair(role).cert_pem)
            except (errors.CrossforceError, OSError) as exc:
                lines.append(health.unreadable_certificate(role, f"certs/{role}.pem: {exc}"))
                continue
            certs[role] = facts
            lines.append(health.certificate_finding(facts, self.now, profile_path=self.where))
        if not lines:
            lines.append(
                health.Finding(
                    "certificate",
                    "none",
                    health.Level.FAIL,
                    "this profile holds no certificate; issue one with crossforce pki issue ... --profile",
                    errors.ValidationError,
                )
            )
        return certs, lines

    def _ca(self) -> health.Finding:
        try:
            ca_pem = self.profile.ca_pem()
        except OSError as exc:
            return health.Finding(
                "ca",
                "ca.pem",
                health.Level.FAIL,
                f"cannot read ca.pem: {exc.strerror}",
                errors.ValidationError,
            )
        return health.ca_finding(ca_pem, self.now)

    def _folders(self) -> health.Finding:
        return health.folders_finding(self.where, _modes(self.profile.path))

    # ------------------------------------------------------------------ the matcher
    def _reach(
        self, certs: dict[str, certstatus.CertFacts]
    ) -> tuple[health.Reach, dict[str, str], Connection | None]:
        """Ping with each usable certificate; keep the first connection the matcher accepted."""
        refused: dict[str, str] = {}
        kept: Connection | None = None
        reach = health.Reach(address=self.profile.server, role=None)
        for role, facts in certs.items():
            if certstatus.certificate_problem(facts, self.now, profile_path=self.where) is not None:
                continue
            connection, failed = self._ping(role)
            if failed is None:
                if kept is None:
                    kept, reach = connection, health.Reach(self.profile.server, role)
                else:
                    connection.close()
                continue
            connection.close()
            if isinstance(failed, errors.AuthenticationError | errors.PermissionDeniedError):
                refused[role] = f"refused by the matcher: {failed}"
                continue
            if kept is None:  # unreachable, or the matcher's certificate did not verify: the same for all
                return health.Reach(self.profile.server, role, failed), refused, None
        return reach, refused, kept

    def _ping(self, role: str) -> tuple[Connection, errors.CrossforceError | None]:
        connection = _quietly(lambda: Connection.for_profile(self.profile, role=role, timeout=self.timeout))
        try:
            connection.call(connection.matcher.Ping, wire_matching.ping_request())
        except errors.CrossforceError as exc:
            return connection, exc
        return connection, None

    def _not_asked(self) -> tuple[health.Finding, ...]:
        return (
            health.not_asked("log key", "pinned"),
            health.not_asked("epochs", "network secret"),
            health.not_asked("registration", self.profile.org),
        )

    def _remote(self, conn: Connection) -> tuple[health.Finding, ...]:
        status = _attempt(
            lambda: wire_index.matcher_status_from_pb(
                conn.call(conn.index.Status, wire_index.status_request())
            )
        )
        served = _attempt(
            lambda: (
                wire_audit.log_key_from_pb(
                    conn.call(conn.audit.GetLogKey, wire_audit.log_key_request())
                ).public_key
            )
        )
        log_key = (
            self._failed("log key", "pinned", served)
            if isinstance(served, errors.CrossforceError)
            else health.log_key_finding(pinned=self.profile.trust_store().load().log_key, served=served)
        )
        if isinstance(status, errors.CrossforceError):
            return (
                log_key,
                self._failed("epochs", "network secret", status),
                self._failed("registration", self.profile.org, status),
            )
        held, current = self._held_epochs()
        roles = set(self.profile.roles())
        epochs = health.epochs_finding(
            held=held,
            held_current=current,
            active=status.active_epochs,
            needs_secret=bool(roles & TOKEN_ROLES) or self.profile.dev_plaintext,
        )
        return log_key, epochs, self._registration(conn, self.profile.org in status.registered_orgs)

    def _held_epochs(self) -> tuple[tuple[int, ...], int | None]:
        if not (self.profile.path / SECRET_FILE).exists():
            return (), None
        secret = self.profile.secret()
        return tuple(secret.active_epochs), secret.current_epoch

    def _registration(self, conn: Connection, registered: bool) -> health.Finding:
        org = self.profile.org
        if not registered:
            return health.registration_finding(
                org,
                health.Registration(False),
                profile_path=self.where,
                can_register=Role.FORCE_SYSTEM in self.profile.roles() or self.profile.dev_plaintext,
            )
        found = _attempt(
            lambda: wire_registry.organisation_from_pb(
                conn.call(conn.registry.GetOrganisation, wire_registry.get_organisation_request(org))
            )
        )
        if isinstance(found, errors.CrossforceError):
            return self._failed("registration", org, found)
        keys = own_keys(self.profile)  # a workstation holds only the public file
        match = keys is None or (
            bytes(found.signing_key) == keys.signing_key and bytes(found.box_key) == keys.box_key
        )
        return health.registration_finding(
            org, health.Registration(True, found.key_version, match), profile_path=self.where
        )

    @staticmethod
    def _failed(check: str, subject: str, exc: errors.CrossforceError) -> health.Finding:
        return health.Finding(check, subject, health.Level.FAIL, str(exc) or type(exc).__name__, type(exc))


def examine(profile: Profile, *, timeout: float = PING_TIMEOUT_S) -> tuple[health.Finding, ...]:
    """Every health finding for ``profile``, certificates first; changes nothing in the profile."""
    return Examination(profile, timeout=timeout).findings()
