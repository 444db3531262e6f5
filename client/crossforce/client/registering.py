"""Registering and rotating this organisation's keys, with the proofs key continuity needs (issue 16).

- A first registration carries ``certificate_proof``: the profile's force-system certificate key signs
  the keys as version 1 (``orgkeys.sign_key_binding``), and the matcher checks it against the
  certificate the call came with. Every client later checks it chains to the deployment CA.
- A key rotation carries ``previous_key_proof``: the current signing key hands over to the new keys
  (``orgkeys.sign_key_change``). The new keys wait in ``keys-pending/`` until the matcher has logged
  them, then replace ``keys/``: a rotation interrupted at any point is finished by running it again
  (the pending keys are reused, and re-registering keys the matcher already holds logs nothing).
- After either, the client checks its own logged history (``AuditReader.check_own_keys``), so a key
  event it did not make is an alarm at once.

An organisation that lost its signing key cannot rotate: the matcher and every client refuse a change
without a proof from the previous key. Re-enrolment through the CA is not built yet (docs/threat-model.md).
"""

from __future__ import annotations

import shutil

from crossforce.client.auditing import AuditReader
from crossforce.client.connection import Connection
from crossforce.client.profile import Profile
from crossforce.client.profilekeys import anchors_of
from crossforce.crypto import certificates, orgkeys
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.domain import KeyRegistration, Organisation
from crossforce.keystore import KEY_FILE, load_org_keys, save_org_keys
from crossforce.wire import index as wire_index
from crossforce.wire import registry as wire_registry

__all__ = ["PENDING_KEYS", "Registrar", "anchors_of"]  # anchors_of: where callers found it before

PENDING_KEYS = "keys-pending"
"""Profile folder holding rotated keys the matcher has not yet acknowledged."""


class Registrar:
    """Sends this organisation's keys to the matcher and checks what it logged."""

    def __init__(self, *, connection: Connection, profile: Profile, role: str, auditor: AuditReader) -> None:
        self._conn = connection
        self._profile = profile
        self._role = role
        self._auditor = auditor

    def register(self) -> Organisation:
        """Register this organisation's keys (a repeat changes nothing); returns them as stored.

        Registered already: the logged history is checked instead (VerificationError if the matcher
        holds keys these did not make: re-sending them would only be refused as an unproven change)."""
        keys = self._profile.org_keys()
        # Asked through Status, not GetOrganisation, whose "not found" is a refusal: a first enrolment
        # must not show up as a permission refusal in the matcher's log and metrics.
        status = wire_index.matcher_status_from_pb(
            self._conn.call(self._conn.index.Status, wire_index.status_request())
        )
        if keys.org in status.registered_orgs:
            return self._auditor.check_own_keys()
        registered = self._send(keys, certificate_proof=self._certificate_proof(keys))
        self._auditor.check_own_keys()
        return registered

    def rotate(self) -> Organisation:
        """Replace this organisation's keys with new ones, handed over by the current signing key."""
        current = self._profile.org_keys()
        pending_dir = self._profile.path / PENDING_KEYS
        if (pending_dir / KEY_FILE).exists():
            new = load_org_keys(pending_dir, org=current.org)
        else:
            new = OrgKeys.generate(current.org)
            save_org_keys(new, pending_dir)
        held = wire_registry.organisation_from_pb(
            self._conn.call(
                self._conn.registry.GetOrganisation, wire_registry.get_organisation_request(current.org)
            )
        )
        if (held.signing_key, held.box_key) == (new.signing_public, new.box_public):
            registered = held  # an earlier run got this far; finish it
        else:
            proof = orgkeys.sign_key_change(current, new, new_version=held.key_version + 1)
            registered = self._send(new, previous_key_proof=proof)
        save_org_keys(new, self._profile.path / "keys")
        shutil.rmtree(pending_dir)
        return registered

    def _send(
        self, keys: OrgKeys, *, certificate_proof: bytes = b"", previous_key_proof: bytes = b""
    ) -> Organisation:
        request = KeyRegistration(
            org=keys.org,
            signing_key=keys.signing_public,
            box_key=keys.box_public,
            proof=orgkeys.sign_registration(keys),
            display_name=self._profile.display_name,
            certificate_proof=certificate_proof,
            previous_key_proof=previous_key_proof,
        )
        msg = self._conn.call(self._conn.registry.Register, wire_registry.key_registration_to_pb(request))
        registered = wire_registry.registered_from_pb(msg)
        self._auditor.observe_head(registered.tree_head)
        return registered.organisation

    def _certificate_proof(self, keys: OrgKeys) -> bytes:
        """The role certificate's binding of ``keys`` as version 1; empty for a development-mode profile
        without certificates (its matcher has none to check it against)."""
        if self._profile.dev_plaintext and self._role not in self._profile.roles():
            return b""
        pair = self._profile.cert_pair(self._role)
        return orgkeys.sign_key_binding(keys, certificates.load_key(pair.key_pem))
