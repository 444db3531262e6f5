"""The auditor's commands: ``audit head|verify|inclusion|report`` over the matcher's Merkle log.

``audit verify`` does not trust the matcher's proofs alone: it recomputes the root itself from every
leaf hash and checks it against a freshly fetched signed head and against the head this profile kept
last time (a rewritten history cannot produce both). The leaves it verified are kept in the profile
(``crossforce.client.verifiedlog``), so the next run fetches only the entries added since, checks the
matcher's consistency proof from the head verified then, and extends the kept frontier to the new root;
``--full`` starts again from zero. ``audit report`` reads its events from that verified copy. A saved
log is verified offline against the key from the operator's published file (``--log-key-file``), never
the key the saved file names (RFC 9162 2.1.1 hashing throughout). The checks themselves are the pure
``crossforce.auditlog.verify``; this module fetches, loads and prints. ``status`` and the operator's
``report`` are in ``crossforce.cli.oversight``; the witness quorum lines are ``crossforce.cli.witness``.
It runs over 400 lines: the four commands share their key choice, progress bar and printing helpers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

import click

from crossforce.auditlog.events import parse_event
from crossforce.auditlog.verify import LogSnapshot, filter_events, verify_snapshot
from crossforce.cli.auditcsv import CSV_COLUMNS, events_csv
from crossforce.cli.common import (
    json_option,
    open_client,
    profile_option,
    reader_options,
    role_option,
    server_part,
)
from crossforce.cli.logkeys import log_key_file_option, trusted_log_key
from crossforce.cli.monitor import audit_monitor
from crossforce.cli.render import emit_json, make_console, progress_bar, when
from crossforce.cli.tables import event_json, events_table
from crossforce.cli.witness import print_witnessed, witnessed_doc
from crossforce.client.auditing import LogVerification
from crossforce.client.sdk import Client
from crossforce.clock import DAY_MS
from crossforce.domain import Role
from crossforce.errors import ValidationError
from crossforce.fsutil import atomic_write_private, read_limited

MAX_LOG_FILE_BYTES = 4 * 1024 * 1024 * 1024
AUDIT_ROLES = (Role.AUDITOR, Role.OPERATOR, Role.VETTING_OFFICER, Role.DISCLOSURE_OFFICER, Role.FORCE_SYSTEM)
"""Which of a profile's certificates reads the log, in order of preference: an auditor reads every event."""
PROGRESS_FROM_ENTRIES = 5000
"""Logs longer than this get a progress bar while they are fetched (shorter ones take under a second)."""
PROGRESS_EVERY = 1000
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"]


def verify_live(client: Client, *, full: bool = False, progress: bool = False) -> LogVerification:
    """Verify the live log incrementally (``Client.verify_log``), with a progress bar on stderr when many
    entries are to be fetched."""
    if not progress:
        return client.verify_log(full=full)
    with contextlib.ExitStack() as stack:
        bar: list[tuple[Any, Any]] = []

        def update(fetched: int, total: int) -> None:
            if total <= PROGRESS_FROM_ENTRIES or fetched % PROGRESS_EVERY:
                return
            if not bar:
                shown = stack.enter_context(progress_bar(make_console(stderr=True), transient=True))
                bar.append((shown, shown.add_task("fetching new log entries", total=total)))
            shown, task = bar[0]
            shown.update(task, completed=fetched)

        return client.verify_log(full=full, progress=update)
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow exceptions


@click.group(name="audit", commands=[audit_monitor])  # monitor: crossforce.cli.monitor
def audit_group() -> None:
    """The matcher's append-only Merkle audit log: signed heads, inclusion, whole-log verification.

    \b
    Example:
      crossforce audit verify --profile ./dbs --save log.json
      crossforce audit verify --offline log.json --log-key-file log-key.pub
      crossforce audit report --profile ./dbs --case-ref APP-2026-0001 --format csv
    """


@audit_group.command("head")
@reader_options("auditor, else any")
def audit_head(profile_dir: Path, role: str | None, as_json: bool) -> None:
    """Fetch the signed tree head, verify it and its consistency with the head this profile kept.

    \b
    Example:
      crossforce audit head --profile ./humberside
    """
    with open_client(profile_dir, role, AUDIT_ROLES) as client:
        previous = client.last_head()
        head = client.tree_head()
        key = client.log_key()
    doc = {
        "tree_size": head.head.tree_size,
        "timestamp_ms": head.head.timestamp_ms,
        "root_hash": head.head.root_hash.hex(),
        "signature": head.signature.hex(),
        "log_key": key.hex(),
        "previous_tree_size": previous.head.tree_size if previous else None,
        "consistent_with_previous": True,
    }
    if as_json:
        emit_json(doc)
        return
    make_console().print(
        f"tree head: {head.head.tree_size} entries at {when(head.head.timestamp_ms)} UTC\n"
        f"root:      {head.head.root_hash.hex()}\n"
        f"signed by log key {key.hex()} [green](signature verified)[/]\n"
        + (
            f"consistent with the head kept earlier ({previous.head.tree_size} entries) "
            "[green](proof verified)[/]"
            if previous
            else "no earlier head kept: this one is now pinned (trust on first use)"
        )
    )


@audit_group.command("verify")
@click.option(
    "--profile",
    "profile_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CROSSFORCE_PROFILE",
    help="Fetch and verify the live log with this profile (only entries added since its last run).",
)
@role_option("auditor, else any")
@click.option(
    "--full",
    is_flag=True,
    help="Fetch and verify every entry again, not only those added since the last run.",
)
@click.option(
    "--save",
    "save_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the verified log (head, leaf hashes, readable events) to this file.",
)
@click.option(
    "--offline",
    "offline_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Verify a log saved with --save instead of fetching one (needs the operator's log key).",
)
@log_key_file_option
@click.option("--log-key", help="The matcher's log public key (hex) to verify --offline or --data against.")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Verify a matcher's data folder directly (operators): every stored event, leaf and signed head.",
)
@json_option
def audit_verify(
    *,
    profile_dir: Path | None,
    role: str | None,
    full: bool,
    save_file: Path | None,
    offline_file: Path | None,
    log_key_file: Path | None,
    log_key: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Recompute the log's root from every leaf and check it against signed heads, old and new.

    The leaves verified are kept in the profile: the next run fetches only the entries added since,
    checks the matcher's consistency proof from the head verified then, and recomputes the new root from
    the kept frontier and the new leaves. A saved log is checked against the key in the operator's
    published file (--log-key-file), never against the key the saved file names.

    \b
    Example:
      crossforce audit verify --profile ./dbs --save log.json
      crossforce audit verify --profile ./dbs --full
      crossforce audit verify --offline log.json --log-key-file log-key.pub
    """
    if data_dir is not None:
        if log_key_file is not None and log_key_file.resolve().is_relative_to(data_dir.resolve()):
            raise ValidationError(
                f"{log_key_file} is inside the folder being verified: give the copy of log-key.pub you "
                "published or pinned, not one an intruder could have rewritten with the data"
            )
        key = trusted_log_key(
            log_key=log_key, log_key_file=log_key_file, profile_dir=profile_dir, what="--data"
        )
        _verify_data_dir(data_dir, key, as_json=as_json)
        return
    if offline_file is not None:
        key = trusted_log_key(
            log_key=log_key, log_key_file=log_key_file, profile_dir=profile_dir, what="--offline"
        )
        snap = LogSnapshot.from_json(read_limited(offline_file, MAX_LOG_FILE_BYTES))
        proved = verify_snapshot(snap, key)
        doc: dict[str, Any] = {"verified": True, "tree_size": snap.head.head.tree_size}
        doc["root_hash"] = snap.head.head.root_hash.hex()
    else:
        if profile_dir is None:
            raise ValidationError("give --profile to verify the live log, or --offline FILE")
        if log_key or log_key_file is not None:
            raise ValidationError(
                "--log-key and --log-key-file go with --offline or --data; a live profile uses the key it "
                "pinned (pin the published one with `crossforce org pin-log-key`)"
            )
        with open_client(profile_dir, role, AUDIT_ROLES) as client:
            result = verify_live(client, full=full, progress=not as_json)
            proved = list(result.proved)
            if save_file is not None:
                atomic_write_private(save_file, client.verified_log().to_json().encode())
                proved.append(f"log saved to {save_file}")
        doc = {
            "verified": True,
            "tree_size": result.head.head.tree_size,
            "root_hash": result.head.head.root_hash.hex(),
            "fetched": result.fetched,
            "verified_before": result.verified_before,
            "full": result.full,
            "witnessed": witnessed_doc(result.witnessed),
        }
    doc["proved"] = proved
    if as_json:
        emit_json(doc)
        return
    console = make_console()
    line = f"[bold green]VERIFIED[/] audit log of {doc['tree_size']} entries"
    if "fetched" in doc:
        line += (
            f" (fetched {doc['fetched']} new entries; {doc['verified_before']} verified earlier, not fetched)"
            if doc["verified_before"]
            else f" (fetched all {doc['fetched']} entries)"
        )
    console.print(line)
    for item in proved:
        console.print(f"  [green]✔[/] {item}")
    print_witnessed(console, doc)


def _verify_data_dir(data_dir: Path, log_key: bytes, *, as_json: bool) -> None:
    """Check a matcher's stored log against its signed heads without starting the matcher."""
    server = server_part()
    head = server.verify_data_dir(data_dir, log_key)
    size = head.head.tree_size if head else 0
    if as_json:
        emit_json(
            {"verified": True, "tree_size": size, "root_hash": head.head.root_hash.hex() if head else ""}
        )
        return
    make_console().print(
        f"[bold green]VERIFIED[/] stored audit log of {size} events in {data_dir}: every event hashes to its "
        "leaf and every stored signed head matches the leaves"
    )


@audit_group.command("inclusion")
@click.argument("leaf_indexes", nargs=-1, type=int)
@profile_option
@role_option("auditor, else any")
@click.option(
    "--request", "request_id", default=None, help="Also check the latest logged transition of this request."
)
@json_option
def audit_inclusion(
    leaf_indexes: tuple[int, ...], profile_dir: Path, role: str | None, request_id: str | None, as_json: bool
) -> None:
    """Prove that events are in the log under the latest signed head (audit paths verified locally).

    \b
    Example:
      crossforce audit inclusion 0 17 42 --profile ./dbs
      crossforce audit inclusion --request 3f9c0d... --profile ./dbs
    """
    wanted = list(leaf_indexes)
    rows: list[dict[str, Any]] = []
    with open_client(profile_dir, role, AUDIT_ROLES) as client:
        if request_id:
            wanted.append(int(client.get_request(request_id).log_index))
        if not wanted:
            raise ValidationError("give one or more leaf indexes, or --request ID")
        for i in wanted:
            proof = client.inclusion(i)
            event = parse_event(bytes(proof.entry)) if proof.entry else None
            rows.append(
                {
                    "leaf_index": i,
                    "tree_size": int(proof.tree_size),
                    "proof_hashes": len(proof.hashes),
                    "included": True,
                    "event": event_json(i, event) if event else None,
                }
            )
    if as_json:
        emit_json(rows)
        return
    console = make_console()
    for r in rows:
        what = ""
        if r["event"]:
            what = f": {r['event']['kind']} by {r['event']['actor_org']}/{r['event']['actor_role']}"
        console.print(
            f"[green]✔[/] entry {r['leaf_index']} is included in the signed log of {r['tree_size']} entries "
            f"({r['proof_hashes']} proof hashes){what}"
        )


def _instant(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return int(aware.timestamp() * 1000)


REPORT_FORMATS = ("table", "json", "csv")


@audit_group.command("report")
@profile_option
@role_option("auditor, else any")
@click.option("--org", default=None, help="Only events that concern this organisation.")
@click.option("--officer", default=None, help="Only events by this officer id.")
@click.option("--purpose", default=None)
@click.option("--case-ref", default=None, help="Only events under this case reference.")
@click.option("--request", "request_id", default=None, help="Only events about this disclosure request.")
@click.option("--since", type=click.DateTime(DATE_FORMATS), default=None, help="From this UTC date/time.")
@click.option("--until", type=click.DateTime(DATE_FORMATS), default=None, help="Up to this UTC date/time.")
@click.option(
    "--format",
    "out_format",
    type=click.Choice(REPORT_FORMATS),
    default=None,
    help="table (default), json, or csv (a header row, then: " + ",".join(CSV_COLUMNS) + ").",
)
@click.option("--full", is_flag=True, help="Fetch and verify every entry again before reporting.")
@json_option
def audit_report(
    *,
    profile_dir: Path,
    role: str | None,
    org: str | None,
    officer: str | None,
    purpose: str | None,
    case_ref: str | None,
    request_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    out_format: str | None,
    full: bool,
    as_json: bool,
) -> None:
    """Who checked this case reference, and why? The log's events you may read, filtered.

    The log is verified first, fetching only the entries added since the profile last verified it
    (consistency with the head verified then, root recomputed); the events come from the verified copy.
    --json is short for --format json. CSV text cells that start with = + - @ get a leading ' so a
    spreadsheet never runs them.

    \b
    Example:
      crossforce audit report --profile ./dbs --case-ref APP-2026-0001
      crossforce audit report --profile ./inspectorate --org kent --since 2026-01-01 --format csv > kent.csv
    """
    if as_json and out_format not in (None, "json"):
        raise ValidationError(f"--json and --format {out_format} disagree: give one")
    fmt = "json" if as_json else (out_format or "table")
    with open_client(profile_dir, role, AUDIT_ROLES) as client:
        result = verify_live(client, full=full, progress=fmt == "table")
        snap = client.verified_log()
    until_ms = _instant(until)
    if until is not None and until_ms is not None and (until.hour, until.minute, until.second) == (0, 0, 0):
        until_ms += DAY_MS - 1  # a bare date means the whole day
    rows = filter_events(
        snap.events(),
        org=org,
        officer=officer,
        purpose=purpose,
        case_ref=case_ref,
        since_ms=_instant(since),
        until_ms=until_ms,
        request_id=request_id,
    )
    if fmt == "json":
        emit_json([event_json(i, e) for i, e in rows])
        return
    if fmt == "csv":
        click.echo(events_csv(rows), nl=False)
        return
    console = make_console()
    readable = sum(1 for e in snap.entries if e)
    console.print(
        f"audit log verified: {snap.head.head.tree_size} entries ({result.fetched} fetched now), "
        f"{readable} readable by {client.profile.org}; "
        f"{len(rows)} match the filter"
    )
    if rows:
        console.print(events_table(rows))
