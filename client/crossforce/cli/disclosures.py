"""``crossforce disclosures``: the requester's side of the disclosure requests its checks opened.

``open`` prints what a holding force chose to disclose to the caller, after verifying the holder's
signature and decrypting locally.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.panel import Panel

from crossforce.cli.common import (
    json_option,
    open_client,
    profile_option,
    role_option,
)
from crossforce.cli.render import emit_json, force_name, make_console, outcome_name
from crossforce.cli.tables import records_table, request_json, requests_table
from crossforce.domain import REQUESTER_ROLES, RequestState, Role
from crossforce.errors import ValidationError


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
@role_option(Role.VETTING_OFFICER)
@click.option("--case-ref", default=None, help="Only requests opened under this case reference.")
@json_option
def disclosures_list(profile_dir: Path, role: str | None, case_ref: str | None, as_json: bool) -> None:
    """List requests your organisation opened: no trace, pending, approved or refused.

    \b
    Example:
      crossforce disclosures list --profile ./dbs --case-ref APP-2026-0001
    """
    with open_client(profile_dir, role, REQUESTER_ROLES) as client:
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
@role_option(Role.VETTING_OFFICER)
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
    with open_client(profile_dir, role, REQUESTER_ROLES) as client:
        req = client.get_request(request_id)
        if req.state not in (RequestState.APPROVED, RequestState.DELIVERED):
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
