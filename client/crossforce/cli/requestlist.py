"""How the desk and the requester's commands show disclosure requests in lists and watch streams.

Why a module of its own: ``desk`` and ``disclosures`` must agree on the order (urgent first, then
soonest deadline, as the matcher answers), on the marks (URGENT for an urgent purpose, OVERDUE past the
deadline), on short ids (the first 12 characters, like ``git log --oneline``; any prefix of 6 or more is
accepted back) and on the JSON a case-management system reads. Watch streams are JSON Lines: one object
per event, flushed as it is written, so a consumer reading a pipe sees each event when it happens.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from crossforce.cli.render import outcome_name, state_name, strength_text, when
from crossforce.cli.tables import request_json
from crossforce.domain import DisclosureRequest
from crossforce.domain.disclosure import short_id


def iso(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC (``2026-12-02T09:15:00Z``); empty for 0."""
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def by_urgency(requests: Iterable[DisclosureRequest]) -> list[DisclosureRequest]:
    """Urgent purposes first, then soonest deadline, then oldest: the matcher's order, kept if an older
    matcher answers otherwise."""
    return sorted(requests, key=lambda r: (not r.urgent, r.deadline_ms, r.created_at_ms, r.request_id))


LIMIT_HELP = "Show at most this many (default: every request, fetched a page at a time)."


def request_doc(r: DisclosureRequest) -> dict[str, Any]:
    """A request for scripts: every field ``request_json`` has, plus the short id, the urgent mark and
    the times as ISO 8601 (``deadline``, ``created``, ``updated``)."""
    doc = request_json(r)
    doc.update(
        short_id=short_id(r.request_id),
        urgent=r.urgent,
        deadline=iso(r.deadline_ms),
        created=iso(r.created_at_ms),
        updated=iso(r.updated_at_ms),
    )
    return doc


def marks(r: DisclosureRequest) -> Text:
    """URGENT (yellow) and OVERDUE (red), or nothing."""
    text = Text()
    if r.urgent:
        text.append("URGENT", style="bold yellow")
    if r.overdue:
        text.append((" " if r.urgent else "") + "OVERDUE", style="bold red")
    return text


def request_list_table(requests: Sequence[DisclosureRequest], *, as_holder: bool) -> Table:
    """One row per request, in the order given, with short ids and a marks column."""
    table = Table()
    table.add_column("request", no_wrap=True)
    table.add_column("!", no_wrap=True)
    table.add_column("deadline (UTC)", no_wrap=True)
    for col in ("requester" if as_holder else "holder", "purpose", "case ref", "strength"):
        table.add_column(col, overflow="fold")
    table.add_column("state" if as_holder else "outcome", overflow="fold")
    for r in requests:
        table.add_row(
            short_id(r.request_id),
            marks(r),
            Text(when(r.deadline_ms), style="bold red" if r.overdue else ""),
            r.requester_org if as_holder else r.holder_org,
            r.justification.purpose,
            r.justification.case_reference,
            strength_text(r.strength),
            state_name(r.state) if as_holder else outcome_name(r),
        )
    return table


def mark_counts(requests: Sequence[DisclosureRequest]) -> str:
    """``"2 urgent, 1 overdue"``, or empty when none is marked."""
    urgent = sum(r.urgent for r in requests)
    overdue = sum(r.overdue for r in requests)
    return ", ".join(f"{n} {word}" for n, word in ((urgent, "urgent"), (overdue, "overdue")) if n)


def watch_line(r: DisclosureRequest, *, as_holder: bool) -> str:
    """One human line per watch event: when it changed, short id, the other party, purpose, state."""
    other = f"from {r.requester_org}" if as_holder else f"at {r.holder_org}"
    state = state_name(r.state) if as_holder else outcome_name(r)
    flags = " ".join(word for word, on in (("URGENT", r.urgent), ("OVERDUE", r.overdue)) if on)
    return (
        f"{when(r.updated_at_ms or r.created_at_ms)}  {short_id(r.request_id)}  {other}  "
        f"{r.justification.purpose}  case {r.justification.case_reference}  {state}"
        f"  deadline {when(r.deadline_ms)}" + (f"  {flags}" if flags else "")
    )


def emit_line(doc: dict[str, Any]) -> None:
    """One JSON Lines event on stdout, flushed at once (a consumer on a pipe must not wait for a buffer)."""
    click.echo(json.dumps(doc, sort_keys=True, ensure_ascii=False))
    sys.stdout.flush()


def bounded(
    events: Iterator[DisclosureRequest], *, count: int | None, duration: float | None
) -> Iterator[DisclosureRequest]:
    """``events`` until ``count`` have been given or ``duration`` seconds have passed (the stream's own
    deadline ends it then too; this also stops a consumer that is slower than the stream)."""
    if count is not None and count <= 0:
        return
    end = None if duration is None else time.monotonic() + duration
    for given, event in enumerate(events, start=1):
        yield event
        if (count is not None and given >= count) or (end is not None and time.monotonic() >= end):
            return
