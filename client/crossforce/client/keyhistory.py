"""Fetch an organisation's key history and the log's evidence for it; the pure rule decides (issue 16).

The I/O shell of ``keytrust.pin_key_history``: ``GetKeyHistory`` gives every key version with its log leaf;
for each, the entry and its inclusion proof under one head this profile verified. Nothing here decides
trust: a history the rule refuses changes nothing and raises VerificationError (CLI exit 7).

``KeyPins.organisation_keys`` serves every pin the SDK takes (the holder's seal on approve, the
requester's open), and first checks this profile's own organisation (``check_own_keys``): one cheap
``GetOrganisation`` call, plus the whole history only when the matcher shows a version this profile has
not yet seen, so a key event the organisation did not make is noticed on every such run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from crossforce.client import keytrust, trust
from crossforce.client.connection import Connection
from crossforce.client.truststore import TrustStore
from crossforce.domain import InclusionProof, Organisation, SignedTreeHead
from crossforce.errors import PermissionDeniedError, VerificationError
from crossforce.wire import registry as wire_registry


@dataclass(frozen=True, kw_only=True)
class OwnKeys:
    """This profile's organisation and its local public keys (what its own history must end in)."""

    org: str
    signing_key: bytes
    box_key: bytes


@dataclass(frozen=True, kw_only=True)
class Anchors:
    """What a profile checks key histories against: its CA (None only for a development-mode profile
    without one, where version 1 is taken on first use) and its own organisation's local keys."""

    ca_pem: bytes | None
    own: OwnKeys | None


class KeyPins:
    """Pins other organisations' keys on their proven history; alarms on the own organisation's."""

    def __init__(
        self,
        *,
        connection: Connection,
        trust_store: TrustStore,
        tree_head: Callable[[], SignedTreeHead],
        inclusion_proof: Callable[[int, int], InclusionProof],
        anchors: Anchors,
    ) -> None:
        """``tree_head``: fetch and verify the newest head (``AuditReader.tree_head``);
        ``inclusion_proof(index, size)``: the matcher's proof, entry included, as sent."""
        self._conn = connection
        self._trust = trust_store
        self._tree_head = tree_head
        self._inclusion_proof = inclusion_proof
        self._ca_pem = anchors.ca_pem
        self._own = anchors.own

    def organisation_keys(self, org: str) -> Organisation:
        """``org``'s keys, pinned (or re-pinned) only on a history that proves them."""
        if self._own is not None and org != self._own.org:
            # Not registered (an auditing body, say): there is no key event of ours to check.
            with contextlib.suppress(PermissionDeniedError):
                self.check_own_keys()
        return self._pin(org, own=self._own if self._own is not None and org == self._own.org else None)

    def check_own_keys(self) -> Organisation:
        """Raise VerificationError if the matcher holds keys for this organisation that its keys did not
        make (its newest version not the local keys, or any version without a valid proof)."""
        if self._own is None:
            raise VerificationError("this profile has no organisation keys to check")
        return self._pin(self._own.org, own=self._own)

    def _pin(self, org: str, *, own: OwnKeys | None) -> Organisation:
        found = wire_registry.organisation_from_pb(
            self._conn.call(self._conn.registry.GetOrganisation, wire_registry.get_organisation_request(org))
        )
        seen = trust.Pin(signing_key=found.signing_key, box_key=found.box_key, key_version=found.key_version)
        local = trust.Pin(own.signing_key, own.box_key, found.key_version) if own is not None else None
        if local is not None and not local.same_keys(seen):
            raise VerificationError(
                f"the matcher holds key version {found.key_version} for {org} (log index "
                f"{found.log_index}) that this profile's keys did not make: do not use this matcher for "
                f"{org} until the operator explains it; report it to your security officer"
            )
        if self._trust.load().pins.get(org) == seen:  # same keys and version: nothing new was logged
            return found
        history = wire_registry.key_history_from_pb(
            self._conn.call(self._conn.registry.GetKeyHistory, wire_registry.get_organisation_request(org))
        )
        head = self._tree_head()
        evidence = []
        for version in history:
            proof = self._inclusion_proof(version.log_index, head.head.tree_size)
            evidence.append(
                trust.KeyEvidence(
                    head=head, leaf_index=version.log_index, entry=proof.entry, hashes=tuple(proof.hashes)
                )
            )
        with self._trust.transaction() as txn:
            txn.state = keytrust.pin_key_history(
                txn.state, org, seen, evidence, ca_pem=self._ca_pem, own_keys=local
            )
        return found
