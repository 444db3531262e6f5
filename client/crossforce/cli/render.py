"""Rich output helpers for the ``crossforce`` CLI: consoles, tables, progress bars, step panels.

Kept apart from the commands so every command renders the same things (hits, requests, index status,
audit events) the same way, and so the wording a test or a script greps for lives in one place.
Nothing here prints a record's personal data unless the caller passes it in on purpose (the desk's
own records, an opened disclosure).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from crossforce.auditlog.events import Event, EventKind
from crossforce.encoding.matchkeys import KEY_TYPES
from crossforce.encoding.records import FIELDS, Record
from crossforce.forces import all_forces
from crossforce.v1 import crossforce_pb2 as pb

PIPE_WIDTH = 160
"""Least width when output is not a terminal (tests, pipes): wide enough that ids and names are never
cut, whatever a parent process left in COLUMNS."""

STRENGTH_NAMES = {0: "none", 1: "weak", 2: "medium", 3: "strong"}
STRENGTH_STYLES = {1: "yellow", 2: "dark_orange", 3: "bold red"}
STATE_NAMES: dict[int, str] = {int(v): k.lower() for k, v in pb.RequestState.items()}
REFUSAL_CODES: Mapping[str, int] = {
    "not-relevant": pb.NOT_RELEVANT,
    "legal-restriction": pb.LEGAL_RESTRICTION,
    "insufficient-basis": pb.INSUFFICIENT_BASIS,
    "refer-to-force": pb.REFER_TO_FORCE,
    "other": pb.OTHER,
}
REFUSAL_NAMES = {v: k for k, v in REFUSAL_CODES.items()}


def make_console(*, stderr: bool = False) -> Console:
    """A console that never truncates ids when piped, and honours NO_COLOR."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return Console(stderr=stderr, highlight=False)
    try:
        asked = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        asked = 0
    return Console(stderr=stderr, highlight=False, width=max(asked, PIPE_WIDTH))


def fail_line(message: str) -> None:
    """The one clear red line every CrossforceError becomes (stderr)."""
    make_console(stderr=True).print(Text(f"error: {message}", style="bold red"), soft_wrap=True)


def warn_line(console: Console, message: str) -> None:
    console.print(Text(f"warning: {message}", style="yellow"))


def emit_json(value: Any) -> None:
    """Machine-readable output goes through click, unwrapped and uncoloured, so scripts can parse it."""
    click.echo(json.dumps(value, indent=2, sort_keys=True))


# ----------------------------------------------------------------------------------------- names


def force_name(code: str) -> str:
    names = {f.code: f.name for f in all_forces()}
    return names.get(code, code)


def key_type_name(code: int) -> str:
    """The spec's name for a match key type (``matchkeys.KEY_TYPES``), or its number if unknown."""
    found = KEY_TYPES.get(code)
    return found.name if found is not None else str(code)


def key_type_names(codes: Iterable[int]) -> list[str]:
    return [key_type_name(c) for c in codes]


def strength_name(strength: int) -> str:
    return STRENGTH_NAMES.get(strength, str(strength))


def strength_text(strength: int) -> Text:
    return Text(strength_name(strength), style=STRENGTH_STYLES.get(strength, ""))


def state_name(state: int) -> str:
    return STATE_NAMES.get(state, str(state)).replace("_", " ")


def outcome_name(req: pb.DisclosureRequest) -> str:
    """What a requester cares about: no trace, pending, approved, refused."""
    if req.state in (pb.OPEN, pb.CONFIRMED):
        return "pending"
    if req.state == pb.NO_MATCH:
        return "no trace"
    if req.state == pb.APPROVED:
        return "approved"
    if req.state == pb.DELIVERED:
        return "approved (opened)"
    if req.state == pb.REFUSED:
        return f"refused: {REFUSAL_NAMES.get(req.refusal_reason, 'other')}"
    return state_name(req.state)


def when(ms: int) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


# ----------------------------------------------------------------------------------------- tables


def hits_table(hits: Sequence[Any], *, title: str = "") -> Table:
    """Hits of one check (sdk.Hit): force, strength, key types, request opened."""
    table = Table(title=title or None, title_justify="left")
    table.add_column("force")
    table.add_column("code", style="dim")
    table.add_column("strength")
    table.add_column("matched key types")
    table.add_column("disclosure request", no_wrap=True)
    for h in hits:
        table.add_row(
            force_name(h.org),
            h.org,
            strength_text(h.strength),
            ", ".join(key_type_names(h.key_types)),
            h.request_id or "-",
        )
    return table


def hit_json(h: Any) -> dict[str, Any]:
    return {
        "org": h.org,
        "strength": strength_name(h.strength),
        "key_types": key_type_names(h.key_types),
        "request_id": h.request_id,
    }


def requests_table(requests: Sequence[pb.DisclosureRequest], *, as_holder: bool) -> Table:
    table = Table()
    table.add_column("request", no_wrap=True)
    for col in ("requester" if as_holder else "holder", "purpose", "case ref", "strength"):
        table.add_column(col, overflow="fold")
    table.add_column("state" if as_holder else "outcome", overflow="fold")
    table.add_column("deadline", overflow="fold")
    for r in requests:
        deadline = when(r.deadline_ms) + (" OVERDUE" if r.overdue else "")
        table.add_row(
            r.request_id,
            r.requester_org if as_holder else r.holder_org,
            r.justification.purpose,
            r.justification.case_reference,
            strength_text(r.strength),
            state_name(r.state) if as_holder else outcome_name(r),
            Text(deadline, style="bold red" if r.overdue else ""),
        )
    return table


def request_json(r: pb.DisclosureRequest) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "check_id": r.check_id,
        "requester_org": r.requester_org,
        "holder_org": r.holder_org,
        "purpose": r.justification.purpose,
        "legal_basis": r.justification.legal_basis,
        "case_reference": r.justification.case_reference,
        "officer_id": r.justification.officer_id,
        "strength": strength_name(r.strength),
        "key_types": key_type_names(r.key_types),
        "state": STATE_NAMES.get(r.state, str(r.state)),
        "outcome": outcome_name(r),
        "refusal_reason": REFUSAL_NAMES.get(r.refusal_reason, "") if r.refusal_reason else "",
        "created_at_ms": r.created_at_ms,
        "deadline_ms": r.deadline_ms,
        "updated_at_ms": r.updated_at_ms,
        "overdue": r.overdue,
        "log_index": r.log_index,
    }


def request_panel(r: pb.DisclosureRequest) -> Panel:
    j = r.justification
    lines = [
        f"[bold]request[/] {r.request_id}   state: [bold]{state_name(r.state)}[/]",
        f"requester: {force_name(r.requester_org)} ({r.requester_org}), officer {j.officer_id}",
        f"purpose: {j.purpose}   legal basis: {j.legal_basis}   case ref: {j.case_reference}",
        f"strength: {strength_name(r.strength)}   "
        f"matched key types: {', '.join(key_type_names(r.key_types))}",
        f"opened: {when(r.created_at_ms)}   deadline: {when(r.deadline_ms)}"
        + ("  [bold red]OVERDUE[/]" if r.overdue else ""),
    ]
    if r.refusal_reason:
        lines.append(f"refusal reason: {REFUSAL_NAMES.get(r.refusal_reason, 'other')}")
    return Panel("\n".join(lines), title="disclosure request", title_align="left")


def record_fields(record: Record) -> dict[str, str]:
    """A record as the non-empty text fields a disclosure payload carries."""
    out: dict[str, str] = {}
    for name in FIELDS:
        value = getattr(record, name)
        text = "; ".join(value) if isinstance(value, tuple) else str(value)
        if text:
            out[name] = text
    return out


def records_table(records: Iterable[Mapping[str, str]], *, title: str = "") -> Table:
    rows = list(records)
    cols = [f for f in FIELDS if any(r.get(f) for r in rows)]
    extra = sorted({k for r in rows for k in r} - set(FIELDS))
    table = Table(title=title or None, title_justify="left")
    for c in (*cols, *extra):
        table.add_column(c.replace("_", " "), no_wrap=c == "record_id")
    for r in rows:
        table.add_row(*(r.get(c, "") for c in (*cols, *extra)))
    return table


def status_table(indexes: Sequence[pb.ForceIndexStatus], now_ms: int) -> Table:
    table = Table()
    for col in (
        "force",
        "epoch",
        "version",
        "records",
        "tokens",
        "index size",
        "published",
        "expires",
        "stale",
    ):
        right = col in ("records", "tokens", "index size", "epoch")
        table.add_column(col, justify="right" if right else "left", no_wrap=col == "force")
    for s in sorted(indexes, key=lambda s: (s.org, s.epoch)):
        stale = Text(s.stale_reason or "stale", style="bold red") if s.stale else Text("no", style="green")
        expires = when(s.expires_at_ms)
        if not s.stale and s.expires_at_ms and s.expires_at_ms - now_ms < 86_400_000:
            expires += " (soon)"
        table.add_row(
            s.org,
            str(s.epoch),
            str(s.version),
            f"{s.record_count:,}",
            f"{s.token_count:,}",
            size(s.size_bytes),
            when(s.published_at_ms),
            expires,
            stale,
        )
    return table


def status_json(s: pb.ForceIndexStatus) -> dict[str, Any]:
    return {
        "org": s.org,
        "epoch": s.epoch,
        "version": s.version,
        "record_count": s.record_count,
        "token_count": s.token_count,
        "size_bytes": s.size_bytes,
        "published_at_ms": s.published_at_ms,
        "expires_at_ms": s.expires_at_ms,
        "stale": s.stale,
        "stale_reason": s.stale_reason,
    }


EVENT_LABELS = {
    EventKind.REGISTRATION: "registration",
    EventKind.KEY_CHANGE: "key change",
    EventKind.PUBLISH_ACCEPTED: "publish",
    EventKind.PUBLISH_REFUSED: "publish refused",
    EventKind.CHECK: "check",
    EventKind.QUOTA_DENIED: "quota denied",
    EventKind.DISCLOSURE_TRANSITION: "disclosure",
    EventKind.EPOCH_CHANGE: "epoch change",
    EventKind.REVOCATION: "revocation",
}


def event_summary(e: Event) -> str:
    """One line on what an event says, naming who and why, never token or key bytes."""
    f = e.fields
    if e.kind == EventKind.CHECK:
        hits = f.get("hits") or "no trace"
        return (
            f"officer {f.get('officer_id', '?')} purpose {f.get('purpose', '?')} "
            f"case {f.get('case_reference', '?')}"
            f" basis {f.get('legal_basis', '?')} -> {hits}"
        )
    if e.kind == EventKind.DISCLOSURE_TRANSITION:
        step = f"{(f.get('state_from') or 'new').lower()} -> {f.get('state_to', '?').lower()}"
        extra = ""
        if "reason" in f:
            code = f["reason"]
            extra = f" reason {REFUSAL_NAMES.get(int(code), code) if code.isdigit() else code}"
        if "officer_id" in f:
            extra += f" by {f['officer_id']}"
        parties = f"{f.get('holder_org', '?')}<-{f.get('requester_org', '?')}"
        return f"request {f.get('request_id', '?')[:12]} {parties}: {step}{extra}"
    if e.kind in (EventKind.REGISTRATION, EventKind.KEY_CHANGE):
        return f"{f.get('org', '?')} keys v{f.get('key_version', '?')}"
    if e.kind == EventKind.PUBLISH_ACCEPTED:
        return (
            f"{f.get('org', '?')} epoch {f.get('epoch', '?')} v{f.get('version', '?')}, "
            f"{f.get('record_count', '?')} records"
        )
    if e.kind == EventKind.QUOTA_DENIED:
        return f"officer {f.get('officer_id', '?')} purpose {f.get('purpose', '?')}: {f.get('limit', '')}"
    return ", ".join(f"{k}={v}" for k, v in f.items() if not k.endswith(("_key", "sha256")))


def events_table(rows: Sequence[tuple[int, Event]]) -> Table:
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("time (UTC)")
    table.add_column("event")
    table.add_column("by")
    table.add_column("details")
    for i, e in rows:
        table.add_row(
            str(i),
            when(e.at_ms),
            EVENT_LABELS.get(e.kind, str(e.kind)),
            f"{e.actor_org}/{e.actor_role}",
            event_summary(e),
        )
    return table


def event_json(i: int, e: Event) -> dict[str, Any]:
    return {
        "index": i,
        "at_ms": e.at_ms,
        "kind": EVENT_LABELS.get(e.kind, str(e.kind)),
        "actor_org": e.actor_org,
        "actor_role": e.actor_role,
        "fields": dict(e.fields),
    }


# ----------------------------------------------------------------------------------------- progress


def progress_bar(console: Console, *, transient: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[progress.percentage]{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


@contextmanager
def tracked(console: Console, description: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A one-task progress bar; yields a ``(done, total)`` callback as the SDK's ``progress`` wants."""
    with progress_bar(console) as bar:
        task: TaskID = bar.add_task(description, total=total)

        def update(done: int, of: int) -> None:
            bar.update(task, completed=done, total=of)

        yield update


# ----------------------------------------------------------------------------------------- demo steps


def step_panel(number: int, title: str, proved: Sequence[str], *, seconds: float | None = None) -> Panel:
    """A numbered step of the demo and what it proved."""
    body = "\n".join(f"[green]✔[/] {line}" for line in proved)
    subtitle = f"{seconds:.1f} s" if seconds is not None else None
    return Panel(
        body,
        title=f"[bold]{number}. {title}[/]",
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        border_style="cyan",
    )
