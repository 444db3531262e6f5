"""Issue 15 finding 12, the parts not proved elsewhere: the matcher's server key at rest, and operator
alerts that must outlive a restart.

- A server key others can read lets them pose as the matcher to every organisation (they hold a
  certificate the CA issued for it). ``export-server`` writes it 0600, but a folder copied with ``cp``
  under a 022 umask, or mounted from a secret store with its default mode, is 0644: the matcher served
  from it without a word.
- The operator's alerts (rate anomalies, quota denials) lived only in memory, so a restart, or a crash,
  erased the evidence of an enumeration attempt the operator had not yet read.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from crossforce.cli.main import cli
from crossforce.domain import Justification, Role
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError, ResourceExhaustedError
from crossforce.keystore import pki
from crossforce.limits import Limits
from crossforce.server import ServerSettings, start
from crossforce.server.settings import QuotaSettings
from crossforce.testkit.checkunits import units_of
from crossforce.testkit.localnet import FORCE_ROLES, OVERSEER, VETTING_ROLES, LocalNet

SETTINGS = ServerSettings(expected_forces=())
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
PERSON = Record(record_id="HUM-1", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04")
QUOTA_DENIED = "quota-denied"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """The matcher's PKI folder as ``crossforce pki export-server`` writes it."""
    result = CliRunner().invoke(cli, ["pki", "init", str(tmp_path / "ca"), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stdout
    return pki.export_server(pki.PkiDir(tmp_path / "ca"), tmp_path / "matcher-pki").path


def test_matcher_refuses_a_server_key_others_can_read(served: Path, tmp_path: Path) -> None:
    key = served / "server-key.pem"
    assert mode(key) == 0o600
    os.chmod(key, 0o644)  # what `cp -r` under a 022 umask leaves
    with pytest.raises(PreconditionError, match=f"chmod 600 {key}"):
        start(data_dir=tmp_path / "data", pki_dir=served, settings=SETTINGS)
    assert not (tmp_path / "data").exists()  # refused before storage was opened or created
    result = CliRunner().invoke(
        cli,
        ["serve", "--data", str(tmp_path / "data"), "--pki", str(served), "--port", "0", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 3, result.stdout  # BAD_INPUT, as for the CA key beside the matcher
    assert "chmod 600" in json.loads(result.stdout)["error"]["message"]
    os.chmod(key, 0o600)
    start(data_dir=tmp_path / "data", pki_dir=served, settings=SETTINGS).stop(0)


def test_operator_alert_of_an_enumeration_attempt_survives_a_restart(
    tmp_path: Path, matcher_db: str | None
) -> None:
    settings = ServerSettings(
        expected_forces=(),
        limits=Limits(max_batch_candidates=1),
        quotas=QuotaSettings(  # a burst of one check of PERSON
            org_rate_per_s=0.001,
            org_burst=units_of(PERSON),
            officer_rate_per_s=0.001,
            officer_burst=units_of(PERSON),
        ),
    )
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server(settings=settings)
    net.add_org("humberside", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.add_overseer()
    net.register_all()
    try:
        with net.client("humberside", Role.FORCE_SYSTEM) as c:
            c.publish_records([PERSON])
        with net.client("dbs", Role.VETTING_OFFICER) as c:
            c.check(PERSON, WHY, open_requests=False)
            with pytest.raises(ResourceExhaustedError):
                c.check(PERSON, WHY, open_requests=False)  # the attempt the operator must hear of
        with net.client(OVERSEER, Role.OPERATOR) as op:
            before = [(a.org, a.kind) for a in op.report().alerts]
        assert ("dbs", QUOTA_DENIED) in before
        net.stop_server()
        net.start_server(settings=settings)
        with net.client(OVERSEER, Role.OPERATOR) as op:
            after = [(a.org, a.kind) for a in op.report().alerts]
        assert ("dbs", QUOTA_DENIED) in after, f"alerts before the restart {before}, after {after}"
    finally:
        net.stop_server()
