"""``crossforce disclosures``: the requester's side of the disclosure requests its checks opened.

``open`` prints what a holding force chose to disclose to the caller, after verifying the holder's
signature and decrypting locally. ``watch`` streams each decision as it is made (JSON Lines with
``--json``) for a case-management system. Every REQUEST_ID may be a prefix of at least 6 hex characters
(lists show 12); the matcher resolves it among the requests this organisation opened.
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
from crossforce.cli.render import emit_json, force_name, make_console, outcome_name, warn_line
from crossforce.cli.requestlist import (
    LIMIT_HELP,
    bounded,
    by_urgency,
    emit_line,
    mark_counts,
    request_doc,
    request_list_table,
    watch_line,
)
from crossforce.cli.tables import records_table, request_panel
from crossforce.client.desk import OnReopen
from crossforce.domain import REQUESTER_ROLES, RequestState, Role
from crossforce.errors import CrossforceError, ValidationError


def reopen_notice() -> OnReopen:
    """Say on stderr (never in the JSON Lines on stdout) that the watch lost its stream and reopens it."""
    console = make_console(stderr=True)

    def notice(lost: CrossforceError, pause_s: float) -> None:
        warn_line(console, f"the watch lost its stream ({lost}); reopening in {pause_s:.1f} s")

    return notice


@click.group(name="disclosures")
def disclosures_group() -> None:
    """The requester's side: what became of the disclosure requests your checks opened.

    \b
    Example:
      crossforce disclosures list --profile ./dbs
      crossforce disclosures watch --profile ./dbs --json >> decisions.jsonl
      crossforce disclosures open 3f9c0d12ab34 --profile ./dbs
    """


@disclosures_group.command("list")
@profile_option
@role_option(Role.VETTING_OFFICER)
@click.option("--case-ref", default=None, help="Only requests opened under this case reference.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help=LIMIT_HELP)
@json_option
def disclosures_list(
    profile_dir: Path, role: str | None, case_ref: str | None, limit: int | None, as_json: bool
) -> None:
    """List requests your organisation opened, urgent first, then soonest deadline: pending, approved
    or refused.

    Urgent purposes and requests past their deadline are marked; --json gives "urgent", "overdue" and
    "deadline" (ISO 8601 UTC) for each.

    \b
    Example:
      crossforce disclosures list --profile ./dbs --case-ref APP-2026-0001
    """
    with open_client(profile_dir, role, REQUESTER_ROLES) as client:
        found = by_urgency(client.list_requests(as_holder=False, limit=limit or 0))
    if case_ref is not None:
        found = [r for r in found if r.justification.case_reference == case_ref]
    if as_json:
        emit_json([request_doc(r) for r in found])
        return
    console = make_console()
    if not found:
        console.print("no disclosure requests")
        return
    console.print(request_list_table(found, as_holder=False))
    counts: dict[str, int] = {}
    for r in found:
        key = outcome_name(r).split(":")[0]
        counts[key] = counts.get(key, 0) + 1
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    marked = mark_counts(found)
    if marked:
        console.print(f"[bold red]{marked}[/]")


@disclosures_group.command("show")
@click.argument("request_id")
@profile_option
@role_option(Role.VETTING_OFFICER)
@json_option
def disclosures_show(request_id: str, profile_dir: Path, role: str | None, as_json: bool) -> None:
    """Show one request your organisation opened: its outcome, deadline and marks (changes nothing).

    \b
    Example:
      crossforce disclosures show 3f9c0d12ab34 --profile ./dbs
    """
    with open_client(profile_dir, role, REQUESTER_ROLES) as client:
        req = client.get_request(request_id)
    if as_json:
        emit_json(request_doc(req))
        return
    make_console().print(request_panel(req))
    make_console().print(f"outcome: [bold]{outcome_name(req)}[/]   holder: {force_name(req.holder_org)}")


@disclosures_group.command("watch")
@profile_option
@role_option(Role.VETTING_OFFICER)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(tuple(s.label for s in RequestState)),
    help="Only requests entering these states (repeat; default: every state).",
)
@click.option("--case-ref", default=None, help="Only requests opened under this case reference.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many events.")
@json_option
def disclosures_watch(
    *,
    profile_dir: Path,
    role: str | None,
    states: tuple[str, ...],
    case_ref: str | None,
    duration: float | None,
    count: int | None,
    as_json: bool,
) -> None:
    """Stream the requests your organisation opened as their state changes (current states first).

    Each event is the request as `disclosures list --json` shows it; with --json, one JSON object per
    line, flushed as written (JSON Lines), for a case-management system: "state" and "outcome" say what
    was decided (approved, refused: <reason>, no trace, ...). A request that was approved can then be
    fetched with `disclosures open`. Holders' matched tokens are never sent to you. A stream the matcher
    closes (restart, connection age) is reopened, with a warning on stderr; no change is shown twice.

    \b
    Examples:
      crossforce disclosures watch --profile ./dbs --json >> decisions.jsonl
      crossforce disclosures watch --profile ./dbs --state approved --state refused --count 1
    """
    codes = [RequestState[s.upper()] for s in states]
    console = make_console()
    seen = 0
    with open_client(profile_dir, role, REQUESTER_ROLES) as client:
        events = client.watch_requests(
            timeout=duration, as_holder=False, states=codes, on_reopen=reopen_notice()
        )
        wanted = (r for r in events if case_ref is None or r.justification.case_reference == case_ref)
        for req in bounded(wanted, count=count, duration=duration):
            seen += 1
            if as_json:
                emit_line(request_doc(req))
            else:
                console.print(watch_line(req, as_holder=False))
    if not as_json:
        console.print(f"{seen} change(s) seen")


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
@click.option(
    "--allow-unbound",
    is_flag=True,
    help="Also open a disclosure sealed before recipient binding (approved before this release); "
    "it is reported as not recipient-bound.",
)
@json_option
def disclosures_open(
    request_id: str,
    profile_dir: Path,
    role: str | None,
    save_file: Path | None,
    allow_unbound: bool,
    as_json: bool,
) -> None:
    """Fetch an approved disclosure, decrypt it, verify the holder's signature, and print it.

    Before anything is shown, the holder's signed statement must name this organisation's own box key
    and registered key version (a disclosure read and re-sealed by someone else is refused), and the
    holder's approval event in the audit log, proved included, must carry the digest of the ciphertext
    fetched. Failure of any check exits with status 7 (verification failed) and opens nothing.

    \b
    Example:
      crossforce disclosures open 3f9c0d... --profile ./dbs --save disclosure.json
    """
    with open_client(profile_dir, role, REQUESTER_ROLES) as client:
        req = client.get_request(request_id)
        if req.state not in (RequestState.APPROVED, RequestState.DELIVERED):
            raise ValidationError(
                f"request {req.request_id} is {outcome_name(req)}: there is no disclosure to open"
            )
        opened = client.open_disclosure(req.request_id, allow_unbound=allow_unbound)
    payload = opened.payload
    doc = {
        "request_id": req.request_id,
        "holder_org": req.holder_org,
        "summary": payload.summary,
        "point_of_contact": payload.point_of_contact,
        "records": [dict(r) for r in payload.records],
        "verified": True,
        "recipient_bound": opened.recipient_bound,
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
            subtitle="signature verified; decrypted locally"
            + ("" if opened.recipient_bound else "; NOT recipient-bound (sealed before this release)"),
            subtitle_align="right",
        )
    )
    if payload.records:
        console.print(records_table(payload.records, title="disclosed records"))
