"""Registration: organisations register (or rotate) their public signing and box keys.

Invariants: an organisation registers only its own keys (the certificate's organisation), with a proof
of possession of both private keys; a repeat registration of the same keys changes nothing and logs
nothing; every change is a public REGISTRATION or KEY_CHANGE event committed with the row. Whether a
registration is a first one, a repeat or a key change is decided on the stored row read inside that
transaction, so two matchers on one storage never both take a first registration. The cache of rows is
updated only after the commit, and from storage when another matcher registered (``follow``).

Key continuity (docs/threat-model.md, "the operator swaps an organisation's keys"): a first registration
carries a signature by the caller's mTLS certificate key over the keys (``orgkeys.verify_key_binding``),
and the REGISTRATION event carries that certificate and proof; every later change carries a signature by
the previous signing key (``orgkeys.verify_key_change``), and the KEY_CHANGE event carries it and the leaf
of the version before. A change without one is refused: an organisation that lost its signing key must be
re-enrolled through the CA (not built yet). The matcher's checks only keep honest mistakes out of the log;
what protects organisations is that every client verifies the same proofs before pinning, since the
operator can write to the log directly. A matcher in development mode has no caller certificate, so its
first registrations carry none, and no client with a CA pins them.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from crossforce.auditlog.events import AuditEvent, KeyChange, Registration, parse_event
from crossforce.auditlog.treehead import SignedTreeHead
from crossforce.clock import Clock
from crossforce.crypto import orgkeys
from crossforce.crypto.pki import Identity
from crossforce.domain import Organisation
from crossforce.errors import PermissionDeniedError, PreconditionError, ValidationError, VerificationError
from crossforce.limits import Limits
from crossforce.server.audit import AuditLog
from crossforce.server.store.protocols import OrgStore
from crossforce.server.store.rows import OrgRow
from crossforce.server.usecases.common import check_text

log = logging.getLogger("crossforce.server")

FIRST_KEY_VERSION = orgkeys.FIRST_KEY_VERSION


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
        self._store = store
        self._audit = audit
        self._limits = limits
        self._clock = clock
        self._write_lock = write_lock
        self._orgs: dict[str, OrgRow] = {o.org: o for o in store.orgs()}

    def follow(self, log_index: int, event: AuditEvent) -> None:
        """Another matcher registered or changed keys: read that organisation's row back from storage
        (as it is now, so a later change wins over the event that announced an earlier one)."""
        del log_index
        if isinstance(event, Registration):
            row = next((r for r in self._store.orgs() if r.org == event.org), None)
            if row is not None:
                self._keep(row)

    def _keep(self, row: OrgRow) -> None:
        """Cache ``row`` unless a later key version of it is cached already."""
        cached = self._orgs.get(row.org)
        if cached is None or (cached.key_version, cached.log_index) <= (row.key_version, row.log_index):
            self._orgs[row.org] = row

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

    def key_history(self, org: str) -> list[Organisation]:
        """Every key version ``org`` registered, oldest first, read back from the log through each
        KEY_CHANGE's link to the version before (at most ``key_version`` reads). The walk stops at a link
        that does not lead to this organisation's previous version (events written before key
        continuity), so clients see a short history and refuse it."""
        row = self.organisation(org)
        versions: list[Organisation] = []
        index, expected = row.log_index, row.key_version
        while expected >= FIRST_KEY_VERSION:
            found = self._audit.entries(index, index + 1)
            if not found:
                break
            event = parse_event(found[0][1])  # (index, entry, leaf hash)
            if not isinstance(event, Registration) or event.org != org or event.key_version != expected:
                break
            change = event if isinstance(event, KeyChange) else None
            versions.append(
                Organisation(
                    org=org,
                    display_name=row.display_name,
                    signing_key=event.signing_key,
                    box_key=event.box_key,
                    key_version=event.key_version,
                    registered_at_ms=event.at_ms,
                    log_index=index,
                    certificate=event.certificate,
                    certificate_proof=event.certificate_proof,
                    previous_key_proof=change.previous_key_proof if change else b"",
                )
            )
            if change is None:
                break
            index, expected = change.previous_log_index, expected - 1
        return versions[::-1]

    def register(
        self,
        who: Identity,
        *,
        org: str,
        signing_key: bytes,
        box_key: bytes,
        proof: bytes,
        display_name: str,
        certificate: bytes = b"",
        certificate_proof: bytes = b"",
        previous_key_proof: bytes = b"",
    ) -> tuple[OrgRow, SignedTreeHead]:
        """Register ``org``'s keys. ``certificate``: the DER of the caller's mTLS certificate (empty only in
        development mode); ``certificate_proof`` its key's binding of a first registration;
        ``previous_key_proof`` the previous signing key's hand-over for a key change."""
        if org != who.org:
            raise PermissionDeniedError(
                f"certificate is for {who.org}; an organisation may only register its own keys"
            )
        check_text("display_name", display_name, self._limits.max_text_chars, required=False)
        if len(signing_key) != orgkeys.KEY_BYTES or len(box_key) != orgkeys.KEY_BYTES:
            raise ValidationError(f"signing_key and box_key must be {orgkeys.KEY_BYTES}-byte public keys")
        orgkeys.verify_registration(org, signing_key, box_key, proof)
        if certificate and hashlib.sha256(certificate).hexdigest() != who.fingerprint:
            raise PermissionDeniedError("the certificate offered is not the one the caller connected with")
        now = self._clock()
        with self._write_lock, self._audit.transaction(now) as tx:
            existing = tx.org(org)
            if existing and existing.signing_key == signing_key and existing.box_key == box_key:
                self._keep(existing)
                return existing, self._audit.head
            event: Registration
            if existing is None:
                if certificate:
                    _check_binding(org, signing_key, box_key, certificate_proof, certificate)
                else:
                    log.warning("registering %s without a certificate binding (development mode)", org)
                event = Registration(
                    at_ms=now,
                    actor_org=who.org,
                    actor_role=who.role,
                    org=org,
                    signing_key=signing_key,
                    box_key=box_key,
                    key_version=FIRST_KEY_VERSION,
                    certificate=certificate,
                    certificate_proof=certificate_proof if certificate else b"",
                )
            else:
                version = existing.key_version + 1
                _check_hand_over(org, signing_key, box_key, version, previous_key_proof, existing)
                event = KeyChange(
                    at_ms=now,
                    actor_org=who.org,
                    actor_role=who.role,
                    org=org,
                    signing_key=signing_key,
                    box_key=box_key,
                    key_version=version,
                    previous_key_proof=previous_key_proof,
                    previous_log_index=existing.log_index,
                )
            idx = self._audit.append(tx, event)
            row = OrgRow(
                org=org,
                display_name=display_name or (existing.display_name if existing else org),
                signing_key=signing_key,
                box_key=box_key,
                key_version=event.key_version,
                registered_at_ms=now,
                log_index=idx,
            )
            tx.put_org(row)
        self._keep(row)
        log.info("registered keys for %s (key version %d)", org, row.key_version)
        return row, self._audit.head


def _check_binding(org: str, signing_key: bytes, box_key: bytes, proof: bytes, certificate: bytes) -> None:
    if not proof:
        raise PermissionDeniedError(
            f"a first registration of {org} must carry a proof by the caller's certificate key "
            "(certificate_proof); upgrade the client"
        )
    try:
        orgkeys.verify_key_binding(org, signing_key, box_key, proof, certificate)
    except VerificationError as exc:
        raise PermissionDeniedError(
            f"the certificate proof does not bind these keys to {org}'s certificate: "
            "it must be made with the key of the certificate this call came with"
        ) from exc


def _check_hand_over(
    org: str, signing_key: bytes, box_key: bytes, version: int, proof: bytes, existing: OrgRow
) -> None:
    try:
        orgkeys.verify_key_change(org, signing_key, box_key, version, proof, existing.signing_key)
    except VerificationError as exc:
        raise PreconditionError(
            f"a key change for {org} must be signed by its registered signing key (key version "
            f"{existing.key_version}); this one has {'no' if not proof else 'no valid'} proof from it. "
            "An organisation that lost its signing key is re-enrolled through the CA (docs/threat-model.md)"
        ) from exc
