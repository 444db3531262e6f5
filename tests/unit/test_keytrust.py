"""Pinning an organisation's keys on its proven key history (``keytrust.pin_key_history``, pure).

The evidence rules the client applies to every key version before continuity is even checked: a head
signed by the pinned log key, the entry included at the claimed index, a readable key event of the
organisation asked about; then the keys the matcher returned must be the newest proven ones, and a re-pin
must extend what this profile pinned. Each refusal is one the operator (who holds the log key) could try.
"""

from __future__ import annotations

import dataclasses
import datetime

import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization

from crossforce.auditlog.events import EpochChange, KeyChange, Registration
from crossforce.auditlog.merkle import MerkleTree, leaf_hash
from crossforce.auditlog.treehead import SignedTreeHead, TreeHead, sign_tree_head
from crossforce.client import keytrust
from crossforce.client.trust import KeyEvidence, Pin, TrustState
from crossforce.crypto import issuing, orgkeys
from crossforce.crypto.certificates import load_cert, load_key
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.errors import VerificationError

LOG_KEY = nacl.signing.SigningKey(bytes(range(32)))
OTHER_KEY = nacl.signing.SigningKey(bytes(range(1, 33)))
PINNED = TrustState(log_key=bytes(LOG_KEY.verify_key))
CA = issuing.create_ca("unit-ca")
KENT_CERT = issuing.issue_client_certificate(CA, org="kent", role="force-system")
NOW_MS = int(datetime.datetime.now(tz=datetime.UTC).timestamp() * 1000)
V1, V2, OPERATOR = (OrgKeys.generate("kent") for _ in range(3))


def pin(keys: OrgKeys, version: int) -> Pin:
    return Pin(signing_key=keys.signing_public, box_key=keys.box_public, key_version=version)


def registration(keys: OrgKeys) -> bytes:
    """Version 1, bound by kent's CA-issued force-system certificate."""
    return Registration(
        at_ms=NOW_MS,
        actor_org=keys.org,
        actor_role="force-system",
        org=keys.org,
        signing_key=keys.signing_public,
        box_key=keys.box_public,
        key_version=1,
        certificate=load_cert(KENT_CERT.cert_pem).public_bytes(serialization.Encoding.DER),
        certificate_proof=orgkeys.sign_key_binding(keys, load_key(KENT_CERT.key_pem)),
    ).encode()


def key_change(previous: OrgKeys, new: OrgKeys, version: int, previous_index: int) -> bytes:
    """Version ``version``, handed over by ``previous``'s signing key."""
    return KeyChange(
        at_ms=NOW_MS,
        actor_org=new.org,
        actor_role="force-system",
        org=new.org,
        signing_key=new.signing_public,
        box_key=new.box_public,
        key_version=version,
        previous_key_proof=orgkeys.sign_key_change(previous, new, new_version=version),
        previous_log_index=previous_index,
    ).encode()


def filler(i: int) -> bytes:
    return EpochChange(
        at_ms=NOW_MS + i, actor_org="matcher", actor_role="operator", retired_through=i, current_epoch=i + 1
    ).encode()


class Log:
    """A tiny honest log over given entries: signed heads and inclusion proofs."""

    def __init__(self, entries: list[bytes], key: nacl.signing.SigningKey = LOG_KEY) -> None:
        self.entries = entries
        self.tree = MerkleTree(leaf_hash(e) for e in entries)
        self.key = key

    def head(self, size: int) -> SignedTreeHead:
        return sign_tree_head(
            TreeHead(tree_size=size, timestamp_ms=NOW_MS + size, root_hash=self.tree.root_at(size)), self.key
        )

    def evidence(self, leaf: int, size: int | None = None) -> KeyEvidence:
        size = len(self.entries) if size is None else size
        return KeyEvidence(
            head=self.head(size),
            leaf_index=leaf,
            entry=self.entries[leaf],
            hashes=tuple(self.tree.inclusion_proof(leaf, size)),
        )

    def history(self, *leaves: int, size: int | None = None) -> list[KeyEvidence]:
        return [self.evidence(leaf, size) for leaf in leaves]


V1_LEAF, V2_LEAF = 3, 9
ENTRIES = [
    *(filler(i) for i in range(3)),
    registration(V1),
    *(filler(i) for i in range(3, 8)),
    key_change(V1, V2, 2, V1_LEAF),
    *(filler(i) for i in range(8, 12)),
]


@pytest.fixture
def log() -> Log:
    return Log(list(ENTRIES))


def pinned_v1(log: Log) -> TrustState:
    return keytrust.pin_key_history(
        PINNED, "kent", pin(V1, 1), log.history(V1_LEAF, size=8), ca_pem=CA.cert_pem
    )


# --- what is accepted -----------------------------------------------------------------------------


def test_keys_are_pinned_on_first_sight_of_a_proven_history(log: Log) -> None:
    state = pinned_v1(log)
    assert state.pins["kent"] == pin(V1, 1)
    assert PINNED.pins == {}  # the rule returns a new state
    again = keytrust.pin_key_history(state, "kent", pin(V1, 1), log.history(V1_LEAF), ca_pem=CA.cert_pem)
    assert again is state


def test_a_proven_key_change_with_a_newer_version_is_re_pinned(log: Log) -> None:
    state = keytrust.pin_key_history(
        pinned_v1(log), "kent", pin(V2, 2), log.history(V1_LEAF, V2_LEAF), ca_pem=CA.cert_pem
    )
    assert state.pins["kent"] == pin(V2, 2)


# --- evidence that is not what the log holds ------------------------------------------------------


def test_no_pinned_log_key_is_refused(log: Log) -> None:
    with pytest.raises(VerificationError, match="no log key is pinned"):
        keytrust.pin_key_history(TrustState(), "kent", pin(V1, 1), log.history(V1_LEAF), ca_pem=CA.cert_pem)


def test_evidence_under_a_head_not_signed_by_the_log_key_is_refused() -> None:
    """The same entries and proofs, under a head the pinned log key did not sign."""
    imposter = Log(list(ENTRIES), OTHER_KEY)
    with pytest.raises(VerificationError, match="signature"):
        keytrust.pin_key_history(PINNED, "kent", pin(V1, 1), imposter.history(V1_LEAF), ca_pem=CA.cert_pem)


def test_evidence_not_included_at_the_claimed_index_is_refused(log: Log) -> None:
    good = log.evidence(V1_LEAF)
    moved = dataclasses.replace(good, leaf_index=V1_LEAF + 1)
    with pytest.raises(VerificationError, match="inclusion"):
        keytrust.pin_key_history(PINNED, "kent", pin(V1, 1), [moved], ca_pem=CA.cert_pem)


def test_an_entry_that_is_not_the_logged_leaf_is_refused(log: Log) -> None:
    """A key event the matcher never logged, shown with the proof of the leaf it claims to be."""
    substituted = dataclasses.replace(log.evidence(V1_LEAF), entry=registration(OPERATOR))
    with pytest.raises(VerificationError, match="inclusion"):
        keytrust.pin_key_history(PINNED, "kent", pin(OPERATOR, 1), [substituted], ca_pem=CA.cert_pem)


def test_unreadable_entry_is_refused(log: Log) -> None:
    hidden = dataclasses.replace(log.evidence(V1_LEAF), entry=b"")
    with pytest.raises(VerificationError, match="not readable"):
        keytrust.pin_key_history(PINNED, "kent", pin(V1, 1), [hidden], ca_pem=CA.cert_pem)


def test_an_undecodable_entry_is_refused() -> None:
    junk = Log([b"not an event"])
    with pytest.raises(VerificationError, match="not a readable event"):
        keytrust.pin_key_history(PINNED, "kent", pin(V1, 1), junk.history(0), ca_pem=CA.cert_pem)


def test_a_non_key_event_is_no_evidence(log: Log) -> None:
    with pytest.raises(VerificationError, match="is not a key event of kent"):
        keytrust.pin_key_history(PINNED, "kent", pin(V1, 1), log.history(0), ca_pem=CA.cert_pem)


def test_another_orgs_key_event_is_no_evidence(log: Log) -> None:
    with pytest.raises(VerificationError, match="is not a key event of essex"):
        keytrust.pin_key_history(PINNED, "essex", pin(V1, 1), log.history(V1_LEAF), ca_pem=CA.cert_pem)


# --- keys the history does not prove --------------------------------------------------------------


def test_keys_other_than_the_newest_logged_are_refused(log: Log) -> None:
    """The matcher returns keys (its own, or kent's old ones) that are not the newest version proven."""
    for seen in (pin(OPERATOR, 2), pin(OPERATOR, 1), pin(V1, 2), pin(V1, 1)):
        with pytest.raises(VerificationError, match="not the newest it logged"):
            keytrust.pin_key_history(PINNED, "kent", seen, log.history(V1_LEAF, V2_LEAF), ca_pem=CA.cert_pem)


def test_a_key_change_without_a_proof_from_the_previous_key_is_refused(log: Log) -> None:
    """The operator's own logged KEY_CHANGE: included under a signed head, but not kent's work."""
    evil = Log([*ENTRIES, key_change(OPERATOR, OPERATOR, 3, V2_LEAF)])
    state = keytrust.pin_key_history(
        pinned_v1(log), "kent", pin(V2, 2), log.history(V1_LEAF, V2_LEAF), ca_pem=CA.cert_pem
    )
    with pytest.raises(VerificationError, match=f"at log index {len(ENTRIES)} has no valid proof"):
        keytrust.pin_key_history(
            state, "kent", pin(OPERATOR, 3), evil.history(V1_LEAF, V2_LEAF, len(ENTRIES)), ca_pem=CA.cert_pem
        )


def test_a_history_older_than_the_pinned_version_is_refused(log: Log) -> None:
    """Pinned at version 2, the matcher shows a history that stops at version 1 (kent's old keys)."""
    state = keytrust.pin_key_history(
        PINNED, "kent", pin(V2, 2), log.history(V1_LEAF, V2_LEAF), ca_pem=CA.cert_pem
    )
    with pytest.raises(VerificationError, match="does not extend"):
        keytrust.pin_key_history(state, "kent", pin(V1, 1), log.history(V1_LEAF, size=8), ca_pem=CA.cert_pem)
    assert state.pins["kent"] == pin(V2, 2)


def test_a_rewritten_first_version_is_refused_even_when_it_proves_itself() -> None:
    """Without a CA (development mode) version 1 is taken on first use, so the operator can log a
    version 1 of its own and hand it over to a version 2: a profile that pinned kent's real version 1
    refuses that history, however consistent it is."""
    real = Log([registration(V1)])
    state = keytrust.pin_key_history(PINNED, "kent", pin(V1, 1), real.history(0), ca_pem=None)
    rewritten = Log([registration(OPERATOR), key_change(OPERATOR, V2, 2, 0)])
    with pytest.raises(VerificationError, match="does not extend"):
        keytrust.pin_key_history(state, "kent", pin(V2, 2), rewritten.history(0, 1), ca_pem=None)
    assert state.pins["kent"] == pin(V1, 1)


def test_other_keys_under_the_pinned_version_are_refused() -> None:
    """The operator re-registers kent at the pinned version with keys of its own (development mode)."""
    state = keytrust.pin_key_history(
        PINNED, "kent", pin(V1, 1), Log([registration(V1)]).history(0), ca_pem=None
    )
    swapped = Log([registration(OPERATOR)])
    with pytest.raises(VerificationError, match="does not extend"):
        keytrust.pin_key_history(state, "kent", pin(OPERATOR, 1), swapped.history(0), ca_pem=None)


def test_own_organisation_alarms_on_a_newest_version_it_did_not_make(log: Log) -> None:
    with pytest.raises(VerificationError, match="that this profile's keys did not make"):
        keytrust.pin_key_history(
            PINNED, "kent", pin(V2, 2), log.history(V1_LEAF, V2_LEAF), ca_pem=CA.cert_pem, own_keys=pin(V1, 2)
        )
    own = keytrust.pin_key_history(
        PINNED, "kent", pin(V2, 2), log.history(V1_LEAF, V2_LEAF), ca_pem=CA.cert_pem, own_keys=pin(V2, 2)
    )
    assert own.pins["kent"] == pin(V2, 2)
