"""Force and vetting commands: ``publish``, ``check``, ``check-batch``, ``disclosures``.

Everything personal is turned into tokens in this process (crossforce.client.sdk); the matcher sees
tokens, the justification and ciphertext. Outputs name forces, strengths and key types only, except
``disclosures open``, which prints what a holding force chose to disclose to the caller.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from rich.panel import Panel

from crossforce.cli.common import (
    json_option,
    make_why,
    open_client,
    profile_option,
    role_option,
    why_options,
)
from crossforce.cli.render import (
    emit_json,
    force_name,
    hit_json,
    hits_table,
    key_type_names,
    make_console,
    outcome_name,
    progress_bar,
    records_table,
    request_json,
    requests_table,
    size,
    strength_name,
    warn_line,
)
from crossforce.client.sdk import DEFAULT_EXPIRY_DAYS, CheckReport
from crossforce.encoding.recordfile import load_records
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError
from crossforce.limits import DEFAULT_LIMITS
from crossforce.v1 import crossforce_pb2 as pb

MAX_ERRORS_SHOWN = 50
BATCH_SIZE = min(500, DEFAULT_LIMITS.max_batch_candidates)

# --------------------------------------------------------------------------------------------- publish


@click.command()
@profile_option
@role_option("force-system")
@click.option(
    "--records",
    "records_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The force's record file (CSV with a header row, or JSON Lines; docs/records.md).",
)
@click.option("--skip-bad", is_flag=True, help="Skip bad rows (each reported by line) instead of stopping.")
@click.option(
    "--expires-days",
    default=float(DEFAULT_EXPIRY_DAYS),
    show_default=True,
    type=float,
    help="Days until the published index expires and stops matching.",
)
@click.option("--epoch", type=int, default=None, help="Network secret epoch (default: the current one).")
@json_option
def publish(
    *,
    profile_dir: Path,
    role: str | None,
    records_file: Path,
    skip_bad: bool,
    expires_days: float,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Encode a record file into tokens, keep them in the local token store, publish the index.

    Raw records never leave this machine: only the Bloom-filter bits and a signed header do.

    \b
    Example:
      crossforce publish --profile ./humberside --records nominals.csv --skip-bad --expires-days 7
    """
    console = make_console(stderr=as_json)
    loaded = load_records(records_file, skip_bad=skip_bad)
    for err in loaded.errors[:MAX_ERRORS_SHOWN]:
        warn_line(console, f"skipped {err}")
    if len(loaded.errors) > MAX_ERRORS_SHOWN:
        warn_line(console, f"... and {len(loaded.errors) - MAX_ERRORS_SHOWN} more bad rows skipped")
    if not loaded.records:
        raise ValidationError(f"{records_file} holds no usable records")
    with open_client(profile_dir, role, ("force-system",)) as client, progress_bar(console) as bar:
        encoding = bar.add_task("encoding records into tokens", total=len(loaded.records))
        state: dict[str, Any] = {}

        def progress(done: int, total: int) -> None:
            bar.update(encoding, completed=done, total=total)
            if done >= total and "upload" not in state:
                state["upload"] = bar.add_task("building index and publishing", total=None)

        result = client.publish_records(
            loaded.records, epoch=epoch, expires_in_days=expires_days, progress=progress
        )
        if "upload" in state:
            bar.update(state["upload"], total=1, completed=1)
    doc = {
        "org": result.org,
        "epoch": result.epoch,
        "version": result.version,
        "records": result.record_count,
        "tokens": result.token_count,
        "index_bytes": result.index_bytes,
        "log_index": result.log_index,
        "seconds": round(result.seconds, 3),
        "skipped_rows": len(loaded.errors),
    }
    if as_json:
        emit_json(doc)
        return
    console.print(
        f"published [bold]{result.org}[/]: {result.record_count:,} records, {result.token_count:,} tokens, "
        f"index {size(result.index_bytes)} ({result.index_bytes:,} bytes), epoch {result.epoch}, "
        f"version {result.version}, audit entry {result.log_index}, {result.seconds:.1f} s"
        + (f"; {len(loaded.errors)} bad rows skipped" if loaded.errors else "")
    )


# --------------------------------------------------------------------------------------------- check


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
@role_option("vetting-officer")
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
@click.option(
    "--no-requests", is_flag=True, help="Only ask whether there is a trace; open no disclosure requests."
)
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
    with open_client(profile_dir, role, ("vetting-officer",)) as client:
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
@role_option("vetting-officer")
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
@click.option(
    "--no-requests", is_flag=True, help="Only ask whether there is a trace; open no disclosure requests."
)
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
    for err in loaded.errors[:MAX_ERRORS_SHOWN]:
        warn_line(console, f"skipped {err}")
    if len(loaded.errors) > MAX_ERRORS_SHOWN:
        warn_line(console, f"... and {len(loaded.errors) - MAX_ERRORS_SHOWN} more bad rows skipped")
    candidates = loaded.records
    why = make_why(purpose, legal_basis, case_ref, officer)
    started = time.perf_counter()
    hits = requests = 0
    with (
        open_client(profile_dir, role, ("vetting-officer",)) as client,
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


@click.group(name="disclosures")
def disclosures_group() -> None:
    """The requester's side: what became of the disclosure requests your checks opened.

    \b
    Example:
      crossforce disclosures list --profile ./dbs
      crossforce disclosures open 3f9c... --profile ./dbs
    """


@disclosures_group.command("list")
@profile_option
@role_option("vetting-officer")
@click.option("--case-ref", default=None, help="Only requests opened under this case reference.")
@json_option
def disclosures_list(profile_dir: Path, role: str | None, case_ref: str | None, as_json: bool) -> None:
    """List requests your organisation opened: no trace, pending, approved or refused.

    \b
    Example:
      crossforce disclosures list --profile ./dbs --case-ref APP-2026-0001
    """
    with open_client(profile_dir, role, ("vetting-officer", "force-system")) as client:
        found = client.list_requests(as_holder=False)
    if case_ref is not None:
        found = [r for r in found if r.justification.case_reference == case_ref]
    if as_json:
        emit_json([request_json(r) for r in found])
        return
    console = make_console()
    if not found:
        console.print("no disclosure requests")
        return
    console.print(requests_table(found, as_holder=False))
    counts: dict[str, int] = {}
    for r in found:
        key = outcome_name(r).split(":")[0]
        counts[key] = counts.get(key, 0) + 1
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


@disclosures_group.command("open")
@click.argument("request_id")
@profile_option
@role_option("vetting-officer")
@click.option(
    "--save",
    "save_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the verified payload as JSON to this file (mode 0600).",
)
@json_option
def disclosures_open(
    request_id: str, profile_dir: Path, role: str | None, save_file: Path | None, as_json: bool
) -> None:
    """Fetch an approved disclosure, decrypt it, verify the holder's signature, and print it.

    \b
    Example:
      crossforce disclosures open 3f9c0d... --profile ./dbs --save disclosure.json
    """
    with open_client(profile_dir, role, ("vetting-officer", "force-system")) as client:
        req = client.get_request(request_id)
        if req.state not in (pb.APPROVED, pb.DELIVERED):
            raise ValidationError(
                f"request {request_id} is {outcome_name(req)}: there is no disclosure to open"
            )
        payload = client.fetch_disclosure(request_id)
    doc = {
        "request_id": request_id,
        "holder_org": req.holder_org,
        "summary": payload.summary,
        "point_of_contact": payload.point_of_contact,
        "records": [dict(r) for r in payload.records],
        "verified": True,
    }
    if save_file is not None:
        from crossforce.fsutil import atomic_write_private

        atomic_write_private(save_file, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())
    if as_json:
        emit_json(doc)
        return
    console = make_console()
    console.print(
        Panel(
            f"{payload.summary}\n\n[bold]point of contact:[/] {payload.point_of_contact}",
            title=f"disclosure from {force_name(req.holder_org)} ({req.holder_org})",
            title_align="left",
            subtitle="signature verified; decrypted locally",
            subtitle_align="right",
        )
    )
    if payload.records:
        console.print(records_table(payload.records, title="disclosed records"))
