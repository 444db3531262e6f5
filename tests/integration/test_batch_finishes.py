"""Issue 13's acceptance test: a 10,000-candidate batch always finishes; a resumed one spends nothing twice.

Over real mTLS against a matcher with small quotas: 1% of rows keyless or malformed, one force whose
index expired, and a quota refusal part-way. The run must finish with every other candidate answered,
coverage on every line, the refusal waited out and the incomplete-search exit status. A second test
interrupts a run with a real SIGINT (a child process, as a person pressing Ctrl-C) and resumes it: every
line left behind is whole, and no disclosure request is opened twice.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crossforce.cli.interrupts import INTERRUPTED_EXIT
from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.clock import DAY_MS, now_ms
from crossforce.domain import Role
from crossforce.encoding.recordrules import PREVIOUS_NAMES_SEPARATOR
from crossforce.encoding.records import FIELDS, Record
from crossforce.limits import DEFAULT_LIMITS
from crossforce.server import ServerSettings
from crossforce.server.settings import QuotaSettings
from crossforce.testkit.checkunits import typical_units
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet, running
from crossforce.testkit.simulate import ForceSimulator

FORCES = ("humberside", "kent", "dyfed-powys")
WHY_ARGS = [
    "--purpose", "school-staff-vetting",
    "--legal-basis", "Police Act 1997 s113B",
    "--case-ref", "BATCH-2026-13",
    "--officer", "DBS-4411",
]  # fmt: skip
STALL_AFTER_LINES = 3000
STALL_S = 6.0
"""Long enough for even a loaded machine to spend the quota's burst (1,000 checks) while the clock stands."""
RUN_DEADLINE_S = 120.0
"""Bound on any wait for a child process (a hang fails the test instead of stalling the suite)."""


def settings(*, rate: float, burst: int, max_batch: int) -> ServerSettings:
    """Quotas small enough to refuse part-way through a run and refill fast enough to wait out; ``rate``
    and ``burst`` count typical checks (spec v2 charges per token: each is ``typical_units()`` units)."""
    unit = typical_units()
    return ServerSettings(
        expected_forces=(),
        limits=dataclasses.replace(DEFAULT_LIMITS, max_batch_candidates=max_batch),
        quotas=QuotaSettings(
            org_rate_per_s=rate * unit,
            org_burst=burst * unit,
            officer_rate_per_s=rate * unit,
            officer_burst=burst * unit,
        ),
    )


def cells(record: Record) -> list[str]:
    return [
        PREVIOUS_NAMES_SEPARATOR.join(record.previous_names) if f == "previous_names" else getattr(record, f)
        for f in FIELDS
    ]


def write_candidates(path: Path, rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FIELDS)
        writer.writerows(rows)


def as_candidate(record: Record, candidate_id: str) -> list[str]:
    row = cells(record)
    row[FIELDS.index("record_id")] = candidate_id
    return row


def bad_row(i: int) -> tuple[list[str], str]:
    """A row that must not be checked, and the word its error names: keyless or malformed, in turn."""
    values = dict.fromkeys(FIELDS, "")
    values["record_id"] = f"BAD-{i}"
    kind = i % 4
    if kind == 0:  # placeholder names and no date of birth: passes the row rules, yields no key
        values.update(given_names="Baby Boy", surname="Q")
        says = "no match key"
    elif kind == 1:  # placeholder names with a date of birth: nothing real to key the date on
        values.update(given_names="Unknown", surname="Unk", date_of_birth="1990-02-14")
        says = "no match key"
    elif kind == 2:  # a date of birth in the future
        values.update(given_names="Peregrine", surname="Quillfeather", date_of_birth="2999-01-01")
        says = "date_of_birth"
    else:  # a PNC ID whose check letter is wrong
        values.update(given_names="Peregrine", surname="Quillfeather", pnc_id="01/123456A")
        says = "pnc_id"
    return [values[f] for f in FIELDS], says


def publish(net: LocalNet, sim: ForceSimulator, *, expires: dict[str, float]) -> None:
    for org in FORCES:
        with net.client(org, Role.FORCE_SYSTEM) as client:
            client.publish_records(sim.records_for(org), expires_in_days=expires.get(org, 30))


def lines_of(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "the results file ends in a cut line"
    return [json.loads(line) for line in text.splitlines()]


def run_batch(net: LocalNet, in_file: Path, out_file: Path, *extra: object) -> Result:
    args = ["check-batch", "--profile", net.root / "orgs" / "dbs", "--in", in_file, "--out", out_file]
    return CliRunner().invoke(cli, [str(a) for a in [*args, *WHY_ARGS, *extra]], catch_exceptions=False)


def stall_quota_refill(net: LocalNet, out_file: Path, offset_ms: int) -> None:
    """Part-way through the run, stop the matcher's clock for STALL_S: its quota cannot refill, so the run
    spends it and is refused, whatever this machine's speed; then the clock catches up with real time
    and the waited-out sub-batch fits again. (A refusal that depended on the client outrunning the refill
    rate would come or not with the machine's load.)"""
    deadline = time.monotonic() + RUN_DEADLINE_S
    while time.monotonic() < deadline:
        if out_file.exists() and out_file.read_bytes().count(b"\n") >= STALL_AFTER_LINES:
            break
        time.sleep(0.02)
    stopped_at = now_ms() + offset_ms
    net.running_server.set_clock(lambda: stopped_at)
    time.sleep(STALL_S)
    net.running_server.set_clock(lambda: now_ms() + offset_ms)


@pytest.fixture
def publishing() -> ForceSimulator:
    return ForceSimulator(13, 3000, forces=FORCES)


def test_ten_thousand_candidates_finish_despite_bad_rows_an_expired_force_and_a_quota_refusal(
    tmp_path: Path, publishing: ForceSimulator
) -> None:
    orgs = [*((org, FORCE_ROLES) for org in FORCES), ("dbs", VETTING_ROLES)]
    with running(tmp_path / "net", orgs, settings=settings(rate=1000, burst=1000, max_batch=1000)) as net:
        publish(net, publishing, expires={"kent": 1})
        net.running_server.set_clock(lambda: now_ms() + 2 * DAY_MS)  # kent's index has expired

        others = ForceSimulator(14, 9820, forces=FORCES)
        good = [r for org in FORCES for r in others.records_for(org)]
        known = [r for org in FORCES for r in publishing.records_for(org)[:35]]  # people a force holds
        rows: list[list[str]] = [as_candidate(r, f"C{i}") for i, r in enumerate([*known, *good][:9900])]
        assert len(rows) == 9900
        expect_error: dict[str, str] = {}
        for i in range(100):  # 1%: spread through the file, so they share sub-batches with good rows
            row, says = bad_row(i)
            rows.insert(50 + i * 99, row)
            expect_error[f"BAD-{i}"] = says
        assert len(rows) == 10_000
        in_file, out_file = tmp_path / "candidates.csv", tmp_path / "results.jsonl"
        write_candidates(in_file, rows)

        stall = threading.Thread(target=stall_quota_refill, args=(net, out_file, 2 * DAY_MS), daemon=True)
        stall.start()
        result = run_batch(net, in_file, out_file, "--no-requests", "--max-wait", "60")
        stall.join(timeout=RUN_DEADLINE_S)

    assert result.exit_code == ExitStatus.INCOMPLETE_SEARCH, result.output[-3000:]
    assert "quota: waiting" in result.output  # the refusal was shown, waited out, and the run went on
    assert "NO TRACE" not in result.output
    assert result.output.count("warning: incomplete search") == 1
    assert "checked 9,900 candidates" in result.output and "100 errors" in result.output
    lines = lines_of(out_file)
    assert len(lines) == 10_000
    assert [line["candidate_id"] for line in lines] == [r[0] for r in rows]  # every row once, in file order
    answered = [line for line in lines if "error" not in line]
    assert len(answered) == 9900
    for line in answered:
        assert line["complete"] is False and line["forces_searched"] == 2 and line["forces_expected"] == 3
        assert line["not_searched"] == [{"org": "kent", "reason": "expired"}]
    hit_ids = {str(line["candidate_id"]) for line in answered if line["hits"]}
    held = {f"C{i}" for i, r in enumerate(known) if not r.record_id.startswith("KEN")}
    assert held <= hit_ids  # the people humberside and dyfed-powys hold were found
    for line in lines:
        if "error" in line:
            error = line["error"]
            assert isinstance(error, dict) and error["code"] == "INVALID_ARGUMENT"
            assert expect_error[str(line["candidate_id"])] in error["message"]
            number = [r[0] for r in rows].index(str(line["candidate_id"])) + 2
            assert line["source"] == f"candidates.csv:{number}"
    written = out_file.read_text()
    assert "Quillfeather" not in written and "2999-01-01" not in written and "01/123456A" not in written


@pytest.fixture
def slow_net(tmp_path: Path, publishing: ForceSimulator) -> Iterator[LocalNet]:
    """A matcher whose quota lets a 2,000-candidate run take seconds, so Ctrl-C lands part-way."""
    orgs = [*((org, FORCE_ROLES) for org in FORCES), ("dbs", VETTING_ROLES)]
    with running(tmp_path / "net", orgs, settings=settings(rate=400, burst=100, max_batch=100)) as net:
        publish(net, publishing, expires={})
        yield net


def test_ctrl_c_leaves_whole_lines_and_resume_opens_no_duplicate_request(
    tmp_path: Path, slow_net: LocalNet, publishing: ForceSimulator
) -> None:
    absent = ForceSimulator(15, 1960, forces=FORCES)
    held = [r for org in FORCES for r in publishing.records_for(org)[:15]]
    people = [*held, *(r for org in FORCES for r in absent.records_for(org))][:2000]
    in_file, out_file = tmp_path / "candidates.csv", tmp_path / "results.jsonl"
    write_candidates(in_file, [as_candidate(r, f"C{i}") for i, r in enumerate(people)])
    args = [
        sys.executable, "-m", "crossforce.cli", "check-batch",
        "--profile", str(slow_net.root / "orgs" / "dbs"),
        "--in", str(in_file), "--out", str(out_file), "--batch-size", "50", *WHY_ARGS,
    ]  # fmt: skip
    child = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + RUN_DEADLINE_S
        while time.monotonic() < deadline and child.poll() is None:
            if out_file.exists() and out_file.read_text(encoding="utf-8").count("\n") >= 300:
                break
            time.sleep(0.05)
        assert child.poll() is None, "the run finished before it could be interrupted"
        child.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = child.communicate(timeout=RUN_DEADLINE_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == INTERRUPTED_EXIT, output[-3000:]
    assert "--resume" in output and "Traceback" not in output
    first = lines_of(out_file)  # every line whole
    assert 300 <= len(first) < 2000

    resumed = run_batch(slow_net, in_file, out_file, "--resume", "--batch-size", "50", "--max-wait", "60")
    assert resumed.exit_code == ExitStatus.SUCCESS, resumed.output[-3000:]
    assert f"{len(first):,} already in results.jsonl" in resumed.output
    lines = lines_of(out_file)
    assert [line["candidate_id"] for line in lines] == [f"C{i}" for i in range(2000)]
    opened = [str(r) for line in lines for r in line["requests"]]  # type: ignore[attr-defined]
    assert opened, "no candidate was found: the test proves nothing about requests"
    with slow_net.client("dbs", Role.VETTING_OFFICER) as client:
        at_matcher = [r.request_id for r in client.list_requests(as_holder=False)]
    assert len(set(opened)) == len(opened)
    assert sorted(at_matcher) == sorted(opened)  # nothing opened that the results file does not hold
