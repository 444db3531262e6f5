"""Issue 13 items 3-7 through the CLI, against a real matcher over mTLS: answers that say what was searched.

Each test is named after the failure it reproduces: "no trace" printed when forces were not searched,
one keyless row killing a batch, broken input exiting 0, a results file overwritten or re-spent, and
``check`` accepting what a record file refuses.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.clock import DAY_MS, now_ms
from crossforce.domain import Role
from crossforce.encoding.records import FIELDS, Record
from crossforce.limits import DEFAULT_LIMITS
from crossforce.server import ServerSettings
from crossforce.server.settings import QuotaSettings
from crossforce.testkit.checkunits import typical_units
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet, running

WHY_ARGS = [
    "--purpose", "school-staff-vetting",
    "--legal-basis", "Police Act 1997 s113B",
    "--case-ref", "APP-2026-0013",
    "--officer", "DBS-4411",
]  # fmt: skip
FORCES = ("humberside", "kent", "dyfed-powys")
JANE = Record(record_id="HUM-1", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
KWAME = Record(
    record_id="KEN-1", given_names="Kwame", surname="Mensah", date_of_birth="1968-12-25", postcode="CT1 2AB"
)
FILLER = Record(record_id="DP-1", given_names="Mohammed", surname="Rahman", date_of_birth="1990-11-02")
HOLDINGS = {"humberside": [JANE], "kent": [KWAME], "dyfed-powys": [FILLER]}
NOBODY = ["--given-names", "Peregrine", "--surname", "Quillfeather", "--dob", "1990-02-14"]
JANE_ARGS = ["--given-names", "Jane", "--surname", "Thornbury", "--dob", "1984-03-17"]


def run(args: Sequence[object]) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def dbs(net: LocalNet) -> Path:
    return net.root / "orgs" / "dbs"


def publish(net: LocalNet, *, expires: dict[str, float] | None = None) -> None:
    for org, records in HOLDINGS.items():
        with net.client(org, Role.FORCE_SYSTEM) as client:
            client.publish_records(records, expires_in_days=(expires or {}).get(org, 30))


def write_rows(path: Path, rows: Sequence[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow([row.get(f, "") for f in FIELDS])


def row(record_id: str, given: str, surname: str, dob: str = "", **more: str) -> dict[str, str]:
    return {"record_id": record_id, "given_names": given, "surname": surname, "date_of_birth": dob, **more}


def results(path: Path) -> dict[str, dict[str, object]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    by_id = {str(line["candidate_id"]): line for line in lines}
    assert len(by_id) == len(lines), "a candidate has two result lines"
    return by_id


def batch(net: LocalNet, in_file: Path, out_file: Path, *extra: object) -> Result:
    return run(["check-batch", "--profile", dbs(net), "--in", in_file, "--out", out_file, *WHY_ARGS, *extra])


@pytest.fixture
def published(net: LocalNet) -> Iterator[LocalNet]:
    publish(net)
    yield net


# ------------------------------------------------------------------------- item 3: coverage in every answer


def test_empty_matcher_never_answers_no_trace_at_0_forces(tmp_path: Path) -> None:
    # The matcher's default settings expect the 43 territorial forces; none has published.
    with running(tmp_path, [("dbs", VETTING_ROLES)], settings=ServerSettings()) as net:
        result = run(["check", "--profile", dbs(net), *NOBODY, *WHY_ARGS])
        assert result.exit_code == ExitStatus.INCOMPLETE_SEARCH, result.output
        assert "NO TRACE" not in result.output
        assert "INCOMPLETE: no trace at 0 of 43 forces" in result.output
        assert "humberside (never published)" in result.output
        doc = json.loads(run(["check", "--profile", dbs(net), *NOBODY, *WHY_ARGS, "--json"]).stdout)
        status = run(["status", "--profile", dbs(net)]).output
        status_doc = json.loads(run(["status", "--profile", dbs(net), "--json"]).stdout)
    assert doc["no_trace"] is False and doc["complete"] is False
    assert "expected to search 43 forces; 43 never published" in status
    assert len(status_doc["expected_orgs"]) == 43 and status_doc["expected_never_published"] == sorted(
        status_doc["expected_orgs"]
    )
    assert doc["forces_searched"] == 0 and doc["forces_expected"] == 43
    assert {f["reason"] for f in doc["coverage"]["not_searched"]} == {"never_published"}


def test_no_trace_is_said_only_when_every_expected_force_was_searched(published: LocalNet) -> None:
    result = run(["check", "--profile", dbs(published), *NOBODY, *WHY_ARGS])
    assert result.exit_code == ExitStatus.SUCCESS, result.output
    assert "NO TRACE at all 3 expected forces" in result.output
    doc = json.loads(run(["check", "--profile", dbs(published), *NOBODY, *WHY_ARGS, "--json"]).stdout)
    assert doc["no_trace"] is True and doc["complete"] is True
    searched = {f["org"]: f for f in doc["coverage"]["searched"]}
    assert set(searched) == set(FORCES)
    assert all(f["version"] >= 1 and f["epoch"] >= 1 and f["age_s"] >= 0 for f in searched.values())


def test_expired_force_makes_every_answer_incomplete_and_is_named(net: LocalNet, tmp_path: Path) -> None:
    publish(net, expires={"humberside": 1})
    net.running_server.set_clock(lambda: now_ms() + 2 * DAY_MS)  # humberside's index has now expired

    clear = run(["check", "--profile", dbs(net), *NOBODY, *WHY_ARGS])
    assert clear.exit_code == ExitStatus.INCOMPLETE_SEARCH, clear.output
    assert "NO TRACE" not in clear.output
    assert "INCOMPLETE: no trace at 2 of 3 forces" in clear.output
    assert "humberside (index expired)" in clear.output

    kwame = ["--given-names", "Kwame", "--surname", "Mensah", "--dob", "1968-12-25", "--no-requests"]
    hit = run(["check", "--profile", dbs(net), *kwame, *WHY_ARGS])
    assert hit.exit_code == ExitStatus.INCOMPLETE_SEARCH, hit.output
    assert "POSSIBLE TRACE at 1 of 2 forces searched" in hit.output
    assert "1 of 3 expected forces not searched: humberside (index expired)" in hit.output

    candidates, out = tmp_path / "candidates.csv", tmp_path / "results.jsonl"
    write_rows(
        candidates,
        [row("C1", "Kwame", "Mensah", "1968-12-25"), row("C2", "Peregrine", "Quill", "1990-02-14")],
    )
    result = batch(net, candidates, out, "--no-requests")
    assert result.exit_code == ExitStatus.INCOMPLETE_SEARCH, result.output
    assert result.output.count("warning: incomplete search") == 1
    assert "NO TRACE" not in result.output
    for line in results(out).values():
        assert line["complete"] is False
        assert line["not_searched"] == [{"org": "humberside", "reason": "expired"}]
    assert results(out)["C1"]["hits"] and not results(out)["C2"]["hits"]


# ------------------------------------------------------------------ item 4: one row never kills a batch


@pytest.mark.backends("sqlite")  # the client's input and results files: the matcher's storage plays no part
def test_keyless_rows_are_error_lines_and_never_stop_the_batch(published: LocalNet, tmp_path: Path) -> None:
    candidates, out = tmp_path / "candidates.csv", tmp_path / "results.jsonl"
    write_rows(
        candidates,
        [
            row("C1", "Jane", "Thornbury", "1984-03-17"),
            row("K1", "Baby Boy", "Q"),  # placeholder names, no date of birth: no key
            row("K2", "Unknown", "Unk", "1990-02-14"),  # placeholder forename and surname
            row("K3", "Female Child", "Q", "1990-02-14"),  # a placeholder forename, a one-letter surname
            row("C2", "Peregrine", "Quillfeather", "1990-02-14"),
            row("C3", "Kwame", "Mensah", "1968-12-25"),
        ],
    )
    result = batch(published, candidates, out, "--batch-size", "2", "--no-requests")
    assert result.exit_code == ExitStatus.BAD_INPUT, result.output
    assert "candidate 0" not in result.output
    assert "checked 3 candidates" in result.output and "3 errors" in result.output
    by_id = results(out)
    assert list(by_id) == ["C1", "K1", "K2", "K3", "C2", "C3"]  # every row, in file order
    for key, line in (("K1", 3), ("K2", 4), ("K3", 5)):
        error = by_id[key]["error"]
        assert isinstance(error, dict) and error["code"] == "INVALID_ARGUMENT"
        assert "no match key" in error["message"]
        assert by_id[key]["source"] == f"candidates.csv:{line}"
        assert "Quillfeather" not in json.dumps(by_id[key])
    assert [h["org"] for h in by_id["C1"]["hits"]] == ["humberside"]  # type: ignore[index, union-attr]
    assert by_id["C2"]["hits"] == [] and by_id["C2"]["complete"] is True
    assert [h["org"] for h in by_id["C3"]["hits"]] == ["kent"]  # type: ignore[index, union-attr]
    assert "K2: surname: is a placeholder" in result.output


# ------------------------------------------------------------------------- item 5: broken input is not exit 0

BROKEN_FILES = [
    pytest.param(b"", "file is empty", id="empty-file"),
    pytest.param(",".join(FIELDS).encode() + b"\n", "holds no records", id="header-only"),
    pytest.param(
        ";".join(FIELDS).encode() + b"\nC1;Jane;Thornbury;1984-03-17;;;;;;;\n",
        "separated by ';'",
        id="semicolons",
    ),
    pytest.param(
        b"record_id,given_names,date_of_birth\nC1,Jane,1984-03-17\n", "surname", id="missing-column"
    ),
]


@pytest.mark.backends("sqlite")  # the client's input and results files: the matcher's storage plays no part
@pytest.mark.parametrize(("content", "says"), BROKEN_FILES)
def test_broken_input_file_is_fatal_never_checked_0_candidates_exit_0(
    published: LocalNet, tmp_path: Path, content: bytes, says: str
) -> None:
    candidates, out = tmp_path / "candidates.csv", tmp_path / "results.jsonl"
    candidates.write_bytes(content)
    result = batch(published, candidates, out)
    assert result.exit_code == ExitStatus.BAD_INPUT, result.output
    assert "checked 0 candidates" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: candidates.csv:1") and says in errors[0]
    assert not out.exists()


@pytest.mark.backends("sqlite")  # the client's input and results files: the matcher's storage plays no part
def test_rows_the_rules_refuse_are_in_the_results_file_not_only_on_the_terminal(
    published: LocalNet, tmp_path: Path
) -> None:
    candidates, out = tmp_path / "candidates.csv", tmp_path / "results.jsonl"
    write_rows(
        candidates,
        [
            row("C1", "Jane", "Thornbury", "1984-03-17"),
            row("F1", "Peregrine", "Quillfeather", "2999-01-01"),
            row("P1", "Peregrine", "Quillfeather", "1990-02-14", pnc_id="01/123456A"),
        ],
    )
    result = batch(published, candidates, out, "--no-requests", "--json")
    assert result.exit_code == ExitStatus.BAD_INPUT, result.output
    by_id = results(out)
    assert set(by_id) == {"C1", "F1", "P1"}
    assert by_id["F1"]["source"] == "candidates.csv:3" and "date_of_birth" in json.dumps(by_id["F1"]["error"])
    assert by_id["P1"]["source"] == "candidates.csv:4" and "pnc_id" in json.dumps(by_id["P1"]["error"])
    assert "2999" not in out.read_text() and "123456" not in out.read_text()
    summary = json.loads(result.stdout)
    assert (
        summary["checked"] == 1 and summary["errors"] == 2 and summary["exit_status"] == ExitStatus.BAD_INPUT
    )


# ------------------------------------------------------------------ item 6: results never lost or re-spent


@pytest.mark.backends("sqlite")  # the client's input and results files: the matcher's storage plays no part
def test_existing_out_is_never_overwritten_without_force(published: LocalNet, tmp_path: Path) -> None:
    candidates, out = tmp_path / "candidates.csv", tmp_path / "results.jsonl"
    write_rows(candidates, [row("C1", "Jane", "Thornbury", "1984-03-17")])
    out.write_text('{"candidate_id": "earlier", "source": "old.csv:2", "hits": []}\n')
    refused = batch(published, candidates, out, "--no-requests")
    assert refused.exit_code == ExitStatus.USAGE
    assert "--resume" in refused.output and "--force" in refused.output
    assert "earlier" in out.read_text()
    forced = batch(published, candidates, out, "--no-requests", "--force")
    assert forced.exit_code == ExitStatus.SUCCESS, forced.output
    assert set(results(out)) == {"C1"}


def test_resume_skips_answered_candidates_and_opens_no_duplicate_request(
    published: LocalNet, tmp_path: Path
) -> None:
    every = [
        row("C1", "Jane", "Thornbury", "1984-03-17"),
        row("C2", "Peregrine", "Quillfeather", "1990-02-14"),
        row("C3", "Kwame", "Mensah", "1968-12-25"),
        row("C4", "Jane", "Thornbury", "1984-03-17"),
    ]
    first, whole, out = tmp_path / "first.csv", tmp_path / "candidates.csv", tmp_path / "results.jsonl"
    write_rows(first, every[:2])
    write_rows(whole, every)
    assert batch(published, first, out).exit_code == ExitStatus.SUCCESS
    with out.open("a") as handle:
        handle.write('{"candidate_id": "C3", "sou')  # a line cut short by a kill: not an answer
    resumed = batch(published, whole, out, "--resume")
    assert resumed.exit_code == ExitStatus.SUCCESS, resumed.output
    assert "2 already in results.jsonl" in resumed.output
    by_id = results(out)
    assert list(by_id) == ["C1", "C2", "C3", "C4"]
    opened = [r for line in by_id.values() for r in line["requests"]]  # type: ignore[attr-defined]
    with published.client("dbs", Role.VETTING_OFFICER) as client:
        at_matcher = [r.request_id for r in client.list_requests(as_holder=False)]
    assert len(opened) == 3 and sorted(opened) == sorted(at_matcher)  # C1, C3 and C4: none twice
    again = batch(published, whole, out, "--resume")
    assert again.exit_code == ExitStatus.SUCCESS and "checked 0 candidates" in again.output
    assert len(results(out)) == 4


def test_quota_wait_past_max_wait_stops_with_whole_lines_and_resume_finishes(tmp_path: Path) -> None:
    unit = typical_units()  # spec v2 charges per token: 50 checks/s, a burst of 100 checks
    quotas = QuotaSettings(
        org_rate_per_s=50 * unit, org_burst=100 * unit, officer_rate_per_s=50 * unit, officer_burst=100 * unit
    )
    tight = ServerSettings(
        expected_forces=(),
        limits=dataclasses.replace(DEFAULT_LIMITS, max_batch_candidates=100),
        quotas=quotas,
    )
    orgs = [*((org, FORCE_ROLES) for org in FORCES), ("dbs", VETTING_ROLES)]
    with running(tmp_path / "net", orgs, settings=tight) as net:
        publish(net)
        candidates, out = tmp_path / "candidates.csv", tmp_path / "results.jsonl"
        people = [row(f"C{i}", "Peregrine", f"Quill{chr(97 + i % 26)}{i}", "1990-02-14") for i in range(250)]
        write_rows(candidates, [row("J1", "Jane", "Thornbury", "1984-03-17"), *people])
        stopped = batch(net, candidates, out, "--batch-size", "100", "--max-wait", "0")
        assert stopped.exit_code == ExitStatus.QUOTA, stopped.output
        assert "--resume" in stopped.output and "retry after" in stopped.output
        assert len(results(out)) == 100  # the first sub-batch, whole; nothing of the refused one
        finished = batch(net, candidates, out, "--batch-size", "100", "--resume", "--max-wait", "30")
        assert finished.exit_code == ExitStatus.SUCCESS, finished.output
        assert "quota: waiting" in finished.output
        by_id = results(out)
        with net.client("dbs", Role.VETTING_OFFICER) as client:
            at_matcher = [r.request_id for r in client.list_requests(as_holder=False)]
    assert len(by_id) == 251
    assert by_id["J1"]["requests"] == at_matcher and len(at_matcher) == 1


# ------------------------------------------------------------------ item 7: one validation for every door


@pytest.mark.backends("sqlite")  # the client's input and results files: the matcher's storage plays no part
@pytest.mark.parametrize(
    ("args", "option", "value"),
    [
        (["--dob", "2999-01-01"], "--dob", "2999"),
        (["--dob", "17/03/1984"], "--dob", "17/03"),
        (["--pnc", "01/123456A"], "--pnc", "123456"),
        (["--ni", "QQ123456C"], "--ni", "QQ123456"),
        (["--sex", "banana"], "--sex", "banana"),
        (["--postcode", "CT1_2AB"], "--postcode", "CT1_2AB"),
    ],
)
def test_check_refuses_what_a_record_file_refuses_naming_the_option(
    published: LocalNet, args: list[str], option: str, value: str
) -> None:
    base = ["--given-names", "Peregrine", "--surname", "Quillfeather"]
    if "--dob" not in args:
        base += ["--dob", "1990-02-14"]
    result = run(["check", "--profile", dbs(published), *base, *args, *WHY_ARGS])
    assert result.exit_code == ExitStatus.BAD_INPUT, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"error: {option}:"), errors
    assert value not in result.output
    assert "TRACE" not in result.output


@pytest.mark.backends("sqlite")  # the client's input and results files: the matcher's storage plays no part
def test_check_keys_a_candidate_without_a_date_of_birth(published: LocalNet) -> None:
    # Spec v2: both names key a candidate without a date (name_nodate); a postcode adds name_district.
    names = ["--given-names", "Kwame", "--surname", "Mensah", "--no-requests"]
    nodate = run(["check", "--profile", dbs(published), *names, *WHY_ARGS])
    assert nodate.exit_code == ExitStatus.SUCCESS and "no match key" not in nodate.output, nodate.output
    placeholders = ["--given-names", "Baby Boy", "--surname", "Q", "--no-requests"]
    keyless = run(["check", "--profile", dbs(published), *placeholders, *WHY_ARGS])
    assert keyless.exit_code == ExitStatus.BAD_INPUT and "no match key" in keyless.output
    found = run(["check", "--profile", dbs(published), *names, "--postcode", "CT1 2AB", *WHY_ARGS])
    assert found.exit_code == ExitStatus.SUCCESS, found.output
    assert "POSSIBLE TRACE at 1 of 3 forces" in found.output and "kent" in found.output


@pytest.mark.backends("sqlite")  # the client's input and results files: the matcher's storage plays no part
def test_check_placeholder_is_missing_with_a_warning_never_matched(published: LocalNet) -> None:
    # "Unk" must not key: the candidate keys only on what is real (here nothing: both names are placeholders).
    result = run(
        ["check", "--profile", dbs(published), "--given-names", "Unk", "--surname", "Unknown",
         "--dob", "1984-03-17", *WHY_ARGS]
    )  # fmt: skip
    assert "warning: --given-names is a placeholder" in result.output
    assert result.exit_code == ExitStatus.BAD_INPUT and "no match key" in result.output
    placeholder_dob = run(
        ["check", "--profile", dbs(published), *JANE_ARGS[:4], "--dob", "1900-01-01", *WHY_ARGS]
    )
    assert "warning: --dob is a placeholder" in placeholder_dob.output
    # Spec v2: the names alone still key the candidate (name_nodate), but no key of the placeholder date.
    assert placeholder_dob.exit_code == ExitStatus.SUCCESS, placeholder_dob.output
    dated = ("_dob", "name_year")
    assert not any(k in placeholder_dob.output for k in dated), placeholder_dob.output
