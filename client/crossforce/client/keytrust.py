"""Pinning an organisation's keys on its whole proven key history (pure; issue 16, key continuity).

A rule over ``trust.TrustState`` like the others in ``crossforce.client.trust``, kept in its own module
because it is the one defence against docs/threat-model.md "the operator swaps an organisation's keys":
log inclusion says the operator wrote a key event, not that the organisation made it, so every version
must also carry the proof only the organisation could make (``continuity.verify_key_history``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import KeyChange, Registration, parse_event
from crossforce.client.trust import KeyEvidence, Pin, TrustState
from crossforce.crypto import continuity
from crossforce.errors import ValidationError, VerificationError


def pin_key_history(
    state: TrustState,
    org: str,
    seen: Pin,
    history: Sequence[KeyEvidence],
    *,
    ca_pem: bytes | None,
    own_keys: Pin | None = None,
) -> TrustState:
    """Pin ``org``'s keys as ``seen`` only when its whole logged key history proves them (issue 16).

    ``history`` holds, for key versions 1..n in order, each version's log entry and inclusion proof under
    a head signed by the pinned log key. Every entry must be ``org``'s REGISTRATION or KEY_CHANGE, the
    chain must verify (``continuity.verify_key_history``: version 1 bound by a certificate ``ca_pem``
    issued for ``org``, each later version handed over by the one before), and the last version must be
    exactly ``seen``. A version already pinned must still hold the keys pinned (no rewritten history),
    and a re-pin must move to a newer version.

    ``own_keys``: for this profile's own organisation, its local public keys; the newest logged version
    must be them, else the log holds a key event this organisation did not make (VerificationError).
    """
    if state.log_key is None:
        raise VerificationError("no log key is pinned: fetch and pin the matcher's log key first")
    versions = [_proven_version(state.log_key, org, evidence) for evidence in history]
    continuity.verify_key_history(org, versions, ca_pem=ca_pem)
    last = versions[-1]
    latest = Pin(signing_key=last.signing_key, box_key=last.box_key, key_version=last.key_version)
    if own_keys is not None and not latest.same_keys(own_keys):
        raise VerificationError(
            f"the audit log holds key version {last.key_version} for {org} (log index {last.log_index}) "
            f"that this profile's keys did not make: do not use this matcher for {org} until the "
            "operator explains it; report it to your security officer"
        )
    if latest != seen:
        raise VerificationError(f"the keys the matcher returned for {org} are not the newest it logged")
    pinned = state.pins.get(org)
    if pinned is not None:
        if pinned == seen:
            return state
        if seen.key_version <= pinned.key_version or not versions[pinned.key_version - 1].same_keys(pinned):
            raise VerificationError(
                f"the key history the matcher returned for {org} does not extend the one this profile "
                f"pinned (version {pinned.key_version}): refusing to pin; report to the operator and {org}"
            )
    return replace(state, pins={**state.pins, org: seen})


@dataclass(frozen=True)
class _LoggedKeys(continuity.KeyVersion):
    """A key version read from a verified log entry."""

    def same_keys(self, pin: Pin) -> bool:
        return self.signing_key == pin.signing_key and self.box_key == pin.box_key


def _proven_version(log_key: bytes, org: str, evidence: KeyEvidence) -> _LoggedKeys:
    """The key version logged at ``evidence.leaf_index``, once its inclusion under a signed head holds."""
    treehead.verify_tree_head(evidence.head, log_key)
    if not evidence.entry:
        raise VerificationError(f"the key event of {org} at log index {evidence.leaf_index} is not readable")
    head = evidence.head.head
    merkle.verify_inclusion(
        merkle.leaf_hash(evidence.entry),
        evidence.leaf_index,
        head.tree_size,
        list(evidence.hashes),
        head.root_hash,
    )
    try:
        event = parse_event(evidence.entry)
    except ValidationError as exc:
        raise VerificationError(f"log entry {evidence.leaf_index} is not a readable event") from exc
    if not isinstance(event, Registration) or event.org != org:  # a KeyChange is a Registration too
        raise VerificationError(f"log entry {evidence.leaf_index} is not a key event of {org}")
    return _LoggedKeys(
        org=event.org,
        signing_key=event.signing_key,
        box_key=event.box_key,
        key_version=event.key_version,
        log_index=evidence.leaf_index,
        at_ms=event.at_ms,
        certificate=event.certificate,
        certificate_proof=event.certificate_proof,
        previous_key_proof=event.previous_key_proof if isinstance(event, KeyChange) else b"",
    )
