"""Who is calling: organisation and role from the mTLS client certificate, never from the request body.

The deny list (one SHA-256 fingerprint per line, '#' comments) fails closed: it is re-read by content (a
hash of the bytes, at most every ``DENY_LIST_RECHECK_S``), never trusted from ``stat``, and while it is
missing, unreadable or corrupt every authenticated call is refused UNAVAILABLE instead of admitting
certificates it may revoke. An identity is parsed once per certificate (a bounded LRU keyed by the
peer's certificate bytes) and the cache is emptied whenever the deny list's content changes, so a
revocation still takes effect on the next call. The identity carries the organisation's kind from the
certificate (``Identity.kind``). The plaintext development mode takes the identity from a
metadata header instead, and exists only behind an explicit flag that logs a warning at start-up.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc

from crossforce.crypto import pki
from crossforce.domain import ROLES
from crossforce.errors import AuthenticationError, PermissionDeniedError, UnavailableError
from crossforce.fsutil import read_limited
from crossforce.keystore.serverexport import parse_deny_list
from crossforce.wire.metadata import DEV_IDENTITY_HEADER

log = logging.getLogger("crossforce.server")

DEV_FINGERPRINT = "dev"
"""The fingerprint of every development-mode identity (there is no certificate to hash)."""
DEV_NOT_AFTER = datetime.max.replace(tzinfo=UTC)
"""A development-mode identity has no certificate, so nothing expires it: the latest aware datetime.
It is a real ``datetime`` so every reader of ``Identity.not_after`` can compare and format it."""
DENY_LIST_RECHECK_S = 1.0
"""How stale the deny list may be: a revocation (or the file's loss) is seen within this many seconds."""
MAX_DENY_LIST_BYTES = 16 * 1024 * 1024
"""Bound on the deny list read (over 100,000 revocations), so a wrong path cannot eat memory."""
IDENTITY_CACHE_SIZE = 4096
"""Certificates whose parsed identity is kept: more than every organisation's every role, several times."""
UNREADABLE = "the revocation list cannot be read; refusing every caller until it can"


@dataclass(frozen=True)
class DenySnapshot:
    """The deny list as last read: its content hash (the cache's generation) and its fingerprints."""

    digest: bytes
    fingerprints: frozenset[str]


DISABLED = DenySnapshot(digest=b"", fingerprints=frozenset())
"""What a matcher started without a deny list sees (``--no-deny-list``, development and in-memory tests)."""


class DenyList:
    """The revoked fingerprints, re-read by content at most every ``recheck_s`` seconds; fail closed.

    ``path`` None means no deny list at all (an explicit operator choice made at start-up).
    """

    def __init__(
        self,
        path: Path | None,
        *,
        recheck_s: float = DENY_LIST_RECHECK_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._recheck_s = recheck_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._snapshot: DenySnapshot | None = DISABLED if path is None else None
        self._problem: str | None = None
        self._ever: frozenset[str] = frozenset()
        """Every fingerprint revoked since start: while serving, revocation only grows."""

    def snapshot(self) -> DenySnapshot:
        """The current deny list; UnavailableError while it cannot be read or parsed."""
        if self.path is None:
            return DISABLED
        now = self._monotonic()
        checked = self._checked_at
        if checked is None or now - checked >= self._recheck_s:
            with self._lock:
                if self._checked_at is None or now - self._checked_at >= self._recheck_s:
                    self._reload(self.path)
                    self._checked_at = now
        current = self._snapshot
        if current is None:
            raise UnavailableError(UNREADABLE)
        return current

    def readable(self) -> bool:
        """Whether the deny list can be read now (the health status of the main port follows it)."""
        try:
            self.snapshot()
        except UnavailableError:
            return False
        return True

    def contains(self, fingerprint: str) -> bool:
        return fingerprint.lower() in self.snapshot().fingerprints

    def _reload(self, path: Path) -> None:
        try:
            data = read_limited(path, MAX_DENY_LIST_BYTES)
            digest = hashlib.sha256(data).digest()
            if self._snapshot is not None and self._snapshot.digest == digest:
                return
            fingerprints = parse_deny_list(data)
        except (OSError, ValueError) as exc:  # missing, unreadable, too large, not UTF-8, a bad line
            problem = f"{path}: {exc}"
            if problem != self._problem:
                log.error("%s (%s)", UNREADABLE, problem)
            self._snapshot, self._problem = None, problem
            return
        if self._problem is not None:
            log.warning("deny list readable again: %s", path)
        dropped = self._ever - fingerprints
        if dropped:  # a copy caught half-written, or a refresh from the wrong CA folder: keep them revoked
            log.error(
                "deny list %s dropped %d revoked certificate(s) while serving; they stay revoked "
                "(revocation only grows while the matcher runs: restart it to accept a shorter list)",
                path,
                len(dropped),
            )
        self._ever = fingerprints = self._ever | fingerprints
        self._snapshot, self._problem = DenySnapshot(digest=digest, fingerprints=fingerprints), None
        log.info("deny list loaded: %d revoked certificates", len(fingerprints))


class IdentityCache:
    """Parsed identities by certificate bytes, least recently used first out, for one deny list content."""

    def __init__(self, size: int = IDENTITY_CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._digest = b""
        self._entries: OrderedDict[bytes, pki.Identity] = OrderedDict()

    def get(self, cert_pem: bytes, digest: bytes) -> pki.Identity | None:
        with self._lock:
            if digest != self._digest:
                self._entries.clear()  # the deny list changed: every admission is decided again
                self._digest = digest
                return None
            found = self._entries.get(cert_pem)
            if found is not None:
                self._entries.move_to_end(cert_pem)
            return found

    def put(self, cert_pem: bytes, digest: bytes, identity: pki.Identity) -> None:
        with self._lock:
            if digest != self._digest:
                return  # decided against a deny list that has since changed: do not keep it
            self._entries[cert_pem] = identity
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)


class IdentityResolver:
    def __init__(self, *, deny_list: DenyList, dev_mode: bool = False) -> None:
        self.deny_list = deny_list
        self.dev_mode = dev_mode
        self._cache = IdentityCache()

    def __call__(self, context: grpc.ServicerContext) -> pki.Identity:
        if self.dev_mode:
            return self._dev_identity(context)
        auth = context.auth_context()
        certs = auth.get(pki.AUTH_CONTEXT_CERT_KEY) if auth else None
        if not certs:
            raise AuthenticationError("a client certificate is required")
        cert_pem = bytes(certs[0])
        deny = self.deny_list.snapshot()  # UnavailableError first: an unreadable list admits nobody
        known = self._cache.get(cert_pem, deny.digest)
        if known is not None:
            return known
        identity = pki.identity_from_pem(cert_pem)
        if identity.fingerprint in deny.fingerprints:
            raise _revoked(identity)
        self._cache.put(cert_pem, deny.digest, identity)
        return identity

    def readmit(self, identity: pki.Identity) -> pki.Identity:
        """``identity``, resolved by this resolver earlier in the same call (the transport, before it read
        the request), admitted again against the deny list as it is now: what calling the resolver again
        would decide (AuthenticationError once revoked, UnavailableError while the list cannot be read),
        without reading the certificate again. Development mode has no deny list to consult."""
        if self.dev_mode:
            return identity
        if identity.fingerprint in self.deny_list.snapshot().fingerprints:
            raise _revoked(identity)
        return identity

    def check_still_admitted(self, identity: pki.Identity) -> None:
        """For a long call (a watch stream): PermissionDeniedError once the caller's certificate is revoked,
        UnavailableError while the deny list cannot be read."""
        if identity.fingerprint in self.deny_list.snapshot().fingerprints:
            raise PermissionDeniedError(
                f"certificate {identity.fingerprint[:16]}… for {identity.org} ({identity.role}) "
                "was revoked while this call was open"
            )

    @staticmethod
    def _dev_identity(context: grpc.ServicerContext) -> pki.Identity:
        for key, value in context.invocation_metadata() or ():
            if key == DEV_IDENTITY_HEADER:
                return dev_identity(value if isinstance(value, str) else value.decode())
        raise AuthenticationError(f"development mode: send the {DEV_IDENTITY_HEADER} metadata header")


def _revoked(identity: pki.Identity) -> AuthenticationError:
    return AuthenticationError(
        f"certificate {identity.fingerprint[:16]}… for {identity.org} ({identity.role}) has been revoked"
    )


def dev_identity(text: str) -> pki.Identity:
    """The development-mode identity of a header value 'org:role' or 'org:role:kind'.

    Without a kind the organisation has the kind a certificate without one would (``Identity.kind``), so
    development mode grants nothing a real certificate would not."""
    parts = text.split(":")
    org, role = parts[0], parts[1] if len(parts) > 1 else ""
    kind_text = parts[2] if len(parts) == 3 else ""
    kinds = {k.value: k for k in pki.OrgKind}
    well_formed = len(parts) in (2, 3) and pki.ORG_CODE_RE.fullmatch(org) is not None and role in ROLES
    if not well_formed or (len(parts) == 3 and kind_text not in kinds):
        raise AuthenticationError(
            f"{DEV_IDENTITY_HEADER} must be 'org:role' or 'org:role:kind' with a known role and kind"
        )
    return pki.Identity(
        org=org,
        role=role,
        fingerprint=DEV_FINGERPRINT,
        not_after=DEV_NOT_AFTER,
        kind=kinds[kind_text] if kind_text else None,
    )
