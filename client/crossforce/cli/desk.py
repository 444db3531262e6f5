"""The holding force's disclosure desk: ``desk list|show|resolve|approve|refuse|watch``.

A request carries only the tokens that matched. The desk resolves them against the force's own token
store, in the generation of the index version the request matched, which is what turns a Bloom-filter
"possible trace" into "these are our records" (or into no_match, disclosing nothing). A request whose
generation is no longer held is never called a false positive: the desk says which version is missing,
leaves the request open and exits with a non-zero status. Approval seals the chosen records to the
requester: the matcher relays ciphertext it cannot read.

One request discloses one person (issue 15): the records the strongest agreement names
(``crossforce.client.personpick``), shown with the key types that agreed and the score. When the tokens
name no one person (two people agree equally, or only a name that namesakes share) nothing is
confirmed: the request stays open (exit status 3) until the officer chooses with ``--record ID``.

Every REQUEST_ID may be a prefix of at least 6 hex characters (lists show 12), as git takes object names;
the matcher resolves it among the requests this organisation may see. ``desk list`` is in deadline order
with urgent and overdue requests marked; ``desk watch --json`` is a JSON Lines stream.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from crossforce.cli.common import json_option, open_client, profile_option, reader_options, role_option
from crossforce.cli.disclosures import reopen_notice
from crossforce.cli.personview import pick_doc, record_option, show_pick
from crossforce.cli.render import REFUSAL_CODES, emit_json, make_console, state_name
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
from crossforce.cli.status import ExitStatus
from crossforce.cli.tables import request_panel
from crossforce.client.holding import LocalResolver
from crossforce.client.personpick import AmbiguousPersonError, Outcome
from crossforce.client.sdk import Client
from crossforce.client.tokenstore import GenerationGoneError
from crossforce.crypto.sealed import DisclosurePayload
from crossforce.domain import DECIDER_ROLES, HOLDER_ROLES, DisclosureRequest, RequestState, Role
from crossforce.encoding.records import Record, payload_fields
from crossforce.errors import PreconditionError

STATE_CHOICES = tuple(s.label for s in RequestState)
"""The ``--state`` words: the domain's state labels (``open``, ``confirmed``, ``no_match``, ...)."""


@click.group(name="desk")
def desk_group() -> None:
    """The disclosure officer's desk: requests against your force, resolved against your own records.

    Each request is resolved against the records of the index version it matched, kept in your
    profile's token store; if that version is no longer held, the desk says so and leaves the request
    open (exit status 3) instead of calling a true hit a false positive.

    \b
    Examples:
      crossforce desk list --profile ./humberside --state open
      crossforce desk watch --profile ./humberside --json --duration 3600 >> desk-events.jsonl
      crossforce desk show 3f9c0d12ab34 --profile ./humberside
      crossforce desk resolve 3f9c... --profile ./humberside
      crossforce desk approve 3f9c... --profile ./humberside --officer HUM-DO-12 \\
          --summary "Conviction 2009, relevant to the role" --contact "Disclosure Unit 01482 000000"
    """


def _resolver(client: Client) -> LocalResolver:
    """The holder's resolver over the client's own connection, profile and token store (the SDK's
    ``resolve`` takes no choice of record yet)."""
    return LocalResolver(
        connection=client.connection,
        profile=client.profile,
        token_store=lambda: client.store,
        reconcile=client.reconcile,
    )


def _ensure_resolved(
    client: Client, request_id: str, *, record_id: str | None, undecided: bool = False
) -> tuple[DisclosureRequest, tuple[Record, ...]]:
    """Resolve an open request first (approval and refusal both need a confirmed one); the records are
    the one person to disclose. ``undecided``: an ambiguous request may be confirmed without a choice
    (to refuse it)."""
    req = client.get_request(request_id)
    resolver = _resolver(client)
    if req.state == RequestState.OPEN:
        res = resolver.resolve(req, record_id=record_id, undecided=undecided)
        if not res.confirmed:
            raise PreconditionError(
                f"request {req.request_id} resolved to no match: its tokens match none of your records "
                "(a Bloom-filter false positive); nothing to approve or refuse"
            )
        return res.request, res.records
    if req.state != RequestState.CONFIRMED:
        raise PreconditionError(
            f"request {req.request_id} is {state_name(req.state)}; only a confirmed request can be decided"
        )
    pick = resolver.person_pick(req)
    if record_id:
        pick = pick.choose(record_id)
    elif pick.outcome is Outcome.AMBIGUOUS and not undecided:
        raise AmbiguousPersonError(req.request_id, pick)
    return req, pick.records


@desk_group.command("list")
@profile_option
@role_option(Role.DISCLOSURE_OFFICER)
@click.option(
    "--state", "states", multiple=True, type=click.Choice(STATE_CHOICES), help="Only these states (repeat)."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help=LIMIT_HELP)
@json_option
def desk_list(
    profile_dir: Path, role: str | None, states: tuple[str, ...], limit: int | None, as_json: bool
) -> None:
    """List disclosure requests against your force, urgent first, then soonest deadline.

    Requests for an urgent purpose (safeguarding) are marked URGENT, those past their deadline
    OVERDUE. Ids are shown by their first 12 characters; any 6 or more are accepted back. With --json:
    every field, with "urgent", "overdue" and "deadline" (ISO 8601 UTC) and the full "request_id".

    \b
    Example:
      crossforce desk list --profile ./humberside --state open --state confirmed
    """
    codes = [RequestState[s.upper()] for s in states]
    with open_client(profile_dir, role, HOLDER_ROLES) as client:
        found = by_urgency(client.list_requests(as_holder=True, states=codes, limit=limit or 0))
    if as_json:
        emit_json([request_doc(r) for r in found])
        return
    console = make_console()
    if not found:
        console.print("no disclosure requests" + (f" in state {', '.join(states)}" if states else ""))
        return
    console.print(request_list_table(found, as_holder=True))
    counts = mark_counts(found)
    if counts:
        console.print(Text(counts, style="bold red"))


@desk_group.command("show")
@click.argument("request_id")
@reader_options(Role.DISCLOSURE_OFFICER)
def desk_show(request_id: str, profile_dir: Path, role: str | None, as_json: bool) -> None:
    """Show a request, the local records its tokens resolve to and the one person it would disclose
    (read only: changes no state). "local_records" in --json are that person's records.

    \b
    Example:
      crossforce desk show 3f9c0d... --profile ./humberside
    """
    with open_client(profile_dir, role, HOLDER_ROLES) as client:
        req = client.get_request(request_id)  # a prefix resolves to the one request it starts
        try:
            pick = _resolver(client).person_pick(req)
        except GenerationGoneError:
            if not as_json:
                make_console().print(request_panel(req))
            raise
    if as_json:
        emit_json(
            {
                "request": request_doc(req),
                "local_records": [payload_fields(r) for r in pick.records],
                **pick_doc(pick),
            }
        )
        return
    make_console().print(request_panel(req))
    show_pick(pick)


@desk_group.command("resolve")
@click.argument("request_id")
@reader_options(Role.DISCLOSURE_OFFICER)
@record_option
def desk_resolve(
    request_id: str, profile_dir: Path, role: str | None, as_json: bool, record_id: str | None
) -> None:
    """Resolve an open request locally: confirmed (one person's records) or no_match (false positive).

    The request's tokens are looked up in the generation of the index version it matched. If your
    token store no longer holds that version, nothing is resolved: the request stays open and the
    command exits with status 3, naming the missing version. If the tokens name no one person (two
    people agree equally, or only a name without a date), the records are listed, nothing is resolved
    and the command exits with status 3: choose one with --record ID.

    \b
    Example:
      crossforce desk resolve 3f9c0d... --profile ./humberside
      crossforce desk resolve 3f9c0d... --profile ./humberside --record HUM-000123
    """
    with open_client(profile_dir, role, HOLDER_ROLES) as client:
        req = client.get_request(request_id)
        try:
            res = _resolver(client).resolve(req, record_id=record_id)
        except AmbiguousPersonError as exc:
            if not as_json:
                show_pick(exc.pick)
            raise
    if as_json:
        emit_json(
            {
                "request": request_doc(res.request),
                "confirmed": res.confirmed,
                "record_ids": [r.record_id for r in res.records],
            }
        )
        return
    console = make_console()
    if res.confirmed:
        console.print(
            f"request {res.request.request_id}: [bold]confirmed[/], one person, {len(res.records)} local "
            "record(s): " + ", ".join(r.record_id for r in res.records)
        )
    else:
        console.print(
            f"request {res.request.request_id}: [bold]no match[/] (Bloom false positive); "
            "the requester is told no trace"
        )


@desk_group.command("approve")
@click.argument("request_id")
@profile_option
@role_option(Role.DISCLOSURE_OFFICER)
@click.option("--summary", required=True, help="What you disclose and why it is relevant.")
@click.option("--contact", required=True, help="Point of contact for the requester.")
@record_option
@click.option("--officer", required=True, help="Your collar number or staff id (logged).")
@json_option
def desk_approve(
    *,
    request_id: str,
    profile_dir: Path,
    role: str | None,
    summary: str,
    contact: str,
    record_id: str | None,
    officer: str,
    as_json: bool,
) -> None:
    """Approve a request: sign and encrypt one person's records to the requester.

    An open request is resolved first. By default the records of the one person the tokens name most
    strongly are disclosed; if they name no one person, nothing is approved (exit status 3) until you
    choose a record with --record (only records the request's tokens resolve to may be chosen).

    \b
    Example:
      crossforce desk approve 3f9c0d... --profile ./humberside --officer HUM-DO-12 \\
          --summary "Caution 2011 (theft); relevant" --contact "Disclosure Unit, 01482 000000" \\
          --record HUM-000123
    """
    with open_client(profile_dir, role, DECIDER_ROLES) as client:
        client.profile.org_keys()  # a workstation cannot sign: say so before resolving anything
        try:
            req, chosen = _ensure_resolved(client, request_id, record_id=record_id)
        except AmbiguousPersonError as exc:
            if not as_json:
                show_pick(exc.pick)
            raise
        payload = DisclosurePayload(
            summary=summary, records=tuple(payload_fields(r) for r in chosen), point_of_contact=contact
        )
        done = client.approve(req.request_id, payload, officer_id=officer)
    if as_json:
        emit_json({"request": request_doc(done), "records_disclosed": [r.record_id for r in chosen]})
        return
    make_console().print(
        f"request {done.request_id}: [bold green]approved[/] by {officer}; "
        f"{len(chosen)} record(s) of one person signed and encrypted "
        f"to {done.requester_org} (audit entry {done.log_index})"
    )


@desk_group.command("refuse")
@click.argument("request_id")
@profile_option
@role_option(Role.DISCLOSURE_OFFICER)
@click.option("--reason", required=True, type=click.Choice(tuple(REFUSAL_CODES)))
@click.option("--officer", required=True, help="Your collar number or staff id (logged).")
@json_option
def desk_refuse(
    *, request_id: str, profile_dir: Path, role: str | None, reason: str, officer: str, as_json: bool
) -> None:
    """Refuse a request with a reason (an open request is resolved first; an ambiguous one is confirmed
    without choosing anyone, and nothing is disclosed).

    \b
    Example:
      crossforce desk refuse 3f9c0d... --profile ./kent --reason legal-restriction --officer KEN-DO-7
    """
    with open_client(profile_dir, role, DECIDER_ROLES) as client:
        req, _records = _ensure_resolved(client, request_id, record_id=None, undecided=True)
        done = client.refuse(req.request_id, REFUSAL_CODES[reason], officer_id=officer)
    if as_json:
        emit_json({"request": request_doc(done)})
        return
    make_console().print(
        f"request {done.request_id}: [bold]refused[/] ({reason}) by {officer} (audit entry {done.log_index})"
    )


@desk_group.command("watch")
@profile_option
@role_option(Role.DISCLOSURE_OFFICER)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATE_CHOICES),
    help="Watch requests entering these states (repeat; default: open, i.e. new requests).",
)
@click.option(
    "--duration",
    "--timeout",
    "duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many events.")
@click.option(
    "--resolve", "auto_resolve", is_flag=True, help="Resolve each new request against the token store."
)
@json_option
def desk_watch(
    *,
    profile_dir: Path,
    role: str | None,
    states: tuple[str, ...],
    duration: float | None,
    count: int | None,
    auto_resolve: bool,
    as_json: bool,
) -> None:
    """Stream requests against your force as they open (the open backlog first).

    With --json, one JSON object per event (JSON Lines, flushed as written) for a case-management
    system: the request's fields as in `desk list --json`, plus "resolved" (confirmed, no_match,
    ambiguous or left_open) with --resolve. Without --duration or --count it runs until Ctrl-C.
    When the matcher restarts or closes the connection, the watch reopens it (a warning on stderr)
    and shows no request twice; it ends after two minutes without the matcher.

    \b
    Examples:
      crossforce desk watch --profile ./humberside --resolve
      crossforce desk watch --profile ./humberside --json --count 10 --duration 600
    """
    console = make_console()
    codes = [RequestState[s.upper()] for s in states]
    seen = 0
    left_open = 0
    with open_client(profile_dir, role, HOLDER_ROLES) as client:
        events = client.watch_requests(timeout=duration, states=codes, on_reopen=reopen_notice())
        for req in bounded(events, count=count, duration=duration):
            seen += 1
            outcome = ""
            note = ""
            if auto_resolve and req.state == RequestState.OPEN:
                try:
                    res = client.resolve(req.request_id)
                    outcome = "confirmed" if res.confirmed else "no_match"
                    note = "confirmed" if res.confirmed else "no match"
                except AmbiguousPersonError as exc:
                    left_open += 1
                    outcome = "ambiguous"
                    note = f"left open, ambiguous: {exc.pick.reason}; choose with desk approve --record"
                except GenerationGoneError as exc:
                    left_open += 1
                    outcome = "left_open"
                    versions = ", ".join(f"v{r.version}" for r in exc.missing)
                    note = f"left open: matched index {versions}, no longer held locally"
            if as_json:
                doc = request_doc(req)
                if auto_resolve:
                    doc["resolved"] = outcome
                emit_line(doc)
            else:
                console.print(watch_line(req, as_holder=True) + (f"  -> {note}" if note else ""))
    if not as_json:
        console.print(f"{seen} request(s) seen")
    if left_open:
        make_console(stderr=True).print(
            f"[bold red]{left_open} request(s) left open: their index version is not held here, or "
            "their tokens name no one person[/]"
        )
        raise click.exceptions.Exit(int(ExitStatus.BAD_INPUT))
