"""Registration: organisations register (or rotate) their public signing and box keys.

Invariants: an organisation registers only its own keys (the certificate's organisation), with a proof
of possession of both private keys; a repeat registration of the same keys changes nothing and logs
nothing; every change is a public REGISTRATION or KEY_CHANGE event committed with the row. The cache of
rows is updated only after the commit.
"""

from __future__ import annotations

import logging
import threading

from crossforce.auditlog.events import KeyChange, Registration
from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.clock import Clock
from crossforce.crypto import orgkeys
from crossforce.crypto.pki import Identity
from crossforce.domain import Organisation
from crossforce.errors import PermissionDeniedError, ValidationError
from crossforce.limits import Limits
from crossforce.server.audit import AuditLog
from crossforce.server.store.protocols import OrgStore
from crossforce.server.store.rows import OrgRow
from crossforce.server.usecases.common import check_text

log = logging.getLogger("crossforce.server")

FIRST_KEY_VERSION = 1


def organisation_of(row: OrgRow) -> Organisation:
    """A stored organisation as the domain value (same fields by design)."""
    return Organisation(
        org=row.org,
        display_name=row.display_name,
        signing_key=row.signing_key,
        box_key=row.box_key,
        key_version=row.key_version,
        registered_at_ms=row.registered_at_ms,
        log_index=row.log_index,
    )


class Registry:
    def __init__(
        self, *, store: OrgStore, audit: AuditLog, limits: Limits, clock: Clock, write_lock: threading.RLock
    ) -> None:
        self._audit = audit
        self._limits = limits
        self._clock = clock
        self._write_lock = write_lock
        self._orgs: dict[str, OrgRow] = {o.org: o for o in store.orgs()}

    def signing_key(self, org: str) -> bytes | None:
        """The registered signing key of ``org``, None if it has not registered."""
        row = self._orgs.get(org)
        return row.signing_key if row else None

    def organisation(self, org: str) -> OrgRow:
        row = self._orgs.get(org)
        if row is None:
            raise PermissionDeniedError("organisation not found")
        return row

    def organisations(self) -> list[OrgRow]:
        return [self._orgs[o] for o in sorted(self._orgs)]

    def registered_orgs(self) -> list[str]:
        return sorted(self._orgs)

    def register(
        self,
        who: Identity,
        *,
        org: str,
        signing_key: bytes,
        box_key: bytes,
        proof: bytes,
        display_name: str,
    ) -> tuple[OrgRow, SignedTreeHead]:
        if org != who.org:
            raise PermissionDeniedError(
                f"certificate is for {who.org}; an organisation may only register its own keys"
            )
        check_text("display_name", display_name, self._limits.max_text_chars, required=False)
        if len(signing_key) != orgkeys.KEY_BYTES or len(box_key) != orgkeys.KEY_BYTES:
            raise ValidationError(f"signing_key and box_key must be {orgkeys.KEY_BYTES}-byte public keys")
        orgkeys.verify_registration(org, signing_key, box_key, proof)
        now = self._clock()
        with self._write_lock, self._audit.transaction(now) as tx:
            existing = self._orgs.get(org)
            if existing and existing.signing_key == signing_key and existing.box_key == box_key:
                return existing, self._audit.head
            version = existing.key_version + 1 if existing else FIRST_KEY_VERSION
            kind = KeyChange if existing else Registration
            idx = self._audit.append(
                tx,
                kind(
                    at_ms=now,
                    actor_org=who.org,
                    actor_role=who.role,
                    org=org,
                    signing_key=signing_key,
                    box_key=box_key,
                    key_version=version,
                ),
            )
            row = OrgRow(
                org=org,
                display_name=display_name or (existing.display_name if existing else org),
                signing_key=signing_key,
                box_key=box_key,
                key_version=version,
                registered_at_ms=now,
                log_index=idx,
            )
            tx.put_org(row)
        self._orgs[org] = row
        log.info("registered keys for %s (key version %d)", org, row.key_version)
        return row, self._audit.head
