"""``crossforce audit monitor`` against a real matcher whose operator cheats.

The operator holds the matcher's database and its log signing key, so it can append well-formed, signed
log entries (``append_as_operator`` writes them into the store and re-signs the head, as a thief of the
data folder would) or restart the matcher from an older copy of its data folder with the same key. The
monitor must name each of these; what organisations announced out of band must pass quietly.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from click.testing import CliRunner, Result

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import AuditEvent, EpochChange, KeyChange, PublishRefused
from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.client import monitorfiles
from crossforce.crypto import orgkeys
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.server.app import LOG_KEY_FILE
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from tests.integration.conftest import WHY

ORGS = ("kent", "dbs")
PEOPLE = [
    Record(record_id=f"R{i}", given_names="Ada", surname=f"Lovelace{i}", date_of_birth="1990-01-01")
    for i in range(2)
]


@pytest.fixture
def mnet(tmp_path: Path) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path)
    net.start_server()
    net.add_org("kent", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()


def monitor(
    net: LocalNet, *extra: object, org: str = "dbs", status: ExitStatus = ExitStatus.SUCCESS
) -> Result:
    args = ["audit", "monitor", "--profile", net.profiles[org].path, *extra]
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == status, f"crossforce {' '.join(map(str, args))}: {result.output}"
    return result


def alarms(result: Result) -> list[dict[str, Any]]:
    """The --json lines: every line of stdout is one JSON object."""
    return [json.loads(line) for line in result.stdout.splitlines()]


def announcements(tmp_path: Path, lines: Sequence[str]) -> Path:
    """``lines`` and epoch 1, which the matcher logs at its first start (the network's first epoch)."""
    path = tmp_path / "announced.txt"
    text = "# what the organisations published out of band\nepoch 1\n" + "\n".join(lines) + "\n"
    path.write_text(text)
    return path


def first_keys(net: LocalNet) -> list[str]:
    return [f"{org} 1" for org in ORGS]


def activity(net: LocalNet) -> None:
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        kent.publish_records(PEOPLE)
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        dbs.check(PEOPLE[0], WHY, open_requests=False)


def append_as_operator(net: LocalNet, *events: AuditEvent) -> int:
    """Append ``events`` to the matcher's log as its operator can: new leaves and a head re-signed with the
    log key, written into the store while the matcher is stopped. Returns the first new entry's index."""
    net.stop_server()
    key = nacl.signing.SigningKey((net.root / "matcher" / LOG_KEY_FILE).read_bytes())
    conn = sqlite3.connect(net.root / "matcher" / "matcher.sqlite3", isolation_level=None)
    try:
        leaves = [bytes(leaf) for (leaf,) in conn.execute("SELECT leaf_hash FROM log ORDER BY idx")]
        (last_ms,) = conn.execute("SELECT MAX(timestamp_ms) FROM heads").fetchone()
        first = len(leaves)
        for event in events:
            entry = event.encode()
            leaves.append(merkle.leaf_hash(entry))
            conn.execute(
                "INSERT INTO log (idx, entry, leaf_hash) VALUES (?, ?, ?)",
                (len(leaves) - 1, entry, leaves[-1]),
            )
        root = merkle.root_from_leaf_hashes(leaves)
        head = treehead.sign_tree_head(
            treehead.TreeHead(tree_size=len(leaves), timestamp_ms=last_ms + 1, root_hash=root), key
        )
        conn.execute(
            "INSERT INTO heads VALUES (?, ?, ?, ?)",
            (head.head.tree_size, head.head.timestamp_ms, head.head.root_hash, head.signature),
        )
    finally:
        conn.close()
    net.start_server()
    return first


def key_change(org: str, new: OrgKeys, *, signed_by: OrgKeys | None) -> KeyChange:
    """Version 2 of ``org``'s keys; ``signed_by``: the key that hands over (the real previous one, or not)."""
    return KeyChange(
        at_ms=2_000_000_000_000,
        actor_org=org,
        actor_role=Role.FORCE_SYSTEM,
        org=org,
        signing_key=new.signing_public,
        box_key=new.box_public,
        key_version=2,
        previous_key_proof=orgkeys.sign_key_change(signed_by, new, new_version=2) if signed_by else b"",
    )


# ---------------------------------------------------------------------------------------------- quiet
def test_announced_registrations_and_activity_pass_quietly(mnet: LocalNet, tmp_path: Path) -> None:
    activity(mnet)
    result = monitor(mnet, "--once", "--announcements", announcements(tmp_path, first_keys(mnet)), "--json")
    assert alarms(result) == []


def test_announced_key_change_made_with_the_previous_key_passes_quietly(
    mnet: LocalNet, tmp_path: Path
) -> None:
    old = mnet.profiles["kent"].org_keys()
    new = OrgKeys.generate("kent")
    fingerprint = monitorfiles.key_fingerprint(new.signing_public, new.box_public)
    announced = announcements(tmp_path, [*first_keys(mnet), f"kent 2 {fingerprint}"])
    monitor(mnet, "--once", "--announcements", announced)
    append_as_operator(mnet, key_change("kent", new, signed_by=old))
    assert alarms(monitor(mnet, "--once", "--announcements", announced, "--json")) == []


def test_real_announced_rotation_passes_quietly_for_others_and_for_the_rotating_org(
    mnet: LocalNet, tmp_path: Path
) -> None:
    with mnet.client("kent", Role.FORCE_SYSTEM) as kent:  # kent's monitor first runs after its rotation
        rotated = kent.rotate_keys()
    fingerprint = monitorfiles.key_fingerprint(bytes(rotated.signing_key), bytes(rotated.box_key))
    announced = announcements(tmp_path, [*first_keys(mnet), f"kent 2 {fingerprint}"])
    assert alarms(monitor(mnet, "--once", "--announcements", announced, "--json")) == []
    assert alarms(monitor(mnet, "--once", "--json", org="kent")) == []


# ---------------------------------------------------------------------------------------------- keys
def test_unannounced_key_change_alarms_with_the_org_and_log_index(mnet: LocalNet, tmp_path: Path) -> None:
    announced = announcements(tmp_path, first_keys(mnet))
    monitor(mnet, "--once", "--announcements", announced)
    old = mnet.profiles["kent"].org_keys()
    index = append_as_operator(mnet, key_change("kent", OrgKeys.generate("kent"), signed_by=old))
    found = alarms(
        monitor(mnet, "--once", "--announcements", announced, "--json", status=ExitStatus.VERIFICATION_FAILED)
    )
    assert [(a["alarm"], a["org"], a["log_index"]) for a in found] == [("unannounced_key", "kent", index)]
    again = monitor(mnet, "--once", "--announcements", announced)
    assert again.stdout == ""  # raised once: the next pass has nothing new to say


def test_operator_key_swap_without_previous_key_proof_alarms(mnet: LocalNet, tmp_path: Path) -> None:
    announced = announcements(tmp_path, [*first_keys(mnet), "kent 2"])
    index = append_as_operator(mnet, key_change("kent", OrgKeys.generate("kent"), signed_by=None))
    result = monitor(mnet, "--once", "--announcements", announced, status=ExitStatus.VERIFICATION_FAILED)
    assert result.stdout.startswith(f"ALARM key_proof at log index {index}:") and "kent" in result.stdout


def test_operator_logged_keys_for_the_monitors_own_org_alarm(mnet: LocalNet) -> None:
    """The victim's own monitor notices keys it did not make, even with a hand-over forged by nobody."""
    operator = OrgKeys.generate("dbs")
    index = append_as_operator(mnet, key_change("dbs", operator, signed_by=operator))
    found = alarms(monitor(mnet, "--once", "--json", status=ExitStatus.VERIFICATION_FAILED))
    own = [a for a in found if a["alarm"] == "foreign_own_key"]
    assert [(a["org"], a["log_index"]) for a in own] == [("dbs", index)]


# ---------------------------------------------------------------------------------------------- epochs
def test_unannounced_epoch_change_alarms(mnet: LocalNet, tmp_path: Path) -> None:
    announced = announcements(tmp_path, first_keys(mnet))
    forged = EpochChange(
        at_ms=2_000_000_000_000, actor_org="dbs", actor_role=Role.AUDITOR, retired_through=4, current_epoch=5
    )
    index = append_as_operator(mnet, forged)
    found = alarms(
        monitor(mnet, "--once", "--announcements", announced, "--json", status=ExitStatus.VERIFICATION_FAILED)
    )
    assert [(a["alarm"], a["log_index"]) for a in found] == [("unannounced_epoch", index)]


# ---------------------------------------------------------------------------------------------- gaps
def test_rollback_to_an_older_data_folder_copy_alarms(mnet: LocalNet, tmp_path: Path) -> None:
    """The operator restarts the matcher from an older copy of its data folder, same log key."""
    mnet.stop_server()
    shutil.copytree(mnet.root / "matcher", tmp_path / "older")
    mnet.start_server()
    activity(mnet)
    monitor(mnet, "--once")
    mnet.stop_server()
    shutil.rmtree(mnet.root / "matcher")
    shutil.copytree(tmp_path / "older", mnet.root / "matcher")
    mnet.start_server()
    found = alarms(monitor(mnet, "--once", "--json", status=ExitStatus.VERIFICATION_FAILED))
    assert [a["alarm"] for a in found] == ["rollback"]
    # The older copy then grows past what was verified: a history that does not extend it.
    refused = PublishRefused(
        at_ms=2_000_000_000_000, actor_org="kent", actor_role=Role.FORCE_SYSTEM, reason="X"
    )
    append_as_operator(mnet, *[refused] * 10)
    found = alarms(monitor(mnet, "--once", "--json", status=ExitStatus.VERIFICATION_FAILED))
    assert [a["alarm"] for a in found] == ["inconsistent_head"]


def test_duration_bounds_the_monitor_and_json_lines_parse(mnet: LocalNet, tmp_path: Path) -> None:
    append_as_operator(mnet, key_change("kent", OrgKeys.generate("kent"), signed_by=None))
    result = monitor(
        mnet, "--duration", "0", "--interval", "0.1", "--json", status=ExitStatus.VERIFICATION_FAILED
    )
    found = alarms(result)
    assert found and all(set(a) == {"alarm", "org", "log_index", "message"} for a in found)


def test_monitor_without_auditor_role_sees_public_key_events(mnet: LocalNet) -> None:
    index = append_as_operator(mnet, key_change("kent", OrgKeys.generate("kent"), signed_by=None))
    found = alarms(
        monitor(mnet, "--once", "--json", "--role", "vetting-officer", status=ExitStatus.VERIFICATION_FAILED)
    )
    assert ("key_proof", index) in {(a["alarm"], a["log_index"]) for a in found}
