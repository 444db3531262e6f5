"""``crossforce check`` and ``check-batch``: check candidates against every force's index.

Names, dates of birth and identifiers become keyed-hash tokens in this process; the matcher sees
tokens, the justification and how common the names are (a class 0-5). Outputs name forces, each hit's
probability with its label, and key types only; a hit-only purpose shows only that a force may hold
the person.

Every answer says how complete it was (issue 13): "nothing known" is printed only when every expected
force was searched (``render.check_answer``), otherwise the answer is INCOMPLETE and names the forces not
searched, and the exit status says so. Both commands build candidates through the one set of record
rules (``crossforce.encoding.recordrules``), so ``check`` refuses what a record file would refuse.

The officer a check acts for is the one its officer credential names: issued here with the profile's
organisation key for ``--officer``, or the file ``--officer-credential`` gives (``crossforce officer
issue``) on a workstation that holds no organisation key.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from crossforce.cli.batchreport import ResultWriter, Tally, summary, warn_rows
from crossforce.cli.common import (
    F,
    json_option,
    load_profile,
    no_requests_option,
    pick_role,
    profile_option,
    resolve_why,
    role_option,
    why_options,
)
from crossforce.cli.interrupts import INTERRUPTED_EXIT, deferred_interrupt
from crossforce.cli.render import (
    check_answer,
    emit_json,
    make_console,
    progress_bar,
    warn_line,
)
from crossforce.cli.resultsfile import check_out_options, done_keys, open_results, result_key
from crossforce.cli.status import ExitStatus
from crossforce.cli.tables import hits_table, report_json
from crossforce.client import Client, officercreds
from crossforce.client.checking import DEFAULT_MAX_WAIT_S
from crossforce.client.recordfile import Row, read_rows
from crossforce.clock import now_ms
from crossforce.crypto import officer as assertions
from crossforce.domain import Role
from crossforce.encoding.recordrules import record_from_fields
from crossforce.errors import CrossforceError
from crossforce.limits import DEFAULT_LIMITS

DEFAULT_BATCH = 500
BATCH_SIZE = min(DEFAULT_BATCH, DEFAULT_LIMITS.max_batch_candidates)
OPTION_LABELS = {
    "record_id": "candidate id",
    "given_names": "--given-names",
    "surname": "--surname",
    "date_of_birth": "--dob",
    "sex": "--sex",
    "previous_names": "--previous-name",
    "pnc_id": "--pnc",
    "ni_number": "--ni",
    "passport_number": "--passport",
    "driving_licence": "--licence",
    "postcode": "--postcode",
}
"""Each record field as the option that sets it, so an error says which option to fix."""


def officer_credential_option(f: F) -> F:
    """``--officer-credential FILE``: act as the officer a file from ``crossforce officer issue`` names."""
    return click.option(
        "--officer-credential",
        "credential_file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="Officer credential file (crossforce officer issue); --officer then defaults to its officer.",
    )(f)


def officer_credential(credential_file: Path | None) -> tuple[bytes | None, str]:
    """The encoded credential in ``credential_file`` and the officer id it names (None and "": no file)."""
    if credential_file is None:
        return None, ""
    encoded = officercreds.load(credential_file)
    return encoded, assertions.parse(encoded).officer_id


def checking_client(profile_dir: Path, role: str | None, credential: bytes | None) -> Client:
    """A vetting officer's client, carrying ``credential`` on every check when there is one."""
    profile = load_profile(profile_dir)
    return Client(
        profile, role=pick_role(profile, role, (Role.VETTING_OFFICER,)), officer_credential=credential
    )


@click.command()
@profile_option
@role_option(Role.VETTING_OFFICER)
@click.option("--given-names", default="", help="Forenames as the candidate gives them.")
@click.option("--surname", required=True)
@click.option("--dob", default="", help="Date of birth, YYYY-MM-DD (not in the future).")
@click.option(
    "--previous-name",
    "previous_names",
    multiple=True,
    help='A previous name, "Given Surname" or a surname (repeat for each).',
)
@click.option("--sex", default="", help="M, F, X or U.")
@click.option("--pnc", default="", help="Police National Computer id, e.g. 01/123456A.")
@click.option("--ni", default="", help="National Insurance number.")
@click.option("--passport", default="")
@click.option("--licence", default="", help="Driving licence number.")
@click.option("--postcode", default="", help="Postcode of the candidate's address.")
@why_options
@officer_credential_option
@no_requests_option
@json_option
@click.pass_context
def check(
    ctx: click.Context,
    *,
    profile_dir: Path,
    role: str | None,
    given_names: str,
    surname: str,
    dob: str,
    previous_names: tuple[str, ...],
    sex: str,
    pnc: str,
    ni: str,
    passport: str,
    licence: str,
    postcode: str,
    purpose: str | None,
    legal_basis: str | None,
    case_ref: str,
    officer: str | None,
    credential_file: Path | None,
    no_requests: bool,
    as_json: bool,
) -> None:
    """Check one candidate against every force's index; opens disclosure requests for hits.

    The name, date of birth and identifiers are turned into keyed-hash tokens here; the matcher sees
    only tokens and the justification, which it logs. The options pass the same rules as a record
    file's rows: a bad value is refused naming the option, and a placeholder ("Unk", 1900-01-01) is
    treated as missing, with a warning.

    Each hit shows the probability that the force holds the person ("0.97 strong"; strong >= 0.95,
    medium >= 0.70 by default) from the keys that agreed, how common the names are and the force's
    size; under a hit-only purpose a hit says only that the force may hold the person.

    "No trace" is printed only when every force the matcher expects was searched; otherwise the answer
    is INCOMPLETE, names the forces not searched and why, and the exit status is 8 (incomplete search).

    \b
    Example:
      crossforce check --profile ./dbs --given-names "Jane Elizabeth" --surname Thornbury \\
          --dob 1984-03-17 --previous-name "Jane Whitlock" --purpose school-staff-vetting \\
          --legal-basis "Police Act 1997 s113B" --case-ref APP-2026-0001 --officer DBS-4411
    """
    checked = record_from_fields(
        {
            "record_id": "candidate",
            "given_names": given_names,
            "surname": surname,
            "date_of_birth": dob,
            "sex": sex,
            "previous_names": list(previous_names),
            "pnc_id": pnc,
            "ni_number": ni,
            "passport_number": passport,
            "driving_licence": licence,
            "postcode": postcode,
        },
        labels=OPTION_LABELS,
    )
    console = make_console(stderr=as_json)
    for warning in checked.warnings:
        warn_line(console, f"{warning.field} {warning.message}")
    credential, credited = officer_credential(credential_file)
    why = resolve_why(
        profile_dir, purpose=purpose, legal_basis=legal_basis, case_ref=case_ref, officer=officer or credited
    )
    with checking_client(profile_dir, role, credential) as client:
        report = client.check(checked.record, why, open_requests=not no_requests)
    if as_json:
        emit_json(report_json(report, now_ms()))
    else:
        for line in check_answer(report):
            console.print(line, soft_wrap=True)
        if report.hits:
            console.print(hits_table(report.hits))
            opened = [h.request_id for h in report.hits if h.request_id]
            if opened:
                console.print(f"disclosure requests opened: {', '.join(opened)}")
                console.print("follow them with: crossforce disclosures list --profile " + str(profile_dir))
            elif no_requests:
                console.print("no disclosure requests opened (--no-requests)")
    if not report.complete:
        ctx.exit(int(ExitStatus.INCOMPLETE_SEARCH))


# --------------------------------------------------------------------------------------------- check-batch


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
    help="Results, one JSON line per candidate (never overwritten without --force).",
)
@why_options
@officer_credential_option
@no_requests_option
@click.option(
    "--batch-size",
    default=BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, DEFAULT_LIMITS.max_batch_candidates),
)
@click.option("--resume", is_flag=True, help="Skip candidates already in --out and append the rest.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option(
    "--max-wait",
    default=DEFAULT_MAX_WAIT_S,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds a sub-batch may wait, in total, for a quota to refill before the run stops.",
)
@json_option
@click.pass_context
def check_batch(
    ctx: click.Context,
    *,
    profile_dir: Path,
    role: str | None,
    in_file: Path,
    out_file: Path,
    purpose: str | None,
    legal_basis: str | None,
    case_ref: str,
    officer: str | None,
    credential_file: Path | None,
    no_requests: bool,
    batch_size: int,
    resume: bool,
    force: bool,
    max_wait: float,
    as_json: bool,
) -> None:
    """Check a file of candidates; every row gets one line in --out, and the run always finishes.

    A checked row's line is {"candidate_id", "source" (file:line), "check_id", "hits": [{"org", "hit_only",
    "probability" (null if hit_only), "strength", "key_types"}], "requests", "complete", "forces_searched",
    "forces_expected", "not_searched": [{"org", "reason"}]}. A row that was not checked (refused by the record
    rules, no match key, refused by the matcher) is {"candidate_id", "source", "error": {"code", "message"},
    "complete": false}; no other row is affected. A file that cannot be read as a whole (empty, no header,
    wrong delimiter, missing column) stops the run before anything is sent.

    A quota refusal is waited out (at most --max-wait seconds per sub-batch) and the same sub-batch is
    sent again. Ctrl-C stops after the sub-batch in flight is written; --resume then continues without
    checking anyone twice or opening any request twice.

    Exit status: 0 when every row was checked and every answer searched every expected force; 8
    (incomplete search) when any answer missed a force, which wins over 3 (bad input) when any row was
    not checked; 6 when a quota wait would exceed --max-wait; 130 after Ctrl-C.

    \b
    Example:
      crossforce check-batch --profile ./dbs --in applicants.csv --out results.jsonl \\
          --purpose school-staff-vetting --legal-basis "Police Act 1997 s113B" \\
          --case-ref BATCH-2026-03 --officer DBS-4411
    """
    credential, credited = officer_credential(credential_file)
    why = resolve_why(
        profile_dir, purpose=purpose, legal_basis=legal_basis, case_ref=case_ref, officer=officer or credited
    )
    check_out_options(out_file, resume=resume, force=force)
    console = make_console(stderr=as_json)
    rows = list(read_rows(in_file))  # a whole-file error stops here, before --out is touched
    done = done_keys(out_file) if resume else set()
    tally = Tally()
    pending: list[Row] = []
    for row in rows:
        if result_key(row.record_id, row.where) in done:
            tally.already_done += 1
        else:
            pending.append(row)
    warn_rows(console, pending)
    candidates = [row.record for row in pending if row.record is not None]
    started = time.perf_counter()
    interrupted = False
    with (
        checking_client(profile_dir, role, credential) as client,
        open_results(out_file, append=resume) as out,
        deferred_interrupt() as stop,
        progress_bar(console) as bar,
    ):
        writer = ResultWriter(out=out, rows=pending, tally=tally, console=console)
        task = bar.add_task("checking candidates", total=len(candidates))
        sub_batches = client.check_batches(
            candidates,
            why,
            open_requests=not no_requests,
            batch_size=batch_size,
            max_wait_s=max_wait,
            on_wait=lambda seconds: console.print(f"quota: waiting {seconds:.1f} s"),
            sleep=stop.sleep,
        )
        try:
            done_count = 0
            for reports in sub_batches:  # lazy: the next sub-batch is sent only when asked for
                writer.answered(reports)
                done_count += len(reports)
                bar.update(task, completed=done_count)
                if stop.requested and done_count < len(candidates):
                    interrupted = True
                    break
            if not interrupted:
                writer.finish()
        except KeyboardInterrupt:
            interrupted = True
        except CrossforceError:
            summary(console, tally, out_file, time.perf_counter() - started, stopped=True)
            raise
    seconds = time.perf_counter() - started
    summary(console, tally, out_file, seconds, stopped=interrupted)
    if as_json:
        emit_json(tally.json(out_file, seconds, interrupted=interrupted))
    ctx.exit(INTERRUPTED_EXIT if interrupted else int(tally.exit_status()))


# --------------------------------------------------------------------------------------------- disclosures
