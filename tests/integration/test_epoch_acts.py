"""The operator's epoch acts over a real matcher: ``crossforce epoch activate/retire/status``, the events
they log, the state a matcher starts from (new, restarted, or a data folder from before operator epochs).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crossforce.auditlog.events import EpochChange, parse_event
from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.client.publishing import build_index
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.testkit.localnet import FORCE_ROLES, OVERSEER, VETTING_ROLES, LocalNet
from tests.integration.conftest import WHY

JANE = Record(record_id="HUM-001", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
OTHER = Record(record_id="K-1", given_names="Oliver", surname="Smith", date_of_birth="1975-01-30")


@pytest.fixture
def enet(tmp_path: Path) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path)
    net.start_server()
    net.add_org("humberside", roles=FORCE_ROLES)
    net.add_org("kent", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.add_overseer()
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()


def epoch_cli(
    net: LocalNet, *args: object, org: str = OVERSEER, status: ExitStatus = ExitStatus.SUCCESS
) -> Result:
    argv = ["epoch", *[str(a) for a in args], "--profile", str(net.profiles[org].path), "--json"]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == status, f"crossforce {' '.join(argv)}: {result.output}"
    return result


def publish(net: LocalNet, org: str, record: Record, *, epoch: int) -> None:
    with net.client(org, Role.FORCE_SYSTEM) as c:
        built = build_index(c.encode_records([record], epoch=epoch))
        c.publish_index(built, epoch=epoch, token_count=built.token_count, record_count=1, expires_in_days=30)


def epoch_events(net: LocalNet) -> list[EpochChange]:
    """Every EPOCH_CHANGE in the log (the matcher stopped and started around the read, on SQLite)."""
    net.stop_server()
    storage = net.open_storage()
    try:
        entries = storage.log_entries(0, storage.log_size())
    finally:
        storage.close()
    net.start_server()
    events = [parse_event(entry) for _i, entry, _leaf in entries]
    return [e for e in events if isinstance(e, EpochChange)]


def test_a_new_matcher_logs_epoch_one_once(enet: LocalNet) -> None:
    status = json.loads(epoch_cli(enet, "status", org="kent").stdout)
    assert (status["current_epoch"], status["live_epochs"], status["behind"]) == (1, [1], [])
    enet.stop_server()
    enet.start_server()
    [start] = epoch_events(enet)
    assert (start.actor_org, start.current_epoch, start.retired_through) == ("matcher", 1, 0)


def test_rotation_by_operator_acts_through_the_cli(enet: LocalNet) -> None:
    publish(enet, "humberside", JANE, epoch=1)
    publish(enet, "kent", OTHER, epoch=1)
    enet.rotate_secret(activate=False)  # the new secret reaches the forces; only the operator activates
    activated = json.loads(epoch_cli(enet, "activate", 2).stdout)
    assert (activated["current_epoch"], activated["live_epochs"]) == (2, [2, 1])
    assert activated["behind"] == ["humberside", "kent"]
    epoch_cli(enet, "activate", 3, status=ExitStatus.BAD_INPUT)  # at most two live
    publish(enet, "kent", OTHER, epoch=2)
    refused = epoch_cli(enet, "retire", 1, status=ExitStatus.BAD_INPUT)
    assert "humberside" in refused.output and "kent" not in refused.output.split("still")[0]
    retired = json.loads(epoch_cli(enet, "retire", 1, "--force-override").stdout)
    assert (retired["current_epoch"], retired["live_epochs"], retired["behind"]) == (2, [2], ["humberside"])
    with enet.client("dbs", Role.VETTING_OFFICER) as c:
        assert c.status().active_epochs == (2,)
        assert c.check(JANE, WHY, open_requests=False).hits == ()  # humberside was cut off
    *_, activation, retirement = epoch_events(enet)
    assert (activation.actor_org, activation.actor_role) == (OVERSEER, Role.OPERATOR)
    assert (activation.current_epoch, activation.retired_through, activation.force_override) == (2, 0, 0)
    assert (retirement.current_epoch, retirement.retired_through) == (2, 1)
    assert (retirement.force_override, retirement.cut_off) == (1, ("humberside",))
    assert retired["log_index"] > activated["log_index"] > 0


def test_a_data_folder_from_before_operator_epochs_keeps_its_epochs_in_use(enet: LocalNet) -> None:
    enet.rotate_secret()
    publish(enet, "humberside", JANE, epoch=1)
    publish(enet, "kent", OTHER, epoch=2)
    enet.stop_server()
    # What a folder written before operator epochs holds: indexes, and no epoch state of the operator's.
    conn = sqlite3.connect(enet.data_dir / "matcher.sqlite3", isolation_level=None)
    try:
        conn.execute("DELETE FROM meta WHERE key IN ('epoch_state', 'retired_through')")
    finally:
        conn.close()
    enet.start_server()
    status = json.loads(epoch_cli(enet, "status").stdout)
    assert (status["current_epoch"], status["live_epochs"], status["behind"]) == (2, [2, 1], ["humberside"])
    with enet.client("dbs", Role.VETTING_OFFICER) as c:
        assert [h.org for h in c.check(JANE, WHY, open_requests=False).hits] == ["humberside"]
    *_, upgraded = epoch_events(enet)
    assert (upgraded.actor_org, upgraded.current_epoch, upgraded.retired_through) == ("matcher", 2, 0)
