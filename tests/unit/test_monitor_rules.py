"""The monitor's pure rules: which log events and heads raise which alarm (``crossforce.client.monitor``)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crossforce.auditlog.events import AuditEvent, Check, EpochChange, KeyChange, Registration
from crossforce.auditlog.treehead import TreeHead
from crossforce.client import monitor as rules
from crossforce.client import monitorfiles
from crossforce.client.monitor import AlarmKind
from crossforce.crypto import orgkeys, pki
from crossforce.crypto.certificates import load_key
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.errors import ValidationError

KENT = OrgKeys.generate("kent")
KENT_2 = OrgKeys.generate("kent")
OWN = OrgKeys.generate("dbs")
NO_ANNOUNCEMENTS = rules.Context(
    own_org="dbs", own_keys={(OWN.signing_public, OWN.box_public)}, announcements=None
)


def registration(keys: OrgKeys, *, at_ms: int = 1_000) -> Registration:
    return Registration(
        at_ms=at_ms,
        actor_org=keys.org,
        actor_role="force-system",
        org=keys.org,
        signing_key=keys.signing_public,
        box_key=keys.box_public,
        key_version=1,
    )


def key_change(previous: OrgKeys | None, new: OrgKeys, version: int = 2) -> KeyChange:
    proof = orgkeys.sign_key_change(previous, new, new_version=version) if previous else b""
    return KeyChange(
        at_ms=2_000,
        actor_org=new.org,
        actor_role="force-system",
        org=new.org,
        signing_key=new.signing_public,
        box_key=new.box_public,
        key_version=version,
        previous_key_proof=proof,
    )


def announced(text: str) -> rules.Context:
    return rules.Context(
        own_org="dbs",
        own_keys={(OWN.signing_public, OWN.box_public)},
        announcements=monitorfiles.parse_announcements(text, source="announced.txt"),
    )


def check(
    events: Sequence[AuditEvent | bytes], ctx: rules.Context, state: monitorfiles.MonitorState | None = None
) -> tuple[monitorfiles.MonitorState, list[rules.Alarm]]:
    start = state or monitorfiles.MonitorState()
    rows = [(start.checked + i, e if isinstance(e, bytes) else e.encode()) for i, e in enumerate(events)]
    return rules.check_entries(start, rows, ctx)


def kinds(alarms: Sequence[rules.Alarm]) -> list[AlarmKind]:
    return [a.kind for a in alarms]


# ---------------------------------------------------------------------------------------------- key events
def test_announced_key_change_with_its_proof_passes_quietly() -> None:
    ctx = announced(
        f"kent 1\nkent 2 {monitorfiles.key_fingerprint(KENT_2.signing_public, KENT_2.box_public)}\n"
    )
    state, alarms = check([registration(KENT), key_change(KENT, KENT_2)], ctx)
    assert alarms == []
    assert state.checked == 2 and state.keys["kent"].key_version == 2


def test_unannounced_key_change_alarms_with_org_and_log_index() -> None:
    state, alarms = check([registration(KENT), key_change(KENT, KENT_2)], announced("kent 1\n"))
    assert kinds(alarms) == [AlarmKind.UNANNOUNCED_KEY]
    assert alarms[0].org == "kent" and alarms[0].log_index == 1
    assert state.checked == 2  # checked once: the next pass does not raise it again


def test_key_change_announced_with_another_fingerprint_alarms() -> None:
    other = monitorfiles.key_fingerprint(KENT.signing_public, KENT.box_public)
    _, alarms = check([registration(KENT), key_change(KENT, KENT_2)], announced(f"kent 1\nkent 2 {other}\n"))
    assert kinds(alarms) == [AlarmKind.UNANNOUNCED_KEY] and "not the one announced" in alarms[0].message


def test_key_change_without_previous_key_proof_alarms_even_when_announced() -> None:
    _, alarms = check([registration(KENT), key_change(None, KENT_2)], announced("kent 1\nkent 2\n"))
    assert kinds(alarms) == [AlarmKind.KEY_PROOF] and alarms[0].log_index == 1


def test_key_change_signed_by_the_operator_not_the_previous_key_alarms() -> None:
    operator = OrgKeys.generate("kent")
    _, alarms = check([registration(KENT), key_change(operator, KENT_2)], announced("kent 1\nkent 2\n"))
    assert kinds(alarms) == [AlarmKind.KEY_PROOF] and "no valid continuity proof" in alarms[0].message


def test_key_version_skipped_or_re_registered_alarms() -> None:
    _, skipped = check([registration(KENT), key_change(KENT, KENT_2, version=3)], NO_ANNOUNCEMENTS)
    assert AlarmKind.KEY_VERSION in kinds(skipped)
    _, again = check([registration(KENT), registration(KENT_2)], NO_ANNOUNCEMENTS)
    assert kinds(again) == [AlarmKind.KEY_VERSION]


def test_operator_logged_key_for_own_org_alarms_even_with_a_valid_looking_chain() -> None:
    """The operator logs keys it made for the monitor's own organisation (issue 16 item 1)."""
    operator = OrgKeys.generate("dbs")
    state, _ = check([registration(OWN)], NO_ANNOUNCEMENTS)
    _, alarms = check([key_change(OWN, operator)], NO_ANNOUNCEMENTS, state)
    assert kinds(alarms) == [AlarmKind.FOREIGN_OWN_KEY] and alarms[0].org == "dbs"


def test_own_keys_rotated_away_pass_when_the_proven_chain_ends_in_the_local_keys() -> None:
    """A profile keeps only its current keys; its earlier version is proven by the hand-over after it."""
    old = OrgKeys.generate("dbs")
    ctx = rules.Context(own_org="dbs", own_keys={(OWN.signing_public, OWN.box_public)}, announcements=None)
    assert check([registration(old), key_change(old, OWN)], ctx)[1] == []


def test_operator_key_swap_then_restore_for_own_org_alarms() -> None:
    """The operator logs its keys for the victim, then a second change restores the real ones (issue 16)."""
    evil = OrgKeys.generate("dbs")
    events = [registration(OWN), key_change(evil, evil), key_change(evil, OWN, version=3)]
    alarms = check(events, NO_ANNOUNCEMENTS)[1]
    assert sorted((a.kind, a.log_index) for a in alarms) == [
        (AlarmKind.FOREIGN_OWN_KEY, 1),
        (AlarmKind.KEY_PROOF, 1),
    ]


def test_own_registration_with_own_keys_passes_without_announcement() -> None:
    _, alarms = check([registration(OWN)], announced(""))
    assert alarms == []


def test_registration_needs_a_certificate_binding_where_there_is_a_ca() -> None:
    ca = pki.create_ca("test-ca")
    cert = pki.issue_client_certificate(ca, org="kent", role="force-system")
    der = x509.load_pem_x509_certificate(cert.cert_pem).public_bytes(serialization.Encoding.DER)
    proof = orgkeys.sign_key_binding(KENT, load_key(cert.key_pem))
    bound = dataclasses.replace(
        registration(KENT, at_ms=int(time.time() * 1000)), certificate=der, certificate_proof=proof
    )
    with_ca = rules.Context(own_org="dbs", own_keys=set(), announcements=None, ca_pem=ca.cert_pem)
    assert check([bound], with_ca)[1] == []
    _, bare = check([registration(KENT)], with_ca)
    assert kinds(bare) == [AlarmKind.KEY_PROOF] and bare[0].org == "kent"
    stranger = pki.issue_client_certificate(pki.create_ca("other-ca"), org="kent", role="force-system")
    forged = dataclasses.replace(
        bound,
        certificate=x509.load_pem_x509_certificate(stranger.cert_pem).public_bytes(
            serialization.Encoding.DER
        ),
        certificate_proof=orgkeys.sign_key_binding(KENT, load_key(stranger.key_pem)),
    )
    assert kinds(check([forged], with_ca)[1]) == [AlarmKind.KEY_PROOF]
    assert check([registration(KENT)], NO_ANNOUNCEMENTS)[1] == []  # no CA: taken on first use


# ---------------------------------------------------------------------------------------------- epochs
def epoch(current: int) -> EpochChange:
    return EpochChange(
        at_ms=3_000,
        actor_org="matcher",
        actor_role="operator",
        retired_through=current - 1,
        current_epoch=current,
    )


def test_unannounced_epoch_change_alarms_and_announced_one_passes() -> None:
    _, quiet = check([epoch(2)], announced("epoch 2\n"))
    assert quiet == []
    _, loud = check([epoch(3)], announced("epoch 2\n"))
    assert kinds(loud) == [AlarmKind.UNANNOUNCED_EPOCH] and loud[0].log_index == 0


def test_epoch_moving_backwards_alarms_without_announcements() -> None:
    state, _ = check([epoch(3)], NO_ANNOUNCEMENTS)
    _, alarms = check([epoch(2)], NO_ANNOUNCEMENTS, state)
    assert kinds(alarms) == [AlarmKind.EPOCH_BACKWARDS] and alarms[0].log_index == 1


# ------------------------------------------------------------------------------------- entries and heads
def test_entries_missing_from_the_verified_rows_alarm() -> None:
    rows = [(0, registration(KENT).encode()), (2, b"")]
    state, alarms = rules.check_entries(monitorfiles.MonitorState(), rows, NO_ANNOUNCEMENTS)
    assert kinds(alarms) == [AlarmKind.ENTRIES_MISSING] and state.checked == 1


def test_unreadable_entry_alarms_and_unreadable_by_role_is_only_counted() -> None:
    state, alarms = check([b"not an event", b""], NO_ANNOUNCEMENTS)
    assert kinds(alarms) == [AlarmKind.UNREADABLE_ENTRY] and state.checked == 2


def test_other_events_raise_nothing() -> None:
    ev = Check(
        at_ms=1, actor_org="dbs", actor_role="vetting-officer", check_id="c", officer_id="o", purpose="p",
        legal_basis="l", case_reference="r", hits=(), requests=(),
    )  # fmt: skip
    assert check([ev], announced(""))[1] == []


def head(size: int, *, root: bytes = b"\x01" * 32, at: int = 10) -> TreeHead:
    return TreeHead(tree_size=size, timestamp_ms=at, root_hash=root)


def test_rolled_back_head_alarms_as_rollback() -> None:
    assert kinds(rules.head_alarms(last=head(9), new=head(5), checked=0)) == [AlarmKind.ROLLBACK]
    assert kinds(rules.head_alarms(last=None, new=head(5), checked=7)) == [AlarmKind.ROLLBACK]


def test_forked_or_backdated_head_alarms_as_inconsistent() -> None:
    fork = rules.head_alarms(last=head(9), new=head(9, root=os.urandom(32)), checked=9)
    assert kinds(fork) == [AlarmKind.INCONSISTENT_HEAD]
    assert kinds(rules.head_alarms(last=head(9, at=10), new=head(10, at=9), checked=9)) == [
        AlarmKind.INCONSISTENT_HEAD
    ]
    assert rules.head_alarms(last=head(9), new=head(12, at=11), checked=9) == []


# ---------------------------------------------------------------------------------------------- files
BAD_ANNOUNCEMENTS = {
    "one-word": "kent\n",
    "not-an-org": "Kent! 1\n",
    "version-zero": "kent 0\n",
    "short-fingerprint": "kent 1 abcd\n",
    "epoch-without-number": "epoch\n",
    "announced-twice-differently": f"kent 1\nkent 1 {'a' * 64}\n",
}


@pytest.mark.parametrize("text", BAD_ANNOUNCEMENTS.values(), ids=BAD_ANNOUNCEMENTS.keys())
def test_bad_announcement_line_names_file_and_line(text: str) -> None:
    with pytest.raises(ValidationError, match=r"announced\.txt:\d"):
        monitorfiles.parse_announcements(text, source="announced.txt")


def test_announcements_ignore_comments_and_blank_lines() -> None:
    parsed = monitorfiles.parse_announcements(
        "# published 2026-11-30\n\nkent 1  # first\nepoch 4\n", source="a"
    )
    assert dict(parsed.keys["kent"]) == {1: None} and parsed.epochs == {4}


def test_state_round_trips_and_refuses_another_log_key() -> None:
    state, _ = check([registration(KENT), epoch(2)], NO_ANNOUNCEMENTS)
    state = monitorfiles.bind_log_key(state, b"k" * 32, source="s")
    assert monitorfiles.decode_state(monitorfiles.encode_state(state), source="s") == state
    with pytest.raises(ValidationError, match="another matcher log key"):
        monitorfiles.bind_log_key(state, b"x" * 32, source="s")
    with pytest.raises(ValidationError, match="not a monitor state file"):
        monitorfiles.decode_state(b'{"format_version": 1}', source="s")
