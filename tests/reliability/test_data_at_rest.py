"""Issue 15 finding 12, data at rest: the matcher's database and a force's token store, as files.

Before: both folders were 0700, but every SQLite file in them (``matcher.sqlite3``, ``tokens.sqlite3`` and
their ``-wal`` and ``-shm``) and the matcher's ``indexes/`` folder took the process umask: 0644 and 0755
under the usual 022. The 0700 folder was all that stood between those files and every other account on
the machine, and it stops standing the moment the folder is copied, moved into a shared parent, or
restored by a tool that keeps file modes; nothing at start-up noticed. The matcher's database holds who
checked whom, with case references and officer ids; the token store holds the force's records.

Each test makes the files under a permissive umask (022, the common default) so the attack is the same
whatever umask the test run has. Files that are public by design (certificates, public keys, the
profile's address book, the matcher's published log key) may be readable by others, never writable.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from crossforce.cli.main import cli
from crossforce.client.tokenstore import TokenStore
from crossforce.domain import Justification, Role
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError
from crossforce.privatefiles import create_private_file, create_private_folder, loose_under
from crossforce.server import ServerSettings, start
from crossforce.server.backup import back_up_data_dir, restore_data_dir
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet

WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
HELD = Record(record_id="HUM-42", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04")
SETTINGS = ServerSettings(expected_forces=())
HOLDER = "humberside"

PUBLIC_MATCHER_FILES = frozenset({"log-key.pub"})
"""The log's public key, which the operator hands to every organisation."""
PUBLIC_PROFILE_FILES = frozenset(
    {"ca.pem", "profile.json", "keys/org-keys.pub.json"}
    | {f"certs/{role}.pem" for role in (*FORCE_ROLES, *VETTING_ROLES)}
)
"""Certificates, public keys and the matcher's address: nothing a thief could use."""
SQLITE_SIDE_FILES = ("", "-wal", "-shm")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def open_to_others(root: Path, public: frozenset[str] = frozenset()) -> list[str]:
    """Every folder (with ``root``) and file under ``root`` another local account could read, write or
    enter, as ``relative (mode)``; a ``public`` file may be read by others but not written."""
    found = []
    for path in sorted([root, *root.rglob("*")]):
        relative = path.relative_to(root).as_posix()
        allowed = 0o044 if relative in public else 0
        if mode(path) & 0o077 & ~allowed:
            found.append(f"{relative} ({mode(path):o})")
    return found


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Files made under 022, as on most machines, whatever the test run's own umask."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def serve_cli(data: Path, pki_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["serve", "--data", str(data), "--pki", str(pki_dir), "--port", "0", "--json"],
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout


# --- what is written --------------------------------------------------------------------------------


def test_thief_with_another_local_account_cannot_read_the_matcher_database(
    tmp_path: Path, matcher_db: str | None, permissive_umask: None
) -> None:
    net = LocalNet.create(tmp_path / "net", db=matcher_db)
    net.start_server()
    net.add_org(HOLDER, roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    try:
        with net.client(HOLDER, Role.FORCE_SYSTEM) as c:
            c.publish_records([HELD])
        with net.client("dbs", Role.VETTING_OFFICER) as c:
            c.check(HELD, WHY)  # a request row: who checked whom, why, and its tokens
        if matcher_db is None:  # while it serves, the WAL holds the newest writes
            assert (net.data_dir / "matcher.sqlite3-wal").exists()
            assert list((net.data_dir / "indexes").glob("*.bin"))
        serving = open_to_others(net.data_dir, PUBLIC_MATCHER_FILES)
    finally:
        net.stop_server()
    assert serving == [], f"readable by other accounts while serving: {serving}"
    assert open_to_others(net.data_dir, PUBLIC_MATCHER_FILES) == []
    if matcher_db is not None:
        return  # PostgreSQL: the folder holds the log keys only, the database is the server's
    back_up_data_dir(net.data_dir, tmp_path / "backup")
    assert open_to_others(tmp_path / "backup") == []
    restore_data_dir(tmp_path / "backup", tmp_path / "restored")
    assert open_to_others(tmp_path / "restored", PUBLIC_MATCHER_FILES) == []
    start(data_dir=tmp_path / "restored", pki_dir=net.server_pki_dir, settings=SETTINGS).stop(0)


def test_thief_with_another_local_account_cannot_read_the_token_store(
    tmp_path: Path, permissive_umask: None
) -> None:
    net = LocalNet.create(tmp_path)
    net.start_server()
    profile = net.add_org(HOLDER, roles=FORCE_ROLES)
    net.register_all()
    try:
        with net.client(HOLDER, Role.FORCE_SYSTEM) as c:
            c.publish_records([HELD])
            store = profile.token_store_path
            for suffix in SQLITE_SIDE_FILES:  # all three exist while the store is open
                assert Path(f"{store}{suffix}").exists(), suffix
            loose = open_to_others(profile.path, PUBLIC_PROFILE_FILES)
    finally:
        net.stop_server()
    assert loose == [], f"readable by other accounts: {loose}"
    os.chmod(store, 0o644)  # as an earlier client left it: the CLI refuses it with the fix, not a trace
    records = tmp_path / "records.csv"
    records.write_text("record_id,given_names,surname,date_of_birth\nHUM-42,Marcus,Abernethy,1979-09-04\n")
    result = CliRunner().invoke(
        cli, ["validate", str(records), "--profile", str(profile.path), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 3, result.stdout  # BAD_INPUT
    assert f"`chmod 600 {store}`" in json.loads(result.stdout)["error"]["message"]


# --- what is refused at start -------------------------------------------------------------------------


def test_matcher_refuses_a_database_others_can_read(tmp_path: Path, permissive_umask: None) -> None:
    """A data folder from an earlier version (database 0644, ``indexes/`` 0755): a clear refusal naming
    the path, the mode and the ``chmod`` to run, before storage is opened; then it starts."""
    net = LocalNet.create(tmp_path / "net")
    data = tmp_path / "data"
    start(data_dir=data, pki_dir=net.server_pki_dir, settings=SETTINGS).stop(0)
    db = data / "matcher.sqlite3"
    os.chmod(db, 0o644)
    with pytest.raises(PreconditionError, match=rf"{db} \(mode 644\).*`chmod 600 {db}`"):
        start(data_dir=data, pki_dir=net.server_pki_dir, settings=SETTINGS)
    os.chmod(data / "indexes", 0o755)
    with pytest.raises(PreconditionError) as refused:
        start(data_dir=data, pki_dir=net.server_pki_dir, settings=SETTINGS)
    message = str(refused.value)
    assert f"{db} (mode 644)" in message and f"{data / 'indexes'} (mode 755)" in message, message
    assert f"`chmod -R go-rwx {data}`" in message, message
    code, out = serve_cli(data, net.server_pki_dir)
    assert code == 3, out  # BAD_INPUT, as for a loose server key
    assert "chmod -R go-rwx" in json.loads(out)["error"]["message"]
    for path in (db, data / "indexes"):  # what the message says to run
        os.chmod(path, mode(path) & ~0o077)
    start(data_dir=data, pki_dir=net.server_pki_dir, settings=SETTINGS).stop(0)


def test_force_client_refuses_a_token_store_others_can_read(tmp_path: Path, permissive_umask: None) -> None:
    folder = tmp_path / "profile"
    folder.mkdir(mode=0o700)
    path = folder / "tokens.sqlite3"
    TokenStore(path).close()
    assert mode(path) == 0o600
    os.chmod(path, 0o644)  # as an earlier client left it
    with pytest.raises(PreconditionError, match=rf"{path} \(mode 644\).*`chmod 600 {path}`"):
        TokenStore(path)
    os.chmod(path, 0o600)
    wal = Path(f"{path}-wal")
    wal.write_bytes(b"")  # a WAL an earlier client left behind (killed while open), 0644
    with pytest.raises(PreconditionError, match=rf"`chmod 600 {wal}`"):
        TokenStore(path)
    wal.unlink()
    os.chmod(folder, 0o755)
    with pytest.raises(PreconditionError, match=rf"`chmod 700 {folder}`"):
        TokenStore(path)
    os.chmod(folder, 0o700)
    TokenStore(path).close()


def test_force_client_refuses_a_store_from_an_earlier_version_with_a_message_not_a_crash(
    tmp_path: Path, permissive_umask: None
) -> None:
    folder = tmp_path / "profile"
    folder.mkdir(mode=0o700)
    path = folder / "tokens.sqlite3"
    with sqlite3.connect(path) as conn:  # the single-table store of older clients, made 0644
        conn.execute("CREATE TABLE records (record_id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        conn.execute("CREATE TABLE tokens (epoch INTEGER, token BLOB, key_type INTEGER, record_id TEXT)")
    conn.close()
    assert mode(path) == 0o644
    with pytest.raises(PreconditionError, match=rf"token store {path} .*`chmod 600 {path}`"):
        TokenStore(path)
    os.chmod(path, 0o600)
    store = TokenStore(path)  # then it migrates as before
    try:
        assert store.generations() == []
    finally:
        store.close()


# --- the rules themselves -----------------------------------------------------------------------------


def test_a_file_made_under_a_narrow_umask_is_exactly_0600(tmp_path: Path) -> None:
    """A 0277 umask would leave the database 0400: private, but SQLite could not write it."""
    before = os.umask(0o277)
    try:
        create_private_file(tmp_path / "db")
        create_private_folder(tmp_path / "indexes")
    finally:
        os.umask(before)
    assert (mode(tmp_path / "db"), mode(tmp_path / "indexes")) == (0o600, 0o700)


def test_a_public_file_may_be_read_by_others_but_never_written(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    create_private_folder(folder)
    (folder / "log-key.pub").write_bytes(b"public")
    os.chmod(folder / "log-key.pub", 0o644)
    assert loose_under(folder, public=("log-key.pub",)) == []
    os.chmod(folder / "log-key.pub", 0o666)  # anyone could swap the key clients pin
    assert [e.shown for e in loose_under(folder, public=("log-key.pub",))] == [
        f"{folder / 'log-key.pub'} (mode 666)"
    ]
    assert [e.mode for e in loose_under(folder)] == [0o666]  # not public: reading is too much as well
    os.chmod(folder / "log-key.pub", 0o644)
    assert [e.mode for e in loose_under(folder)] == [0o644]
