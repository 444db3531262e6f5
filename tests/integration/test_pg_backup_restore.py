"""Back up a PostgreSQL-backed matcher while it works, restore into a new database, and carry on its log.

A PostgreSQL deployment's backup is two things: ``pg_dump -Fc`` of the database (one consistent
snapshot, taken while the matcher keeps answering checks) and a copy of the log signing key file, which
is never in the database. Restored with ``pg_restore`` into a new database, the log must verify under
that key to a signed head the live log also signed (same size, same root: a prefix of what the matcher
went on to write), ``crossforce db status`` must show it, and a matcher started on the restored database
with the copied key must accept it and extend the same log. The PostgreSQL server is real.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest
from click.testing import CliRunner

from crossforce.cli.main import cli
from crossforce.client.sdk import Client
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.server.app import LOG_KEY_FILE
from crossforce.server.audit import verify_stored_log
from crossforce.server.store import PostgresStorage, pgschema
from crossforce.testkit import pgserver
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from tests.integration.conftest import WHY

PEOPLE = [
    Record(record_id=f"R{i}", given_names="Ada", surname=f"Lovelace{i}", date_of_birth="1990-01-01")
    for i in range(4)
]
BACKGROUND_CHECKS = 30
"""Checks the live matcher answers while the dump runs (a bound, not a duration)."""
TOOL_TIMEOUT_S = 120


pytestmark = pytest.mark.backends("postgresql")
"""PostgreSQL only: each test asks for ``matcher_backend`` (via ``cluster``), so ``--backend`` applies."""


@pytest.fixture
def cluster(matcher_backend: str, pg_cluster: pgserver.PostgresServer) -> pgserver.PostgresServer:
    """The session's PostgreSQL cluster (tests/conftest.py)."""
    assert matcher_backend == "postgresql"
    return pg_cluster


@pytest.fixture
def live(cluster: pgserver.PostgresServer, tmp_path: Path) -> Iterator[LocalNet]:
    """A matcher on PostgreSQL with two forces' indexes and the disclosure requests of three hits."""
    dsn = cluster.create_database()
    pgschema.upgrade(dsn)
    net = LocalNet.create(tmp_path / "net", db=dsn)
    net.start_server()
    try:
        net.add_org("kent", roles=FORCE_ROLES)
        net.add_org("dbs", roles=VETTING_ROLES)
        net.register_all()
        with net.client("kent", "force-system") as kent:
            kent.publish_records(PEOPLE)
        with net.client("dbs", "vetting-officer") as dbs:
            for person in PEOPLE[:3]:
                assert not dbs.check(person, WHY, open_requests=True).no_trace
        yield net
    finally:
        net.stop_server()


def tool(cluster: pgserver.PostgresServer, name: str, *args: str) -> None:
    """Run a PostgreSQL client tool (they run as any user; only the server refuses root)."""
    done = subprocess.run(
        [str(cluster.bindir / name), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
    )
    assert done.returncode == 0, f"{name} failed: {done.stderr}"


def dump_while_checking(net: LocalNet, cluster: pgserver.PostgresServer, dsn: str, dest: Path) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_checking() -> None:
        try:
            with net.client("dbs", "vetting-officer") as dbs:
                for i in range(BACKGROUND_CHECKS):
                    if stop.is_set():
                        return
                    dbs.check(PEOPLE[i % len(PEOPLE)], WHY, open_requests=False)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    worker = threading.Thread(target=keep_checking)
    worker.start()
    try:
        tool(cluster, "pg_dump", "--format=custom", f"--file={dest}", f"--dbname={dsn}")
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not errors, errors


def signing_key(path: Path) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(path.read_bytes())


def test_dump_and_key_restore_into_a_new_database_with_the_same_log(
    live: LocalNet, cluster: pgserver.PostgresServer, tmp_path: Path
) -> None:
    assert live.db is not None
    backup = tmp_path / "backup"
    backup.mkdir(mode=0o700)
    dump_while_checking(live, cluster, live.db, backup / "crossforce.dump")
    shutil.copy2(live.data_dir / LOG_KEY_FILE, backup / LOG_KEY_FILE)  # the key is a file, not a row
    public_key = bytes(signing_key(backup / LOG_KEY_FILE).verify_key)
    live.stop_server()

    restored = cluster.create_database()
    tool(
        cluster, "pg_restore", "--single-transaction", "--exit-on-error", "--no-owner",
        f"--dbname={restored}", str(backup / "crossforce.dump"),
    )  # fmt: skip

    original, copy = PostgresStorage.open(live.db), PostgresStorage.open(restored)
    try:
        head = verify_stored_log(copy, public_key)  # what a matcher checks at start-up
        assert head is not None and head.head.tree_size == copy.log_size() > 5
        live_head = original.head_at(head.head.tree_size)
        assert live_head is not None and live_head.root == head.head.root_hash  # the live log's own prefix
        assert copy.orgs() == original.orgs()
        for row in copy.indexes():
            assert copy.read_bits(row.bits_sha256) == original.read_bits(row.bits_sha256)
        restored_size, restored_root = head.head.tree_size, head.head.root_hash
    finally:
        original.close()
        copy.close()

    status = CliRunner().invoke(cli, ["db", "status", "--db", restored, "--json"], catch_exceptions=False)
    assert status.exit_code == 0, status.output
    facts = json.loads(status.stdout)
    assert (facts["up_to_date"], facts["log_size"], facts["root_hash"]) == (
        True,
        restored_size,
        restored_root.hex(),
    )

    # A matcher on the restored database, with the backed-up key, accepts the log and extends it.
    (live.data_dir / LOG_KEY_FILE).unlink()
    shutil.copy2(backup / LOG_KEY_FILE, live.data_dir / LOG_KEY_FILE)
    live.db = restored
    live.start_server()
    try:
        newcomer = live.add_org("cumbria", roles=FORCE_ROLES)  # a client that never saw the later log
        with Client(newcomer, role=Role.FORCE_SYSTEM) as cumbria:
            cumbria.register()
    finally:
        live.stop_server()
    extended = PostgresStorage.open(restored)
    try:
        grown = verify_stored_log(extended, public_key)
        assert grown is not None and grown.head.tree_size > restored_size
        kept = extended.head_at(restored_size)
        assert kept is not None and kept.root == restored_root
    finally:
        extended.close()
