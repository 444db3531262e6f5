"""What the matcher holds and how it is doing: ``status`` (every force's index) and the operator's ``report``.

Both only read: index status, alerts (rate anomalies, quota denials), overdue disclosure requests. They
print organisation codes, counts and times, never a token or anything personal.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from crossforce.cli.common import (
    open_client,
    reader_options,
)
from crossforce.cli.render import emit_json, make_console, outcome_name, when
from crossforce.cli.tables import status_json, status_table
from crossforce.clock import now_ms
from crossforce.domain import ROLES, ReliabilityRow, Role

REPORT_ROLES = (Role.OPERATOR, Role.AUDITOR)
"""The oversight roles (``crossforce.domain.OVERSIGHT_ROLES``), the operator's first: the report is theirs."""


@click.command()
@reader_options("any held")
def status(profile_dir: Path, role: str | None, as_json: bool) -> None:
    """What each force has published: epoch, version, size, expiry, and whether it is stale.

    Also the forces every check is expected to search, and which of them never published: while any
    has not, every check answers INCOMPLETE rather than "no trace".

    \b
    Example:
      crossforce status --profile ./dbs --json
    """
    with open_client(profile_dir, role, ROLES) as client:
        st = client.status()
    published = {s.org for s in st.indexes}
    missing = sorted(set(st.registered_orgs) - published)
    never = sorted(set(st.expected_orgs) - published)
    if as_json:
        emit_json(
            {
                "current_epoch": st.current_epoch,
                "active_epochs": list(st.active_epochs),
                "registered_orgs": list(st.registered_orgs),
                "not_published": missing,
                "expected_orgs": list(st.expected_orgs),
                "expected_never_published": never,
                "indexes": [status_json(s) for s in st.indexes],
            }
        )
        return
    console = make_console()
    now = now_ms()
    console.print(status_table(st.indexes, now))
    stale = sum(s.stale for s in st.indexes)
    console.print(
        f"{len(published)} forces published, {stale} stale; epochs in use: "
        f"{', '.join(str(e) for e in st.active_epochs) or 'none'} (current {st.current_epoch}); "
        f"{len(st.registered_orgs)} organisations registered"
        + (f"; not yet published: {', '.join(missing)}" if missing else ""),
        soft_wrap=True,
    )
    if not st.expected_orgs:
        return  # an older matcher that does not say which forces it expects
    console.print(
        f"every check is expected to search {len(st.expected_orgs)} forces"
        + (
            f"; {len(never)} never published, so no check can be complete: {', '.join(never)}"
            if never
            else "; every one has published"
        ),
        style="yellow" if never else None,
        soft_wrap=True,
    )


RELIABLE_MIN_OUTCOMES = 100
"""A decile needs this many outcomes before its gap says anything (issue 14's calibration goal)."""
RELIABLE_MAX_GAP = 0.05


def _drifting(row: ReliabilityRow) -> bool:
    """A decile whose confirmed share is more than 5 points from what its hits stated, on 100+ outcomes:
    the scoring parameters no longer describe this network (docs/matching.md)."""
    return row.n >= RELIABLE_MIN_OUTCOMES and abs(row.gap) > RELIABLE_MAX_GAP


@click.command()
@reader_options("operator, else auditor")
def report(profile_dir: Path, role: str | None, as_json: bool) -> None:
    """The operator's report: alerts (rate anomalies, quota denials), overdue requests, stale indexes.

    \b
    Example:
      crossforce report --profile ./operator
    """
    with open_client(profile_dir, role, REPORT_ROLES) as client:
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
                "reliability": [
                    {
                        "low": row.low,
                        "high": row.high,
                        "n": row.n,
                        "mean_stated": row.mean_stated,
                        "observed_precision": row.observed_precision,
                        "gap": row.gap,
                        "drifting": _drifting(row),
                    }
                    for row in rep.reliability
                ],
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
    if rep.reliability:
        table = Table(
            title="is a stated probability true? (resolved disclosure requests, per decile stated)",
            title_justify="left",
        )
        for col in ("stated", "resolved", "mean stated", "confirmed", "gap"):
            table.add_column(col, justify="right")
        for row in rep.reliability:
            gap = Text(f"{row.gap:+.2f}", style="bold red" if _drifting(row) else "")
            table.add_row(
                f"{row.low:.1f}-{row.high:.1f}",
                str(row.n),
                f"{row.mean_stated:.2f}",
                f"{row.observed_precision:.2f}",
                gap,
            )
        console.print(table)
    if overdue.requests:
        table = Table(title="overdue disclosure requests", title_justify="left")
        for col in ("request", "holder", "requester", "deadline (UTC)", "state"):
            table.add_column(col, no_wrap=col == "request")
        for r in overdue.requests:
            table.add_row(r.request_id, r.holder_org, r.requester_org, when(r.deadline_ms), outcome_name(r))
        console.print(table)
