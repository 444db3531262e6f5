"""``crossforce check`` and ``check-batch``: check candidates against every force's index.

Names, dates of birth and identifiers become keyed-hash tokens in this process; the matcher sees
tokens and the justification. Outputs name forces, strengths and key types only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from crossforce.cli.common import (
    json_option,
    make_why,
    no_requests_option,
    open_client,
    profile_option,
    role_option,
    warn_skipped,
    why_options,
)
from crossforce.cli.render import (
    emit_json,
    key_type_names,
    make_console,
    progress_bar,
    strength_name,
    warn_line,
)
from crossforce.cli.tables import hit_json, hits_table
from crossforce.client.recordfile import load_records
from crossforce.client.sdk import CheckReport
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.limits import DEFAULT_LIMITS

DEFAULT_BATCH = 500
BATCH_SIZE = min(DEFAULT_BATCH, DEFAULT_LIMITS.max_batch_candidates)


def _report_json(report: CheckReport, candidate_id: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "check_id": report.check_id,
        "no_trace": report.no_trace,
        "forces_searched": report.forces_searched,
        "stale_forces": list(report.stale_orgs),
        "hits": [hit_json(h) for h in report.hits],
        "requests": [h.request_id for h in report.hits if h.request_id],
    }
    if candidate_id is not None:
        doc = {"candidate_id": candidate_id, **doc}
    return doc


@click.command()
@profile_option
@role_option(Role.VETTING_OFFICER)
@click.option("--given-names", default="", help="Forenames as the candidate gives them.")
@click.option("--surname", required=True)
@click.option(
    "--dob", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Date of birth, YYYY-MM-DD."
)
@click.option(
    "--previous-name",
    "previous_names",
    multiple=True,
    help='A previous name, "Given Surname" or a surname (repeat for each).',
)
@click.option("--sex", default="")
@click.option("--pnc", default="", help="Police National Computer id, e.g. 01/123456A.")
@click.option("--ni", default="", help="National Insurance number.")
@click.option("--passport", default="")
@click.option("--licence", default="", help="Driving licence number.")
@why_options
@no_requests_option
@json_option
def check(
    *,
    profile_dir: Path,
    role: str | None,
    given_names: str,
    surname: str,
    dob: Any,
    previous_names: tuple[str, ...],
    sex: str,
    pnc: str,
    ni: str,
    passport: str,
    licence: str,
    purpose: str,
    legal_basis: str,
    case_ref: str,
    officer: str,
    no_requests: bool,
    as_json: bool,
) -> None:
    """Check one candidate against every force's index; opens disclosure requests for hits.

    The name, date of birth and identifiers are turned into keyed-hash tokens here; the matcher sees
    only tokens and the justification, which it logs.

    \b
    Example:
      crossforce check --profile ./dbs --given-names "Jane Elizabeth" --surname Thornbury \\
          --dob 1984-03-17 --previous-name "Jane Whitlock" --purpose school-staff-vetting \\
          --legal-basis "Police Act 1997 s113B" --case-ref APP-2026-0001 --officer DBS-4411
    """
    candidate = Record(
        record_id="candidate",
        given_names=given_names,
        surname=surname,
        date_of_birth=dob.strftime("%Y-%m-%d") if dob else "",
        sex=sex,
        previous_names=tuple(previous_names),
        pnc_id=pnc,
        ni_number=ni,
        passport_number=passport,
        driving_licence=licence,
    )
    why = make_why(purpose, legal_basis, case_ref, officer)
    with open_client(profile_dir, role, (Role.VETTING_OFFICER,)) as client:
        report = client.check(candidate, why, open_requests=not no_requests)
    if as_json:
        emit_json(_report_json(report))
        return
    console = make_console()
    if report.stale_orgs:
        warn_line(console, f"not searched (stale index): {', '.join(report.stale_orgs)}")
    if report.no_trace:
        console.print(f"[bold green]NO TRACE at {report.forces_searched} forces[/] (check {report.check_id})")
        return
    console.print(
        f"[bold red]POSSIBLE TRACE at {len(report.hits)} of {report.forces_searched} forces[/] "
        f"(check {report.check_id})"
    )
    console.print(hits_table(report.hits))
    opened = [h.request_id for h in report.hits if h.request_id]
    if opened:
        console.print(f"disclosure requests opened: {', '.join(opened)}")
        console.print("follow them with: crossforce disclosures list --profile " + str(profile_dir))
    elif no_requests:
        console.print("no disclosure requests opened (--no-requests)")


@click.command("check-batch")
@profile_option
@role_option(Role.VETTING_OFFICER)
@click.option(
    "--in",
    "in_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Candidates in the record file format (CSV or JSON Lines); record_id is the candidate id.",
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results, one JSON line per candidate.",
)
@why_options
@no_requests_option
@click.option(
    "--batch-size",
    default=BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, DEFAULT_LIMITS.max_batch_candidates),
)
def check_batch(
    *,
    profile_dir: Path,
    role: str | None,
    in_file: Path,
    out_file: Path,
    purpose: str,
    legal_basis: str,
    case_ref: str,
    officer: str,
    no_requests: bool,
    batch_size: int,
) -> None:
    """Check a file of candidates; bad rows are reported by line and skipped, the rest are checked.

    Each output line is {"candidate_id", "hits": [{"org", "strength", "key_types"}], "requests": [...]}.

    \b
    Example:
      crossforce check-batch --profile ./dbs --in applicants.csv --out results.jsonl \\
          --purpose school-staff-vetting --legal-basis "Police Act 1997 s113B" \\
          --case-ref BATCH-2026-03 --officer DBS-4411
    """
    console = make_console()
    loaded = load_records(in_file, skip_bad=True)
    warn_skipped(console, loaded.errors)
    candidates = loaded.records
    why = make_why(purpose, legal_basis, case_ref, officer)
    started = time.perf_counter()
    hits = requests = 0
    with (
        open_client(profile_dir, role, (Role.VETTING_OFFICER,)) as client,
        out_file.open("w", encoding="utf-8") as out,
        progress_bar(console) as bar,
    ):
        task = bar.add_task("checking candidates", total=len(candidates))
        for start in range(0, len(candidates), batch_size):
            chunk = candidates[start : start + batch_size]
            reports = client.check_batch(chunk, why, open_requests=not no_requests, batch_size=batch_size)
            for cand, report in zip(chunk, reports, strict=True):
                line = {
                    "candidate_id": cand.record_id,
                    "check_id": report.check_id,
                    "hits": [
                        {
                            "org": h.org,
                            "strength": strength_name(h.strength),
                            "key_types": key_type_names(h.key_types),
                        }
                        for h in report.hits
                    ],
                    "requests": [h.request_id for h in report.hits if h.request_id],
                }
                hits += bool(report.hits)
                requests += len(line["requests"])
                out.write(json.dumps(line, sort_keys=True) + "\n")
            out.flush()
            bar.update(task, completed=start + len(chunk))
    seconds = time.perf_counter() - started
    rate = len(candidates) / seconds if seconds > 0 else 0.0
    console.print(
        f"checked {len(candidates):,} candidates in {seconds:.1f} s ({rate:,.0f} candidates/s): "
        f"{hits:,} with a possible trace, {requests:,} disclosure requests opened, "
        f"{len(loaded.errors)} bad rows skipped; results in {out_file}"
    )


# --------------------------------------------------------------------------------------------- disclosures
