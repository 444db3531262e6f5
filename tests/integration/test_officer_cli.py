"""``crossforce officer issue`` and ``check --officer-credential``, run as a user would, against a real
matcher (LocalNet: certificates, mTLS): the file is private, the check acts as the officer it names, and
a free-text ``--officer`` that differs is refused before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crossforce.auditlog.events import Check, parse_event
from crossforce.cli.main import cli
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet, running

pytestmark = pytest.mark.backends("sqlite")

WHY_ARGS = [
    "--purpose", "school-staff-vetting",
    "--legal-basis", "Police Act 1997 s113B",
    "--case-ref", "APP-2026-0001",
]  # fmt: skip
JANE = Record(record_id="HUM-001", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    with running(
        tmp_path_factory.mktemp("officer-cli"), (("kent", FORCE_ROLES), ("dbs", VETTING_ROLES))
    ) as net:
        with net.client("kent", Role.FORCE_SYSTEM) as kent:
            kent.publish_records([JANE], epoch=1)
        yield net


def run(args: Sequence[object]) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def logged_officers(net: LocalNet) -> list[str]:
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        events = [parse_event(e.entry) for e in dbs.entries(0, dbs.tree_head().head.tree_size) if e.entry]
    return [e.officer_id for e in events if isinstance(e, Check)]


def test_an_issued_credential_is_private_and_checks_act_as_its_officer(net: LocalNet, tmp_path: Path) -> None:
    profile = net.profiles["dbs"].path
    cred = tmp_path / "dbs-4411.cred"
    issued = json.loads(
        run(["officer", "issue", "--profile", profile, "--officer", "DBS-4411", "--hours", "2", "--out", cred,
             "--json"]).output
    )  # fmt: skip
    assert (issued["org"], issued["officer_id"]) == ("dbs", "DBS-4411")
    assert cred.stat().st_mode & 0o777 == 0o600
    refused = CliRunner().invoke(
        cli, ["officer", "issue", "--profile", str(profile), "--officer", "D-1", "--out", str(cred)]
    )
    assert refused.exit_code != 0 and "already exists" in refused.output  # never overwritten silently

    run(["check", "--profile", profile, "--surname", "Thornbury", "--given-names", "Jane",
         "--dob", "1984-03-17", *WHY_ARGS, "--officer-credential", cred, "--no-requests"])  # fmt: skip
    assert logged_officers(net)[-1] == "DBS-4411"  # --officer defaulted to the credential's officer


def test_hours_beyond_a_day_are_refused(net: LocalNet, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["officer", "issue", "--profile", str(net.profiles["dbs"].path), "--officer", "DBS-1",
         "--hours", "25", "--out", str(tmp_path / "x.cred")],
    )  # fmt: skip
    assert result.exit_code != 0 and "--hours" in result.output
    assert not (tmp_path / "x.cred").exists()
