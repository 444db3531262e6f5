"""Every ``crossforce`` subcommand, run as a user would, against a real matcher with real mTLS.

Most tests drive the CLI in-process (click's CliRunner) against a matcher started on a free port; one
runs ``crossforce serve`` as a subprocess and stops it with SIGTERM. Each test builds its own
deployment with the CLI itself (pki init, keys create, org create, org register), so tests can run in
any order and on any xdist worker.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from crossforce import errors
from crossforce.cli.main import cli
from crossforce.cli.status import ERROR_STATUS, ExitStatus, exit_status_for
from crossforce.client.recordfile import write_records
from crossforce.encoding.records import FIELDS, Record
from crossforce.server.identity import DENY_LIST_RECHECK_S

WHY_ARGS = [
    "--purpose", "school-staff-vetting",
    "--legal-basis", "Police Act 1997 s113B",
    "--case-ref", "APP-2026-0001",
    "--officer", "DBS-4411",
]  # fmt: skip

JANE = Record(
    record_id="HUM-001",
    given_names="Jane Elizabeth",
    surname="Thornbury",
    date_of_birth="1984-03-17",
    sex="F",
    previous_names=("Jane Whitlock",),
    ni_number="JM406218C",
)
JANE_AT_KENT = Record(
    record_id="KEN-778", given_names="Jayne", surname="Whitlock", date_of_birth="1984-03-17", sex="F"
)
OTHERS = [
    Record(record_id=f"R{i}", given_names=g, surname=s, date_of_birth=d)
    for i, (g, s, d) in enumerate(
        [
            ("Mohammed", "Rahman", "1990-11-02"),
            ("Oliver", "Smith", "1975-01-30"),
            ("Siobhan", "O'Neill", "2001-07-07"),
            ("Kwame", "Mensah", "1968-12-25"),
        ]
    )
]
CANDIDATE_ARGS = [
    "--given-names", "Jane", "--surname", "Thornbury", "--dob", "1984-03-17",
    "--previous-name", "Jane Whitlock",
]  # fmt: skip


def run(args: Sequence[str], *, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, f"crossforce {' '.join(map(str, args))} failed:\n{result.output}"
    return result


def run_json(args: Sequence[str]) -> object:
    return json.loads(run([*args, "--json"]).stdout)


def assert_one_red_line(result: Result, *fragments: str, status: ExitStatus) -> None:
    """A project error is one line on stderr, the exit status for its kind, and never a traceback."""
    assert result.exit_code == status, f"exit {result.exit_code}, wanted {status!r}:\n{result.output}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Deployment:
    root: Path
    pki: Path
    secret: Path
    server: str

    def profile(self, org: str) -> Path:
        return self.root / "orgs" / org

    def enrol(self, org: str, roles: str, name: str = "") -> Path:
        run([
            "org", "create", self.profile(org), "--org", org, "--name", name or org, "--server", self.server,
            "--pki", self.pki, "--roles", roles, "--secret", self.secret,
        ])  # fmt: skip
        run(["org", "register", "--profile", self.profile(org)])
        return self.profile(org)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """PKI and secret made by the CLI, a matcher on a free port, three organisations enrolled."""
    from crossforce.server import ServerSettings
    from crossforce.server.app import start

    pki_dir, secret = tmp_path / "pki", tmp_path / "network-secret.json"
    run(["pki", "init", pki_dir, "--name", "crossforce-test"])
    run(["keys", "create", secret])
    run(["pki", "export-server", "--pki", pki_dir, "--to", tmp_path / "matcher-pki"])
    # Only the forces that publish are expected, so a check can be complete in a three-organisation test.
    # The deny list is the CA folder's own (one host): a `pki revoke` reaches the matcher within a second.
    server = start(
        data_dir=tmp_path / "matcher",
        pki_dir=tmp_path / "matcher-pki",
        deny_list=pki_dir / "revoked.txt",
        settings=ServerSettings(expected_forces=()),
    )
    dep = Deployment(root=tmp_path, pki=pki_dir, secret=secret, server=f"localhost:{server.port}")
    try:
        dep.enrol("humberside", "force-system,disclosure-officer,auditor", "Humberside Police")
        dep.enrol("kent", "force-system,disclosure-officer,auditor", "Kent Police")
        dep.enrol("dbs", "force-system,vetting-officer,auditor", "Disclosure and Barring Service")
        yield dep
    finally:
        server.stop(1.0)


def write_csv_with_bad_row(path: Path, records: list[Record], bad_after: int) -> int:
    """Write records, then splice in one row with no surname; returns the bad row's line number."""
    write_records(path, records)
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    bad = dict.fromkeys(FIELDS, "")
    bad.update(record_id="BAD-1", given_names="Nobody", date_of_birth="1970-01-01")
    rows.insert(1 + bad_after, [bad[f] for f in FIELDS])
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return 2 + bad_after  # header is line 1


def publish(dep: Deployment, org: str, records: list[Record]) -> dict[str, object]:
    path = dep.root / f"{org}.csv"
    write_records(path, records)
    doc = run_json(["publish", "--profile", dep.profile(org), "--records", path])
    assert isinstance(doc, dict)
    return doc


# ------------------------------------------------------------------------------------------------ tests


def test_every_command_has_help_with_an_example() -> None:
    def walk(group: click.Group, prefix: list[str]) -> Iterator[list[str]]:
        for name, command in group.commands.items():
            yield [*prefix, name]
            if isinstance(command, click.Group):
                yield from walk(command, [*prefix, name])

    paths = list(walk(cli, []))
    assert len(paths) >= 39
    for path in paths:
        result = run([*path, "--help"])
        assert "Example" in result.output, f"`crossforce {' '.join(path)} --help` shows no example"


def test_project_error_is_one_red_line_and_its_exit_status(tmp_path: Path) -> None:
    assert_one_red_line(
        run(["status", "--profile", tmp_path / "missing"], ok=False),
        "no profile at",
        status=ExitStatus.BAD_INPUT,
    )
    run(["keys", "create", tmp_path / "s.json"])
    assert_one_red_line(
        run(["keys", "create", tmp_path / "s.json"], ok=False), "already exists", status=ExitStatus.BAD_INPUT
    )


def test_usage_error_exits_2_like_every_click_program(tmp_path: Path) -> None:
    result = run(["status", "--no-such-option"], ok=False)
    assert result.exit_code == ExitStatus.USAGE
    assert ExitStatus.USAGE.value == 2  # what click exits with for a usage error, whatever the table says
    assert "No such option" in result.output and "Traceback" not in result.output
    missing = run(["keys", "retire", tmp_path / "s.json"], ok=False)  # no EPOCH argument
    assert missing.exit_code == ExitStatus.USAGE


def test_bad_input_and_verification_failure_have_their_own_exit_statuses(tmp_path: Path) -> None:
    not_a_log = tmp_path / "not-a-log.json"
    not_a_log.write_text('{"format": "something else"}')
    assert_one_red_line(
        run(["audit", "verify", "--offline", not_a_log, "--log-key", "00" * 32], ok=False),
        "not a saved audit log",
        status=ExitStatus.BAD_INPUT,
    )
    empty_log = tmp_path / "empty.json"
    empty_log.write_text(
        json.dumps({
            "format": "crossforce-audit-log/1", "log_key": "11" * 32, "entries": [],
            "tree_head": {"tree_size": 0, "timestamp_ms": 0, "root_hash": "00" * 32, "signature": "00" * 64},
        })
    )  # fmt: skip
    assert_one_red_line(
        run(["audit", "verify", "--offline", empty_log, "--log-key", "zz"], ok=False),
        "--log-key must be hex",
        status=ExitStatus.BAD_INPUT,
    )
    assert_one_red_line(
        run(["audit", "verify", "--offline", empty_log, "--log-key", "22" * 32], ok=False),
        "different log key",
        status=ExitStatus.VERIFICATION_FAILED,
    )


def test_every_error_class_maps_to_a_distinct_kind_of_failure() -> None:
    def subclasses(kind: type[errors.CrossforceError]) -> set[type[errors.CrossforceError]]:
        return {kind} | {s for c in kind.__subclasses__() for s in subclasses(c)}

    for kind in subclasses(errors.CrossforceError) - {errors.CrossforceError}:
        assert any(issubclass(kind, k) for k, _ in ERROR_STATUS), f"{kind.__name__} has no exit status"
    assert exit_status_for(errors.CrossforceError("unmapped")) == ExitStatus.INTERNAL
    assert exit_status_for(errors.VerificationError("x")) == ExitStatus.VERIFICATION_FAILED
    assert exit_status_for(errors.UnavailableError("x")) == ExitStatus.UNREACHABLE
    assert exit_status_for(errors.QuotaExceededError("x")) == ExitStatus.QUOTA
    assert exit_status_for(errors.TooLargeError("x")) == ExitStatus.BAD_INPUT
    assert exit_status_for(errors.PermissionDeniedError("x")) == ExitStatus.REFUSED
    assert exit_status_for(FileNotFoundError(2, "No such file", "x.csv")) == ExitStatus.BAD_INPUT
    assert exit_status_for(RuntimeError("a bug")) == ExitStatus.INTERNAL
    assert len({s.value for s in ExitStatus}) == len(ExitStatus)


def test_keys_create_rotate_show_export_import_never_print_secret(tmp_path: Path) -> None:
    secret = tmp_path / "network-secret.json"
    run(["keys", "create", secret])
    raw = json.loads(secret.read_text())
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    shown = run_json(["keys", "show", secret])
    assert shown == {"current_epoch": 1, "epochs": [1]}
    out = run(["keys", "rotate", secret]).output
    assert "current 2" in out
    assert run_json(["keys", "show", secret]) == {"current_epoch": 2, "epochs": [1, 2]}
    everything = run(["keys", "show", secret]).output + out
    assert raw["epochs"]["1"] not in everything

    run(["pki", "init", tmp_path / "pki"])
    profile = tmp_path / "kent"
    run([
        "org", "create", profile, "--org", "kent", "--server", "localhost:1", "--pki", tmp_path / "pki",
        "--roles", "force-system",
    ])  # fmt: skip
    run(["keys", "export", secret, "--to", profile])
    # nothing listens at localhost:1: one red line that says what to check, not a gRPC traceback
    assert_one_red_line(
        run(["status", "--profile", profile], ok=False),
        "is the matcher running",
        status=ExitStatus.UNREACHABLE,
    )
    assert run_json(["keys", "show", "--profile", profile]) == {"current_epoch": 2, "epochs": [1, 2]}
    run(["keys", "retire", secret, "1"])
    run(["keys", "import", "--profile", profile, secret])
    assert run_json(["keys", "show", "--profile", profile]) == {"current_epoch": 2, "epochs": [2]}
    older = tmp_path / "older.json"
    run(["keys", "create", older])
    assert_one_red_line(
        run(["keys", "import", "--profile", profile, older], ok=False), "older", status=ExitStatus.BAD_INPUT
    )


def test_pki_issue_renew_list_and_revoked_certificate_is_refused(deployment: Deployment) -> None:
    dep = deployment
    out = run(["pki", "issue", dep.pki, "--org", "humberside", "--role", "operator", "--days", "5"]).output
    assert "issued humberside/operator" in out
    listed = run_json(["pki", "list", dep.pki])
    assert isinstance(listed, dict)
    roles = {(c["org"], c["role"]) for c in listed["certificates"]}
    assert ("humberside", "operator") in roles and ("dbs", "vetting-officer") in roles

    cert = dep.profile("kent") / "certs" / "force-system.pem"
    out = run(["pki", "revoke", dep.pki, "--cert", cert]).output
    assert "revoked kent/force-system" in out
    assert "kent" in (dep.pki / "revoked.txt").read_text()
    listed = run_json(["pki", "list", dep.pki])
    assert isinstance(listed, dict)
    assert any(
        c["org"] == "kent" and c["role"] == "force-system" and c["revoked"] for c in listed["certificates"]
    )
    # The running matcher re-reads the deny list: the revoked certificate is refused without a restart.
    time.sleep(DENY_LIST_RECHECK_S + 0.05)
    refused = run(["org", "register", "--profile", dep.profile("kent")], ok=False)
    assert_one_red_line(refused, status=ExitStatus.REFUSED)
    # A renewed certificate (fresh key) installed into the profile works again.
    run(
        ["pki", "renew", dep.pki, "--org", "kent", "--role", "force-system", "--profile", dep.profile("kent")]
    )
    assert "registered kent" in run(["org", "register", "--profile", dep.profile("kent")]).output
    shown = run_json(["org", "show", "--profile", dep.profile("kent"), "--remote"])
    assert isinstance(shown, dict)
    assert shown["registered"]["keys_match_local"] is True


def test_publish_check_desk_disclosures_audit_status_report(deployment: Deployment, tmp_path: Path) -> None:
    dep = deployment
    hum, kent, dbs = dep.profile("humberside"), dep.profile("kent"), dep.profile("dbs")

    # publish: a bad row stops a plain publish, --skip-bad reports it by line and publishes the rest
    records_file = tmp_path / "humberside.csv"
    bad_line = write_csv_with_bad_row(records_file, [JANE, *OTHERS[:2]], bad_after=1)
    assert_one_red_line(
        run(["publish", "--profile", hum, "--records", records_file], ok=False),
        f"humberside.csv:{bad_line}",
        status=ExitStatus.BAD_INPUT,
    )
    result = run(["publish", "--profile", hum, "--records", records_file, "--skip-bad"])
    assert f"humberside.csv:{bad_line}" in result.output
    assert "published humberside: 3 records" in result.output
    doc = publish(dep, "kent", [JANE_AT_KENT, *OTHERS[2:]])
    assert doc["records"] == 3 and doc["tokens"] > 3 and doc["index_bytes"] > 0 and doc["version"] > 0

    # status
    st = run_json(["status", "--profile", dbs])
    assert isinstance(st, dict)
    assert {s["org"] for s in st["indexes"]} == {"humberside", "kent"}
    assert st["not_published"] == ["dbs"]
    assert "humberside" in run(["status", "--profile", dbs]).output

    # check: a hit at two forces, and no trace
    out = run(["check", "--profile", dbs, *CANDIDATE_ARGS, *WHY_ARGS]).output
    assert "POSSIBLE TRACE at 2 of 2 forces" in out
    assert "Humberside Police" in out and "name_dob" in out
    assert re.search(r"(>0\.99|<0\.01|\b0\.\d\d) (strong|medium|weak)\b", out), out  # probability, label
    assert "how likely it is that the force holds the person checked" in " ".join(out.split())
    hit = run_json(["check", "--profile", dbs, *CANDIDATE_ARGS, *WHY_ARGS, "--no-requests"])
    assert isinstance(hit, dict)
    assert {h["org"] for h in hit["hits"]} == {"humberside", "kent"} and hit["requests"] == []
    strong = next(h for h in hit["hits"] if h["org"] == "humberside")
    assert strong["strength"] == "strong" and "name_dob" in strong["key_types"]
    assert strong["hit_only"] is False and 0.0 < strong["probability"] <= 1.0
    nobody = ["--given-names", "Peregrine", "--surname", "Quillfeather", "--dob", "1990-02-14"]
    assert "NO TRACE at all 2 expected forces" in run(["check", "--profile", dbs, *nobody, *WHY_ARGS]).output
    clear = run_json(["check", "--profile", dbs, *nobody, *WHY_ARGS])
    assert isinstance(clear, dict) and clear["no_trace"] is True and clear["complete"] is True
    # a force's profile holds no vetting-officer certificate: the CLI says so instead of trying
    assert_one_red_line(
        run(["check", "--profile", hum, *nobody, *WHY_ARGS], ok=False),
        "vetting-officer",
        status=ExitStatus.BAD_INPUT,
    )

    # check-batch: a bad row is reported by line number, in the results file too, and the others are
    # still checked; the exit status says a row was not checked
    candidates = tmp_path / "candidates.csv"
    batch = [
        Record(record_id="C1", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17"),
        Record(record_id="C2", given_names="Peregrine", surname="Quillfeather", date_of_birth="1990-02-14"),
        Record(record_id="C3", given_names="Kwame", surname="Mensah", date_of_birth="1968-12-25"),
    ]
    bad_line = write_csv_with_bad_row(candidates, batch, bad_after=1)
    results = tmp_path / "results.jsonl"
    ran = run([
        "check-batch", "--profile", dbs, "--in", candidates, "--out", results,
        *WHY_ARGS[:-2], "--officer", "DBS-9",
        "--no-requests",
    ], ok=False)  # fmt: skip
    out = ran.output
    assert ran.exit_code == ExitStatus.BAD_INPUT, out
    assert f"candidates.csv:{bad_line}" in out
    assert "checked 3 candidates" in out and "candidates/s" in out and "1 errors" in out
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    by_id = {line["candidate_id"]: line for line in lines}
    assert set(by_id) == {"C1", "BAD-1", "C2", "C3"}
    assert (
        by_id["BAD-1"]["source"] == f"candidates.csv:{bad_line}"
        and "surname" in by_id["BAD-1"]["error"]["message"]
    )
    assert all(by_id[c]["complete"] is True and by_id[c]["not_searched"] == [] for c in ("C1", "C2", "C3"))
    assert [h["org"] for h in by_id["C1"]["hits"]] == ["humberside"]
    assert by_id["C2"]["hits"] == [] and by_id["C2"]["requests"] == []
    assert [h["org"] for h in by_id["C3"]["hits"]] == ["kent"]
    assert set(by_id["C3"]["hits"][0]) == {"org", "hit_only", "probability", "strength", "key_types"}

    # the first check opened two requests; the holders see them at their desks
    requested = run_json(["disclosures", "list", "--profile", dbs, "--case-ref", "APP-2026-0001"])
    assert isinstance(requested, list) and len(requested) == 2
    assert {r["outcome"] for r in requested} == {"pending"}
    req_hum = next(r["request_id"] for r in requested if r["holder_org"] == "humberside")
    req_kent = next(r["request_id"] for r in requested if r["holder_org"] == "kent")

    desk = run_json(["desk", "list", "--profile", hum])
    assert isinstance(desk, list) and [r["request_id"] for r in desk] == [req_hum]
    assert req_hum[:12] in run(["desk", "list", "--profile", hum, "--state", "open"]).output  # short ids
    watched = run(["desk", "watch", "--profile", hum, "--timeout", "1.5"]).output
    assert req_hum[:12] in watched and "1 request(s) seen" in watched
    shown = run_json(["desk", "show", req_hum, "--profile", hum])
    assert isinstance(shown, dict)
    assert [r["record_id"] for r in shown["local_records"]] == ["HUM-001"]
    assert "Thornbury" in run(["desk", "show", req_hum, "--profile", hum]).output
    resolved = run_json(["desk", "resolve", req_hum, "--profile", hum])
    assert (
        isinstance(resolved, dict) and resolved["confirmed"] is True and resolved["record_ids"] == ["HUM-001"]
    )
    rejected = run([
        "desk", "approve", req_hum, "--profile", hum, "--officer", "HUM-DO-1",
        "--summary", "s", "--contact", "c",
        "--include-record", "R0-not-matched",
    ], ok=False)  # fmt: skip
    assert_one_red_line(rejected, "not among the records", status=ExitStatus.BAD_INPUT)
    out = run([
        "desk", "approve", req_hum, "--profile", hum, "--officer", "HUM-DO-1",
        "--summary", "Caution 2009; relevant to the post", "--contact", "Humberside Disclosure Unit",
        "--include-record", "HUM-001",
    ]).output  # fmt: skip
    assert "approved" in out
    out = run([
        "desk", "refuse", req_kent, "--profile", kent, "--reason", "legal-restriction",
        "--officer", "KEN-DO-7",
    ]).output  # fmt: skip
    assert "refused (legal-restriction)" in out
    assert_one_red_line(
        run(["desk", "refuse", req_kent, "--profile", kent, "--reason", "other", "--officer", "K"], ok=False),
        "refused",
        status=ExitStatus.BAD_INPUT,
    )

    # the requester sees the outcomes and opens the approved disclosure
    listed = run(["disclosures", "list", "--profile", dbs]).output
    assert "approved" in listed and "refused: legal-restriction" in listed
    opened = run_json(["disclosures", "open", req_hum, "--profile", dbs, "--save", tmp_path / "d.json"])
    assert isinstance(opened, dict) and opened["verified"] is True
    assert opened["records"][0]["surname"] == "Thornbury" and opened["holder_org"] == "humberside"
    assert json.loads((tmp_path / "d.json").read_text())["summary"].startswith("Caution 2009")
    assert "Humberside Disclosure Unit" in run(["disclosures", "open", req_hum, "--profile", dbs]).output
    assert_one_red_line(
        run(["disclosures", "open", req_kent, "--profile", dbs], ok=False),
        "refused",
        status=ExitStatus.BAD_INPUT,
    )

    # audit: head, whole-log verification (live, saved, offline), inclusion, report
    head = run_json(["audit", "head", "--profile", dbs])
    assert isinstance(head, dict) and head["tree_size"] > 10
    assert "signature verified" in run(["audit", "head", "--profile", dbs]).output
    saved = tmp_path / "log.json"
    verified = run_json(["audit", "verify", "--profile", dbs, "--save", saved])
    assert isinstance(verified, dict) and verified["verified"] is True
    assert any("head kept earlier" in line for line in verified["proved"])
    out = run(["audit", "verify", "--offline", saved, "--log-key", head["log_key"]]).output
    assert "VERIFIED" in out
    tampered = json.loads(saved.read_text())
    # The first entry dbs may read in full (an auditor reads only its own organisation's events).
    i = next(i for i, e in enumerate(tampered["entries"]) if e["entry"])
    tampered["entries"][i]["leaf_hash"] = "00" * 32  # a changed event: its bytes no longer hash to the leaf
    (tmp_path / "bad-entry.json").write_text(json.dumps(tampered))
    assert_one_red_line(
        run(
            ["audit", "verify", "--offline", tmp_path / "bad-entry.json", "--log-key", head["log_key"]],
            ok=False,
        ),
        f"entry {i} does not hash to its leaf",
        status=ExitStatus.VERIFICATION_FAILED,
    )
    tampered["entries"][i]["entry"] = ""  # a hidden, swapped leaf: the root no longer matches the signed head
    (tmp_path / "bad-log.json").write_text(json.dumps(tampered))
    assert_one_red_line(
        run(
            ["audit", "verify", "--offline", tmp_path / "bad-log.json", "--log-key", head["log_key"]],
            ok=False,
        ),
        "altered",
        status=ExitStatus.VERIFICATION_FAILED,
    )
    inc = run_json(["audit", "inclusion", "0", "1", "--request", req_hum, "--profile", dbs])
    assert isinstance(inc, list) and all(r["included"] for r in inc) and len(inc) == 3
    assert "is included in the signed log" in run(["audit", "inclusion", "2", "--profile", hum]).output
    who = run_json(["audit", "report", "--profile", dbs, "--case-ref", "APP-2026-0001"])
    assert isinstance(who, list)
    checks = [e for e in who if e["kind"] == "check"]
    # four single checks by DBS-4411 and three batch candidates by DBS-9, all under this case reference
    assert len(checks) == 7 and {e["fields"]["officer_id"] for e in checks} == {"DBS-4411", "DBS-9"}
    # ... and the life of each request the case opened, though transitions carry no case reference
    lifecycle = {
        (e["fields"]["request_id"], e["fields"]["state_to"]) for e in who if e["kind"] == "disclosure"
    }
    assert (req_hum, "DELIVERED") in lifecycle and (req_kent, "REFUSED") in lifecycle
    assert all(e["fields"]["purpose"] == "school-staff-vetting" for e in checks)
    by_officer = run_json(
        ["audit", "report", "--profile", dbs, "--officer", "DBS-9", "--since", "2020-01-01"]
    )
    assert isinstance(by_officer, list) and len(by_officer) == 3
    table = run(["audit", "report", "--profile", dbs, "--org", "kent", "--request", req_kent]).output
    assert "refused" in table or "legal-restriction" in table
    assert run_json(["audit", "report", "--profile", dbs, "--until", "2000-01-01"]) == []

    # operator report (the auditor role may read it)
    rep = run_json(["report", "--profile", dbs])
    assert isinstance(rep, dict) and rep["log_size"] >= head["tree_size"] and rep["stale_indexes"] == []
    assert "audit log:" in run(["report", "--profile", dbs]).output
    assert_one_red_line(
        run(["report", "--profile", hum, "--role", "force-system"], ok=False),
        "may not",
        status=ExitStatus.REFUSED,
    )


def test_serve_subprocess_answers_a_check_then_stops_on_sigterm(tmp_path: Path) -> None:
    pki_dir, secret = tmp_path / "pki", tmp_path / "secret.json"
    run(["pki", "init", pki_dir])
    run(["pki", "export-server", "--pki", pki_dir, "--to", tmp_path / "matcher-pki"])
    run(["keys", "create", secret])
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crossforce.cli", "serve", "--data", str(tmp_path / "data"),
         "--pki", str(tmp_path / "matcher-pki"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "listening on port" in line or not line:
                break
        assert f"listening on port {port}" in line, line
        dep = Deployment(root=tmp_path, pki=pki_dir, secret=secret, server=f"localhost:{port}")
        dep.enrol("dyfed-powys", "force-system", "Dyfed-Powys Police")
        dbs = dep.enrol("dbs", "force-system,vetting-officer", "DBS")
        publish(dep, "dyfed-powys", [JANE, *OTHERS])
        # A real deployment expects all 43 forces; one has published, so the hit is an incomplete answer.
        answer = run(
            ["check", "--profile", dbs, *CANDIDATE_ARGS, *WHY_ARGS, "--no-requests", "--json"], ok=False
        )
        assert answer.exit_code == ExitStatus.INCOMPLETE_SEARCH, answer.output
        hit = json.loads(answer.stdout)
        assert isinstance(hit, dict) and [h["org"] for h in hit["hits"]] == ["dyfed-powys"]
        assert hit["complete"] is False and hit["forces_expected"] == 43
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


def test_serve_json_ready_line_names_every_bound_port(tmp_path: Path) -> None:
    pki_dir = tmp_path / "pki"
    run(["pki", "init", pki_dir])
    run(["pki", "export-server", "--pki", pki_dir, "--to", tmp_path / "matcher-pki"])
    port, health = free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crossforce.cli", "serve", "--data", str(tmp_path / "data"),
         "--pki", str(tmp_path / "matcher-pki"), "--port", str(port), "--health-port", str(health), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the ready line is the only stdout line; logs go to stderr
        ready = json.loads(line)
        assert ready == {"listening": {"port": port, "metrics_port": None, "health_port": health}}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
    assert proc.stderr is not None
    logged = [json.loads(x) for x in proc.stderr.read().splitlines() if x.startswith("{")]
    assert logged and all("level" in x for x in logged)  # --json makes the log JSON lines too
