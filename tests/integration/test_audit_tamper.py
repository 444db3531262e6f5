"""1,000 single-bit mutations of stored audit rows: `crossforce audit verify --data` detects every one."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import nacl.signing
import pytest
from click.testing import CliRunner

from crossforce.cli import main as cli
from crossforce.cli.status import ExitStatus
from crossforce.encoding.records import Record
from crossforce.server.app import LOG_KEY_FILE
from crossforce.server.audit import verify_stored_log
from crossforce.server.store import SQLiteStorage
from crossforce.testkit.localnet import LocalNet
from tests.integration.conftest import WHY

pytestmark = pytest.mark.backends("sqlite")
"""``crossforce audit verify --data`` reads a SQLite data folder offline; the verifier's rules are the
same for both backends, and tampering through PostgreSQL is covered row by row in
tests/reliability/test_attacks.py."""

MUTATIONS = 1000
COLUMNS = (
    ("log", "entry", "idx"),
    ("log", "leaf_hash", "idx"),
    ("heads", "root", "tree_size"),
    ("heads", "signature", "tree_size"),
)


def test_every_single_byte_mutation_of_stored_log_detected(net: LocalNet, tmp_path: Path) -> None:
    people = [
        Record(record_id=f"R{i}", given_names="Ada", surname=f"Lovelace{i}", date_of_birth="1990-01-01")
        for i in range(5)
    ]
    with net.client("kent", "force-system") as kent:
        kent.publish_records(people)
    with net.client("dbs", "vetting-officer") as dbs:
        for p in people:
            dbs.check(p, WHY, open_requests=True)
    net.stop_server()
    data = net.root / "matcher"
    public_key = bytes(nacl.signing.SigningKey((data / LOG_KEY_FILE).read_bytes()).verify_key)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(data / "matcher.sqlite3", copy / "matcher.sqlite3")
    for suffix in ("-wal", "-shm"):
        if (data / f"matcher.sqlite3{suffix}").exists():
            shutil.copy(data / f"matcher.sqlite3{suffix}", copy / f"matcher.sqlite3{suffix}")
    storage = SQLiteStorage(copy)
    verify_stored_log(storage, public_key)  # the untouched copy verifies
    storage.close()
    conn = sqlite3.connect(copy / "matcher.sqlite3", isolation_level=None)
    conn.execute("DROP TRIGGER log_no_update")  # an attacker with the file is not bound by triggers
    runner = CliRunner()
    ok = runner.invoke(cli.cli, ["audit", "verify", "--data", str(copy), "--log-key", public_key.hex()])
    assert ok.exit_code == 0 and "VERIFIED" in ok.output, ok.output
    conn.execute("DROP TRIGGER IF EXISTS log_no_update")
    rng = random.Random(20261127)
    rows = {t: conn.execute(f"SELECT {k} FROM {t}").fetchall() for t, _c, k in COLUMNS}
    assert len(rows["log"]) > 10
    detected = 0
    for _ in range(MUTATIONS):
        table, column, key = rng.choice(COLUMNS)
        (row_key,) = rng.choice(rows[table])
        conn.execute("DROP TRIGGER IF EXISTS log_no_update")  # opening the storage re-creates it
        (value,) = conn.execute(f"SELECT {column} FROM {table} WHERE {key} = ?", (row_key,)).fetchone()
        mutated = bytearray(value)
        pos = rng.randrange(len(mutated))
        mutated[pos] ^= 1 << rng.randrange(8)
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (bytes(mutated), row_key))
        result = runner.invoke(
            cli.cli, ["audit", "verify", "--data", str(copy), "--log-key", public_key.hex()]
        )
        try:
            assert result.exit_code == ExitStatus.VERIFICATION_FAILED, result.output
            detected += 1
        finally:
            conn.execute("DROP TRIGGER IF EXISTS log_no_update")
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (value, row_key))
    assert detected == MUTATIONS
