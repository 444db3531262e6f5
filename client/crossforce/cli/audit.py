"""Oversight commands: ``audit head|verify|inclusion|report``, ``status`` and the operator's ``report``.

``audit verify`` does not trust the matcher's proofs alone: it fetches every leaf hash, recomputes the
root itself, checks it against a freshly fetched signed head and against the head this profile kept
last time (a rewritten history cannot produce both), and can save the log so anyone holding the log
key can repeat the check offline (RFC 9162 2.1.1 hashing throughout).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import Event, decode_event
from crossforce.cli.common import (
    json_option,
    load_profile,
    open_client,
    pick_role,
    profile_option,
    role_option,
)
from crossforce.cli.render import (
    emit_json,
    event_json,
    events_table,
    make_console,
    outcome_name,
    progress_bar,
    status_json,
    status_table,
    when,
)
from crossforce.client.sdk import Client
from crossforce.errors import ValidationError, VerificationError
from crossforce.fsutil import atomic_write_private, read_limited

LOG_FILE_FORMAT = "crossforce-audit-log/1"
MAX_LOG_FILE_BYTES = 4 * 1024 * 1024 * 1024
AUDIT_ROLES = ("auditor", "operator", "vetting-officer", "disclosure-officer", "force-system")
ANY_ROLES = ("force-system", "vetting-officer", "disclosure-officer", "auditor", "operator")


@dataclass
class LogSnapshot:
    """A whole log as one caller could read it: every leaf hash, the event bytes it may see, a signed head."""

    head: treehead.SignedTreeHead
    log_key: bytes
    leaf_hashes: list[bytes]
    entries: list[bytes]
    """Event bytes per leaf; empty where the caller may not read the event."""
    previous: treehead.SignedTreeHead | None = None
    checks: list[str] = field(default_factory=list)

    def events(self) -> list[tuple[int, Event]]:
        return [(i, decode_event(e)) for i, e in enumerate(self.entries) if e]

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "format": LOG_FILE_FORMAT,
                    "log_key": self.log_key.hex(),
                    "tree_head": {
                        "tree_size": self.head.head.tree_size,
                        "timestamp_ms": self.head.head.timestamp_ms,
                        "root_hash": self.head.head.root_hash.hex(),
                        "signature": self.head.signature.hex(),
                    },
                    "entries": [
                        {"index": i, "leaf_hash": h.hex(), "entry": e.hex()}
                        for i, (h, e) in enumerate(zip(self.leaf_hashes, self.entries, strict=True))
                    ],
                },
                indent=1,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: bytes) -> LogSnapshot:
        try:
            doc = json.loads(text)
            if doc.get("format") != LOG_FILE_FORMAT:
                raise ValidationError(f"not a saved audit log (format must be {LOG_FILE_FORMAT})")
            th = doc["tree_head"]
            head = treehead.SignedTreeHead(
                head=treehead.TreeHead(
                    tree_size=int(th["tree_size"]),
                    timestamp_ms=int(th["timestamp_ms"]),
                    root_hash=bytes.fromhex(th["root_hash"]),
                ),
                signature=bytes.fromhex(th["signature"]),
            )
            rows = doc["entries"]
            if [int(r["index"]) for r in rows] != list(range(len(rows))):
                raise ValidationError("saved log entries are not numbered 0..n-1 in order")
            return cls(
                head=head,
                log_key=bytes.fromhex(doc["log_key"]),
                leaf_hashes=[bytes.fromhex(r["leaf_hash"]) for r in rows],
                entries=[bytes.fromhex(r["entry"]) for r in rows],
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(f"saved audit log is malformed ({exc.__class__.__name__}: {exc})") from None


def verify_snapshot(snap: LogSnapshot, log_key: bytes) -> list[str]:
    """Check a snapshot from first principles; returns what was proved, raises VerificationError."""
    proved: list[str] = []
    if snap.log_key != log_key:
        raise VerificationError("the log was signed by a different log key than the one you trust")
    treehead.verify_tree_head(snap.head, log_key)
    proved.append(
        f"tree head for {snap.head.head.tree_size} entries is signed by log key {log_key.hex()[:16]}..."
    )
    if len(snap.leaf_hashes) != snap.head.head.tree_size:
        raise VerificationError(
            f"the head covers {snap.head.head.tree_size} entries but {len(snap.leaf_hashes)} were supplied"
        )
    readable = 0
    for i, (leaf, entry) in enumerate(zip(snap.leaf_hashes, snap.entries, strict=True)):
        if entry:
            if merkle.leaf_hash(entry) != leaf:
                raise VerificationError(f"entry {i} does not hash to its leaf")
            decode_event(entry)
            readable += 1
    proved.append(f"{readable} readable events hash to their leaves and decode canonically")
    root = merkle.root_from_leaf_hashes(snap.leaf_hashes)
    if root != snap.head.head.root_hash:
        raise VerificationError("the leaves do not hash to the signed root: the log was altered")
    proved.append(f"root recomputed from all {len(snap.leaf_hashes)} leaf hashes equals the signed root")
    if snap.previous is not None:
        size = snap.previous.head.tree_size
        if size > len(snap.leaf_hashes):
            raise VerificationError(
                f"the log shrank from {size} to {len(snap.leaf_hashes)} entries since last kept"
            )
        if merkle.root_from_leaf_hashes(snap.leaf_hashes[:size]) != snap.previous.head.root_hash:
            raise VerificationError(
                f"the first {size} entries no longer match the head you kept: history was rewritten"
            )
        proved.append(f"the first {size} leaves still hash to the head kept earlier (append-only since then)")
    return proved


def fetch_snapshot(client: Client, *, progress: bool = False) -> LogSnapshot:
    """Fetch the signed head (checked against the kept one) and every leaf hash under it."""
    previous = client.last_head()
    head = client.tree_head()  # signature and consistency proof from the kept head, then kept
    size = head.head.tree_size
    leaves: list[bytes] = []
    entries: list[bytes] = []
    console = make_console(stderr=True)

    def pull(update: Any = None) -> None:
        for e in client.entries(0, size):
            if e.index != len(leaves):
                raise VerificationError(
                    f"the matcher returned entry {e.index} where {len(leaves)} was expected"
                )
            leaves.append(bytes(e.leaf_hash))
            entries.append(bytes(e.entry))
            if update is not None and len(leaves) % 1000 == 0:
                update(len(leaves))

    if progress and size > 5000:
        with progress_bar(console, transient=True) as bar:
            task = bar.add_task("fetching the log", total=size)
            pull(lambda n: bar.update(task, completed=n))
    else:
        pull()
    return LogSnapshot(
        head=head, log_key=client.log_key(), leaf_hashes=leaves, entries=entries, previous=previous
    )


@click.group(name="audit")
def audit_group() -> None:
    """The matcher's append-only Merkle audit log: signed heads, inclusion, whole-log verification.

    \b
    Example:
      crossforce audit verify --profile ./dbs --save log.json
      crossforce audit verify --offline log.json --log-key 5c1e...
      crossforce audit report --profile ./dbs --case-ref APP-2026-0001
    """


@audit_group.command("head")
@profile_option
@role_option("auditor, else any")
@json_option
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
    help="Fetch and verify the live log with this profile.",
)
@role_option("auditor, else any")
@click.option(
    "--save",
    "save_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the fetched log (heads, leaf hashes, readable events) to this file.",
)
@click.option(
    "--offline",
    "offline_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Verify a log saved with --save instead of fetching one.",
)
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
    save_file: Path | None,
    offline_file: Path | None,
    log_key: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Recompute the log's root from every leaf and check it against signed heads, old and new.

    \b
    Example:
      crossforce audit verify --profile ./dbs --save log.json
      crossforce audit verify --offline log.json --log-key "$(jq -r .log_key log.json)"
    """
    if data_dir is not None:
        _verify_data_dir(data_dir, log_key, as_json=as_json)
        return
    if offline_file is not None:
        snap = LogSnapshot.from_json(read_limited(offline_file, MAX_LOG_FILE_BYTES))
        if log_key:
            try:
                key = bytes.fromhex(log_key)
            except ValueError:
                raise ValidationError("--log-key must be hex") from None
        elif profile_dir is not None:
            key = bytes.fromhex(load_profile(profile_dir).state().get("log_key", ""))
        else:
            raise ValidationError("--offline needs --log-key HEX (or a --profile that pinned the log key)")
        proved = verify_snapshot(snap, key)
    else:
        if profile_dir is None:
            raise ValidationError("give --profile to verify the live log, or --offline FILE")
        with open_client(profile_dir, role, AUDIT_ROLES) as client:
            snap = fetch_snapshot(client, progress=not as_json)
            proved = verify_snapshot(snap, client.log_key())
        if save_file is not None:
            atomic_write_private(save_file, snap.to_json().encode())
            proved.append(f"log saved to {save_file}")
    if as_json:
        emit_json(
            {
                "verified": True,
                "tree_size": snap.head.head.tree_size,
                "root_hash": snap.head.head.root_hash.hex(),
                "proved": proved,
            }
        )
        return
    console = make_console()
    console.print(f"[bold green]VERIFIED[/] audit log of {snap.head.head.tree_size} entries")
    for line in proved:
        console.print(f"  [green]✔[/] {line}")


def _verify_data_dir(data_dir: Path, log_key: str | None, *, as_json: bool) -> None:
    """Check a matcher's stored log against its signed heads without starting the matcher."""
    from crossforce.server.audit import verify_stored_log
    from crossforce.server.storage import SQLiteStorage

    if not log_key:
        raise ValidationError(
            "--data needs --log-key HEX: the log public key you pinned, not one read from the data"
        )
    try:
        key = bytes.fromhex(log_key)
    except ValueError:
        raise ValidationError("--log-key must be hex") from None
    storage = SQLiteStorage(data_dir)
    try:
        head = verify_stored_log(storage, key)
    finally:
        storage.close()
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
            event = decode_event(bytes(proof.entry)) if proof.entry else None
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


def filter_events(
    events: Sequence[tuple[int, Event]],
    *,
    org: str | None = None,
    officer: str | None = None,
    purpose: str | None = None,
    case_ref: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    request_id: str | None = None,
) -> list[tuple[int, Event]]:
    # Disclosure transitions carry no case reference; they belong to it through the check that opened them.
    case_requests: set[str] = set()
    if case_ref:
        for _i, e in events:
            if e.fields.get("case_reference") == case_ref:
                case_requests.update(r for r in e.fields.get("requests", "").split(",") if r)
    out = []
    for i, e in events:
        f = e.fields
        if org and org not in e.concerns():
            continue
        if officer and f.get("officer_id") != officer:
            continue
        if purpose and f.get("purpose") != purpose:
            continue
        if case_ref and f.get("case_reference") != case_ref and f.get("request_id") not in case_requests:
            continue
        if request_id and request_id not in (f.get("request_id"), *f.get("requests", "").split(",")):
            continue
        if since_ms is not None and e.at_ms < since_ms:
            continue
        if until_ms is not None and e.at_ms > until_ms:
            continue
        out.append((i, e))
    return out


DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"]


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
    as_json: bool,
) -> None:
    """Who checked this case reference, and why? A table of the log's events you may read, filtered.

    The log is verified (root recomputed, consistency with the kept head) before it is reported.

    \b
    Example:
      crossforce audit report --profile ./dbs --case-ref APP-2026-0001
      crossforce audit report --profile ./inspectorate --org kent --since 2026-01-01
    """
    with open_client(profile_dir, role, AUDIT_ROLES) as client:
        snap = fetch_snapshot(client, progress=not as_json)
        verify_snapshot(snap, client.log_key())
    until_ms = _instant(until)
    if until is not None and until_ms is not None and (until.hour, until.minute, until.second) == (0, 0, 0):
        until_ms += 86_400_000 - 1  # a bare date means the whole day
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
    if as_json:
        emit_json([event_json(i, e) for i, e in rows])
        return
    console = make_console()
    readable = sum(1 for e in snap.entries if e)
    console.print(
        f"audit log verified: {snap.head.head.tree_size} entries, "
        f"{readable} readable by {client.profile.org}; "
        f"{len(rows)} match the filter"
    )
    if rows:
        console.print(events_table(rows))


# --------------------------------------------------------------------------------------------- status, report


@click.command()
@profile_option
@role_option("any held")
@json_option
def status(profile_dir: Path, role: str | None, as_json: bool) -> None:
    """What each force has published: epoch, version, size, expiry, and whether it is stale.

    \b
    Example:
      crossforce status --profile ./dbs --json
    """
    profile = load_profile(profile_dir)
    role = pick_role(profile, role, ANY_ROLES)
    with Client(profile, role=role) as client:
        st = client.status()
    published = {s.org for s in st.indexes}
    missing = sorted(set(st.registered_orgs) - published)
    if as_json:
        emit_json(
            {
                "current_epoch": st.current_epoch,
                "active_epochs": list(st.active_epochs),
                "registered_orgs": list(st.registered_orgs),
                "not_published": missing,
                "indexes": [status_json(s) for s in st.indexes],
            }
        )
        return
    console = make_console()
    now = int(time.time() * 1000)
    console.print(status_table(st.indexes, now))
    stale = sum(s.stale for s in st.indexes)
    console.print(
        f"{len(published)} forces published, {stale} stale; epochs in use: "
        f"{', '.join(str(e) for e in st.active_epochs) or 'none'} (current {st.current_epoch}); "
        f"{len(st.registered_orgs)} organisations registered"
        + (f"; not yet published: {', '.join(missing)}" if missing else "")
    )


@click.command()
@profile_option
@role_option("operator, else auditor")
@json_option
def report(profile_dir: Path, role: str | None, as_json: bool) -> None:
    """The operator's report: alerts (rate anomalies, quota denials), overdue requests, stale indexes.

    \b
    Example:
      crossforce report --profile ./operator
    """
    with open_client(profile_dir, role, ("operator", "auditor")) as client:
        rep = client.report()
        overdue = client.overdue_report()
    if as_json:
        emit_json(
            {
                "log_size": rep.log_size,
                "overdue_requests": rep.overdue_requests,
                "alerts": [
                    {"at_ms": a.at_ms, "org": a.org, "kind": a.kind, "detail": a.detail} for a in rep.alerts
                ],
                "overdue": [
                    {
                        "request_id": r.request_id,
                        "holder_org": r.holder_org,
                        "requester_org": r.requester_org,
                        "deadline_ms": r.deadline_ms,
                        "state": outcome_name(r),
                    }
                    for r in overdue.requests
                ],
                "stale_indexes": [s.org for s in rep.indexes if s.stale],
            }
        )
        return
    console = make_console()
    stale = [s.org for s in rep.indexes if s.stale]
    console.print(
        f"audit log: {rep.log_size} entries; indexes: {len(rep.indexes)} ({len(stale)} stale"
        + (f": {', '.join(stale)}" if stale else "")
        + f"); overdue requests: {rep.overdue_requests}; alerts: {len(rep.alerts)}"
    )
    if rep.alerts:
        table = Table(title="alerts", title_justify="left")
        for col in ("time (UTC)", "org", "kind", "detail"):
            table.add_column(col)
        for a in rep.alerts:
            table.add_row(when(a.at_ms), a.org, Text(a.kind, style="bold red"), a.detail)
        console.print(table)
    if overdue.requests:
        table = Table(title="overdue disclosure requests", title_justify="left")
        for col in ("request", "holder", "requester", "deadline (UTC)", "state"):
            table.add_column(col, no_wrap=col == "request")
        for r in overdue.requests:
            table.add_row(r.request_id, r.holder_org, r.requester_org, when(r.deadline_ms), outcome_name(r))
        console.print(table)
