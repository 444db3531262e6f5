"""Who is calling: organisation and role from the mTLS client certificate, never from the request body.

A deny list of certificate fingerprints (one SHA-256 hex per line, '#' comments) is re-read whenever the
file changes, so a revocation takes effect on the next call without a restart. The plaintext
development mode takes the identity from a metadata header instead, and exists only behind an explicit
flag that logs a warning at start-up.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import grpc

from crossforce.crypto import pki
from crossforce.domain import ROLES
from crossforce.errors import AuthenticationError
from crossforce.wire.metadata import DEV_IDENTITY_HEADER

log = logging.getLogger("crossforce.server")

DEV_FINGERPRINT = "dev"
"""The fingerprint of every development-mode identity (there is no certificate to hash)."""
DEV_NOT_AFTER = datetime.max.replace(tzinfo=UTC)
"""A development-mode identity has no certificate, so nothing expires it: the latest aware datetime.
It is a real ``datetime`` so every reader of ``Identity.not_after`` can compare and format it."""


class DenyList:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._fingerprints: frozenset[str] = frozenset()

    def contains(self, fingerprint: str) -> bool:
        return fingerprint.lower() in self._current()

    def _current(self) -> frozenset[str]:
        if self.path is None:
            return frozenset()
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return frozenset()
        with self._lock:
            if mtime != self._mtime:
                lines = self.path.read_text(encoding="utf-8").splitlines()
                self._fingerprints = frozenset(
                    ln.split("#", 1)[0].strip().lower() for ln in lines if ln.split("#", 1)[0].strip()
                )
                self._mtime = mtime
                log.info("deny list loaded: %d revoked certificates", len(self._fingerprints))
            return self._fingerprints


class IdentityResolver:
    def __init__(self, *, deny_list: DenyList, dev_mode: bool = False) -> None:
        self.deny_list = deny_list
        self.dev_mode = dev_mode

    def __call__(self, context: grpc.ServicerContext) -> pki.Identity:
        if self.dev_mode:
            return self._dev_identity(context)
        auth = context.auth_context()
        certs = auth.get("x509_pem_cert") if auth else None
        if not certs:
            raise AuthenticationError("a client certificate is required")
        identity = pki.identity_from_pem(bytes(certs[0]))
        if self.deny_list.contains(identity.fingerprint):
            raise AuthenticationError(
                f"certificate {identity.fingerprint[:16]}… for {identity.org} ({identity.role}) "
                "has been revoked"
            )
        return identity

    @staticmethod
    def _dev_identity(context: grpc.ServicerContext) -> pki.Identity:
        for key, value in context.invocation_metadata() or ():
            if key == DEV_IDENTITY_HEADER:
                text = value if isinstance(value, str) else value.decode()
                org, _, role = text.partition(":")
                if not pki.ORG_CODE_RE.fullmatch(org) or role not in ROLES:
                    raise AuthenticationError(f"{DEV_IDENTITY_HEADER} must be 'org:role' with a known role")
                return pki.Identity(org=org, role=role, fingerprint=DEV_FINGERPRINT, not_after=DEV_NOT_AFTER)
        raise AuthenticationError(f"development mode: send the {DEV_IDENTITY_HEADER} metadata header")
