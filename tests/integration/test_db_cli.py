"""``crossforce db``: upgrade and inspect a PostgreSQL database, and move a pilot's SQLite folder into it.

The pilot is a real matcher (publishes, checks that open disclosure requests) whose folder is then
migrated with the CLI; the database afterwards must hold the same rows, the same index bits and an
audit log that verifies to the same signed size and root. A migration into a database that is not
empty, not upgraded, or from a folder that is damaged or still in use, is refused with nothing written.
The PostgreSQL server is real (``crossforce.testkit.pgserver``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import nacl.signing
import pytest
from click.testing import CliRunner, Result

from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.encoding.records import Record
from crossforce.server import verify_data_dir
from crossforce.server.app import LOG_KEY_FILE
from crossforce.server.store import PostgresStorage, SQLiteStorage, pgschema
from crossforce.server.store.sqlite import BITS_DIR
from crossforce.testkit import pgserver
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from tests.integration.conftest import WHY

PEOPLE = [
    Record(record_id=f"R{i}", given_names="Ada", surname=f"Lovelace{i}", date_of_birth="1990-01-01")
    for i in range(4)
]


pytestmark = pytest.mark.backends("postgresql")
"""PostgreSQL only: each test asks for ``matcher_backend`` (via ``cluster``), so ``--backend`` applies."""


@pytest.fixture
def cluster(matcher_backend: str, pg_cluster: pgserver.PostgresServer) -> pgserver.PostgresServer:
    """The session's PostgreSQL cluster (tests/conftest.py)."""
    assert matcher_backend == "postgresql"
    return pg_cluster


@pytest.fixture(scope="module")
def pilot_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped pilot matcher's data folder: two forces published, hits opened disclosure requests."""
    net = LocalNet.create(tmp_path_factory.mktemp("pilot"))
    net.start_server()
    try:
        for org in ("kent", "essex"):
            net.add_org(org, roles=FORCE_ROLES)
        net.add_org("dbs", roles=VETTING_ROLES)
        net.register_all()
        with net.client("kent", "force-system") as kent:
            kent.publish_records(PEOPLE)
        with net.client("essex", "force-system") as essex:
            essex.publish_records(PEOPLE[:2])
        with net.client("dbs", "vetting-officer") as dbs:
            for person in PEOPLE[:3]:
                assert not dbs.check(person, WHY, open_requests=True).no_trace
    finally:
        net.stop_server()
    return net.data_dir


@pytest.fixture
def pilot(pilot_folder: Path, tmp_path: Path) -> Path:
    """A copy of the pilot folder for one test to migrate (or damage)."""
    copy = tmp_path / "pilot"
    shutil.copytree(pilot_folder, copy)
    (copy / "matcher.lock").unlink(missing_ok=True)
    return copy


@pytest.fixture
def empty_db(cluster: pgserver.PostgresServer) -> Iterator[str]:
    dsn = cluster.create_database()
    yield dsn
    cluster.drop_database(dsn.split("?")[0].rsplit("/", 1)[1])


@pytest.fixture
def upgraded_db(empty_db: str) -> str:
    pgschema.upgrade(empty_db)
    return empty_db


def run(args: Sequence[object], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def ok_json(args: Sequence[object], env: dict[str, str] | None = None) -> dict[str, object]:
    result = run([*args, "--json"], env)
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def error_json(args: Sequence[object], status: ExitStatus) -> str:
    result = run([*args, "--json"])
    assert result.exit_code == status, result.output
    message: str = json.loads(result.stdout)["error"]["message"]
    return message


def log_key(folder: Path) -> bytes:
    return bytes(nacl.signing.SigningKey((folder / LOG_KEY_FILE).read_bytes()).verify_key)


# ------------------------------------------------------------------------------------------ upgrade, status


def test_upgrade_creates_the_schema_once_and_status_shows_it(empty_db: str) -> None:
    before = ok_json(["db", "status", "--db", empty_db])
    assert before["schema_version"] == 0 and before["up_to_date"] is False
    assert "NEEDS `crossforce db upgrade`" in run(["db", "status", "--db", empty_db]).output
    first = ok_json(["db", "upgrade", "--db", empty_db])
    assert (first["from_version"], first["schema_version"], first["changed"]) == (
        0,
        pgschema.SCHEMA_VERSION,
        True,
    )
    again = ok_json(["db", "upgrade"], env={"CROSSFORCE_DB": empty_db})  # the DSN from the environment
    assert again["changed"] is False and again["from_version"] == pgschema.SCHEMA_VERSION
    status = ok_json(["db", "status", "--db", empty_db])
    assert status["up_to_date"] is True and status["log_size"] == 0 and status["root_hash"] == ""
    text = run(["db", "status", "--db", empty_db])
    assert text.exit_code == 0 and "READY" in text.output


def test_an_unreachable_database_is_unreachable_and_keeps_its_password(
    cluster: pgserver.PostgresServer, tmp_path: Path
) -> None:
    del cluster  # the database is elsewhere; asking for it keeps the test on the PostgreSQL backend
    secret = "Pa55-w0rd-not-shown"
    url = f"postgresql://crossforce:{secret}@/crossforce?host={tmp_path}&port=1"
    for command in (["db", "status"], ["db", "upgrade"]):
        message = error_json([*command, "--db", url], ExitStatus.UNREACHABLE)
        assert "cannot reach PostgreSQL" in message and secret not in message
        assert "is the matcher running" not in message  # the database, not a matcher, is unreachable
    plain = run(["db", "status", "--db", url])
    assert plain.exit_code == ExitStatus.UNREACHABLE and secret not in plain.output


# ------------------------------------------------------------------------------------------ migration


def test_migration_keeps_every_row_every_bit_and_the_same_log_root(pilot: Path, upgraded_db: str) -> None:
    expected = verify_data_dir(pilot, log_key(pilot))
    assert expected is not None and expected.head.tree_size > 5
    report = ok_json(["db", "migrate-from-sqlite", "--data", pilot, "--db", upgraded_db])
    assert report["tree_size"] == expected.head.tree_size
    assert report["root_hash"] == expected.head.root_hash.hex()
    assert report["log_key"] == log_key(pilot).hex()
    assert report["log_key_file"] == str(pilot / LOG_KEY_FILE)
    status = ok_json(["db", "status", "--db", upgraded_db])
    assert (status["log_size"], status["tree_size"], status["root_hash"]) == (
        expected.head.tree_size,
        expected.head.tree_size,
        expected.head.root_hash.hex(),
    )

    source, target = SQLiteStorage(pilot), PostgresStorage.open(upgraded_db)
    try:
        assert target.orgs() == source.orgs() and len(source.orgs()) == 3
        assert target.indexes() == source.indexes() and len(source.indexes()) == 2
        everything = {"after": (-1, ""), "limit": 1000}
        assert target.requests_changed_since(**everything) == source.requests_changed_since(**everything)  # type: ignore[arg-type]
        assert len(source.requests_changed_since(**everything)) >= 3  # type: ignore[arg-type]
        assert target.heads() == source.heads()
        size = source.log_size()
        assert target.log_entries(0, size) == source.log_entries(0, size)
        assert target.meta("retired_through") == source.meta("retired_through")
        assert target.schema_version == pgschema.SCHEMA_VERSION  # its own version, not the SQLite file's
        for row in source.indexes():
            assert target.read_bits(row.bits_sha256) == source.read_bits(row.bits_sha256)
        with target.lock:  # the next append continues the same sequence
            assert target.begin() == size
            target.rollback()
    finally:
        source.close()
        target.close()
    text = run(["db", "migrate-from-sqlite", "--data", pilot, "--db", upgraded_db])
    assert text.exit_code == ExitStatus.BAD_INPUT  # not empty any more


def test_migration_refuses_a_database_that_is_not_empty(pilot: Path, upgraded_db: str) -> None:
    ok_json(["db", "migrate-from-sqlite", "--data", pilot, "--db", upgraded_db])
    before = ok_json(["db", "status", "--db", upgraded_db])
    message = error_json(
        ["db", "migrate-from-sqlite", "--data", pilot, "--db", upgraded_db], ExitStatus.BAD_INPUT
    )
    assert "is not empty" in message and "orgs" in message
    assert ok_json(["db", "status", "--db", upgraded_db]) == before


def test_migration_refuses_a_database_that_is_not_upgraded(pilot: Path, empty_db: str) -> None:
    message = error_json(
        ["db", "migrate-from-sqlite", "--data", pilot, "--db", empty_db], ExitStatus.BAD_INPUT
    )
    assert "schema version 0" in message and "crossforce db upgrade" in message


def test_migration_of_a_damaged_folder_is_refused_and_writes_nothing(pilot: Path, upgraded_db: str) -> None:
    victim = sorted((pilot / BITS_DIR).glob("*.bin"))[0]
    original = victim.read_bytes()
    victim.write_bytes(bytes([original[0] ^ 0xFF]) + original[1:])  # always a change, whatever the byte was
    message = error_json(
        ["db", "migrate-from-sqlite", "--data", pilot, "--db", upgraded_db], ExitStatus.VERIFICATION_FAILED
    )
    assert "does not hash to its name" in message
    status = ok_json(["db", "status", "--db", upgraded_db])
    assert status["log_size"] == 0 and status["tree_size"] == 0


def test_migration_waits_for_the_pilot_matcher_to_stop(pilot: Path, upgraded_db: str) -> None:
    running = SQLiteStorage(pilot)  # holds the folder lock, as a running matcher does
    try:
        message = error_json(
            ["db", "migrate-from-sqlite", "--data", pilot, "--db", upgraded_db], ExitStatus.BAD_INPUT
        )
        assert "already using the data folder" in message
    finally:
        running.close()
    assert ok_json(["db", "status", "--db", upgraded_db])["log_size"] == 0
