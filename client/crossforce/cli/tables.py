"""Tables and JSON shapes for what the CLI shows: hits, disclosure requests, records, index status, events.

One place per kind of thing, so every command shows it the same way and the wording a test or a script
greps for lives here. Names and styles (force names, strengths, states) come from ``render``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from crossforce.auditlog.events import (
    AuditEvent,
    Check,
    DisclosureTransition,
    EventKind,
    PublishAccepted,
    QuotaDenied,
    Registration,
)
from crossforce.cli.render import (
    PROBABILITY_MEANING,
    REFUSAL_NAMES,
    force_name,
    is_hit_only,
    key_type_names,
    outcome_name,
    probability_text,
    size,
    state_label,
    state_name,
    strength_name,
    strength_text,
    when,
)
from crossforce.clock import DAY_MS, SECOND_MS
from crossforce.domain import (
    CheckReport,
    Coverage,
    DisclosureRequest,
    ForceHit,
    IndexStatus,
    NotSearchedReason,
)
from crossforce.encoding.records import FIELDS


def hits_table(hits: Sequence[ForceHit], *, title: str = "") -> Table:
    """Hits of one check: force, probability and label, key types, request opened.

    The caption says what the probability means whenever one is shown; a table of hit-only hits has
    no probability and no key types to explain."""
    scored = any(not is_hit_only(h) for h in hits)
    table = Table(
        title=title or None,
        title_justify="left",
        caption=PROBABILITY_MEANING if scored else None,
        caption_justify="left",
    )
    table.add_column("force")
    table.add_column("code", style="dim")
    table.add_column("probability")
    table.add_column("matched key types")
    table.add_column("disclosure request", no_wrap=True)
    for h in hits:
        table.add_row(
            force_name(h.org),
            h.org,
            probability_text(h),
            ", ".join(key_type_names(h.key_types)) or "-",
            h.request_id or "-",
        )
    return table


def hit_json(h: ForceHit) -> dict[str, Any]:
    """A hit for scripts: ``probability`` is null and ``hit_only`` true when the purpose is hit-only."""
    hit_only = is_hit_only(h)
    return {
        "org": h.org,
        "hit_only": hit_only,
        "probability": None if hit_only else h.probability,
        "strength": strength_name(h.strength),
        "key_types": key_type_names(h.key_types),
        "request_id": h.request_id,
    }


def reason_code(reason: NotSearchedReason) -> str:
    """A not-searched reason for scripts: ``never_published``, ``expired``, ..."""
    return reason.name.lower()


def not_searched_json(coverage: Coverage) -> list[dict[str, str]]:
    return [{"org": f.org, "reason": reason_code(f.reason)} for f in coverage.not_searched]


def coverage_json(coverage: Coverage, now_ms: int) -> dict[str, Any]:
    """Which expected forces a check searched (index epoch, version, age) and which not, and why."""
    return {
        "complete": coverage.complete,
        "expected": coverage.expected,
        "searched": [
            {
                "org": f.org,
                "epoch": f.epoch,
                "version": f.version,
                "published_at_ms": f.published_at_ms,
                "expires_at_ms": f.expires_at_ms,
                "age_s": max(0, (now_ms - f.published_at_ms) // SECOND_MS) if f.published_at_ms else None,
            }
            for f in coverage.searched
        ],
        "not_searched": not_searched_json(coverage),
    }


def report_json(report: CheckReport, now_ms: int) -> dict[str, Any]:
    """``crossforce check --json``: the answer, its hits and its coverage.

    ``no_trace`` is true only for a complete answer without a hit (every expected force searched), so
    a script that reads only that key is never told "nothing known" of a search that missed a force."""
    return {
        "check_id": report.check_id,
        "no_trace": report.complete and not report.hits,
        "complete": report.complete,
        "forces_searched": len(report.coverage.searched),
        "forces_expected": report.coverage.expected,
        "coverage": coverage_json(report.coverage, now_ms),
        "stale_forces": list(report.stale_orgs),
        "hits": [hit_json(h) for h in report.hits],
        "requests": [h.request_id for h in report.hits if h.request_id],
    }


def result_line(candidate_id: str, source: str, report: CheckReport) -> dict[str, Any]:
    """One line of ``check-batch``'s results file: the candidate's answer with its coverage, or its error."""
    if report.error is not None:
        return error_line(candidate_id, source, report.error.code, report.error.message)
    return {
        "candidate_id": candidate_id,
        "source": source,
        "check_id": report.check_id,
        "hits": [{k: v for k, v in hit_json(h).items() if k != "request_id"} for h in report.hits],
        "requests": [h.request_id for h in report.hits if h.request_id],
        "complete": report.complete,
        "forces_searched": len(report.coverage.searched),
        "forces_expected": report.coverage.expected,
        "not_searched": not_searched_json(report.coverage),
    }


def error_line(candidate_id: str, source: str, code: str, message: str) -> dict[str, Any]:
    """A row that was not checked (refused by the record rules, no match key, refused by the matcher)."""
    return {
        "candidate_id": candidate_id,
        "source": source,
        "error": {"code": code, "message": message},
        "complete": False,
    }


def requests_table(requests: Sequence[DisclosureRequest], *, as_holder: bool) -> Table:
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


def request_json(r: DisclosureRequest) -> dict[str, Any]:
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
        "probability": r.probability or None,
        "key_types": key_type_names(r.key_types),
        "state": state_label(r.state),
        "outcome": outcome_name(r),
        "refusal_reason": REFUSAL_NAMES.get(r.refusal_reason, "") if r.refusal_reason else "",
        "created_at_ms": r.created_at_ms,
        "deadline_ms": r.deadline_ms,
        "updated_at_ms": r.updated_at_ms,
        "overdue": r.overdue,
        "log_index": r.log_index,
    }


def request_panel(r: DisclosureRequest) -> Panel:
    j = r.justification
    lines = [
        f"[bold]request[/] {r.request_id}   state: [bold]{state_name(r.state)}[/]",
        f"requester: {force_name(r.requester_org)} ({r.requester_org}), officer {j.officer_id}",
        f"purpose: {j.purpose}   legal basis: {j.legal_basis}   case ref: {j.case_reference}",
        f"strength: {strength_name(r.strength)}"
        + (f" (probability {r.probability:.2f})" if r.probability else "")
        + "   "
        f"matched key types: {', '.join(key_type_names(r.key_types))}",
        f"opened: {when(r.created_at_ms)}   deadline: {when(r.deadline_ms)}"
        + ("  [bold red]OVERDUE[/]" if r.overdue else ""),
    ]
    if r.refusal_reason:
        lines.append(f"refusal reason: {REFUSAL_NAMES.get(r.refusal_reason, 'other')}")
    return Panel("\n".join(lines), title="disclosure request", title_align="left")


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


def status_table(indexes: Sequence[IndexStatus], now_ms: int) -> Table:
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
        if not s.stale and s.expires_at_ms and s.expires_at_ms - now_ms < DAY_MS:
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


def status_json(s: IndexStatus) -> dict[str, Any]:
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
    EventKind.RATE_ANOMALY: "rate anomaly",
}


UNVERIFIED = " (typed, no credential)"
"""After an officer id the caller typed rather than proved (``officer_credentials = "optional"``)."""


def event_summary(e: AuditEvent) -> str:
    """One line on what an event says, naming who and why, never token or key bytes."""
    if isinstance(e, Check):
        hits = ",".join(e.hits) or "no trace"
        return (
            f"officer {e.officer_id}{UNVERIFIED if e.officer_unverified else ''} purpose {e.purpose}"
            f" case {e.case_reference} basis {e.legal_basis} -> {hits}"
        )
    if isinstance(e, DisclosureTransition):
        step = f"{(e.state_from or 'new').lower()} -> {e.state_to.lower()}"
        extra = f" reason {REFUSAL_NAMES.get(e.reason, str(e.reason))}" if e.reason else ""
        if e.officer_id:
            extra += f" by {e.officer_id}"
        return f"request {e.request_id[:12]} {e.holder_org}<-{e.requester_org}: {step}{extra}"
    if isinstance(e, Registration):  # and KeyChange
        return f"{e.org} keys v{e.key_version}"
    if isinstance(e, PublishAccepted):
        return f"{e.org} epoch {e.epoch} v{e.version}, {e.record_count} records"
    if isinstance(e, QuotaDenied):
        unverified = UNVERIFIED if e.officer_unverified else ""
        return f"officer {e.officer_id}{unverified} purpose {e.purpose}: {e.limit}"
    fields = e.stored_fields()
    return ", ".join(f"{k}={v}" for k, v in fields.items() if not k.endswith(("_key", "sha256")))


def events_table(rows: Sequence[tuple[int, AuditEvent]]) -> Table:
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


def event_json(i: int, e: AuditEvent) -> dict[str, Any]:
    return {
        "index": i,
        "at_ms": e.at_ms,
        "kind": EVENT_LABELS.get(e.kind, str(e.kind)),
        "actor_org": e.actor_org,
        "actor_role": e.actor_role,
        "fields": dict(e.stored_fields()),
    }
