"""Back up a running matcher while it works, restore into a new folder, and get the same log back.

The live matcher keeps checking while the backup runs and after it; the restored folder must verify
(``crossforce audit verify --data``) to exactly the size and root the backup recorded, serve again, and
a backup altered in any way must be refused with nothing left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

import nacl.signing
import pytest
from click.testing import CliRunner, Result

from crossforce.cli import main as cli
from crossforce.cli.status import ExitStatus
from crossforce.client.sdk import Client
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.server import ServerSettings, start, verify_data_dir
from crossforce.server.app import LOG_KEY_FILE
from crossforce.testkit.localnet import VETTING_ROLES, LocalNet
from tests.integration.conftest import WHY

pytestmark = pytest.mark.backends("sqlite")
"""Backup and restore of a SQLite data folder; a PostgreSQL deployment is backed up with the database's own
tools (tests/integration/test_pg_backup_restore.py)."""

PEOPLE = [
    Record(record_id=f"R{i}", given_names="Ada", surname=f"Lovelace{i}", date_of_birth="1990-01-01")
    for i in range(5)
]
BACKGROUND_CHECKS = 40
"""Checks the live matcher answers while the backup runs (a bound, not a duration)."""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)


def public_log_key(data: Path) -> str:
    return bytes(nacl.signing.SigningKey((data / LOG_KEY_FILE).read_bytes()).verify_key).hex()


def published_and_checked(net: LocalNet) -> None:
    with net.client("kent", "force-system") as kent:
        kent.publish_records(PEOPLE)
    with net.client("dbs", "vetting-officer") as dbs:
        for person in PEOPLE[:2]:
            assert not dbs.check(person, WHY, open_requests=True).no_trace


def backed_up(net: LocalNet, dest: Path) -> dict[str, object]:
    """Back up while a second thread keeps checking; the backup command must succeed meanwhile."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_checking() -> None:
        try:
            with net.client("dbs", "vetting-officer") as dbs:
                for i in range(BACKGROUND_CHECKS):
                    if stop.is_set():
                        return
                    dbs.check(PEOPLE[i % len(PEOPLE)], WHY, open_requests=False)
        except BaseException as exc:  # reported by the test below, not swallowed
            errors.append(exc)

    worker = threading.Thread(target=keep_checking)
    worker.start()
    try:
        result = invoke("backup", "--data", str(net.root / "matcher"), "--to", str(dest), "--json")
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not errors, errors
    assert result.exit_code == 0, result.output
    facts: dict[str, object] = json.loads(result.output)
    return facts


def test_backup_of_a_running_matcher_restores_to_the_same_log_root(net: LocalNet, tmp_path: Path) -> None:
    published_and_checked(net)
    data = net.root / "matcher"
    key = public_log_key(data)
    facts = backed_up(net, tmp_path / "backup")
    assert facts["log_key"] == key
    assert int(str(facts["tree_size"])) > 0
    with net.client("dbs", "vetting-officer") as dbs:  # the live matcher keeps working after the backup
        dbs.check(PEOPLE[3], WHY, open_requests=True)
        live = dbs.tree_head().head
    assert live.tree_size > int(str(facts["tree_size"]))

    backup = tmp_path / "backup"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    for path in backup.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    manifest = json.loads((backup / "MANIFEST.json").read_bytes())
    listed = {f["path"]: f for f in manifest["files"]}
    assert {"data/matcher.sqlite3", f"data/{LOG_KEY_FILE}"} <= set(listed)
    assert any(p.startswith("data/indexes/") for p in listed)
    assert not any(p.endswith(("-wal", "-shm", "matcher.lock")) for p in listed)
    for name, entry in listed.items():
        assert hashlib.sha256((backup / name).read_bytes()).hexdigest() == entry["sha256"]

    restored = tmp_path / "restored"
    published = data / "log-key.pub"  # the file the operator hands out, never read from the backup
    result = invoke(
        "restore", "--from", str(backup), "--data", str(restored), "--log-key-file", str(published), "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["root_hash"] == facts["root_hash"]
    assert json.loads(result.output)["log_key_checked"] is True
    assert stat.S_IMODE(restored.stat().st_mode) == 0o700

    offline = verify_data_dir(restored, bytes.fromhex(key))  # what `crossforce audit verify --data` runs
    assert offline is not None
    assert (offline.head.tree_size, offline.head.root_hash.hex()) == (facts["tree_size"], facts["root_hash"])

    # A matcher started on the restored folder serves the backed-up log and the backed-up index.
    again = start(data_dir=restored, pki_dir=net.server_pki_dir, settings=ServerSettings(expected_forces=()))
    try:
        fresh = net.add_org("cumbria", roles=VETTING_ROLES).with_server(f"localhost:{again.port}")
        with Client(fresh, role=Role.AUDITOR) as auditor:
            head = auditor.tree_head().head
        assert (head.tree_size, head.root_hash.hex()) == (facts["tree_size"], facts["root_hash"])
        with Client(fresh, role=Role.FORCE_SYSTEM) as system:
            system.register()
        with Client(fresh, role=Role.VETTING_OFFICER) as officer:
            assert not officer.check(PEOPLE[0], WHY, open_requests=False).no_trace
    finally:
        again.stop(1.0)


@pytest.fixture
def a_backup(net: LocalNet, tmp_path: Path) -> tuple[Path, str]:
    published_and_checked(net)
    key = public_log_key(net.root / "matcher")
    result = invoke("backup", "--data", str(net.root / "matcher"), "--to", str(tmp_path / "backup"))
    assert result.exit_code == 0, result.output
    return tmp_path / "backup", key


def refused(backup: Path, target: Path, key: str, status: ExitStatus = ExitStatus.VERIFICATION_FAILED) -> str:
    result = invoke("restore", "--from", str(backup), "--data", str(target), "--log-key", key)
    assert result.exit_code == status, result.output
    assert not target.exists() or not any(target.iterdir())  # nothing restored
    assert not [p for p in target.parent.iterdir() if ".restoring-" in p.name]  # no staging left
    return result.output


def test_tampered_index_file_in_backup_is_refused(a_backup: tuple[Path, str], tmp_path: Path) -> None:
    backup, key = a_backup
    (bits,) = list((backup / "data" / "indexes").glob("*.bin"))
    data = bytearray(bits.read_bytes())
    data[len(data) // 2] ^= 0x01
    bits.write_bytes(bytes(data))
    assert "does not match its SHA-256" in refused(backup, tmp_path / "restored", key)


def rewrite_manifest(backup: Path) -> None:
    """An attacker who can edit the backup can recompute every hash in its manifest, too."""
    path = backup / "MANIFEST.json"
    manifest = json.loads(path.read_bytes())
    for entry in manifest["files"]:
        file = backup / entry["path"]
        entry["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
        entry["size"] = file.stat().st_size
    path.write_text(json.dumps(manifest))


def test_altered_log_event_with_rewritten_manifest_is_refused(
    a_backup: tuple[Path, str], tmp_path: Path
) -> None:
    backup, key = a_backup
    conn = sqlite3.connect(backup / "data" / "matcher.sqlite3", isolation_level=None)
    conn.execute("DROP TRIGGER log_no_update")
    (entry,) = conn.execute("SELECT entry FROM log WHERE idx = 1").fetchone()
    changed = bytearray(entry)
    changed[-1] ^= 0x01
    conn.execute("UPDATE log SET entry = ? WHERE idx = 1", (bytes(changed),))
    conn.close()
    rewrite_manifest(backup)
    assert "audit log event 1" in refused(backup, tmp_path / "restored", key)


def test_swapped_log_signing_key_is_refused_against_the_published_key(
    a_backup: tuple[Path, str], tmp_path: Path
) -> None:
    backup, key = a_backup
    forged = nacl.signing.SigningKey.generate()
    (backup / "data" / LOG_KEY_FILE).write_bytes(bytes(forged))
    rewrite_manifest(backup)
    manifest = json.loads((backup / "MANIFEST.json").read_bytes())
    manifest["log"]["log_key"] = bytes(forged.verify_key).hex()
    (backup / "MANIFEST.json").write_text(json.dumps(manifest))
    assert "not the published log key" in refused(backup, tmp_path / "restored", key)


def test_file_not_in_the_manifest_is_refused(a_backup: tuple[Path, str], tmp_path: Path) -> None:
    backup, key = a_backup
    (backup / "data" / "extra").write_bytes(b"planted")
    assert "does not list" in refused(backup, tmp_path / "restored", key)


def test_manifest_path_escaping_the_folder_is_refused(a_backup: tuple[Path, str], tmp_path: Path) -> None:
    backup, key = a_backup
    manifest = json.loads((backup / "MANIFEST.json").read_bytes())
    manifest["files"][0]["path"] = "data/../../escaped"
    (backup / "MANIFEST.json").write_text(json.dumps(manifest))
    assert "not a plain path" in refused(backup, tmp_path / "restored", key)
    assert not (tmp_path / "escaped").exists()


def test_restore_into_a_non_empty_folder_is_refused(a_backup: tuple[Path, str], tmp_path: Path) -> None:
    backup, key = a_backup
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "keep-me").write_text("someone's data")
    result = invoke("restore", "--from", str(backup), "--data", str(target), "--log-key", key)
    assert result.exit_code == ExitStatus.BAD_INPUT, result.output
    assert sorted(os.listdir(target)) == ["keep-me"]


def test_backup_into_a_non_empty_folder_or_inside_the_data_folder_is_refused(
    net: LocalNet, tmp_path: Path
) -> None:
    data = net.root / "matcher"
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep-me").write_text("x")
    result = invoke("backup", "--data", str(data), "--to", str(occupied))
    assert result.exit_code == ExitStatus.BAD_INPUT, result.output
    assert sorted(os.listdir(occupied)) == ["keep-me"]
    inside = invoke("backup", "--data", str(data), "--to", str(data / "backup"))
    assert inside.exit_code == ExitStatus.BAD_INPUT, inside.output
    assert not (data / "backup").exists()


def test_backup_with_pki_restores_the_pki_folder_with_private_keys_private(
    net: LocalNet, tmp_path: Path
) -> None:
    published_and_checked(net)
    backup = tmp_path / "backup"
    made = invoke(
        "backup", "--data", str(net.root / "matcher"), "--to", str(backup), "--pki", str(net.pki.path)
    )
    assert made.exit_code == 0, made.output
    (tmp_path / "d").mkdir()  # an empty folder is as good as a new one
    result = invoke(
        "restore", "--from", str(backup), "--data", str(tmp_path / "d"), "--pki", str(tmp_path / "p")
    )
    assert result.exit_code == 0, result.output
    for original in net.pki.path.rglob("*"):
        copy = tmp_path / "p" / original.relative_to(net.pki.path)
        if original.is_file():
            assert copy.read_bytes() == original.read_bytes()
            assert stat.S_IMODE(copy.stat().st_mode) == stat.S_IMODE(original.stat().st_mode) & 0o644
    assert stat.S_IMODE((tmp_path / "p" / "ca-key.pem").stat().st_mode) == 0o600


def test_refused_restore_under_json_is_one_json_error(a_backup: tuple[Path, str], tmp_path: Path) -> None:
    backup, key = a_backup
    (backup / "data" / LOG_KEY_FILE).write_bytes(bytes(nacl.signing.SigningKey.generate()))
    result = CliRunner().invoke(
        cli.cli,
        ["restore", "--from", str(backup), "--data", str(tmp_path / "r"), "--log-key", key, "--json"],
    )
    assert result.exit_code == ExitStatus.VERIFICATION_FAILED, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "VERIFICATION_FAILED" and "SHA-256" in error["message"]
    assert not (tmp_path / "r").exists()
