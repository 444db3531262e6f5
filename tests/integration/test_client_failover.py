"""A client given several matcher addresses moves to the next when one stops answering.

Only the address switching is tested here, with two SQLite matchers on two data folders (the second a
copy of the first, so both hold the same log and log key): stop the first, and the next call lands on
the second. Several matchers on one PostgreSQL database, killed under load, are the failover suite's
(tests/reliability/test_failover.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.client.sdk import Client
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.errors import UnavailableError
from crossforce.server import RunningServer, ServerSettings, start
from crossforce.server.store.sqlite import DB_FILE
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from tests.integration.conftest import WHY

HELD = Record(record_id="HUM-42", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04")
CANDIDATE = dataclasses.replace(HELD, record_id="cand")
SETTINGS = ServerSettings(expected_forces=())


@dataclass
class Pair:
    net: LocalNet
    first: RunningServer
    second: RunningServer
    second_dir: Path
    second_running: bool = True

    def stop_second(self) -> None:
        if self.second_running:
            self.second.stop(1.0)
            self.second_running = False

    @property
    def both(self) -> str:
        return f"localhost:{self.first.port},localhost:{self.second.port}"

    def client(self, org: str, role: str) -> Client:
        return Client(dataclasses.replace(self.net.profiles[org], server=self.both), role=role)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    net = LocalNet.create(tmp_path)
    net.start_server(settings=SETTINGS)
    net.add_org("humberside", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records([HELD])
    net.stop_server()
    second_dir = tmp_path / "matcher-b"
    shutil.copytree(net.data_dir, second_dir)
    net.start_server(settings=SETTINGS)
    second = start(data_dir=second_dir, pki_dir=net.server_pki_dir, settings=SETTINGS)
    made = Pair(net=net, first=net.running_server, second=second, second_dir=second_dir)
    try:
        yield made
    finally:
        made.stop_second()
        net.stop_server(1.0)


def _log_size(data_dir: Path) -> int:
    """How many entries the matcher in ``data_dir`` has committed (read beside it, read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / DB_FILE}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM log").fetchone()[0])


def test_stopping_the_first_matcher_moves_calls_to_the_second(pair: Pair) -> None:
    with pair.client("dbs", Role.VETTING_OFFICER) as dbs:
        assert [s.org for s in dbs.status().indexes] == ["humberside"]  # a read, answered by the first
        pair.net.stop_server(1.0)
        before = _log_size(pair.second_dir)
        report = dbs.check(CANDIDATE, WHY, open_requests=False)  # a keyed write: moved to the second
        assert [h.org for h in report.hits] == ["humberside"]
        assert _log_size(pair.second_dir) == before + 1
        kept = dbs.last_head()
        assert kept is not None
        assert kept.head.tree_size == before + 1  # the head it kept is the second's


def test_every_address_down_names_each_address(pair: Pair) -> None:
    pair.net.stop_server(1.0)
    pair.stop_second()
    with pair.client("dbs", Role.VETTING_OFFICER) as dbs, pytest.raises(UnavailableError) as caught:
        dbs.status()
    said = str(caught.value)
    assert f"nothing is listening at localhost:{pair.first.port}" in said
    assert f"nothing is listening at localhost:{pair.second.port}" in said


def test_cli_takes_several_addresses_from_the_environment(pair: Pair) -> None:
    pair.net.stop_server(1.0)
    profile = pair.net.profiles["dbs"].path
    result = CliRunner().invoke(
        cli,
        ["status", "--profile", str(profile), "--json"],
        env={"CROSSFORCE_SERVER": pair.both},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert "humberside" in json.dumps(shown)


def test_cli_refuses_a_malformed_address_list_before_dialling(pair: Pair) -> None:
    profile = pair.net.profiles["dbs"].path
    result = CliRunner().invoke(
        cli,
        ["status", "--profile", str(profile), "--json"],
        env={"CROSSFORCE_SERVER": f"localhost:{pair.first.port},,localhost:{pair.second.port}"},
        catch_exceptions=False,
    )
    assert result.exit_code == int(ExitStatus.BAD_INPUT), result.output
    assert "server" in json.loads(result.output)["error"]["message"]
