"""``crossforce audit report --format csv``: the events of a verified log as CSV, for a spreadsheet.

One header row, then one row per event, columns always in this order (README and ``--help``):

- ``index``: the event's leaf index in the log (cite it to ``crossforce audit inclusion``);
- ``time_utc``: when the matcher logged it, ISO 8601 in UTC to the millisecond;
- ``kind``: check, disclosure, publish, registration, key-change, quota-denied, ... (as the table says);
- ``actor_org``, ``actor_role``: who acted, from their certificate;
- ``officer_id``, ``purpose``, ``legal_basis``, ``case_reference``: the justification, where the kind has
  one (empty otherwise);
- ``request_id``: the disclosure request a transition is about, or the requests a check opened
  (space-separated);
- ``details``: the same one-line summary the table shows.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a
leading ``'`` (OWASP's advice on CSV injection): an officer id or case reference typed as a formula must
not run when an auditor opens the report in a spreadsheet.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence

from crossforce.auditlog.events import AuditEvent, Check, DisclosureTransition
from crossforce.cli.tables import EVENT_LABELS, event_summary

CSV_COLUMNS = (
    "index",
    "time_utc",
    "kind",
    "actor_org",
    "actor_role",
    "officer_id",
    "purpose",
    "legal_basis",
    "case_reference",
    "request_id",
    "details",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """A text cell a spreadsheet shows as text, never evaluates."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _iso(at_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _requests(e: AuditEvent) -> str:
    if isinstance(e, DisclosureTransition):
        return e.request_id
    if isinstance(e, Check):
        return " ".join(r for r in e.requests if r)
    return ""


def event_row(i: int, e: AuditEvent) -> list[str]:
    """One event as the CSV columns above (every text cell neutralised)."""
    text = [
        EVENT_LABELS.get(e.kind, str(e.kind)),
        e.actor_org,
        e.actor_role,
        str(getattr(e, "officer_id", "")),
        str(getattr(e, "purpose", "")),
        str(getattr(e, "legal_basis", "")),
        str(getattr(e, "case_reference", "")),
        _requests(e),
        event_summary(e),
    ]
    return [str(i), _iso(e.at_ms), *(_cell(v) for v in text)]


def events_csv(rows: Sequence[tuple[int, AuditEvent]]) -> str:
    """The header row and one row per event (RFC 4180 quoting, CRLF line ends as the RFC says)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for i, e in rows:
        writer.writerow(event_row(i, e))
    return out.getvalue()
