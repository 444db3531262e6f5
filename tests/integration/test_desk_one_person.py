"""The desk's one-person rule end to end through the CLI (issue 15): what `desk show` says it would
disclose and why, duplicates of one nominal disclosed together, an ambiguous request left open by
`desk watch --resolve`, refused without a choice, or confirmed with the officer's `--record` choice."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import pytest
from click.testing import CliRunner, Result

from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.testkit.localnet import LocalNet

from .conftest import WHY

pytestmark = pytest.mark.backends("sqlite")  # the holder's side: the matcher's storage plays no part

PERSON = Record(record_id="HUM-A1", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
SAME_NOMINAL = dataclasses.replace(PERSON, record_id="HUM-A1-DUP")
NAMESAKES = tuple(
    Record(record_id=f"HUM-Q{i}", given_names="Rowan", surname="Quennell", date_of_birth=f"19{60 + i}-05-01")
    for i in range(3)
)
NAME_ONLY = Record(record_id="cand", given_names="Rowan", surname="Quennell")


def run(args: Sequence[object], *, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, f"crossforce {' '.join(map(str, args))} failed:\n{result.output}"
    return result


def _request(net: LocalNet, candidate: Record) -> str:
    with net.client("dbs", Role.VETTING_OFFICER) as c:
        report = c.check(candidate, WHY, open_requests=True)
    [request_id] = [h.request_id for h in report.hits if h.org == "humberside"]
    assert request_id
    return request_id


def test_the_desk_discloses_one_person_and_lets_the_officer_choose_when_it_cannot(net: LocalNet) -> None:
    with net.client("humberside", Role.FORCE_SYSTEM) as c:
        c.publish_records([PERSON, SAME_NOMINAL, *NAMESAKES])
    hum = net.profiles["humberside"].path
    strong, weak = _request(net, PERSON), _request(net, NAME_ONLY)

    shown = json.loads(run(["desk", "show", strong, "--profile", hum, "--json"]).stdout)
    assert shown["outcome"] == "person"
    assert [r["record_id"] for r in shown["local_records"]] == ["HUM-A1", "HUM-A1-DUP"]  # one nominal
    assert all(c["to_disclose"] and "name_dob" in c["key_types"] for c in shown["candidates"])
    text = run(["desk", "show", weak, "--profile", hum]).output
    assert "ambiguous" in text and "HUM-Q2" in text and "name_nodate" in text

    watched = run(
        ["desk", "watch", "--profile", hum, "--json", "--resolve", "--count", "2", "--duration", "60"],
        ok=False,
    )
    assert watched.exit_code == ExitStatus.BAD_INPUT  # one request left open for the officer
    outcomes = {e["request_id"]: e["resolved"] for e in map(json.loads, watched.stdout.splitlines())}
    assert outcomes == {strong: "confirmed", weak: "ambiguous"}

    # Confirmed already: the officer may still narrow the person to one of its records.
    approved = json.loads(
        run([
            "desk", "approve", strong, "--profile", hum, "--officer", "HUM-DO-1", "--summary", "s",
            "--contact", "c", "--record", "HUM-A1", "--json",
        ]).stdout
    )  # fmt: skip
    assert approved["records_disclosed"] == ["HUM-A1"]

    refused = json.loads(
        run([
            "desk", "refuse", weak, "--profile", hum, "--officer", "HUM-DO-1", "--reason", "not-relevant",
            "--json",
        ]).stdout
    )  # fmt: skip
    assert refused["request"]["state"] == "refused"  # no choice needed to disclose nothing

    chosen = _request(net, NAME_ONLY)
    two = run(["desk", "approve", chosen, "--profile", hum, "--officer", "HUM-DO-1", "--summary", "s",
               "--contact", "c", "--record", "HUM-Q0", "--include-record", "HUM-Q1"], ok=False)  # fmt: skip
    assert two.exit_code == ExitStatus.USAGE and "one request discloses one person" in two.output
    resolved = json.loads(
        run(["desk", "resolve", chosen, "--profile", hum, "--record", "HUM-Q1", "--json"]).stdout
    )
    assert resolved["confirmed"] is True and resolved["record_ids"] == ["HUM-Q1"]
    approved = json.loads(
        run([
            "desk", "approve", chosen, "--profile", hum, "--officer", "HUM-DO-1", "--summary", "s",
            "--contact", "c", "--json",
        ]).stdout
    )  # fmt: skip
    assert approved["records_disclosed"] == ["HUM-Q1"]  # what was chosen, kept for approval
